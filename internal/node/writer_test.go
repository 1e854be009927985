package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
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
	w := newWriter(protocol.TypeJSON, 10, tr.Write, func(error) {})
	// The first message is taken by the flush goroutine (blocked in Write);
	// the queue then holds at most 10 bytes.
	if !w.enqueue([]byte("0123456789")) {
		t.Fatal("first enqueue refused")
	}
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == 0 })
	if !w.enqueue([]byte("abcdef")) || !w.enqueue([]byte("ghij")) {
		t.Fatal("enqueue within bound refused")
	}
	if w.enqueue([]byte("k")) {
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
	w := newWriter(protocol.TypeJSON, 1<<20, tr.Write, func(err error) { errc <- err })
	w.enqueue([]byte("x"))
	if err := <-errc; err != tr.fail {
		t.Fatalf("onError got %v", err)
	}
	if w.enqueue([]byte("y")) {
		t.Fatal("enqueue after a write error accepted")
	}
}

func TestWriterNoGoroutineWhenIdle(t *testing.T) {
	t.Parallel()
	tr := newSink(protocol.TypeJSON)
	w := newWriter(protocol.TypeJSON, 1<<20, tr.Write, func(error) {})
	w.enqueue([]byte("x"))
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
		ws[i] = newWriter(protocol.TypeJSON, 1<<20, sinks[i].Write, func(error) {})
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
	slow := newSink(protocol.TypeJSON)
	slow.block = block
	fast := newSink(protocol.TypeJSON)
	ws := []*writer{
		newWriter(protocol.TypeJSON, 1<<20, slow.Write, func(error) {}),
		newWriter(protocol.TypeJSON, 1<<20, fast.Write, func(error) {}),
	}
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

func BenchmarkWriterEnqueue(b *testing.B) {
	tr := newSink(protocol.TypeJSON)
	tr.frames = make(chan []byte, 1<<20)
	w := newWriter(protocol.TypeJSON, 1<<30, func(f []byte) error { return nil }, func(error) {})
	msg := bytes.Repeat([]byte("x"), 100)
	b.ReportAllocs()
	for b.Loop() {
		w.enqueue(msg)
	}
}
