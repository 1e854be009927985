package memory

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/node"
)

type nopHandler struct{}

func (nopHandler) HandlePublication(string, *node.Publication, node.StreamPosition, bool) error {
	return nil
}
func (nopHandler) HandleJoin(string, *node.ClientInfo) error  { return nil }
func (nopHandler) HandleLeave(string, *node.ClientInfo) error { return nil }
func (nopHandler) HandleControl([]byte) error                 { return nil }

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestBroker(t *testing.T) (*Broker, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := New()
	b.now = clock.Now
	if err := b.Run(nopHandler{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, clock
}

func offsetsOf(hr node.HistoryResult) []uint64 {
	var out []uint64
	for _, p := range hr.Publications {
		out = append(out, p.Offset)
	}
	return out
}

// TestHistorySizeChange: a namespace's history_size may change (config
// reload); the stream keeps the newest publications that fit.
func TestHistorySizeChange(t *testing.T) {
	t.Parallel()
	b, _ := newTestBroker(t)
	ctx := context.Background()
	opts := node.PublishOptions{HistorySize: 5, HistoryTTL: time.Hour}
	for i := 0; i < 7; i++ {
		if _, err := b.Publish(ctx, "ch", []byte(`{}`), opts); err != nil {
			t.Fatal(err)
		}
	}
	opts.HistorySize = 2
	if _, err := b.Publish(ctx, "ch", []byte(`{}`), opts); err != nil {
		t.Fatal(err)
	}
	hr, _ := b.History(ctx, "ch", node.HistoryOptions{Limit: -1})
	if got := offsetsOf(hr); !slices.Equal(got, []uint64{7, 8}) {
		t.Fatalf("after shrinking to 2: %v", got)
	}
	opts.HistorySize = 4
	for i := 0; i < 3; i++ {
		_, _ = b.Publish(ctx, "ch", []byte(`{}`), opts)
	}
	hr, _ = b.History(ctx, "ch", node.HistoryOptions{Limit: -1})
	if got := offsetsOf(hr); !slices.Equal(got, []uint64{8, 9, 10, 11}) {
		t.Fatalf("after growing to 4: %v", got)
	}
}

// TestCleanup: the periodic cleanup frees expired streams, results and
// presence entries.
func TestCleanup(t *testing.T) {
	t.Parallel()
	b, clock := newTestBroker(t)
	ctx := context.Background()
	opts := node.PublishOptions{HistorySize: 5, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour, IdempotencyKey: "k"}
	if _, err := b.Publish(ctx, "ch", []byte(`{}`), opts); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPresence(ctx, "ch", "c1", &node.ClientInfo{Client: "c1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Minute)
	b.cleanup()
	sh := &b.streams[shardOf("ch")]
	sh.mu.Lock()
	s := sh.streams["ch"]
	pubs, results := s.n, len(sh.results)
	sh.mu.Unlock()
	if pubs != 0 {
		t.Fatalf("%d publications left after history_ttl", pubs)
	}
	if results != 1 {
		t.Fatalf("%d idempotent results left before 5 minutes, want 1", results)
	}
	ps := &b.presence[shardOf("ch")]
	ps.mu.Lock()
	left := len(ps.channels)
	ps.mu.Unlock()
	if left != 0 {
		t.Fatal("expired presence kept")
	}
	clock.Add(2 * time.Hour)
	b.cleanup()
	sh.mu.Lock()
	_, ok := sh.streams["ch"]
	results = len(sh.results)
	sh.mu.Unlock()
	if ok || results != 0 {
		t.Fatalf("after history_meta_ttl: stream kept %v, %d results", ok, results)
	}
}
