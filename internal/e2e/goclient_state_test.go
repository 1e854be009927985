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

// stateConfig: namespace "doc" allows fossil deltas and recovers (history 10
// for a minute); namespace "market" keeps presence; users are subscribed to
// their personal channel in namespace "user".
func stateConfig(c *config.Config) {
	c.UserSubscribeToPersonal = true
	c.UserPersonalChannelNamespace = "user"
	c.Namespaces = append(c.Namespaces,
		config.Namespace{Name: "doc", ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true, AllowHistoryForSubscriber: true,
			HistorySize: 10, HistoryTTL: time.Minute, ForceRecovery: true,
			AllowedDeltaTypes: []string{"fossil"},
		}},
		config.Namespace{Name: "market", ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true, Presence: true,
		}},
		config.Namespace{Name: "user", ChannelOptions: config.ChannelOptions{
			HistorySize: 10, HistoryTTL: time.Minute, ForceRecovery: true,
		}},
	)
}

func TestGoDeltaCompression(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, stateConfig)
		c, _ := connectAs(t, p, srv, "alice")
		sub := c.subscribe("doc:1", centrifuge.SubscriptionConfig{Delta: centrifuge.DeltaTypeFossil})
		body := `"the quick brown fox jumps over the lazy dog, again and again and again"`
		for i := 1; i <= 4; i++ {
			data := fmt.Sprintf(`{"rev":%d,"body":%s}`, i, body)
			srv.APIResult(t, "publish", map[string]any{"channel": "doc:1", "data": jsonRaw(data), "delta": true})
			pub := wait.Receive(t, sub.pubs, "publication")
			if err := jsonEqual(pub.Data, []byte(data)); err != nil {
				t.Fatalf("publication %d: %v", i, err)
			}
			if pub.Offset != uint64(i) {
				t.Fatalf("publication %d has offset %d", i, pub.Offset)
			}
		}
	})
}

func TestGoTagsFilter(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, stateConfig)
		c, _ := connectAs(t, p, srv, "alice")
		sub := c.subscribe("market:quotes", centrifuge.SubscriptionConfig{
			TagsFilter: centrifuge.FilterAnd(centrifuge.FilterEq("ticker", "AAPL"), centrifuge.FilterGte("price", "100")),
		})
		for _, q := range []struct{ ticker, price string }{{"MSFT", "300"}, {"AAPL", "99"}, {"AAPL", "150"}} {
			srv.APIResult(t, "publish", map[string]any{
				"channel": "market:quotes",
				"data":    map[string]any{"ticker": q.ticker, "price": q.price},
				"tags":    map[string]string{"ticker": q.ticker, "price": q.price},
			})
		}
		pub := wait.Receive(t, sub.pubs, "publication")
		if pub.Tags["ticker"] != "AAPL" || pub.Tags["price"] != "150" {
			t.Fatalf("publication passed the filter: %+v", pub)
		}
		select {
		case extra := <-sub.pubs:
			t.Fatalf("filtered publication delivered: %+v", extra)
		case <-time.After(100 * time.Millisecond):
		}
	})
}

func TestGoPersonalChannelAndAPIState(t *testing.T) {
	t.Parallel()
	srv := testutil.RunServer(t, stateConfig)
	c := newGoClient(t, protocols[0], srv, centrifuge.Config{Token: srv.Token("alice", tokenTTL)})
	serverPubs := make(chan centrifuge.ServerPublicationEvent, eventBuffer)
	subscribed := make(chan centrifuge.ServerSubscribedEvent, eventBuffer)
	c.OnPublication(func(e centrifuge.ServerPublicationEvent) { push(serverPubs, e) })
	c.OnSubscribed(func(e centrifuge.ServerSubscribedEvent) { push(subscribed, e) })
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	ev := wait.Receive(t, subscribed, "server-side subscription")
	if ev.Channel != "user:#alice" || !ev.Recoverable {
		t.Fatalf("server-side subscription %+v", ev)
	}
	for i := 1; i <= 3; i++ {
		srv.APIResult(t, "publish", map[string]any{"channel": "user:#alice", "data": map[string]int{"n": i}})
	}
	for i := 1; i <= 3; i++ {
		if pub := wait.Receive(t, serverPubs, "personal publication"); pub.Channel != "user:#alice" || pub.Offset != uint64(i) {
			t.Fatalf("personal publication %d: %+v", i, pub)
		}
	}
	hist := srv.APIResult(t, "history", map[string]any{"channel": "user:#alice", "limit": -1, "reverse": true})
	pubs, _ := hist["publications"].([]any)
	if len(pubs) != 3 || hist["offset"] == nil || hist["epoch"] == "" {
		t.Fatalf("API history %v", hist)
	}
	if first, _ := pubs[0].(map[string]any); fmt.Sprint(first["offset"]) != "3" {
		t.Fatalf("newest first: %v", pubs[0])
	}
	if r := srv.APICall(t, "presence", map[string]any{"channel": "user:#alice"}); r["error"] == nil {
		t.Fatalf("presence where it is off: %v", r)
	}
	other, _ := connectAs(t, protocols[1], srv, "bob")
	other.subscribe("market:x", centrifuge.SubscriptionConfig{})
	wait.CheckFor(t, wait.Timeout, 20*time.Millisecond, func() error {
		st := srv.APIResult(t, "presence_stats", map[string]any{"channel": "market:x"})
		if fmt.Sprint(st["num_clients"]) != "1" || fmt.Sprint(st["num_users"]) != "1" {
			return fmt.Errorf("presence stats %v", st)
		}
		return nil
	})
}

// jsonRaw marks a string as raw JSON in an API request body.
type jsonRaw string

func (r jsonRaw) MarshalJSON() ([]byte, error) { return []byte(r), nil }
