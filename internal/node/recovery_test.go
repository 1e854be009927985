package node_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/fdelta"
	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

var protocols = []protocol.Type{protocol.TypeJSON, protocol.TypeProtobuf}

// recoveryConfig: channels without namespace keep 100 publications and force
// recovery; namespace "small" keeps 2; namespace "cache" is in cache mode;
// namespace "pos" allows positioning only; "delta" allows fossil deltas and
// publishes with delta.
func recoveryConfig(c *config.Config) {
	c.ClientInsecure = true
	c.HistorySize = 100
	c.HistoryTTL = time.Minute
	c.ForceRecovery = true
	c.Namespaces = append(c.Namespaces,
		config.Namespace{Name: "small", ChannelOptions: config.ChannelOptions{HistorySize: 2, HistoryTTL: time.Minute, ForceRecovery: true}},
		config.Namespace{Name: "cache", ChannelOptions: config.ChannelOptions{HistorySize: 1, HistoryTTL: time.Minute, ForceRecovery: true, ForceRecoveryMode: "cache"}},
		config.Namespace{Name: "pos", ChannelOptions: config.ChannelOptions{HistorySize: 10, HistoryTTL: time.Minute, AllowPositioning: true}},
		config.Namespace{Name: "delta", ChannelOptions: config.ChannelOptions{HistorySize: 10, HistoryTTL: time.Minute, ForceRecovery: true,
			AllowedDeltaTypes: []string{"fossil"}, DeltaPublish: true}},
		config.Namespace{Name: "plain"},
	)
}

func publish(t *testing.T, n *node.Node, ch string, data string) node.PublishResult {
	t.Helper()
	res, err := n.Publish(t.Context(), ch, []byte(data), node.PublishOptions{})
	if err != nil {
		t.Fatalf("publish to %s: %v", ch, err)
	}
	return res
}

func pubOffsets(pubs []*protocol.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

func TestRecoveryAfterReconnect(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			n := newNode(t, recoveryConfig)
			k := connect(t, n, p, "alice")
			res := k.subscribe(&protocol.SubscribeRequest{Channel: "room"})
			if !res.Recoverable || !res.Positioned || res.Epoch == "" || res.Offset != 0 || res.WasRecovering {
				t.Fatalf("first subscribe = %v", res)
			}
			publish(t, n, "room", `{"n":1}`)
			if pub := k.pub("room"); pub.Offset != 1 {
				t.Fatalf("live publication offset %d", pub.Offset)
			}
			k.c.Disconnect(node.DisconnectForceReconnect)
			for i := 2; i <= 4; i++ {
				publish(t, n, "room", fmt.Sprintf(`{"n":%d}`, i))
			}

			k2 := connect(t, n, p, "alice")
			res = k2.subscribe(&protocol.SubscribeRequest{Channel: "room", Recover: true, Offset: 1, Epoch: res.Epoch})
			if !res.WasRecovering || !res.Recovered || res.Offset != 4 {
				t.Fatalf("recovering subscribe = %v", res)
			}
			if got := pubOffsets(res.Publications); !slices.Equal(got, []uint64{2, 3, 4}) {
				t.Fatalf("recovered offsets %v", got)
			}
			if string(res.Publications[0].Data) != `{"n":2}` {
				t.Fatalf("recovered data %q", res.Publications[0].Data)
			}
			publish(t, n, "room", `{"n":5}`)
			if pub := k2.pub("room"); pub.Offset != 5 {
				t.Fatalf("live publication after recovery has offset %d", pub.Offset)
			}
		})
	}
}

func TestRecoveryFailures(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		recoveryConfig(c)
		c.ClientRecoveryMaxPublicationLimit = 5
	})
	k := connect(t, n, protocol.TypeProtobuf, "alice")
	var epoch string
	for i := 1; i <= 10; i++ {
		epoch = publish(t, n, "room", `{}`).Epoch
		publish(t, n, "small:x", `{}`)
	}

	t.Run("wrong epoch", func(t *testing.T) {
		res := k.subscribe(&protocol.SubscribeRequest{Channel: "room", Recover: true, Offset: 3, Epoch: "nope"})
		if res.Recovered || !res.WasRecovering || len(res.Publications) != 0 || res.Offset != 10 || res.Epoch != epoch {
			t.Fatalf("subscribe = %v", res)
		}
		k.call(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "room"}})
	})
	t.Run("more than the recovery limit", func(t *testing.T) {
		res := k.subscribe(&protocol.SubscribeRequest{Channel: "room", Recover: true, Offset: 2, Epoch: epoch})
		if res.Recovered || len(res.Publications) != 0 || res.Offset != 10 {
			t.Fatalf("subscribe = %v", res)
		}
		k.call(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "room"}})
	})
	t.Run("within the limit", func(t *testing.T) {
		res := k.subscribe(&protocol.SubscribeRequest{Channel: "room", Recover: true, Offset: 5, Epoch: epoch})
		if !res.Recovered || !slices.Equal(pubOffsets(res.Publications), []uint64{6, 7, 8, 9, 10}) {
			t.Fatalf("subscribe = %v", res)
		}
		k.call(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "room"}})
	})
	t.Run("trimmed history", func(t *testing.T) {
		res := k.subscribe(&protocol.SubscribeRequest{Channel: "small:x", Recover: true, Offset: 5})
		if res.Recovered || len(res.Publications) != 0 {
			t.Fatalf("subscribe = %v", res)
		}
		k.call(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "small:x"}})
	})
	t.Run("reject flag answers 112", func(t *testing.T) {
		r := k.call(subscribeCmd(&protocol.SubscribeRequest{Channel: "small:x", Recover: true, Offset: 5, Flag: 2}))
		if errCode(r) != 112 {
			t.Fatalf("reply = %v", r)
		}
		// Not subscribed: subscribing again works.
		res := k.subscribe(&protocol.SubscribeRequest{Channel: "small:x", Recover: true, Offset: 9, Flag: 2})
		if !res.Recovered || !slices.Equal(pubOffsets(res.Publications), []uint64{10}) {
			t.Fatalf("subscribe = %v", res)
		}
	})
	t.Run("empty epoch and offset 0 recover everything", func(t *testing.T) {
		res := k.subscribe(&protocol.SubscribeRequest{Channel: "fresh", Recover: true, Flag: 2})
		if !res.Recovered || res.Offset != 0 || res.Epoch == "" {
			t.Fatalf("subscribe to an empty stream = %v", res)
		}
	})
}

// TestRecoveryMergesLivePublications subscribes with recovery while
// publications keep coming: each subscriber must see every offset exactly
// once, in order, whether it came from history or live.
func TestRecoveryMergesLivePublications(t *testing.T) {
	t.Parallel()
	const total = 400
	n := newNode(t, func(c *config.Config) {
		recoveryConfig(c)
		c.HistorySize = total
		c.ClientRecoveryMaxPublicationLimit = total
	})
	epoch := publish(t, n, "busy", `{"n":1}`).Epoch
	var published atomic.Int64
	published.Store(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 2; i <= total; i++ {
			if _, err := n.Publish(t.Context(), "busy", []byte(`{}`), node.PublishOptions{}); err != nil {
				t.Error(err)
				return
			}
			published.Store(int64(i))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		close(stop)
	}()

	type sub struct {
		k    *tconn
		seen []uint64
	}
	var subs []*sub
	for i := 0; i < 12; i++ {
		p := protocols[i%2]
		k := connect(t, n, p, fmt.Sprint("u", i))
		// Some start from the beginning, some from where the stream is now.
		var req *protocol.SubscribeRequest
		if i%3 == 0 {
			req = &protocol.SubscribeRequest{Channel: "busy"}
		} else {
			req = &protocol.SubscribeRequest{Channel: "busy", Recover: true, Offset: uint64(published.Load() / 2), Epoch: epoch}
		}
		res := k.subscribe(req)
		s := &sub{k: k}
		if req.Recover && !res.Recovered {
			t.Fatalf("subscriber %d not recovered: %v", i, res)
		}
		if req.Recover {
			var want []uint64
			for o := req.Offset + 1; o <= res.Offset; o++ {
				want = append(want, o)
			}
			if got := pubOffsets(res.Publications); !slices.Equal(got, want) {
				t.Fatalf("subscriber %d: reply offset %d with publications %v", i, res.Offset, got)
			}
			// Those before req.Offset this subscriber had already.
			for o := uint64(1); o <= res.Offset; o++ {
				s.seen = append(s.seen, o)
			}
		} else {
			// Everything up to the reply's offset is not this one's.
			for o := uint64(1); o <= res.Offset; o++ {
				s.seen = append(s.seen, o)
			}
		}
		subs = append(subs, s)
	}
	<-stop
	wg.Wait()
	for i, s := range subs {
		for len(s.seen) == 0 || s.seen[len(s.seen)-1] < total {
			pub := s.k.pub("busy")
			s.seen = append(s.seen, pub.Offset)
		}
		for j, o := range s.seen {
			if len(s.seen) != total || o != uint64(j+1) {
				t.Fatalf("subscriber %d saw offsets out of order or with gaps/duplicates around index %d: %v", i, j, s.seen[max(0, j-3):min(len(s.seen), j+3)])
			}
		}
	}
}

func TestCacheRecoveryMode(t *testing.T) {
	t.Parallel()
	n := newNode(t, recoveryConfig)
	k := connect(t, n, protocol.TypeJSON, "alice")
	res := k.subscribe(&protocol.SubscribeRequest{Channel: "cache:state", Recover: true})
	if res.Recovered || len(res.Publications) != 0 {
		t.Fatalf("cache miss = %v", res)
	}
	k.call(&protocol.Command{Unsubscribe: &protocol.UnsubscribeRequest{Channel: "cache:state"}})
	for i := 1; i <= 3; i++ {
		publish(t, n, "cache:state", fmt.Sprintf(`{"v":%d}`, i))
	}
	res = k.subscribe(&protocol.SubscribeRequest{Channel: "cache:state", Recover: true, Offset: 1, Epoch: res.Epoch})
	if !res.Recovered || len(res.Publications) != 1 || string(res.Publications[0].Data) != `{"v":3}` || res.Offset != 3 {
		t.Fatalf("cache hit = %v", res)
	}
}

func TestPositioning(t *testing.T) {
	t.Parallel()
	n := newNode(t, recoveryConfig)
	k := connect(t, n, protocol.TypeProtobuf, "alice")
	res := k.subscribe(&protocol.SubscribeRequest{Channel: "pos:a", Positioned: true})
	if !res.Positioned || res.Recoverable || res.Epoch == "" {
		t.Fatalf("positioned subscribe = %v", res)
	}
	res = k.subscribe(&protocol.SubscribeRequest{Channel: "pos:b"})
	if res.Positioned || res.Epoch != "" {
		t.Fatalf("subscribe without asking for positioning = %v", res)
	}
	res = k.subscribe(&protocol.SubscribeRequest{Channel: "plain:x", Positioned: true, Recoverable: true})
	if res.Positioned || res.Recoverable {
		t.Fatalf("positioning in a channel without history = %v", res)
	}
}

// TestPositionLoss: a stream that lost its state (here: its position
// expired, so it restarts with a new epoch) unsubscribes client-side
// positioned subscriptions with 2500 and closes connections with
// server-side ones with 3010, at the next position check.
func TestPositionLoss(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(c *config.Config) {
		recoveryConfig(c)
		c.ClientChannelPositionCheckDelay = 50 * time.Millisecond
		c.Namespaces = append(c.Namespaces, config.Namespace{Name: "short", ChannelOptions: config.ChannelOptions{
			HistorySize: 10, HistoryTTL: 100 * time.Millisecond, HistoryMetaTTL: 300 * time.Millisecond, ForceRecovery: true,
		}})
	})
	k := connect(t, n, protocol.TypeJSON, "alice")
	k.subscribe(&protocol.SubscribeRequest{Channel: "short:a"})
	k.subscribe(&protocol.SubscribeRequest{Channel: "room"})
	p := k.push("unsubscribe 2500", func(p *protocol.Push) bool { return p.Unsubscribe != nil })
	if p.Channel != "short:a" || p.Unsubscribe.Code != 2500 {
		t.Fatalf("push = %v", p)
	}
	// The client resubscribes and recovers (not: the epoch changed).
	res := k.subscribe(&protocol.SubscribeRequest{Channel: "short:a", Recover: true, Epoch: "old"})
	if res.Recovered {
		t.Fatalf("resubscribe = %v", res)
	}
	k.noPush(100*time.Millisecond, func(p *protocol.Push) bool { return p.Unsubscribe != nil && p.Channel == "room" })

	// A server-side subscription: the connection is closed.
	sk := connectToken(t, n, protocol.TypeProtobuf, tokenWith(t, n, map[string]any{"sub": "bob", "channels": []string{"short:b"}}))
	if d := sk.disconnect(); d.Code != 3010 {
		t.Fatalf("disconnect = %v", d)
	}
}

func TestDeltaCompression(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			n := newNode(t, recoveryConfig)
			k := connect(t, n, p, "alice")
			plain := connect(t, n, p, "bob")
			res := k.subscribe(&protocol.SubscribeRequest{Channel: "delta:doc", Delta: "fossil"})
			if !res.Delta {
				t.Fatalf("delta not negotiated: %v", res)
			}
			if res := plain.subscribe(&protocol.SubscribeRequest{Channel: "delta:doc"}); res.Delta {
				t.Fatalf("delta negotiated without asking: %v", res)
			}
			if res := k.subscribe(&protocol.SubscribeRequest{Channel: "room", Delta: "fossil"}); res.Delta {
				t.Fatalf("delta negotiated where it is not allowed: %v", res)
			}
			docs := []string{
				`{"title":"hello","body":"the quick brown fox jumps over the lazy dog","n":1}`,
				`{"title":"hello","body":"the quick brown fox jumps over the lazy dog","n":2}`,
				`{"title":"hello, world","body":"the quick brown fox jumps over the lazy dog","n":3}`,
				`{"x":"completely different and short"}`,
			}
			var prev []byte
			for i, d := range docs {
				publish(t, n, "delta:doc", d)
				pub := k.pub("delta:doc")
				data := pub.Data
				if p == protocol.TypeJSON {
					var s string
					if err := jsonUnmarshalString(data, &s); err != nil {
						t.Fatalf("publication %d: JSON delta subscribers get data as a JSON string, got %s", i, data)
					}
					data = []byte(s)
				}
				if i == 0 && pub.Delta {
					t.Fatal("the first publication must be sent in full")
				}
				if i == 1 && !pub.Delta {
					t.Fatal("the second publication should be a delta")
				}
				if pub.Delta {
					var err error
					data, err = fdelta.Apply(prev, data)
					if err != nil {
						t.Fatalf("publication %d: apply delta: %v", i, err)
					}
				}
				if string(data) != d {
					t.Fatalf("publication %d: got %q, want %q", i, data, d)
				}
				prev = data
				if got := plain.pub("delta:doc"); got.Delta || string(got.Data) != d {
					t.Fatalf("subscriber without delta got %v", got)
				}
			}
		})
	}
}

func jsonUnmarshalString(b []byte, s *string) error {
	return jsonUnmarshal(b, s)
}

func TestTagsFilter(t *testing.T) {
	t.Parallel()
	n := newNode(t, recoveryConfig)
	k := connect(t, n, protocol.TypeProtobuf, "alice")
	k.subscribe(&protocol.SubscribeRequest{Channel: "room", Tf: &protocol.FilterNode{
		Op: "and",
		Nodes: []*protocol.FilterNode{
			{Key: "ticker", Cmp: "in", Vals: []string{"AAPL", "MSFT"}},
			{Key: "price", Cmp: "gte", Val: "100"},
		},
	}})
	for _, tags := range []map[string]string{
		{"ticker": "AAPL", "price": "99"},
		{"ticker": "GOOG", "price": "150"},
		{"ticker": "MSFT", "price": "120"},
		{"price": "500"},
	} {
		if _, err := n.Publish(t.Context(), "room", []byte(`{}`), node.PublishOptions{Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	pub := k.pub("room")
	if pub.Tags["ticker"] != "MSFT" || pub.Offset != 3 {
		t.Fatalf("filtered publication = %v", pub)
	}
	k.noPush(50*time.Millisecond, func(p *protocol.Push) bool { return p.Pub != nil })
	// Filtered publications still advance the position: no insufficient state.
	publish(t, n, "room", `{}`)
	k.noPush(50*time.Millisecond, func(p *protocol.Push) bool { return p.Unsubscribe != nil })

	r := k.call(subscribeCmd(&protocol.SubscribeRequest{Channel: "other", Tf: &protocol.FilterNode{Key: "a", Cmp: "regex"}}))
	if errCode(r) != 107 {
		t.Fatalf("bad filter: %v", r)
	}
}
