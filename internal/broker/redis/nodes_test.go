package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/broker/brokertest"
	"github.com/rotorhq/rotor/internal/broker/redis"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runEngine starts an engine with a recorder and closes it when the test
// ends.
func runEngine(t *testing.T, shards []redis.ShardConfig, prefix string) (*redis.Engine, *brokertest.Recorder) {
	t.Helper()
	e := newEngine(t, shards, prefix)
	rec := brokertest.NewRecorder()
	if err := e.Run(rec); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, rec
}

// TestTwoNodes checks what nodes sharing Redis see of each other: a
// publication reaches only the nodes subscribed to its channel, control
// messages reach every node, presence is shared.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	for _, setup := range setups[:3] {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			shards := setup.start(t)
			prefix := uniquePrefix()
			a, recA := runEngine(t, shards, prefix)
			b, recB := runEngine(t, shards, prefix)

			const channels = 20
			for i := range channels {
				if err := b.Subscribe(fmt.Sprint("ch", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range channels {
				ch := fmt.Sprint("ch", i)
				opts := node.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour}
				sp, err := a.Publish(ctxT(t), ch, []byte(`{"i":1}`), opts)
				if err != nil {
					t.Fatal(err)
				}
				ev := recB.Wait(t, "pub", ch, 1)[0]
				if ev.SP != sp || ev.Pub.Offset != 1 {
					t.Fatalf("%s: node B got %+v, A published at %+v", ch, ev.SP, sp)
				}
				if err := a.PublishJoin(ctxT(t), ch, &node.ClientInfo{User: "u", Client: "c"}); err != nil {
					t.Fatal(err)
				}
				recB.Wait(t, "join", ch, 1)
			}
			if n := len(recA.Events("pub", "")); n != 0 {
				t.Fatalf("node A, subscribed to nothing, got %d publications", n)
			}

			// Unsubscribed: B gets no more publications of ch0.
			if err := b.Unsubscribe("ch0"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Publish(ctxT(t), "ch0", []byte(`{}`), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Publish(ctxT(t), "ch1", []byte(`{}`), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			recB.Wait(t, "pub", "ch1", 2)
			if n := len(recB.Events("pub", "ch0")); n != 1 {
				t.Fatalf("node B got %d publications of ch0 after unsubscribing, want the 1 before", n)
			}

			// Control messages reach both nodes.
			for i := range 4 {
				if err := a.PublishControl(ctxT(t), fmt.Appendf(nil, "c%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for _, rec := range []*brokertest.Recorder{recA, recB} {
				wait.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
					if n := len(rec.Events("control", "")); n != 4 {
						return fmt.Errorf("%d control messages", n)
					}
					return nil
				})
			}

			// Presence added on one node is seen from the other.
			if err := a.AddPresence(ctxT(t), "p", "c1", &node.ClientInfo{User: "u1", Client: "c1"}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := b.AddPresence(ctxT(t), "p", "c2", &node.ClientInfo{User: "u2", Client: "c2"}, time.Minute); err != nil {
				t.Fatal(err)
			}
			st, err := a.PresenceStats(ctxT(t), "p")
			if err != nil || st.NumClients != 2 || st.NumUsers != 2 {
				t.Fatalf("presence stats %+v, %v", st, err)
			}
		})
	}
}

// TestShardsSpread checks that channels are spread over both shards and
// that every node maps a channel to the same shard.
func TestShardsSpread(t *testing.T) {
	t.Parallel()
	s1, s2 := testutil.StartRedis(t), testutil.StartRedis(t)
	shards := []redis.ShardConfig{{Address: s1.Addr}, {Address: s2.Addr}}
	prefix := uniquePrefix()
	a, _ := runEngine(t, shards, prefix)
	b, _ := runEngine(t, shards, prefix)
	opts := node.PublishOptions{HistorySize: 5, HistoryTTL: time.Minute}
	for i := range 50 {
		if _, err := a.Publish(ctxT(t), fmt.Sprint("spread", i), []byte(`{}`), opts); err != nil {
			t.Fatal(err)
		}
	}
	n1 := len(strings.Fields(s1.Do("KEYS", prefix+".stream.meta.*")))
	n2 := len(strings.Fields(s2.Do("KEYS", prefix+".stream.meta.*")))
	if n1+n2 != 50 || n1 < 10 || n2 < 10 {
		t.Fatalf("50 channels split %d / %d between the shards", n1, n2)
	}
	for i := range 50 {
		hr, err := b.History(ctxT(t), fmt.Sprint("spread", i), node.HistoryOptions{Limit: -1})
		if err != nil || hr.Offset != 1 || len(hr.Publications) != 1 {
			t.Fatalf("history of spread%d read by another node: %+v, %v", i, hr, err)
		}
	}
}

// TestClusterHashTags checks that a channel's keys share a slot on a
// Cluster, so its Lua scripts run on one node.
func TestClusterKeys(t *testing.T) {
	t.Parallel()
	c := testutil.StartRedisCluster(t)
	prefix := uniquePrefix()
	e, _ := runEngine(t, []redis.ShardConfig{{ClusterAddresses: c.Addrs()}}, prefix)
	opts := node.PublishOptions{HistorySize: 5, HistoryTTL: time.Minute, IdempotencyKey: "k"}
	if _, err := e.Publish(ctxT(t), "news", []byte(`{}`), opts); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, n := range c.Nodes {
		keys = append(keys, strings.Fields(n.Do("KEYS", prefix+".*"))...)
	}
	want := map[string]bool{prefix + ".stream.{news}": true, prefix + ".stream.meta.{news}": true, prefix + ".result.{news}.k": true}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("unexpected key %q", k)
		}
	}
}

// TestRedisRestart stops Redis under a running engine: calls fail fast,
// and once Redis is back the PUB/SUB connection is re-established with
// every subscription.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	const ioTimeout = 500 * time.Millisecond
	shards := []redis.ShardConfig{{Address: srv.Addr, IOTimeout: ioTimeout, ConnectTimeout: 200 * time.Millisecond}}
	e, rec := runEngine(t, shards, uniquePrefix())
	if err := e.Subscribe("before"); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	start := time.Now()
	_, err := e.Publish(context.Background(), "before", []byte(`{}`), node.PublishOptions{HistorySize: 5, HistoryTTL: time.Minute})
	if err == nil {
		t.Fatal("publish with Redis down succeeded")
	}
	if d := time.Since(start); d > 2*ioTimeout {
		t.Fatalf("publish with Redis down took %v (io timeout %v)", d, ioTimeout)
	}
	if err := e.Ping(context.Background()); err == nil {
		t.Fatal("ping with Redis down succeeded")
	}
	wait.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if err := e.Subscribe("during"); !errors.Is(err, redis.ErrPubSubDown) {
			return fmt.Errorf("subscribe with Redis down: %v, want ErrPubSubDown", err)
		}
		return nil
	})

	srv.Start()
	wait.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if err := e.Ping(context.Background()); err != nil {
			return err
		}
		// The subscription made before the restart is back.
		if _, err := e.Publish(context.Background(), "before", []byte(`{"after":1}`), node.PublishOptions{}); err != nil {
			return err
		}
		if len(rec.Events("pub", "before")) == 0 {
			return errors.New("no publication of the channel subscribed before the restart yet")
		}
		return nil
	})
	if err := e.Subscribe("after"); err != nil {
		t.Fatalf("subscribe after the restart: %v", err)
	}
	sp, err := e.Publish(ctxT(t), "after", []byte(`{}`), node.PublishOptions{HistorySize: 5, HistoryTTL: time.Minute})
	if err != nil || sp.Offset != 1 {
		t.Fatalf("publish after the restart: %+v, %v", sp, err)
	}
	rec.Wait(t, "pub", "after", 1)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  redis.Config
		want string
	}{
		{"no shards", redis.Config{}, "no shards"},
		{"empty shard", redis.Config{Shards: []redis.ShardConfig{{}}}, "exactly one of"},
		{"two kinds", redis.Config{Shards: []redis.ShardConfig{{Address: "127.0.0.1:1", ClusterAddresses: []string{"127.0.0.1:2"}}}}, "exactly one of"},
		{"bad address", redis.Config{Shards: []redis.ShardConfig{{Address: "nope"}}}, "must be host:port"},
		{"sentinel without master name", redis.Config{Shards: []redis.ShardConfig{{SentinelAddresses: []string{"127.0.0.1:1"}}}}, "SentinelMasterName"},
		{"cluster db", redis.Config{Shards: []redis.ShardConfig{{ClusterAddresses: []string{"127.0.0.1:1"}, DB: 2}}}, "only database 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := redis.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	t.Parallel()
	base := func() *config.Config {
		c := config.Defaults()
		c.RedisPassword = "pw"
		c.RedisDB = 3
		c.RedisIOTimeout = 2 * time.Second
		return &c
	}

	c := base()
	c.RedisAddress = []string{"127.0.0.1:6379", "redis://127.0.0.1:6380/1"}
	got, err := redis.FromConfig(c, nil)
	if err != nil || len(got.Shards) != 2 || got.Prefix != "rotor" {
		t.Fatalf("two addresses: %+v, %v", got, err)
	}
	if s := got.Shards[1]; s.Address != "redis://127.0.0.1:6380/1" || s.Password != "pw" || s.DB != 3 || s.IOTimeout != 2*time.Second {
		t.Fatalf("second shard %+v", s)
	}

	c = base()
	c.RedisClusterAddress = []string{"127.0.0.1:7000, 127.0.0.1:7001", "127.0.0.1:8000"}
	got, err = redis.FromConfig(c, nil)
	if err != nil || len(got.Shards) != 2 || len(got.Shards[0].ClusterAddresses) != 2 || got.Shards[0].Address != "" {
		t.Fatalf("clusters (over the default redis_address): %+v, %v", got, err)
	}

	c = base()
	c.RedisSentinelAddress = []string{"127.0.0.1:26379", "127.0.0.1:26380"}
	c.RedisSentinelMasterName = "m"
	c.RedisSentinelPassword = "spw"
	got, err = redis.FromConfig(c, nil)
	if err != nil || len(got.Shards) != 1 || len(got.Shards[0].SentinelAddresses) != 2 ||
		got.Shards[0].SentinelMasterName != "m" || got.Shards[0].SentinelPassword != "spw" {
		t.Fatalf("sentinel: %+v, %v", got, err)
	}

	c = base()
	c.RedisAddress = nil
	if _, err := redis.FromConfig(c, nil); err == nil {
		t.Fatal("no address accepted")
	}
}

// TestControlWithAShardDown checks that control messages still reach every
// node through the other shard while the first one is down.
func TestControlWithAShardDown(t *testing.T) {
	t.Parallel()
	s1, s2 := testutil.StartRedis(t), testutil.StartRedis(t)
	shards := []redis.ShardConfig{{Address: s1.Addr, IOTimeout: time.Second}, {Address: s2.Addr, IOTimeout: time.Second}}
	prefix := uniquePrefix()
	a, recA := runEngine(t, shards, prefix)
	_, recB := runEngine(t, shards, prefix)
	s1.Stop()
	if err := a.PublishControl(ctxT(t), []byte("via the second shard")); err != nil {
		t.Fatalf("control with the first shard down: %v", err)
	}
	for _, rec := range []*brokertest.Recorder{recA, recB} {
		wait.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := len(rec.Events("control", "")); n != 1 {
				return fmt.Errorf("%d control messages", n)
			}
			return nil
		})
	}
}
