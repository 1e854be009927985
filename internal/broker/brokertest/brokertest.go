// Package brokertest is the contract every engine must pass: a broker
// (publications with history streams, idempotent publish, join/leave,
// control messages) and a presence manager. An engine's test calls Run with
// a factory that builds a fresh, running-ready pair for each subtest:
//
//	func TestContract(t *testing.T) {
//		brokertest.Run(t, func(t *testing.T) (node.Broker, node.PresenceManager) {
//			b := memory.New()
//			return b, b
//		})
//	}
//
// Run starts the broker with a recording event handler and closes it at the
// end of each subtest. Channel names are unique per subtest, so engines that
// share state between instances (Redis) need no cleanup.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/node"
)

// Factory returns a new broker and presence manager, not yet running. The
// two may be the same value.
type Factory func(t *testing.T) (node.Broker, node.PresenceManager)

// waitTimeout bounds how long a subtest waits for an event to arrive.
const waitTimeout = 5 * time.Second

// Event is one thing a broker delivered to the node.
type Event struct {
	Kind    string // "pub", "join", "leave", "control"
	Channel string
	Pub     *node.Publication
	SP      node.StreamPosition
	Delta   bool
	Info    *node.ClientInfo
	Data    []byte
}

// Recorder is a node.BrokerEventHandler that records what it gets. It also
// checks the ordering promise: publications of one channel arrive one at a
// time.
type Recorder struct {
	mu       sync.Mutex
	events   []Event
	notify   chan struct{}
	inFlight sync.Map // channel → *atomic.Int32
	overlap  atomic.Bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{notify: make(chan struct{}, 1)} }

func (r *Recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// HandlePublication implements node.BrokerEventHandler.
func (r *Recorder) HandlePublication(channel string, pub *node.Publication, sp node.StreamPosition, delta bool) error {
	v, _ := r.inFlight.LoadOrStore(channel, new(atomic.Int32))
	n := v.(*atomic.Int32)
	if n.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer n.Add(-1)
	r.add(Event{Kind: "pub", Channel: channel, Pub: pub, SP: sp, Delta: delta})
	return nil
}

// HandleJoin implements node.BrokerEventHandler.
func (r *Recorder) HandleJoin(channel string, info *node.ClientInfo) error {
	r.add(Event{Kind: "join", Channel: channel, Info: info})
	return nil
}

// HandleLeave implements node.BrokerEventHandler.
func (r *Recorder) HandleLeave(channel string, info *node.ClientInfo) error {
	r.add(Event{Kind: "leave", Channel: channel, Info: info})
	return nil
}

// HandleControl implements node.BrokerEventHandler.
func (r *Recorder) HandleControl(data []byte) error {
	r.add(Event{Kind: "control", Data: append([]byte(nil), data...)})
	return nil
}

// Wait returns the events of kind in channel once there are n of them,
// failing the test after waitTimeout.
func (r *Recorder) Wait(t *testing.T, kind, channel string, n int) []Event {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		got := r.Events(kind, channel)
		if len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("got %d %s events in %q, want %d", len(got), kind, channel, n)
		}
	}
}

// Events returns the events of kind in channel ("" matches any channel).
func (r *Recorder) Events(kind, channel string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind && (channel == "" || e.Channel == channel) {
			out = append(out, e)
		}
	}
	return out
}

// Run runs the contract against the engine made by newEngine.
func Run(t *testing.T, newEngine Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"PublishWithoutHistory", testPublishWithoutHistory},
		{"PublishWithHistory", testPublishWithHistory},
		{"SkipHistory", testSkipHistory},
		{"HistoryPaging", testHistoryPaging},
		{"HistorySizeTrims", testHistorySize},
		{"HistoryTTL", testHistoryTTL},
		{"HistoryMetaTTL", testHistoryMetaTTL},
		{"HistoryOfNewStream", testHistoryOfNewStream},
		{"WrongEpoch", testWrongEpoch},
		{"RemoveHistory", testRemoveHistory},
		{"IdempotentPublish", testIdempotentPublish},
		{"PublicationFields", testPublicationFields},
		{"OrderedDelivery", testOrderedDelivery},
		{"JoinLeave", testJoinLeave},
		{"Control", testControl},
		{"SubscribeUnsubscribe", testSubscribeUnsubscribe},
		{"Presence", testPresence},
		{"PresenceExpires", testPresenceExpires},
		{"ConcurrentUse", testConcurrentUse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, pm := newEngine(t)
			rec := NewRecorder()
			if err := b.Run(rec); err != nil {
				t.Fatalf("run: %v", err)
			}
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
				if rec.overlap.Load() {
					t.Error("publications of one channel were delivered concurrently")
				}
			})
			tc.fn(t, &env{b: b, pm: pm, rec: rec, prefix: fmt.Sprintf("bt-%s-%d:", tc.name, time.Now().UnixNano())})
		})
	}
}

type env struct {
	b      node.Broker
	pm     node.PresenceManager
	rec    *Recorder
	prefix string
}

func (e *env) ch(name string) string { return e.prefix + name }

// subscribedCh names a channel and subscribes the node to it, as the node
// does before it expects the channel's deliveries.
func (e *env) subscribedCh(t *testing.T, name string) string {
	t.Helper()
	ch := e.ch(name)
	if err := e.b.Subscribe(ch); err != nil {
		t.Fatalf("Subscribe(%q): %v", ch, err)
	}
	return ch
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return c
}

// keep are publish options keeping size publications for an hour.
func keep(size int) node.PublishOptions {
	return node.PublishOptions{HistorySize: size, HistoryTTL: time.Hour, HistoryMetaTTL: time.Hour}
}

func publishN(t *testing.T, e *env, ch string, n int, opts node.PublishOptions) []node.StreamPosition {
	t.Helper()
	var out []node.StreamPosition
	for i := 1; i <= n; i++ {
		sp, err := e.b.Publish(ctx(t), ch, fmt.Appendf(nil, `{"n":%d}`, i), opts)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		out = append(out, sp)
	}
	return out
}

func offsets(pubs []*node.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

func readHistory(t *testing.T, e *env, ch string, opts node.HistoryOptions) node.HistoryResult {
	t.Helper()
	hr, err := e.b.History(ctx(t), ch, opts)
	if err != nil {
		t.Fatalf("history %q %+v: %v", ch, opts, err)
	}
	return hr
}

func testPublishWithoutHistory(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "plain")
	sp, err := e.b.Publish(ctx(t), ch, []byte(`{"a":1}`), node.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sp != (node.StreamPosition{}) {
		t.Fatalf("position without history = %+v, want zero", sp)
	}
	ev := e.rec.Wait(t, "pub", ch, 1)[0]
	if string(ev.Pub.Data) != `{"a":1}` || ev.Pub.Offset != 0 || ev.SP != (node.StreamPosition{}) {
		t.Fatalf("delivered %+v (pub %+v)", ev, ev.Pub)
	}
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if len(hr.Publications) != 0 {
		t.Fatalf("history of a channel without history has %d publications", len(hr.Publications))
	}
}

func testPublishWithHistory(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "hist")
	sps := publishN(t, e, ch, 3, keep(10))
	for i, sp := range sps {
		if sp.Offset != uint64(i+1) || sp.Epoch == "" || sp.Epoch != sps[0].Epoch {
			t.Fatalf("publish %d position = %+v (first %+v)", i+1, sp, sps[0])
		}
	}
	evs := e.rec.Wait(t, "pub", ch, 3)
	for i, ev := range evs {
		if ev.Pub.Offset != uint64(i+1) || ev.SP != sps[i] {
			t.Fatalf("delivery %d: offset %d position %+v, want %+v", i, ev.Pub.Offset, ev.SP, sps[i])
		}
	}
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if hr.StreamPosition != sps[2] {
		t.Fatalf("history position %+v, want %+v", hr.StreamPosition, sps[2])
	}
	if got := offsets(hr.Publications); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("history offsets %v", got)
	}
	if string(hr.Publications[1].Data) != `{"n":2}` {
		t.Fatalf("history data %q", hr.Publications[1].Data)
	}
}

func testSkipHistory(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "skip")
	publishN(t, e, ch, 2, keep(10))
	opts := keep(10)
	opts.SkipHistory = true
	sp, err := e.b.Publish(ctx(t), ch, []byte(`{"skipped":true}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Offset != 0 {
		t.Fatalf("skip_history publication got offset %d", sp.Offset)
	}
	evs := e.rec.Wait(t, "pub", ch, 3)
	if evs[2].Pub.Offset != 0 {
		t.Fatalf("skip_history publication delivered with offset %d", evs[2].Pub.Offset)
	}
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if hr.Offset != 2 || len(hr.Publications) != 2 {
		t.Fatalf("history after skip_history: offset %d, %d publications", hr.Offset, len(hr.Publications))
	}
}

func testHistoryPaging(t *testing.T, e *env) {
	ch := e.ch("paging")
	sps := publishN(t, e, ch, 10, keep(100))
	epoch := sps[0].Epoch
	cases := []struct {
		name string
		opts node.HistoryOptions
		want []uint64
	}{
		{"position only", node.HistoryOptions{}, nil},
		{"all", node.HistoryOptions{Limit: -1}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"first 3", node.HistoryOptions{Limit: 3}, []uint64{1, 2, 3}},
		{"limit above size", node.HistoryOptions{Limit: 50}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"after 3", node.HistoryOptions{Limit: 3, Since: &node.StreamPosition{Offset: 3, Epoch: epoch}}, []uint64{4, 5, 6}},
		{"after 8", node.HistoryOptions{Limit: 5, Since: &node.StreamPosition{Offset: 8, Epoch: epoch}}, []uint64{9, 10}},
		{"after the top", node.HistoryOptions{Limit: 5, Since: &node.StreamPosition{Offset: 10, Epoch: epoch}}, nil},
		{"after 0, any epoch", node.HistoryOptions{Limit: 2, Since: &node.StreamPosition{}}, []uint64{1, 2}},
		{"newest 3", node.HistoryOptions{Limit: 3, Reverse: true}, []uint64{10, 9, 8}},
		{"all reversed", node.HistoryOptions{Limit: -1, Reverse: true}, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"before 8", node.HistoryOptions{Limit: 3, Reverse: true, Since: &node.StreamPosition{Offset: 8, Epoch: epoch}}, []uint64{7, 6, 5}},
		{"before 3", node.HistoryOptions{Limit: 5, Reverse: true, Since: &node.StreamPosition{Offset: 3, Epoch: epoch}}, []uint64{2, 1}},
		{"before 1", node.HistoryOptions{Limit: 5, Reverse: true, Since: &node.StreamPosition{Offset: 1, Epoch: epoch}}, nil},
	}
	for _, tc := range cases {
		hr := readHistory(t, e, ch, tc.opts)
		if got := offsets(hr.Publications); !slices.Equal(got, tc.want) {
			t.Errorf("%s: offsets %v, want %v", tc.name, got, tc.want)
		}
		if hr.Offset != 10 || hr.Epoch != epoch {
			t.Errorf("%s: position %+v, want 10 in %q", tc.name, hr.StreamPosition, epoch)
		}
	}
	// Paging forward and backward by since visits every publication once.
	var fwd, back []uint64
	since := &node.StreamPosition{Epoch: epoch}
	for {
		hr := readHistory(t, e, ch, node.HistoryOptions{Limit: 4, Since: since})
		if len(hr.Publications) == 0 {
			break
		}
		fwd = append(fwd, offsets(hr.Publications)...)
		since = &node.StreamPosition{Offset: hr.Publications[len(hr.Publications)-1].Offset, Epoch: epoch}
	}
	since = nil
	for {
		hr := readHistory(t, e, ch, node.HistoryOptions{Limit: 4, Reverse: true, Since: since})
		if len(hr.Publications) == 0 {
			break
		}
		back = append(back, offsets(hr.Publications)...)
		since = &node.StreamPosition{Offset: hr.Publications[len(hr.Publications)-1].Offset, Epoch: epoch}
	}
	if !slices.Equal(fwd, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) || !slices.Equal(back, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("paging forward %v, backward %v", fwd, back)
	}
}

func testHistorySize(t *testing.T, e *env) {
	ch := e.ch("size")
	publishN(t, e, ch, 7, keep(3))
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if got := offsets(hr.Publications); !slices.Equal(got, []uint64{5, 6, 7}) || hr.Offset != 7 {
		t.Fatalf("history of size 3 after 7 publishes: %v at %d", got, hr.Offset)
	}
	// Since older than what is kept starts at the oldest kept.
	hr = readHistory(t, e, ch, node.HistoryOptions{Limit: -1, Since: &node.StreamPosition{Offset: 1, Epoch: hr.Epoch}})
	if got := offsets(hr.Publications); !slices.Equal(got, []uint64{5, 6, 7}) {
		t.Fatalf("history since 1: %v", got)
	}
}

func testHistoryTTL(t *testing.T, e *env) {
	ch := e.ch("ttl")
	opts := node.PublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Millisecond, HistoryMetaTTL: time.Hour}
	sps := publishN(t, e, ch, 2, opts)
	time.Sleep(600 * time.Millisecond)
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if len(hr.Publications) != 0 {
		t.Fatalf("%d publications left after history_ttl", len(hr.Publications))
	}
	if hr.StreamPosition != sps[1] {
		t.Fatalf("position after history_ttl = %+v, want %+v (kept)", hr.StreamPosition, sps[1])
	}
	sp, err := e.b.Publish(ctx(t), ch, []byte(`{}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Offset != 3 || sp.Epoch != sps[0].Epoch {
		t.Fatalf("publish after history_ttl = %+v, want offset 3 in %q", sp, sps[0].Epoch)
	}
}

func testHistoryMetaTTL(t *testing.T, e *env) {
	ch := e.ch("meta")
	opts := node.PublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Millisecond, HistoryMetaTTL: 500 * time.Millisecond}
	sps := publishN(t, e, ch, 2, opts)
	time.Sleep(time.Second)
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if hr.Epoch == sps[0].Epoch || hr.Offset != 0 || len(hr.Publications) != 0 {
		t.Fatalf("after history_meta_ttl: %+v with %d publications, want a new epoch at 0", hr.StreamPosition, len(hr.Publications))
	}
}

func testHistoryOfNewStream(t *testing.T, e *env) {
	ch := e.ch("new")
	hr := readHistory(t, e, ch, node.HistoryOptions{MetaTTL: time.Hour})
	if hr.Epoch == "" || hr.Offset != 0 {
		t.Fatalf("position of a new stream = %+v, want an epoch at offset 0", hr.StreamPosition)
	}
	again := readHistory(t, e, ch, node.HistoryOptions{})
	if again.StreamPosition != hr.StreamPosition {
		t.Fatalf("second read %+v, first %+v: a read must create the stream", again.StreamPosition, hr.StreamPosition)
	}
	sp, err := e.b.Publish(ctx(t), ch, []byte(`{}`), keep(10))
	if err != nil {
		t.Fatal(err)
	}
	if sp.Epoch != hr.Epoch || sp.Offset != 1 {
		t.Fatalf("first publish %+v, want offset 1 in the read's epoch %q", sp, hr.Epoch)
	}
}

func testWrongEpoch(t *testing.T, e *env) {
	ch := e.ch("epoch")
	publishN(t, e, ch, 2, keep(10))
	_, err := e.b.History(ctx(t), ch, node.HistoryOptions{Limit: -1, Since: &node.StreamPosition{Offset: 1, Epoch: "not-the-epoch"}})
	if !errors.Is(err, node.ErrorUnrecoverablePosition) {
		t.Fatalf("history since another epoch: %v, want ErrorUnrecoverablePosition", err)
	}
}

func testRemoveHistory(t *testing.T, e *env) {
	ch := e.ch("remove")
	sps := publishN(t, e, ch, 3, keep(10))
	if err := e.b.RemoveHistory(ctx(t), ch); err != nil {
		t.Fatal(err)
	}
	hr := readHistory(t, e, ch, node.HistoryOptions{Limit: -1})
	if len(hr.Publications) != 0 || hr.StreamPosition != sps[2] {
		t.Fatalf("after remove: %d publications at %+v, want none at %+v", len(hr.Publications), hr.StreamPosition, sps[2])
	}
	if err := e.b.RemoveHistory(ctx(t), e.ch("never-published")); err != nil {
		t.Fatalf("removing the history of an unknown channel: %v", err)
	}
}

func testIdempotentPublish(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "idem")
	opts := keep(10)
	opts.IdempotencyKey = "k1"
	opts.IdempotentResultTTL = 400 * time.Millisecond
	first, err := e.b.Publish(ctx(t), ch, []byte(`{"try":1}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.b.Publish(ctx(t), ch, []byte(`{"try":2}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Fatalf("second publish with the key = %+v, want the first result %+v", second, first)
	}
	other := opts
	other.IdempotencyKey = "k2"
	third, err := e.b.Publish(ctx(t), ch, []byte(`{"try":3}`), other)
	if err != nil {
		t.Fatal(err)
	}
	if third.Offset != first.Offset+1 {
		t.Fatalf("publish with another key = %+v", third)
	}
	e.rec.Wait(t, "pub", ch, 2)
	time.Sleep(100 * time.Millisecond)
	if n := len(e.rec.Events("pub", ch)); n != 2 {
		t.Fatalf("%d publications delivered, want 2 (the repeat publishes nothing)", n)
	}
	time.Sleep(500 * time.Millisecond)
	fourth, err := e.b.Publish(ctx(t), ch, []byte(`{"try":4}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Offset != third.Offset+1 {
		t.Fatalf("publish with the key after its result expired = %+v, want a new publication", fourth)
	}
}

func testPublicationFields(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "fields")
	info := &node.ClientInfo{User: "u1", Client: "c1", ConnInfo: []byte(`{"c":1}`), ChanInfo: []byte(`{"ch":1}`)}
	opts := keep(10)
	opts.ClientInfo = info
	opts.Tags = map[string]string{"kind": "a"}
	opts.Delta = true
	if _, err := e.b.Publish(ctx(t), ch, []byte(`{"x":1}`), opts); err != nil {
		t.Fatal(err)
	}
	ev := e.rec.Wait(t, "pub", ch, 1)[0]
	check := func(where string, p *node.Publication) {
		if p.Info == nil || p.Info.User != "u1" || p.Info.Client != "c1" || string(p.Info.ConnInfo) != `{"c":1}` || string(p.Info.ChanInfo) != `{"ch":1}` {
			t.Errorf("%s: info %+v", where, p.Info)
		}
		if p.Tags["kind"] != "a" || string(p.Data) != `{"x":1}` {
			t.Errorf("%s: tags %v data %q", where, p.Tags, p.Data)
		}
	}
	check("delivered", ev.Pub)
	if !ev.Delta {
		t.Error("delta flag not delivered")
	}
	check("history", readHistory(t, e, ch, node.HistoryOptions{Limit: 1}).Publications[0])
}

func testOrderedDelivery(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "order")
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := e.b.Publish(context.Background(), ch, []byte(`{}`), keep(1000)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := e.rec.Wait(t, "pub", ch, writers*each)
	for i, ev := range evs {
		if ev.Pub.Offset != uint64(i+1) {
			t.Fatalf("delivery %d has offset %d: publications of a channel must arrive in offset order", i, ev.Pub.Offset)
		}
	}
}

func testJoinLeave(t *testing.T, e *env) {
	ch := e.subscribedCh(t, "jl")
	info := &node.ClientInfo{User: "u", Client: "c"}
	if err := e.b.PublishJoin(ctx(t), ch, info); err != nil {
		t.Fatal(err)
	}
	if err := e.b.PublishLeave(ctx(t), ch, info); err != nil {
		t.Fatal(err)
	}
	if j := e.rec.Wait(t, "join", ch, 1)[0]; j.Info.User != "u" || j.Info.Client != "c" {
		t.Fatalf("join %+v", j.Info)
	}
	if l := e.rec.Wait(t, "leave", ch, 1)[0]; l.Info.Client != "c" {
		t.Fatalf("leave %+v", l.Info)
	}
}

func testControl(t *testing.T, e *env) {
	msg := []byte(e.prefix + `{"op":"x"}`)
	if err := e.b.PublishControl(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, ev := range e.rec.Events("control", "") {
			if string(ev.Data) == string(msg) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("control message not delivered to the node that sent it")
}

func testSubscribeUnsubscribe(t *testing.T, e *env) {
	ch := e.ch("sub")
	if err := e.b.Subscribe(ch); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Publish(ctx(t), ch, []byte(`{}`), node.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	e.rec.Wait(t, "pub", ch, 1)
	if err := e.b.Unsubscribe(ch); err != nil {
		t.Fatal(err)
	}
}

func testPresence(t *testing.T, e *env) {
	ch := e.ch("presence")
	add := func(client, user string) {
		info := &node.ClientInfo{User: user, Client: client, ConnInfo: []byte(`{"n":"` + client + `"}`)}
		if err := e.pm.AddPresence(ctx(t), ch, client, info, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	add("c1", "alice")
	add("c2", "alice")
	add("c3", "bob")
	add("c3", "bob") // refresh: still one entry
	m, err := e.pm.Presence(ctx(t), ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["c1"].User != "alice" || m["c3"].User != "bob" || string(m["c2"].ConnInfo) != `{"n":"c2"}` {
		t.Fatalf("presence %v", m)
	}
	st, err := e.pm.PresenceStats(ctx(t), ch)
	if err != nil {
		t.Fatal(err)
	}
	if st.NumClients != 3 || st.NumUsers != 2 {
		t.Fatalf("stats %+v, want 3 clients of 2 users", st)
	}
	if err := e.pm.RemovePresence(ctx(t), ch, "c1", "alice"); err != nil {
		t.Fatal(err)
	}
	st, _ = e.pm.PresenceStats(ctx(t), ch)
	if st.NumClients != 2 || st.NumUsers != 2 {
		t.Fatalf("stats after removing c1 %+v", st)
	}
	if err := e.pm.RemovePresence(ctx(t), ch, "c2", "alice"); err != nil {
		t.Fatal(err)
	}
	st, _ = e.pm.PresenceStats(ctx(t), ch)
	if st.NumClients != 1 || st.NumUsers != 1 {
		t.Fatalf("stats after removing c2 %+v", st)
	}
	empty, err := e.pm.Presence(ctx(t), e.ch("nobody"))
	if err != nil || len(empty) != 0 {
		t.Fatalf("presence of an empty channel: %v, %v", empty, err)
	}
}

func testPresenceExpires(t *testing.T, e *env) {
	ch := e.ch("presence-ttl")
	short := &node.ClientInfo{User: "u1", Client: "short"}
	long := &node.ClientInfo{User: "u2", Client: "long"}
	if err := e.pm.AddPresence(ctx(t), ch, "short", short, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := e.pm.AddPresence(ctx(t), ch, "long", long, time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	m, err := e.pm.Presence(ctx(t), ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["short"]; ok || m["long"] == nil {
		t.Fatalf("presence after the short entry expired: %v", m)
	}
	st, _ := e.pm.PresenceStats(ctx(t), ch)
	if st.NumClients != 1 || st.NumUsers != 1 {
		t.Fatalf("stats after expiry %+v", st)
	}
}

func testConcurrentUse(t *testing.T, e *env) {
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := e.ch(fmt.Sprint("c", w%2))
			c := context.Background()
			for i := 0; i < 100; i++ {
				client := fmt.Sprint(w, "-", i%5)
				_, _ = e.b.Publish(c, ch, []byte(`{}`), keep(20))
				_, _ = e.b.History(c, ch, node.HistoryOptions{Limit: 5, Reverse: i%2 == 0})
				_ = e.pm.AddPresence(c, ch, client, &node.ClientInfo{User: "u", Client: client}, time.Minute)
				_, _ = e.pm.Presence(c, ch)
				_, _ = e.pm.PresenceStats(c, ch)
				_ = e.pm.RemovePresence(c, ch, client, "u")
				if i%25 == 0 {
					_ = e.b.RemoveHistory(c, ch)
				}
			}
		}()
	}
	wg.Wait()
}
