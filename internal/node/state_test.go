package node_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// stateConfig: namespace "chat" keeps presence and join/leave (pushed to
// those who ask) and history, open to subscribers; "lobby" forces join/leave
// pushes; "nohist" keeps presence only; channels without namespace allow
// subscribing and nothing else.
func stateConfig(c *config.Config) {
	c.AllowSubscribeForClient = true
	c.Namespaces = append(c.Namespaces,
		config.Namespace{Name: "chat", ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true, Presence: true, JoinLeave: true,
			AllowPresenceForSubscriber: true, AllowHistoryForSubscriber: true,
			HistorySize: 10, HistoryTTL: time.Minute,
		}},
		config.Namespace{Name: "lobby", ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true, Presence: true, JoinLeave: true, ForcePushJoinLeave: true,
			AllowPresenceForClient: true, AllowPresenceForAnonymous: true,
		}},
		config.Namespace{Name: "nohist", ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true, Presence: true, AllowHistoryForClient: true,
		}},
	)
}

func TestPresenceAndJoinLeave(t *testing.T) {
	t.Parallel()
	n := newNode(t, stateConfig)
	alice := connect(t, n, protocol.TypeJSON, "alice")
	alice.subscribe(&protocol.SubscribeRequest{Channel: "chat:1", JoinLeave: true})
	bob := connect(t, n, protocol.TypeProtobuf, "bob")
	bob.subscribe(&protocol.SubscribeRequest{Channel: "chat:1"}) // no join/leave pushes

	j := alice.push("join of bob", func(p *protocol.Push) bool { return p.Join != nil && p.Join.Info.User == "bob" })
	if j.Channel != "chat:1" || j.Join.Info.Client != bob.c.ID() {
		t.Fatalf("join = %v", j)
	}
	r := bob.call(&protocol.Command{Presence: &protocol.PresenceRequest{Channel: "chat:1"}})
	if r.Error != nil || len(r.Presence.Presence) != 2 || r.Presence.Presence[alice.c.ID()].User != "alice" {
		t.Fatalf("presence = %v", r)
	}
	r = bob.call(&protocol.Command{PresenceStats: &protocol.PresenceStatsRequest{Channel: "chat:1"}})
	if r.Error != nil || r.PresenceStats.NumClients != 2 || r.PresenceStats.NumUsers != 2 {
		t.Fatalf("presence stats = %v", r)
	}
	clients, users, err := n.PresenceStats(t.Context(), "chat:1")
	if err != nil || clients != 2 || users != 2 {
		t.Fatalf("API presence stats = %d %d %v", clients, users, err)
	}

	bob.call(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "chat:1"}})
	l := alice.push("leave of bob", func(p *protocol.Push) bool { return p.Leave != nil })
	if l.Leave.Info.User != "bob" {
		t.Fatalf("leave = %v", l)
	}
	m, err := n.Presence(t.Context(), "chat:1")
	if err != nil || len(m) != 1 || m[alice.c.ID()] == nil {
		t.Fatalf("API presence after leave = %v %v", m, err)
	}
	bob.noPush(50*time.Millisecond, func(p *protocol.Push) bool { return p.Join != nil || p.Leave != nil })

	// force_push_join_leave: everyone gets them; a disconnect is a leave.
	carol := connect(t, n, protocol.TypeJSON, "carol")
	carol.subscribe(&protocol.SubscribeRequest{Channel: "lobby:1"})
	dave := connect(t, n, protocol.TypeJSON, "dave")
	dave.subscribe(&protocol.SubscribeRequest{Channel: "lobby:1"})
	carol.push("join of dave", func(p *protocol.Push) bool { return p.Join != nil && p.Join.Info.User == "dave" })
	dave.c.Disconnect(node.DisconnectForceNoReconnect)
	carol.push("leave of dave", func(p *protocol.Push) bool { return p.Leave != nil && p.Leave.Info.User == "dave" })
	m, _ = n.Presence(t.Context(), "lobby:1")
	if len(m) != 1 {
		t.Fatalf("presence after disconnect = %v", m)
	}
}

func TestPresenceAndHistoryPermissions(t *testing.T) {
	t.Parallel()
	n := newNode(t, stateConfig)
	k := connect(t, n, protocol.TypeProtobuf, "alice")
	anon := connect(t, n, protocol.TypeProtobuf, "")
	cases := []struct {
		name string
		k    *tconn
		cmd  *protocol.Command
		code uint32
	}{
		{"presence off", k, &protocol.Command{Presence: &protocol.PresenceRequest{Channel: "news"}}, 108},
		{"presence stats off", k, &protocol.Command{PresenceStats: &protocol.PresenceStatsRequest{Channel: "news"}}, 108},
		{"history off", k, &protocol.Command{History: &protocol.HistoryRequest{Channel: "nohist:1"}}, 108},
		{"presence for subscribers only", k, &protocol.Command{Presence: &protocol.PresenceRequest{Channel: "chat:1"}}, 103},
		{"history for subscribers only", k, &protocol.Command{History: &protocol.HistoryRequest{Channel: "chat:1"}}, 103},
		{"presence for any client", k, &protocol.Command{Presence: &protocol.PresenceRequest{Channel: "lobby:1"}}, 0},
		{"presence for anonymous", anon, &protocol.Command{PresenceStats: &protocol.PresenceStatsRequest{Channel: "lobby:1"}}, 0},
		{"unknown namespace", k, &protocol.Command{History: &protocol.HistoryRequest{Channel: "nope:1"}}, 102},
	}
	for _, tc := range cases {
		if r := tc.k.call(tc.cmd); errCode(r) != tc.code {
			t.Errorf("%s: reply %v, want code %d", tc.name, r, tc.code)
		}
	}
	k.subscribe(&protocol.SubscribeRequest{Channel: "chat:1"})
	if r := k.call(&protocol.Command{History: &protocol.HistoryRequest{Channel: "chat:1"}}); r.Error != nil {
		t.Fatalf("history as subscriber: %v", r)
	}
	if _, err := n.History(t.Context(), "news", node.HistoryOptions{}); node.ToError(err).Code != 108 {
		t.Fatalf("API history without history: %v", err)
	}
	if _, err := n.Presence(t.Context(), "news"); node.ToError(err).Code != 108 {
		t.Fatalf("API presence without presence: %v", err)
	}
}

func TestHistoryCommand(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		stateConfig(c)
		c.ClientHistoryMaxPublicationLimit = 4
	})
	k := connect(t, n, protocol.TypeJSON, "alice")
	k.subscribe(&protocol.SubscribeRequest{Channel: "chat:h"})
	var epoch string
	for i := 1; i <= 8; i++ {
		epoch = publish(t, n, "chat:h", fmt.Sprintf(`{"i":%d}`, i)).Epoch
	}
	history := func(req *protocol.HistoryRequest) *protocol.HistoryResult {
		t.Helper()
		req.Channel = "chat:h"
		r := k.call(&protocol.Command{History: req})
		if r.Error != nil {
			t.Fatalf("history %v: %v", req, r.Error)
		}
		return r.History
	}
	if h := history(&protocol.HistoryRequest{}); len(h.Publications) != 0 || h.Offset != 8 || h.Epoch != epoch {
		t.Fatalf("position only = %v", h)
	}
	if h := history(&protocol.HistoryRequest{Limit: -1}); !slices.Equal(pubOffsets(h.Publications), []uint64{1, 2, 3, 4}) {
		t.Fatalf("all, capped = %v", pubOffsets(h.Publications))
	}
	if h := history(&protocol.HistoryRequest{Limit: 3, Since: &protocol.StreamPosition{Offset: 4, Epoch: epoch}}); !slices.Equal(pubOffsets(h.Publications), []uint64{5, 6, 7}) {
		t.Fatalf("forward page = %v", pubOffsets(h.Publications))
	}
	if h := history(&protocol.HistoryRequest{Limit: 2, Reverse: true}); !slices.Equal(pubOffsets(h.Publications), []uint64{8, 7}) {
		t.Fatalf("newest = %v", pubOffsets(h.Publications))
	}
	if h := history(&protocol.HistoryRequest{Limit: 10, Reverse: true, Since: &protocol.StreamPosition{Offset: 7, Epoch: epoch}}); !slices.Equal(pubOffsets(h.Publications), []uint64{6, 5, 4, 3}) {
		t.Fatalf("backward page = %v", pubOffsets(h.Publications))
	}
	r := k.call(&protocol.Command{History: &protocol.HistoryRequest{Channel: "chat:h", Limit: 1, Since: &protocol.StreamPosition{Offset: 1, Epoch: "other"}}})
	if errCode(r) != 112 {
		t.Fatalf("wrong epoch: %v", r)
	}
	// API: -1 is everything, 0 the position; history_remove keeps it.
	hr, err := n.History(t.Context(), "chat:h", node.HistoryOptions{Limit: -1})
	if err != nil || len(hr.Publications) != 8 {
		t.Fatalf("API history = %d publications, %v", len(hr.Publications), err)
	}
	if err := n.RemoveHistory(t.Context(), "chat:h"); err != nil {
		t.Fatal(err)
	}
	if h := history(&protocol.HistoryRequest{Limit: -1}); len(h.Publications) != 0 || h.Offset != 8 {
		t.Fatalf("after history_remove = %v", h)
	}
}

func TestIdempotentPublish(t *testing.T) {
	t.Parallel()
	n := newNode(t, stateConfig)
	k := connect(t, n, protocol.TypeJSON, "alice")
	k.subscribe(&protocol.SubscribeRequest{Channel: "chat:i"})
	opts := node.PublishOptions{IdempotencyKey: "order-1"}
	first, err := n.Publish(t.Context(), "chat:i", []byte(`{"a":1}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := n.Publish(t.Context(), "chat:i", []byte(`{"a":1}`), opts)
	if err != nil || again != first || first.Offset != 1 {
		t.Fatalf("repeated publish = %+v (first %+v), %v", again, first, err)
	}
	k.pub("chat:i")
	k.noPush(50*time.Millisecond, func(p *protocol.Push) bool { return p.Pub != nil })
}

func TestServerSideSubscriptions(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		recoveryConfig(c)
		c.Namespaces = append(c.Namespaces, config.Namespace{Name: "feed", ChannelOptions: config.ChannelOptions{JoinLeave: true, Presence: true}})
	})
	tok := tokenWith(t, n, map[string]any{"sub": "alice", "channels": []string{"room", "feed:a"}})
	k := open(t, n, protocol.TypeProtobuf)
	r := k.call(&protocol.Command{Connect: &protocol.ConnectRequest{Token: tok}})
	if r.Connect == nil || len(r.Connect.Subs) != 2 {
		t.Fatalf("connect = %v", r)
	}
	room := r.Connect.Subs["room"]
	if !room.Recoverable || !room.Positioned || room.Epoch == "" {
		t.Fatalf("server-side sub room = %v", room)
	}
	publish(t, n, "room", `{"n":1}`)
	if pub := k.pub("room"); pub.Offset != 1 {
		t.Fatalf("publication = %v", pub)
	}
	publish(t, n, "feed:a", `{"f":1}`)
	k.pub("feed:a")
	if m, _ := n.Presence(t.Context(), "feed:a"); len(m) != 1 {
		t.Fatalf("presence of server-side subscription = %v", m)
	}

	// Reconnect and recover the server-side subscription through the
	// connect command's subs.
	k.c.Disconnect(node.DisconnectForceReconnect)
	publish(t, n, "room", `{"n":2}`)
	publish(t, n, "room", `{"n":3}`)
	k2 := open(t, n, protocol.TypeJSON)
	r = k2.call(&protocol.Command{Connect: &protocol.ConnectRequest{Token: tok, Subs: map[string]*protocol.SubscribeRequest{
		"room": {Recover: true, Offset: 1, Epoch: room.Epoch},
	}}})
	room = r.Connect.Subs["room"]
	if room == nil || !room.Recovered || !room.WasRecovering || !slices.Equal(pubOffsets(room.Publications), []uint64{2, 3}) {
		t.Fatalf("recovered server-side sub = %v", room)
	}

	// Unknown namespace in the token: 102.
	bad := open(t, n, protocol.TypeJSON)
	r = bad.call(&protocol.Command{Connect: &protocol.ConnectRequest{Token: tokenWith(t, n, map[string]any{"sub": "x", "channels": []string{"nope:1"}})}})
	if errCode(r) != 102 {
		t.Fatalf("connect with unknown namespace = %v", r)
	}
}

func TestPersonalChannel(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		c.UserSubscribeToPersonal = true
		c.UserPersonalChannelNamespace = "personal"
		c.UserPersonalSingleConnection = true
		c.Namespaces = append(c.Namespaces, config.Namespace{Name: "personal", ChannelOptions: config.ChannelOptions{Presence: true}})
	})
	if got := n.PersonalChannel("42"); got != "personal:#42" {
		t.Fatalf("personal channel = %q", got)
	}
	first := open(t, n, protocol.TypeJSON)
	r := first.call(&protocol.Command{Connect: &protocol.ConnectRequest{Token: userToken(t, n, "42")}})
	if r.Connect.Subs["personal:#42"] == nil {
		t.Fatalf("connect = %v", r)
	}
	publish(t, n, "personal:#42", `{"to":"42"}`)
	first.pub("personal:#42")
	// A second connection of the user closes the first one.
	second := connect(t, n, protocol.TypeJSON, "42")
	if d := first.disconnect(); d.Code != 3504 {
		t.Fatalf("first connection closed with %v", d)
	}
	publish(t, n, "personal:#42", `{"to":"42"}`)
	second.pub("personal:#42")
	// Anonymous users have no personal channel.
	anon := open(t, n, protocol.TypeJSON)
	if r := anon.call(&protocol.Command{Connect: &protocol.ConnectRequest{Token: userToken(t, n, "")}}); len(r.Connect.GetSubs()) != 0 {
		t.Fatalf("anonymous connect = %v", r)
	}
}

func TestSubscriptionExpiry(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		c.ClientExpiredSubCloseDelay = 50 * time.Millisecond
	})
	cfg := n.Config()
	subTok := func(ch string, ttl time.Duration) string {
		tok, err := auth.GenerateSubscriptionToken(cfg, "alice", ch, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	k := connect(t, n, protocol.TypeProtobuf, "alice")
	res := k.subscribe(&protocol.SubscribeRequest{Channel: "$a", Token: subTok("$a", time.Second)})
	if !res.Expires || res.Ttl > 1 {
		t.Fatalf("subscribe = %v", res)
	}
	k.subscribe(&protocol.SubscribeRequest{Channel: "$b", Token: subTok("$b", time.Second)})
	// $b is refreshed with a token good for an hour; $a expires.
	r := k.call(&protocol.Command{SubRefresh: &protocol.SubRefreshRequest{Channel: "$b", Token: subTok("$b", time.Hour)}})
	if r.Error != nil || !r.SubRefresh.Expires || r.SubRefresh.Ttl < 3500 {
		t.Fatalf("sub_refresh = %v", r)
	}
	p := k.push("unsubscribe of $a", func(p *protocol.Push) bool { return p.Unsubscribe != nil })
	if p.Channel != "$a" || p.Unsubscribe.Code != 2501 {
		t.Fatalf("push = %v", p)
	}
	k.noPush(1500*time.Millisecond, func(p *protocol.Push) bool { return p.Unsubscribe != nil })

	// sub_refresh errors.
	if r := k.call(&protocol.Command{SubRefresh: &protocol.SubRefreshRequest{Channel: "$a", Token: subTok("$a", time.Hour)}}); errCode(r) != 103 {
		t.Fatalf("sub_refresh when not subscribed = %v", r)
	}
	if r := k.call(&protocol.Command{SubRefresh: &protocol.SubRefreshRequest{Channel: "$b", Token: subTok("$b", -time.Minute)}}); errCode(r) != 109 {
		t.Fatalf("sub_refresh with an expired token = %v", r)
	}
	k.send(&protocol.Command{SubRefresh: &protocol.SubRefreshRequest{Channel: "$b", Token: subTok("$other", time.Hour)}})
	if d := k.disconnect(); d.Code != 3500 {
		t.Fatalf("sub_refresh with another channel's token: %v", d)
	}
}

func TestServerSideSubscriptionExpiry(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		c.ClientExpiredSubCloseDelay = 50 * time.Millisecond
	})
	k := connect(t, n, protocol.TypeJSON, "alice")
	if err := n.Subscribe(t.Context(), "alice", "feed", node.ServerSubscribeOptions{ExpireAt: time.Now().Unix() + 1}); err != nil {
		t.Fatal(err)
	}
	k.push("subscribe push", func(p *protocol.Push) bool { return p.Subscribe != nil })
	if d := k.disconnect(); d.Code != 3006 {
		t.Fatalf("expired server-side subscription closed the connection with %v", d)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("per user", func(t *testing.T) {
		n := newNode(t, func(c *config.Config) { c.ClientUserConnectionLimit = 2 })
		connect(t, n, protocol.TypeJSON, "alice")
		connect(t, n, protocol.TypeJSON, "alice")
		connect(t, n, protocol.TypeJSON, "bob")
		k := open(t, n, protocol.TypeJSON)
		k.send(&protocol.Command{Connect: &protocol.ConnectRequest{Token: userToken(t, n, "alice")}})
		if d := k.disconnect(); d.Code != 3504 {
			t.Fatalf("third connection of alice: %v", d)
		}
	})
	t.Run("per node", func(t *testing.T) {
		n := newNode(t, func(c *config.Config) { c.ClientConnectionLimit = 2 })
		connect(t, n, protocol.TypeJSON, "a")
		connect(t, n, protocol.TypeJSON, "b")
		k := open(t, n, protocol.TypeJSON)
		k.send(&protocol.Command{Connect: &protocol.ConnectRequest{Token: userToken(t, n, "c")}})
		if d := k.disconnect(); d.Code != 3504 {
			t.Fatalf("third connection of the node: %v", d)
		}
	})
}

// TestClientConcurrency sends many commands in one frame with
// client_concurrency: every one is answered once with its own id.
func TestClientConcurrency(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		stateConfig(c)
		c.ClientConcurrency = 4
	})
	k := connect(t, n, protocol.TypeProtobuf, "alice")
	var frame []byte
	const num = 60
	for i := 0; i < num; i++ {
		id := uint32(100 + i)
		var cmd *protocol.Command
		switch i % 3 {
		case 0:
			cmd = &protocol.Command{Id: id, Subscribe: &protocol.SubscribeRequest{Channel: fmt.Sprint("chat:", i)}}
		case 1:
			cmd = &protocol.Command{Id: id, Ping: &protocol.PingRequest{}}
		default:
			cmd = &protocol.Command{Id: id, Presence: &protocol.PresenceRequest{Channel: "lobby:x"}}
		}
		frame = append(frame, encodeCommand(t, protocol.TypeProtobuf, cmd)...)
	}
	k.c.HandleFrame(frame)
	seen := map[uint32]bool{}
	for i := 0; i < num; i++ {
		r := k.wait(func(r *protocol.Reply) bool { return r.Id >= 100 }, "reply")
		if seen[r.Id] || r.Error != nil {
			t.Fatalf("reply %v (seen before: %v)", r, seen[r.Id])
		}
		seen[r.Id] = true
		switch (r.Id - 100) % 3 {
		case 0:
			if r.Subscribe == nil {
				t.Fatalf("reply %d: %v", r.Id, r)
			}
		case 1:
			if r.Ping == nil {
				t.Fatalf("reply %d: %v", r.Id, r)
			}
		default:
			if r.Presence == nil {
				t.Fatalf("reply %d: %v", r.Id, r)
			}
		}
	}
}

func TestAPISubscribeRecoverSince(t *testing.T) {
	t.Parallel()
	n := newNode(t, recoveryConfig)
	k := connect(t, n, protocol.TypeJSON, "alice")
	var epoch string
	for i := 1; i <= 3; i++ {
		epoch = publish(t, n, "room", fmt.Sprintf(`{"n":%d}`, i)).Epoch
	}
	err := n.Subscribe(t.Context(), "alice", "room", node.ServerSubscribeOptions{
		RecoverSince: &node.StreamPosition{Offset: 1, Epoch: epoch},
		Data:         []byte(`{"why":"api"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := k.push("subscribe push", func(p *protocol.Push) bool { return p.Subscribe != nil })
	if !p.Subscribe.Recoverable || p.Subscribe.Epoch != epoch || p.Subscribe.Offset != 1 || string(p.Subscribe.Data) != `{"why":"api"}` {
		t.Fatalf("subscribe push = %v", p)
	}
	if o := k.pub("room").Offset; o != 2 {
		t.Fatalf("first recovered offset %d", o)
	}
	if o := k.pub("room").Offset; o != 3 {
		t.Fatalf("second recovered offset %d", o)
	}
	publish(t, n, "room", `{"n":4}`)
	if o := k.pub("room").Offset; o != 4 {
		t.Fatalf("live offset %d", o)
	}
	if err := n.Unsubscribe(t.Context(), "alice", "room", "", ""); err != nil {
		t.Fatal(err)
	}
	if p := k.push("unsubscribe push", func(p *protocol.Push) bool { return p.Unsubscribe != nil }); p.Unsubscribe.Code != 2000 {
		t.Fatalf("unsubscribe push = %v", p)
	}
}

// TestConcurrentSubscribersAndPublishers churns subscriptions of every kind
// while publications, presence and history calls run, for the race
// detector.
func TestConcurrentSubscribersAndPublishers(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		recoveryConfig(c)
		stateConfig(c)
		c.ClientConcurrency = 2
	})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, ch := range []string{"room", "delta:d", "chat:c"} {
				_, _ = n.Publish(t.Context(), ch, []byte(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", i%20))), node.PublishOptions{})
			}
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				k := connect(t, n, protocols[(w+i)%2], fmt.Sprint("u", w))
				k.send(subscribeCmd(&protocol.SubscribeRequest{Channel: "room", Recover: i%2 == 0}))
				k.send(subscribeCmd(&protocol.SubscribeRequest{Channel: "delta:d", Delta: "fossil"}))
				k.send(subscribeCmd(&protocol.SubscribeRequest{Channel: "chat:c", JoinLeave: true}))
				k.send(&protocol.Command{Presence: &protocol.PresenceRequest{Channel: "chat:c"}})
				k.send(&protocol.Command{History: &protocol.HistoryRequest{Channel: "chat:c", Limit: 3}})
				k.send(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "room"}})
				k.c.Disconnect(node.DisconnectForceReconnect)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// TestPresenceRefreshed: presence entries outlive global_presence_ttl while
// the client stays, refreshed every client_presence_update_interval.
func TestPresenceRefreshed(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		stateConfig(c)
		c.GlobalPresenceTTL = 300 * time.Millisecond
		c.ClientPresenceUpdateInterval = 100 * time.Millisecond
	})
	k := connect(t, n, protocol.TypeJSON, "alice")
	k.subscribe(&protocol.SubscribeRequest{Channel: "chat:p"})
	time.Sleep(time.Second)
	if m, _ := n.Presence(t.Context(), "chat:p"); len(m) != 1 {
		t.Fatalf("presence after 1s with a 300ms TTL = %v", m)
	}
}
