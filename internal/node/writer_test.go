package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	msgs := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}
	if got := appendFrame(nil, protocol.TypeJSON, msgs); string(got) != "{\"a\":1}\n{\"b\":2}" {
		t.Fatalf("json frame = %q", got)
	}
	got := appendFrame(nil, protocol.TypeProtobuf, [][]byte{{1, 2, 3}, {}})
	l, n := binary.Uvarint(got)
	if l != 3 || !bytes.Equal(got[n:n+3], []byte{1, 2, 3}) || got[n+3] != 0 || len(got) != n+4 {
		t.Fatalf("protobuf frame = %v", got)
	}
}

func TestWriterBoundsQueueInBytes(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	tr := newSink(protocol.TypeJSON)
	tr.block = block
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 10}, tr.Write, func(error) {})
	// The first message is taken by the flush goroutine (blocked in Write);
	// the queue then holds at most 10 bytes.
	if !w.enqueue([]byte("0123456789"), false) {
		t.Fatal("first enqueue refused")
	}
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == 0 })
	if !w.enqueue([]byte("abcdef"), false) || !w.enqueue([]byte("ghij"), false) {
		t.Fatal("enqueue within bound refused")
	}
	if w.enqueue([]byte("k"), false) {
		t.Fatal("enqueue past the bound accepted")
	}
	close(block)
	// Batched: the blocked first frame, then the two queued ones in one frame.
	if got := <-tr.frames; string(got) != "0123456789" {
		t.Fatalf("frame 1 = %q", got)
	}
	if got := <-tr.frames; string(got) != "abcdef\nghij" {
		t.Fatalf("frame 2 = %q", got)
	}
}

func TestWriterReportsWriteError(t *testing.T) {
	t.Parallel()
	tr := newSink(protocol.TypeJSON)
	tr.fail = errors.New("broken pipe")
	errc := make(chan error, 1)
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20}, tr.Write, func(err error) { errc <- err })
	w.enqueue([]byte("x"), false)
	if err := <-errc; err != tr.fail {
		t.Fatalf("onError got %v", err)
	}
	if w.enqueue([]byte("y"), false) {
		t.Fatal("enqueue after a write error accepted")
	}
}

func TestWriterNoGoroutineWhenIdle(t *testing.T) {
	t.Parallel()
	tr := newSink(protocol.TypeJSON)
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20}, tr.Write, func(error) {})
	w.enqueue([]byte("x"), false)
	<-tr.frames
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.flushing })
}

func TestFlushJobKeepsOrderPerWriter(t *testing.T) {
	t.Parallel()
	const n = 100
	sinks := make([]*sinkTransport, n)
	ws := make([]*writer, n)
	j := newFlushJob()
	for i := range ws {
		sinks[i] = newSink(protocol.TypeJSON)
		ws[i] = newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20}, sinks[i].Write, func(error) {})
		ok, start := ws[i].enqueueNoFlush([]byte("a"))
		if !ok || !start {
			t.Fatalf("writer %d: enqueue = %v, start = %v", i, ok, start)
		}
		j.add(ws[i])
	}
	// Writer 0 gets more than one frame holds: it is handed a goroutine of
	// its own after the first.
	for k := range 2 * maxBatch {
		if ok, start := ws[0].enqueueNoFlush([]byte{'b' + byte(k%2)}); !ok || start {
			t.Fatalf("enqueue %d: ok = %v, start = %v", k, ok, start)
		}
	}
	j.start()
	for i := 1; i < n; i++ {
		if got := <-sinks[i].frames; string(got) != "a" {
			t.Fatalf("writer %d: frame = %q", i, got)
		}
	}
	var got []string
	for len(got) < 1+2*maxBatch {
		got = append(got, strings.Split(string(<-sinks[0].frames), "\n")...)
	}
	if got[0] != "a" {
		t.Fatalf("first message = %q", got[0])
	}
	for k, m := range got[1:] {
		if m != string(rune('b'+k%2)) {
			t.Fatalf("message %d = %q", k+1, m)
		}
	}
	for i, w := range ws {
		waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.flushing })
		if _, start := w.enqueueNoFlush([]byte("z")); !start {
			t.Fatalf("writer %d: flush still marked running", i)
		}
	}
}

func TestFlushJobSlowWriterDoesNotHoldGroup(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	// The slow writer's writes wait even in a group (stuckSink): only its
	// own goroutine may make them.
	slow := stuckSink{newSink(protocol.TypeJSON), block}
	slow.block = block
	fast := newSink(protocol.TypeJSON)
	ws := []*writer{
		newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20}, slow.Write, func(error) {}),
		noWaitWriter(fast),
	}
	ws[0].writeNoWait = slow.WriteNoWait
	ws[0].slow = true
	j := newFlushJob()
	for _, w := range ws {
		if _, start := w.enqueueNoFlush([]byte("x")); start {
			j.add(w)
		}
	}
	// One group for both: the slow writer comes first but gets its own
	// goroutine.
	j.ws = append(j.ws[:0], ws...)
	j.left.Store(1)
	go j.run(j.ws)
	select {
	case <-fast.frames:
	case <-time.After(5 * time.Second):
		t.Fatal("the fast writer waited for the slow one")
	}
}

// noWaitWriter returns a writer on s that writes fan-outs without waiting,
// as a client's writer on a websocket connection does.
func noWaitWriter(s *sinkTransport) *writer {
	w := newWriter(s.proto, writerConfig{maxSize: 1 << 20}, s.Write, func(error) {})
	w.writeNoWait = s.WriteNoWait
	return w
}

// TestFlushJobLeavesFullSocketToItsWriter: a group write that a socket does
// not take at once is finished by a goroutine of the writer's own, which
// goes on with what is queued meanwhile, in order; the group goes on to the
// next writer at once.
func TestFlushJobLeavesFullSocketToItsWriter(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	full := newSink(protocol.TypeJSON)
	full.block = block
	fast := newSink(protocol.TypeJSON)
	ws := []*writer{noWaitWriter(full), noWaitWriter(fast)}
	j := newFlushJob()
	for _, w := range ws {
		if _, start := w.enqueueNoFlush([]byte("1")); start {
			j.add(w)
		}
	}
	j.start()
	if got := frameWithin(t, fast, 5*time.Second); got != "1" {
		t.Fatalf("fast writer: frame %q", got)
	}
	// The full writer is still flushing: more for it queues, no job.
	for _, m := range []string{"2", "3"} {
		if ok, start := ws[0].enqueueNoFlush([]byte(m)); !ok || start {
			t.Fatalf("enqueue %s: ok = %v, start = %v", m, ok, start)
		}
	}
	close(block)
	if got := frameWithin(t, full, 5*time.Second); got != "1" {
		t.Fatalf("full writer: first frame %q", got)
	}
	if got := frameWithin(t, full, 5*time.Second); got != "2\n3" {
		t.Fatalf("full writer: second frame %q", got)
	}
	waitFor(t, func() bool { ws[0].mu.Lock(); defer ws[0].mu.Unlock(); return !ws[0].flushing })
}

// stuckSink is a transport whose WriteNoWait waits (which a real one never
// does) until release is closed: it holds a fan-out worker.
type stuckSink struct {
	*sinkTransport
	release chan struct{}
}

func (s stuckSink) WriteNoWait(frame []byte) (func() error, error) {
	<-s.release
	return nil, s.Write(frame)
}

// TestFanoutBacklogGetsGoroutines holds every fan-out worker and queues
// maxFanoutBacklog groups: the next job's groups must not wait in the
// queue. Not parallel: the workers are the package's.
func TestFanoutBacklogGetsGoroutines(t *testing.T) {
	release := make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	// One job per worker, each of two writers (one group), the first stuck.
	var stuck []*sinkTransport
	for range fanoutWorkers() {
		s := stuckSink{newSink(protocol.TypeJSON), release}
		w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20}, s.Write, func(error) {})
		w.writeNoWait = s.WriteNoWait
		other := newSink(protocol.TypeJSON)
		j := newFlushJob()
		for _, w := range []*writer{w, noWaitWriter(other)} {
			w.enqueueNoFlush([]byte("s"))
			j.add(w)
		}
		j.start()
		stuck = append(stuck, s.sinkTransport)
	}
	waitFor(t, func() bool {
		fanouts.mu.Lock()
		defer fanouts.mu.Unlock()
		return fanouts.head == len(fanouts.queue) && fanouts.running == fanoutWorkers()
	})
	// maxFanoutBacklog groups queue behind them.
	queued := make([]*sinkTransport, maxFanoutBacklog*flushGroup)
	j := newFlushJob()
	for i := range queued {
		queued[i] = newSink(protocol.TypeJSON)
		w := noWaitWriter(queued[i])
		w.enqueueNoFlush([]byte("q"))
		j.add(w)
	}
	j.start()
	// The next job is not queued.
	late := []*sinkTransport{newSink(protocol.TypeJSON), newSink(protocol.TypeJSON)}
	j = newFlushJob()
	for _, s := range late {
		w := noWaitWriter(s)
		w.enqueueNoFlush([]byte("late"))
		j.add(w)
	}
	j.start()
	for i, s := range late {
		if got := frameWithin(t, s, 5*time.Second); got != "late" {
			t.Fatalf("late writer %d: frame %q", i, got)
		}
	}
	close(release)
	released = true
	for i, s := range append(stuck, queued...) {
		if got := frameWithin(t, s, 5*time.Second); got != "s" && got != "q" {
			t.Fatalf("writer %d: frame %q", i, got)
		}
	}
}

func BenchmarkWriterEnqueue(b *testing.B) {
	tr := newSink(protocol.TypeJSON)
	tr.frames = make(chan []byte, 1<<20)
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 30}, func(f []byte) error { return nil }, func(error) {})
	msg := bytes.Repeat([]byte("x"), 100)
	b.ReportAllocs()
	for b.Loop() {
		w.enqueue(msg, false)
	}
}

// frameWithin returns the next frame of s, or fails after d.
func frameWithin(t *testing.T, s *sinkTransport, d time.Duration) string {
	t.Helper()
	select {
	case f := <-s.frames:
		return string(f)
	case <-time.After(d):
		t.Fatalf("no frame within %s", d)
		return ""
	}
}

// timedFrame is a frame and when it was written.
type timedFrame struct {
	at   time.Time
	data string
}

// timedSink is a writer's write function that records when each frame was
// written.
type timedSink chan timedFrame

func newTimedSink() timedSink { return make(timedSink, 64) }

func (s timedSink) write(f []byte) error {
	s <- timedFrame{time.Now(), string(f)}
	return nil
}

// next returns the next frame, failing when none comes or when it was
// written before notBefore.
func (s timedSink) next(t *testing.T, notBefore time.Time) string {
	t.Helper()
	select {
	case f := <-s:
		if f.at.Before(notBefore) {
			t.Fatalf("frame %q written %s before the write delay ended", f.data, notBefore.Sub(f.at))
		}
		return f.data
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
		return ""
	}
}

func TestWriterDelayCollectsMessagesIntoOneFrame(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	tr := newTimedSink()
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20, delay: delay}, tr.write, func(error) {})
	start := time.Now()
	for _, m := range []string{"a", "b", "c"} {
		if !w.enqueue([]byte(m), false) {
			t.Fatalf("enqueue %q refused", m)
		}
	}
	if got := tr.next(t, start.Add(delay)); got != "a\nb\nc" {
		t.Fatalf("frame = %q, want the three messages in one frame", got)
	}
	// The next message waits for a delay of its own.
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.flushing })
	start = time.Now()
	w.enqueue([]byte("d"), false)
	if got := tr.next(t, start.Add(delay)); got != "d" {
		t.Fatalf("frame = %q", got)
	}
}

func TestWriterUrgentMessageEndsDelay(t *testing.T) {
	t.Parallel()
	tr := newSink(protocol.TypeJSON)
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20, delay: time.Hour}, tr.Write, func(error) {})
	w.enqueue([]byte("push"), false)
	w.enqueue([]byte("reply"), true)
	// Order is kept: the push queued first goes out with the reply.
	if got := frameWithin(t, tr, 5*time.Second); got != "push\nreply" {
		t.Fatalf("frame = %q", got)
	}
	// An urgent message on an idle writer goes at once too.
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.flushing })
	w.enqueue([]byte("reply2"), true)
	if got := frameWithin(t, tr, 5*time.Second); got != "reply2" {
		t.Fatalf("frame = %q", got)
	}
	w.close(false)
}

func TestWriterLateTimerDoesNothing(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	tr := newTimedSink()
	w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20, delay: delay}, tr.write, func(error) {})
	// The timer armed for "a" is still pending when the urgent "b" flushes
	// both; when it fires it must find nothing to do.
	w.enqueue([]byte("a"), false)
	w.enqueue([]byte("b"), true)
	if got := tr.next(t, time.Time{}); got != "a\nb" {
		t.Fatalf("frame = %q", got)
	}
	time.Sleep(2 * delay)
	select {
	case f := <-tr:
		t.Fatalf("extra frame %q", f.data)
	default:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flushing || w.delayed {
		t.Fatalf("flushing = %v, delayed = %v after the timer fired", w.flushing, w.delayed)
	}
}

func TestFlushJobWaitsForDelay(t *testing.T) {
	t.Parallel()
	const n, delay = 3, 200 * time.Millisecond
	sinks := make([]timedSink, n)
	ws := make([]*writer, n)
	j := newFlushJob()
	start := time.Now()
	for i := range ws {
		sinks[i] = newTimedSink()
		ws[i] = newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20, delay: delay}, sinks[i].write, func(error) {})
		if _, start := ws[i].enqueueNoFlush([]byte("pub1")); !start {
			t.Fatalf("writer %d: no flush to start", i)
		}
		j.add(ws[i])
	}
	j.start()
	// During the delay: a second publication joins every queue, and writer
	// 0 gets an urgent reply, which flushes it at once.
	for i, w := range ws {
		if _, start := w.enqueueNoFlush([]byte("pub2")); start {
			t.Fatalf("writer %d: second flush started during the delay", i)
		}
	}
	ws[0].enqueue([]byte("reply"), true)
	if got := sinks[0].next(t, time.Time{}); got != "pub1\npub2\nreply" {
		t.Fatalf("writer 0: frame = %q", got)
	}
	for i := 1; i < n; i++ {
		if got := sinks[i].next(t, start.Add(delay)); got != "pub1\npub2" {
			t.Fatalf("writer %d: frame = %q", i, got)
		}
	}
	// When the job's delay ended, writer 0, flushed already, was left
	// alone: no second frame, nothing left marked running.
	for i, w := range ws {
		waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.flushing && !w.delayed })
		select {
		case f := <-sinks[i]:
			t.Fatalf("writer %d: extra frame %q", i, f.data)
		default:
		}
	}
}

func TestWriterMaxMessagesInFrame(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{2, maxBatch + 6} {
		block := make(chan struct{})
		tr := newSink(protocol.TypeJSON)
		tr.block = block
		w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20, maxInFrame: limit}, tr.Write, func(error) {})
		w.enqueue([]byte("first"), false)
		waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == 0 })
		total := 2*limit + 1
		for k := range total {
			w.enqueue([]byte{'a' + byte(k%26)}, false)
		}
		close(block)
		if got := frameWithin(t, tr, 5*time.Second); got != "first" {
			t.Fatalf("limit %d: first frame = %q", limit, got)
		}
		seen := 0
		for seen < total {
			parts := strings.Split(frameWithin(t, tr, 5*time.Second), "\n")
			if len(parts) > limit {
				t.Fatalf("limit %d: frame of %d messages", limit, len(parts))
			}
			for _, p := range parts {
				if p != string(rune('a'+seen%26)) {
					t.Fatalf("limit %d: message %d = %q", limit, seen, p)
				}
				seen++
			}
		}
	}
}

func TestWriterCloseWritesWhatWaitsForDelay(t *testing.T) {
	t.Parallel()
	for _, writeDelayed := range []bool{true, false} {
		tr := newSink(protocol.TypeJSON)
		w := newWriter(protocol.TypeJSON, writerConfig{maxSize: 1 << 20, delay: time.Hour, maxInFrame: 2}, tr.Write, func(error) {})
		for _, m := range []string{"a", "b", "c"} {
			w.enqueue([]byte(m), false)
		}
		w.close(writeDelayed)
		var got []string
		for len(tr.frames) > 0 {
			got = append(got, string(<-tr.frames))
		}
		want := []string{"a\nb", "c"}
		if !writeDelayed {
			want = nil
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("writeDelayed %v: frames %q, want %q", writeDelayed, got, want)
		}
		if w.enqueue([]byte("d"), true) {
			t.Fatal("enqueue after close accepted")
		}
	}
}

// callerBroker is a loopBroker that says it delivers on the publisher's
// goroutine, as the memory engine does.
type callerBroker struct{ loopBroker }

func (*callerBroker) DeliversOnCaller() bool { return true }

// onCallerSink records whether each frame was written on the goroutine of
// TestSmallFanoutOnCaller (from its stack) or on another.
type onCallerSink struct {
	*sinkTransport
	onCaller chan bool
}

func (s onCallerSink) WriteNoWait(frame []byte) (func() error, error) {
	buf := make([]byte, 64<<10)
	s.onCaller <- strings.Contains(string(buf[:runtime.Stack(buf, false)]), "TestSmallFanoutOnCaller")
	return s.sinkTransport.WriteNoWait(frame)
}

// A broker that delivers on the publisher's goroutine has that goroutine
// write fan-outs of up to inlineFlushMax subscribers; larger ones, other
// brokers and delayed writes use flush goroutines.
func TestSmallFanoutOnCaller(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		broker   Broker
		subs     int
		delay    time.Duration
		onCaller bool
	}{
		{"caller broker", &callerBroker{}, inlineFlushMax, 0, true},
		{"caller broker, one subscriber", &callerBroker{}, 1, 0, true},
		{"caller broker, more subscribers", &callerBroker{}, inlineFlushMax + 1, 0, false},
		{"caller broker, write delay", &callerBroker{}, 2, 5 * time.Millisecond, false},
		{"broker with a loop of its own", &loopBroker{}, 2, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.ClientWriteDelay = tc.delay
			n, err := New(&cfg, Options{Broker: tc.broker, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Run(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
			onCaller := make(chan bool, tc.subs)
			for _, c := range subscribeClients(t, n, "room", tc.subs) {
				s := onCallerSink{newSink(c.proto), onCaller}
				c.w.writeNoWait = s.WriteNoWait
			}
			if _, err := n.Publish(context.Background(), "room", []byte(`{}`), PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			for range tc.subs {
				select {
				case got := <-onCaller:
					if got != tc.onCaller {
						t.Fatalf("written on the publisher's goroutine: %v, want %v", got, tc.onCaller)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("publication not written")
				}
			}
		})
	}
}
