package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// TestThreeNodesShareRedis runs three Rotor nodes on one real redis-server:
// API calls on any node reach clients on every node, and info, presence and
// disconnects are cluster-wide.
func TestThreeNodesShareRedis(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	secret := testutil.RandomString(t, 24)
	prefix := "rotor-e2e-" + testutil.RandomString(t, 8)
	var nodes []*testutil.Server
	for i := 0; i < 3; i++ {
		nodes = append(nodes, testutil.RunServer(t, func(c *config.Config) {
			c.Name = fmt.Sprintf("node-%c", 'a'+i)
			c.Engine = "redis"
			c.RedisAddress = []string{redis.URL()}
			c.RedisPrefix = prefix
			c.TokenHMACSecretKey = secret
			c.AllowSubscribeForClient = true
			c.Namespaces = []config.Namespace{{Name: "room", ChannelOptions: config.ChannelOptions{
				AllowSubscribeForClient: true, Presence: true,
			}}}
		}))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	p := protocols[0]

	onA, _ := connectAs(t, p, a, "alice")
	news := onA.subscribe("news", centrifuge.SubscriptionConfig{})
	onB, _ := connectAs(t, p, b, "bob")
	roomB := onB.subscribe("room:1", centrifuge.SubscriptionConfig{})
	roomA := onA.subscribe("room:1", centrifuge.SubscriptionConfig{})
	_ = roomB

	// A publication through node C's API reaches the subscriber on node A.
	c.APIResult(t, "publish", map[string]any{"channel": "news", "data": map[string]any{"from": "c"}})
	pub := wait.Receive(t, news.pubs, "publication on node A")
	if err := jsonEqual(pub.Data, []byte(`{"from":"c"}`)); err != nil {
		t.Fatal(err)
	}
	// ...and one through node B reaches it too, in order.
	b.APIResult(t, "publish", map[string]any{"channel": "room:1", "data": map[string]any{"n": 1}})
	if pub := wait.Receive(t, roomA.pubs, "room publication on node A"); jsonEqual(pub.Data, []byte(`{"n":1}`)) != nil {
		t.Fatalf("room publication = %s", pub.Data)
	}

	// Presence of room:1, asked on node C, lists the clients of A and B.
	wait.CheckFor(t, wait.Timeout, 50*time.Millisecond, func() error {
		res := c.APIResult(t, "presence", map[string]any{"channel": "room:1"})
		presence, _ := res["presence"].(map[string]any)
		users := map[string]bool{}
		for _, v := range presence {
			info, _ := v.(map[string]any)
			user, _ := info["user"].(string)
			users[user] = true
		}
		if len(presence) != 2 || !users["alice"] || !users["bob"] {
			return fmt.Errorf("presence = %v", presence)
		}
		return nil
	})

	// info on any node shows the three nodes.
	wait.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		res := a.APIResult(t, "info", map[string]any{})
		list, _ := res["nodes"].([]any)
		if len(list) != 3 {
			return fmt.Errorf("info lists %d nodes: %v", len(list), res)
		}
		return nil
	})

	// channels on node C sums the subscribers of every node.
	wait.CheckFor(t, wait.Timeout, 50*time.Millisecond, func() error {
		res := c.APIResult(t, "channels", map[string]any{})
		chans, _ := res["channels"].(map[string]any)
		room, _ := chans["room:1"].(map[string]any)
		news, _ := chans["news"].(map[string]any)
		if room["num_clients"] != float64(2) || news["num_clients"] != float64(1) {
			return fmt.Errorf("channels = %v", res)
		}
		return nil
	})
	if res := c.APIResult(t, "channels", map[string]any{"pattern": "room:*"}); len(res["channels"].(map[string]any)) != 1 {
		t.Fatalf("channels matching room:* = %v", res)
	}

	// An API disconnect sent to node A closes bob's connection on node B.
	a.APIResult(t, "disconnect", map[string]any{"user": "bob", "disconnect": map[string]any{"code": 4501, "reason": "moved"}})
	ev := wait.Receive(t, onB.disconnected, "bob disconnected")
	if ev.Code != 4501 || ev.Reason != "moved" {
		t.Fatalf("bob disconnected with %d %q, want 4501 moved", ev.Code, ev.Reason)
	}
}

// TestTwoNodesOverNATS runs two nodes whose publications travel through a
// real nats-server (presence stays in each node's memory engine).
func TestTwoNodesOverNATS(t *testing.T) {
	t.Parallel()
	nats := testutil.StartNATS(t)
	secret := testutil.RandomString(t, 24)
	prefix := "rotor-e2e-" + testutil.RandomString(t, 8)
	var nodes []*testutil.Server
	for i := 0; i < 2; i++ {
		nodes = append(nodes, testutil.RunServer(t, func(c *config.Config) {
			c.Broker = "nats"
			c.NATSURL = nats.URL
			c.NATSPrefix = prefix
			c.TokenHMACSecretKey = secret
			c.AllowSubscribeForClient = true
		}))
	}
	onA, _ := connectAs(t, protocols[1], nodes[0], "alice")
	news := onA.subscribe("news", centrifuge.SubscriptionConfig{})
	for i := 0; i < 3; i++ {
		nodes[1].APIResult(t, "publish", map[string]any{"channel": "news", "data": map[string]any{"n": i}})
	}
	for i := 0; i < 3; i++ {
		pub := wait.Receive(t, news.pubs, "publication through NATS")
		if err := jsonEqual(pub.Data, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatalf("publication %d: %v", i, err)
		}
	}
	wait.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		res := nodes[0].APIResult(t, "info", map[string]any{})
		if list, _ := res["nodes"].([]any); len(list) != 2 {
			return fmt.Errorf("info = %v", res)
		}
		return nil
	})
}
