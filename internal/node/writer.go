package node

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
)

// maxBatch is how many queued messages one frame carries at most.
const maxBatch = 64

// slowWrite is how long one frame write may take before the writer counts
// as slow: a slow writer is always flushed by a goroutine of its own, so
// that it cannot hold back the other writers of a shared flush (see
// flushJob).
const slowWrite = 5 * time.Millisecond

// writer is a client's outgoing queue. enqueue never blocks: it appends to a
// slice bounded in bytes and, when no flush is running, starts one. An idle
// connection therefore holds no writer goroutine. Frames are written with no
// lock held, and in enqueue order: only the one flush in progress (flushing)
// takes messages from the queue.
type writer struct {
	mu sync.Mutex
	// queue[head:] is what waits to be written.
	queue    [][]byte
	head     int
	size     int
	maxSize  int
	flushing bool
	closed   bool
	// slow is set when a frame write took longer than slowWrite.
	slow bool

	proto protocol.Type
	write func(frame []byte) error
	// onError is called (once, from the flush goroutine) when a write fails.
	onError func(err error)
}

func newWriter(proto protocol.Type, maxSize int, write func([]byte) error, onError func(error)) *writer {
	return &writer{proto: proto, maxSize: maxSize, write: write, onError: onError}
}

// enqueue queues an encoded reply and starts a flush when none runs. It
// reports false when the queue would exceed its byte bound (the caller
// disconnects the client as slow) or the writer is closed.
func (w *writer) enqueue(msg []byte) bool {
	ok, start := w.enqueueNoFlush(msg)
	if start {
		go w.flush()
	}
	return ok
}

// enqueueNoFlush queues msg like enqueue but leaves starting the flush to
// the caller: start reports that no flush runs and the caller must run one
// (flush, or a flushJob for many writers at once). The broadcast uses it
// to start the flushes of all its subscribers together, after its loop.
func (w *writer) enqueueNoFlush(msg []byte) (ok, start bool) {
	w.mu.Lock()
	if w.closed || w.size+len(msg) > w.maxSize {
		w.mu.Unlock()
		return false, false
	}
	w.queue = append(w.queue, msg)
	w.size += len(msg)
	start = !w.flushing
	w.flushing = true
	w.mu.Unlock()
	return true, start
}

// flush writes until the queue is empty.
func (w *writer) flush() {
	for w.flushOnce() {
	}
}

// flushOnce writes one frame of up to maxBatch queued messages. It reports
// whether more is queued; when it reports false the flush is over
// (flushing is false).
func (w *writer) flushOnce() bool {
	var batch [maxBatch][]byte
	w.mu.Lock()
	if w.closed || w.head == len(w.queue) {
		w.endFlushLocked()
		w.mu.Unlock()
		return false
	}
	n := copy(batch[:], w.queue[w.head:])
	clear(w.queue[w.head : w.head+n])
	w.head += n
	if w.head == len(w.queue) {
		w.queue = w.queue[:0]
		w.head = 0
	} else if w.head >= 1024 && w.head*2 >= len(w.queue) {
		// Compact now and then, so that a long queue is neither copied on
		// every frame nor kept growing.
		k := copy(w.queue, w.queue[w.head:])
		clear(w.queue[k:])
		w.queue = w.queue[:k]
		w.head = 0
	}
	for _, m := range batch[:n] {
		w.size -= len(m)
	}
	w.mu.Unlock()

	start := time.Now()
	var err error
	if n == 1 && w.proto != protocol.TypeProtobuf {
		// One JSON reply is its own frame.
		err = w.write(batch[0])
	} else {
		bp := framePool.Get().(*[]byte)
		*bp = appendFrame((*bp)[:0], w.proto, batch[:n])
		err = w.write(*bp)
		if cap(*bp) <= 64<<10 {
			framePool.Put(bp)
		}
	}
	slow := time.Since(start) > slowWrite

	w.mu.Lock()
	if slow {
		w.slow = true
	}
	if err != nil {
		w.closed = true
		w.flushing = false
		w.queue = nil
		w.head = 0
		w.mu.Unlock()
		w.onError(err)
		return false
	}
	if w.closed || w.head == len(w.queue) {
		w.endFlushLocked()
		w.mu.Unlock()
		return false
	}
	w.mu.Unlock()
	return true
}

// framePool holds the buffers frames of several messages are joined in, so
// that an idle connection keeps none.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// endFlushLocked ends the flush in progress on an empty (or closed) queue;
// the caller holds w.mu.
func (w *writer) endFlushLocked() {
	w.flushing = false
	w.resetQueueLocked()
}

// resetQueueLocked empties the queue. It keeps a backing array of up to
// four messages (96 bytes) for the next burst, so that a fan-out of one
// publication at a time allocates nothing per delivery; a longer one goes
// (with 16 kept, BenchmarkBroadcast1000 allocated fewer but larger queues
// and more bytes). The caller holds w.mu.
func (w *writer) resetQueueLocked() {
	if cap(w.queue) > 4 {
		w.queue = nil
	} else {
		w.queue = w.queue[:0]
	}
	w.head = 0
}

// isSlow reports whether a frame write of w once took longer than slowWrite.
func (w *writer) isSlow() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.slow
}

// close drops what is queued and refuses further messages.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.queue = nil
	w.head = 0
	w.size = 0
	w.mu.Unlock()
}

// flushGroup is how many writers one goroutine of a flushJob serves.
const flushGroup = 32

// flushJob runs the flushes that enqueueNoFlush asked its caller to start,
// for many writers at once. Rather than a goroutine per writer, one
// goroutine per group of up to flushGroup writers writes one frame to each
// in turn; a writer with more queued after that frame, or known to be slow,
// gets a goroutine of its own, so that one stalled socket holds back the
// rest of its group once at most. On BenchmarkBroadcast1000 (medians of 5
// runs on 2 cores) this, with the pooled job and queue, took a fan-out from
// 789 µs, 83 KB and 2,241 allocations to 133 µs, 23 KB and 193.
type flushJob struct {
	ws []*writer
	// left counts the groups still running; the last one recycles the job.
	left atomic.Int32
}

var flushJobs = sync.Pool{New: func() any { return new(flushJob) }}

// newFlushJob returns an empty job from the pool.
func newFlushJob() *flushJob { return flushJobs.Get().(*flushJob) }

// add queues w's flush; the caller got start from enqueueNoFlush.
func (j *flushJob) add(w *writer) { j.ws = append(j.ws, w) }

// start starts the flushes added; the job must not be used after.
func (j *flushJob) start() {
	switch len(j.ws) {
	case 0:
		j.recycle()
		return
	case 1:
		go j.ws[0].flush()
		j.recycle()
		return
	}
	// The last group to finish recycles j: from the first go statement on,
	// only ws (not j.ws) is read here.
	ws := j.ws
	groups := (len(ws) + flushGroup - 1) / flushGroup
	// Spread small fan-outs over the processors too.
	groups = max(groups, min(len(ws), runtime.GOMAXPROCS(0)))
	size := (len(ws) + groups - 1) / groups
	groups = (len(ws) + size - 1) / size
	j.left.Store(int32(groups))
	for lo := 0; lo < len(ws); lo += size {
		go j.run(ws[lo:min(lo+size, len(ws))])
	}
}

// run flushes one group, ws, of j's writers.
func (j *flushJob) run(ws []*writer) {
	// Writers known to be slow get their own goroutine first.
	for i, w := range ws {
		if w.isSlow() {
			go w.flush()
			ws[i] = nil
		}
	}
	for _, w := range ws {
		if w != nil && w.flushOnce() {
			go w.flush()
		}
	}
	if j.left.Add(-1) == 0 {
		j.recycle()
	}
}

func (j *flushJob) recycle() {
	if cap(j.ws) > 1<<16 {
		return // do not keep what one huge channel needed
	}
	clear(j.ws)
	j.ws = j.ws[:0]
	flushJobs.Put(j)
}

// appendFrame joins encoded replies into one transport frame: JSON replies
// separated by newlines, Protobuf replies each prefixed by its varint length.
func appendFrame(dst []byte, proto protocol.Type, msgs [][]byte) []byte {
	if proto == protocol.TypeProtobuf {
		for _, m := range msgs {
			dst = binary.AppendUvarint(dst, uint64(len(m)))
			dst = append(dst, m...)
		}
		return dst
	}
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, m...)
	}
	return dst
}
