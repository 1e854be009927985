package nats_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/broker/brokertest"
	"github.com/rotorhq/rotor/internal/broker/nats"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// The NATS broker carries publications, join/leave and control messages;
// brokertest.Run also checks history and presence, which NATS does not
// keep, so the publish/subscribe/control part of the contract is checked
// here, with the same recorder.

var prefixSeq atomic.Int64

func uniquePrefix() string {
	return fmt.Sprintf("nt%d-%d", time.Now().UnixNano(), prefixSeq.Add(1))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func runBroker(t *testing.T, url, prefix string) (*nats.Broker, *brokertest.Recorder) {
	t.Helper()
	b, err := nats.New(nats.Config{URL: url, Prefix: prefix, Logger: testutil.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := brokertest.NewRecorder()
	if err := b.Run(rec); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b, rec
}

func TestContract(t *testing.T) {
	t.Parallel()
	srv := testutil.StartNATS(t)
	tests := []struct {
		name string
		fn   func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder)
	}{
		{"PublishWithoutHistory", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			subscribe(t, b, "plain")
			sp, err := b.Publish(ctxT(t), "plain", []byte(`{"a":1}`), node.PublishOptions{})
			if err != nil || sp != (node.StreamPosition{}) {
				t.Fatalf("publish: %+v, %v", sp, err)
			}
			ev := rec.Wait(t, "pub", "plain", 1)[0]
			if string(ev.Pub.Data) != `{"a":1}` || ev.Pub.Offset != 0 || ev.SP != (node.StreamPosition{}) {
				t.Fatalf("delivered %+v (pub %+v)", ev, ev.Pub)
			}
		}},
		{"HistoryNotAvailable", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			subscribe(t, b, "hist")
			opts := node.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute, IdempotencyKey: "k"}
			sp, err := b.Publish(ctxT(t), "hist", []byte(`{}`), opts)
			if err != nil || sp != (node.StreamPosition{}) {
				t.Fatalf("publish with history options: %+v, %v (want a zero position)", sp, err)
			}
			rec.Wait(t, "pub", "hist", 1)
			if _, err := b.History(ctxT(t), "hist", node.HistoryOptions{Limit: -1}); !errors.Is(err, node.ErrorNotAvailable) {
				t.Fatalf("history: %v, want ErrorNotAvailable", err)
			}
			if err := b.RemoveHistory(ctxT(t), "hist"); !errors.Is(err, node.ErrorNotAvailable) {
				t.Fatalf("remove history: %v, want ErrorNotAvailable", err)
			}
		}},
		{"PublicationFields", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			subscribe(t, b, "fields")
			opts := node.PublishOptions{
				ClientInfo: &node.ClientInfo{User: "u1", Client: "c1", ConnInfo: []byte(`{"c":1}`), ChanInfo: []byte(`{"ch":1}`)},
				Tags:       map[string]string{"kind": "a"},
				Delta:      true,
			}
			if _, err := b.Publish(ctxT(t), "fields", []byte(`{"x":1}`), opts); err != nil {
				t.Fatal(err)
			}
			ev := rec.Wait(t, "pub", "fields", 1)[0]
			p := ev.Pub
			if p.Info == nil || p.Info.User != "u1" || p.Info.Client != "c1" || string(p.Info.ConnInfo) != `{"c":1}` || string(p.Info.ChanInfo) != `{"ch":1}` {
				t.Errorf("info %+v", p.Info)
			}
			if p.Tags["kind"] != "a" || string(p.Data) != `{"x":1}` || !ev.Delta {
				t.Errorf("tags %v data %q delta %v", p.Tags, p.Data, ev.Delta)
			}
		}},
		{"OrderedDelivery", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			subscribe(t, b, "order")
			const n = 500
			for i := range n {
				if _, err := b.Publish(ctxT(t), "order", []byte(strconv.Itoa(i)), node.PublishOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for i, ev := range rec.Wait(t, "pub", "order", n) {
				if string(ev.Pub.Data) != strconv.Itoa(i) {
					t.Fatalf("delivery %d is publication %s: one publisher's publications must arrive in order", i, ev.Pub.Data)
				}
			}
		}},
		{"JoinLeave", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			subscribe(t, b, "jl")
			info := &node.ClientInfo{User: "u", Client: "c"}
			if err := b.PublishJoin(ctxT(t), "jl", info); err != nil {
				t.Fatal(err)
			}
			if err := b.PublishLeave(ctxT(t), "jl", info); err != nil {
				t.Fatal(err)
			}
			if j := rec.Wait(t, "join", "jl", 1)[0]; j.Info.User != "u" || j.Info.Client != "c" {
				t.Fatalf("join %+v", j.Info)
			}
			if l := rec.Wait(t, "leave", "jl", 1)[0]; l.Info.Client != "c" {
				t.Fatalf("leave %+v", l.Info)
			}
		}},
		{"Control", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			if err := b.PublishControl(ctxT(t), []byte(`{"op":"x"}`)); err != nil {
				t.Fatal(err)
			}
			wait.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if evs := rec.Events("control", ""); len(evs) != 1 || string(evs[0].Data) != `{"op":"x"}` {
					return fmt.Errorf("control events %v", evs)
				}
				return nil
			})
		}},
		{"SubscribeUnsubscribe", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			subscribe(t, b, "sub")
			subscribe(t, b, "sub") // twice is once
			if _, err := b.Publish(ctxT(t), "sub", []byte(`1`), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			rec.Wait(t, "pub", "sub", 1)
			if err := b.Unsubscribe("sub"); err != nil {
				t.Fatal(err)
			}
			if err := b.Unsubscribe("sub"); err != nil {
				t.Fatalf("second unsubscribe: %v", err)
			}
			subscribe(t, b, "other")
			if _, err := b.Publish(ctxT(t), "sub", []byte(`2`), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Publish(ctxT(t), "other", []byte(`3`), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			rec.Wait(t, "pub", "other", 1)
			if n := len(rec.Events("pub", "sub")); n != 1 {
				t.Fatalf("%d publications of an unsubscribed channel", n)
			}
		}},
		{"BadChannels", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			for _, ch := range []string{"", "a b", "a..b", "a.", "*", "news.>", "x.*.y"} {
				if err := b.Subscribe(ch); err == nil {
					t.Errorf("subscribe to %q accepted", ch)
				}
				if _, err := b.Publish(ctxT(t), ch, []byte(`{}`), node.PublishOptions{}); err == nil {
					t.Errorf("publish to %q accepted", ch)
				}
			}
			// Ordinary channel names, namespaced and with dots, work.
			for _, ch := range []string{"news", "chat:room.1", "$private:x", "user#42,43"} {
				subscribe(t, b, ch)
				if _, err := b.Publish(ctxT(t), ch, []byte(`{}`), node.PublishOptions{}); err != nil {
					t.Fatal(err)
				}
				rec.Wait(t, "pub", ch, 1)
			}
		}},
		{"ConcurrentUse", func(t *testing.T, b *nats.Broker, rec *brokertest.Recorder) {
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					ch := fmt.Sprint("c", w%2)
					for i := range 100 {
						_ = b.Subscribe(ch)
						_, _ = b.Publish(context.Background(), ch, []byte(`{}`), node.PublishOptions{})
						_ = b.PublishJoin(context.Background(), ch, &node.ClientInfo{User: "u", Client: "c"})
						if i%10 == 0 {
							_ = b.Unsubscribe(ch)
						}
					}
				})
			}
			wg.Wait()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, rec := runBroker(t, srv.URL, uniquePrefix())
			tc.fn(t, b, rec)
		})
	}
}

func subscribe(t *testing.T, b *nats.Broker, ch string) {
	t.Helper()
	if err := b.Subscribe(ch); err != nil {
		t.Fatalf("subscribe %q: %v", ch, err)
	}
}

// TestTwoNodes checks that brokers sharing a NATS server and prefix see
// each other's publications and control messages.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	srv := testutil.StartNATS(t)
	prefix := uniquePrefix()
	a, recA := runBroker(t, srv.URL, prefix)
	b, recB := runBroker(t, srv.URL, prefix)
	subscribe(t, b, "news")
	if _, err := a.Publish(ctxT(t), "news", []byte(`{"from":"a"}`), node.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := recB.Wait(t, "pub", "news", 1)[0]; string(ev.Pub.Data) != `{"from":"a"}` {
		t.Fatalf("node B got %q", ev.Pub.Data)
	}
	if n := len(recA.Events("pub", "")); n != 0 {
		t.Fatalf("node A, subscribed to nothing, got %d publications", n)
	}
	if err := b.PublishControl(ctxT(t), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*brokertest.Recorder{recA, recB} {
		wait.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := len(rec.Events("control", "")); n != 1 {
				return fmt.Errorf("%d control messages", n)
			}
			return nil
		})
	}

	// Another prefix is another installation.
	c, recC := runBroker(t, srv.URL, uniquePrefix())
	subscribe(t, c, "news")
	if _, err := a.Publish(ctxT(t), "news", []byte(`{}`), node.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	recB.Wait(t, "pub", "news", 2)
	if n := len(recC.Events("pub", "")); n != 0 {
		t.Fatalf("a broker with another prefix got %d publications", n)
	}
}

// TestNATSRestart stops NATS under a running broker: publishes fail fast,
// and once NATS is back the subscriptions are re-established.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	srv := testutil.StartNATS(t)
	b, rec := runBroker(t, srv.URL, uniquePrefix())
	subscribe(t, b, "news")

	if err := b.Ping(ctxT(t)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	srv.Stop()
	wait.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if err := b.Ping(ctxT(t)); err == nil {
			return errors.New("ping with NATS down succeeded")
		}
		start := time.Now()
		_, err := b.Publish(context.Background(), "news", []byte(`{}`), node.PublishOptions{})
		if err == nil {
			return errors.New("publish with NATS down succeeded")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publish with NATS down took %v", d)
		}
		return nil
	})

	srv.Start()
	wait.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := b.Publish(context.Background(), "news", []byte(`{"after":1}`), node.PublishOptions{}); err != nil {
			return err
		}
		if len(rec.Events("pub", "news")) == 0 {
			return errors.New("no publication after the restart yet")
		}
		return nil
	})
	if err := b.Ping(ctxT(t)); err != nil {
		t.Fatalf("ping after the restart: %v", err)
	}
}

func TestNewAndFromConfig(t *testing.T) {
	t.Parallel()
	c := config.Defaults()
	c.NATSURL = "nats://127.0.0.1:4333"
	c.NATSPrefix = "p"
	cfg := nats.FromConfig(&c, nil)
	if cfg.URL != "nats://127.0.0.1:4333" || cfg.Prefix != "p" || cfg.DialTimeout != time.Second || cfg.WriteTimeout != time.Second {
		t.Fatalf("FromConfig: %+v", cfg)
	}
	if _, err := nats.New(nats.Config{Prefix: "bad prefix"}); err == nil || !strings.Contains(err.Error(), "whitespace") {
		t.Fatalf("New with a bad prefix: %v", err)
	}
	b, err := nats.New(nats.Config{URL: "nats://127.0.0.1:1", DialTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(brokertest.NewRecorder()); err == nil {
		t.Fatal("run with no server succeeded")
	}
	if _, err := b.Publish(ctxT(t), "x", nil, node.PublishOptions{}); err == nil {
		t.Fatal("publish of a broker that is not running succeeded")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
