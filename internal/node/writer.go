package node

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/warm"
)

// maxBatch is how many queued messages one frame carries by default
// (client_max_messages_in_frame), and how many a flush takes without
// allocating.
const maxBatch = 64

// slowWrite is how long one frame write may take before the writer counts
// as slow: a slow writer is always flushed by a goroutine of its own, so
// that it cannot hold back the other writers of a shared flush (see
// flushJob).
const slowWrite = 5 * time.Millisecond

// Flushes run on goroutines kept warm between flushes (see package warm):
// a goroutine per flush would grow a new stack for each. At most
// maxParkedFlushers wait for work.
const maxParkedFlushers = 64

var (
	flushers      = warm.New(maxParkedFlushers, (*writer).flush)
	groupFlushers = warm.New(maxParkedFlushers, (*groupQueue).serve)
	groupRunners  = warm.New(maxParkedFlushers, func(g jobGroup) { g.j.run(g.ws) })
	// finishers finish the frames a fan-out left (set in init: finishWrite
	// goes on with the flush, which may use finishers again).
	finishers *warm.Pool[pendingWrite]
)

func init() { finishers = warm.New(maxParkedFlushers, finishWrite) }

// jobGroup is one group of a flushJob's writers, flushed by one goroutine.
type jobGroup struct {
	j  *flushJob
	ws []*writer
}

// writerConfig is what the node's configuration sets for every writer.
type writerConfig struct {
	// maxSize bounds the queue in bytes (client_queue_max_size).
	maxSize int
	// delay is how long queued messages wait for more before a flush
	// starts (client_write_delay); 0 flushes at once.
	delay time.Duration
	// maxInFrame is the most messages one frame carries
	// (client_max_messages_in_frame).
	maxInFrame int
}

// writer is a client's outgoing queue. enqueue never blocks: it appends to a
// slice bounded in bytes and, when no flush is running, starts one. An idle
// connection therefore holds no writer goroutine. Frames are written with no
// lock held, and in enqueue order: only the one flush in progress (flushing)
// takes messages from the queue.
//
// With a write delay, a flush that enqueue starts first waits (delayed)
// for the delay to pass, collecting what is queued meanwhile into fewer
// frames. Whoever ends the wait (the writer's timer, a delayed flushJob or
// an urgent enqueue) clears delayed under mu; only that one flushes, so a
// timer firing late finds delayed false and does nothing.
type writer struct {
	mu sync.Mutex
	// queue[head:] is what waits to be written.
	queue    [][]byte
	head     int
	size     int
	flushing bool
	// delayed: flushing, but the flush waits for the write delay.
	delayed bool
	closed  bool
	// slow is set when a frame write took longer than slowWrite.
	slow bool
	// timer ends the delay of flushes enqueue starts; made on first use.
	timer *time.Timer

	cfg   writerConfig
	proto protocol.Type
	write func(frame []byte) error
	// writeNoWait, when the transport has it, writes a fan-out's frames
	// without waiting (see NoWaitWriter).
	writeNoWait func(frame []byte) (rest func() error, err error)
	// onError is called (once, from the flush goroutine) when a write fails.
	onError func(err error)
}

func newWriter(proto protocol.Type, cfg writerConfig, write func([]byte) error, onError func(error)) *writer {
	if cfg.maxInFrame <= 0 {
		cfg.maxInFrame = maxBatch
	}
	return &writer{proto: proto, cfg: cfg, write: write, onError: onError}
}

// enqueue queues an encoded reply and starts a flush when none runs. An
// urgent message is not held back by the write delay: it ends a delay in
// progress, so that it goes out at once with whatever was queued before
// it. enqueue reports false when the queue would exceed its byte bound (the
// caller disconnects the client as slow) or the writer is closed.
func (w *writer) enqueue(msg []byte, urgent bool) bool {
	w.mu.Lock()
	ok, start := w.appendLocked(msg)
	if !ok {
		w.mu.Unlock()
		return false
	}
	switch {
	case start && (urgent || w.cfg.delay <= 0):
		w.delayed = false
		w.mu.Unlock()
		flushers.Go(w)
	case start:
		// delayed was set by appendLocked.
		if w.timer == nil {
			w.timer = time.AfterFunc(w.cfg.delay, w.flushDue)
		} else {
			w.timer.Reset(w.cfg.delay)
		}
		w.mu.Unlock()
	case urgent && w.delayed:
		// End the wait now; the timer or job that was to end it will find
		// delayed false.
		w.delayed = false
		w.mu.Unlock()
		flushers.Go(w)
	default:
		w.mu.Unlock()
	}
	return true
}

// enqueueNoFlush queues msg like enqueue but leaves starting the flush to
// the caller: start reports that no flush runs and the caller must add w
// to a flushJob, which starts the flushes of many writers together (and
// waits out the write delay once for all of them). The broadcast and the
// pinger use it.
func (w *writer) enqueueNoFlush(msg []byte) (ok, start bool) {
	w.mu.Lock()
	ok, start = w.appendLocked(msg)
	w.mu.Unlock()
	return ok, start
}

// appendLocked queues msg. start reports that no flush ran and one must be
// started (flushing, and delayed when the writer has a write delay, are
// set). The caller holds w.mu.
func (w *writer) appendLocked(msg []byte) (ok, start bool) {
	if w.closed || w.size+len(msg) > w.cfg.maxSize {
		return false, false
	}
	w.queue = append(w.queue, msg)
	w.size += len(msg)
	if w.flushing {
		return true, false
	}
	w.flushing = true
	w.delayed = w.cfg.delay > 0
	return true, true
}

// takeDue ends the write delay of a delayed flush. It reports whether the
// caller now runs that flush: false when someone else already did.
func (w *writer) takeDue() bool {
	w.mu.Lock()
	due := w.delayed
	w.delayed = false
	w.mu.Unlock()
	return due
}

// flushDue runs when the writer's delay timer fires.
func (w *writer) flushDue() {
	if w.takeDue() {
		w.flush()
	}
}

// flush writes until the queue is empty.
func (w *writer) flush() {
	for w.flushOnce(false) {
	}
}

// flushOnce writes one frame of up to cfg.maxInFrame queued messages. It
// reports whether more is queued; when it reports false the flush is over
// (flushing is false) or goes on elsewhere. With noWait, a frame the
// connection does not take at once is finished, and the flush continued,
// by a goroutine of its own (finishWrite).
func (w *writer) flushOnce(noWait bool) bool {
	var arr [maxBatch][]byte
	batch := arr[:min(w.cfg.maxInFrame, maxBatch)]
	if w.cfg.maxInFrame > maxBatch {
		batch = make([][]byte, w.cfg.maxInFrame)
	}
	w.mu.Lock()
	if w.closed || w.head == len(w.queue) {
		w.endFlushLocked()
		w.mu.Unlock()
		return false
	}
	n := copy(batch, w.queue[w.head:])
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
	rest, err := w.writeFrame(batch[:n], noWait && w.writeNoWait != nil)
	if rest != nil {
		// The writer stays flushing: what is queued meanwhile goes out
		// from the finisher, in as few frames as it takes.
		finishers.Go(pendingWrite{w, rest})
		return false
	}
	return w.wrote(err, time.Since(start) > slowWrite)
}

// pendingWrite is the rest of a frame that a fan-out left to a goroutine
// of the writer's own.
type pendingWrite struct {
	w    *writer
	rest func() error
}

// finishWrite writes the rest of a frame and goes on with the flush.
func finishWrite(p pendingWrite) {
	start := time.Now()
	err := p.rest()
	if p.w.wrote(err, time.Since(start) > slowWrite) {
		p.w.flush()
	}
}

// wrote records the outcome of a frame write and reports whether more is
// queued; when it reports false the flush is over.
func (w *writer) wrote(err error, slow bool) bool {
	w.mu.Lock()
	if slow {
		w.slow = true
	}
	if err != nil {
		w.closed = true
		w.flushing = false
		w.delayed = false
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

// writeFrame writes msgs as one frame, without waiting when noWait is set
// (the writer has writeNoWait then). One JSON reply is its own frame;
// several are joined in a pooled buffer.
func (w *writer) writeFrame(msgs [][]byte, noWait bool) (rest func() error, err error) {
	if len(msgs) == 1 && w.proto != protocol.TypeProtobuf {
		return w.writeOut(msgs[0], noWait)
	}
	bp := framePool.Get().(*[]byte)
	*bp = appendFrame((*bp)[:0], w.proto, msgs)
	rest, err = w.writeOut(*bp, noWait)
	if cap(*bp) <= 64<<10 {
		framePool.Put(bp)
	}
	return rest, err
}

func (w *writer) writeOut(frame []byte, noWait bool) (rest func() error, err error) {
	if noWait {
		return w.writeNoWait(frame)
	}
	return nil, w.write(frame)
}

// framePool holds the buffers frames of several messages are joined in, so
// that an idle connection keeps none.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// endFlushLocked ends the flush in progress on an empty (or closed) queue;
// the caller holds w.mu.
func (w *writer) endFlushLocked() {
	w.flushing = false
	w.delayed = false
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

// close refuses further messages and drops what is queued, except that
// with writeDelayed it first writes what waits for the write delay: those
// messages would have been written by now without the delay, so a client
// the server disconnects still gets them before the close frame. A flush
// already writing stops after its frame, as without a delay.
func (w *writer) close(writeDelayed bool) {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	var pending [][]byte
	if writeDelayed && w.delayed && !w.closed {
		pending = w.queue[w.head:]
	}
	w.closed = true
	w.delayed = false
	w.queue = nil
	w.head = 0
	w.size = 0
	w.mu.Unlock()
	for len(pending) > 0 {
		n := min(len(pending), w.cfg.maxInFrame)
		if _, err := w.writeFrame(pending[:n], false); err != nil {
			return
		}
		pending = pending[n:]
	}
}

// flushGroup is how many writers one goroutine of a flushJob serves.
const flushGroup = 32

// flushJob runs the flushes that enqueueNoFlush asked its caller to start,
// for many writers at once. Rather than a goroutine per writer, the job is
// cut into groups of up to flushGroup writers, queued for a few workers
// (fanoutWorkers) that write one frame to each writer of a group in turn,
// without waiting (NoWaitWriter); a writer with more queued after that
// frame, one whose socket did not take the frame whole, and one known to be
// slow get a goroutine of their own. On BenchmarkBroadcast1000 (medians of 5
// runs on 2 cores) this, with the pooled job and queue, took a fan-out from
// 789 µs, 83 KB and 2,241 allocations to 133 µs, 23 KB and 193.
//
// When the writers have a write delay, start waits it out first (one timer
// for the whole job), and each writer is flushed only if its delay was not
// ended by an urgent message meanwhile (takeDue).
type flushJob struct {
	ws []*writer
	// delayed: the job started after the write delay.
	delayed bool
	// left counts the groups still running; the last one recycles the job.
	left atomic.Int32
}

var flushJobs = sync.Pool{New: func() any { return new(flushJob) }}

// newFlushJob returns an empty job from the pool.
func newFlushJob() *flushJob { return flushJobs.Get().(*flushJob) }

// add queues w's flush; the caller got start from enqueueNoFlush.
func (j *flushJob) add(w *writer) { j.ws = append(j.ws, w) }

// start starts the flushes added, after the write delay when the writers
// have one; the job must not be used after.
func (j *flushJob) start() {
	if len(j.ws) > 0 && j.ws[0].cfg.delay > 0 {
		j.delayed = true
		time.AfterFunc(j.ws[0].cfg.delay, j.startNow)
		return
	}
	j.startNow()
}

// startOnCaller flushes a job of at most inlineFlushMax writers without a
// write delay on the calling goroutine, the publisher's, and starts
// others as start does. Handing a few writes to a flush goroutine woke a
// second thread for each publication: the channels scenario (1,000
// channels x 5 subscribers, 1,000 publications/s, 3 interleaved runs)
// spent 0.234 / 0.226 / 0.239 ms of server CPU per publish that way, and
// 0.201 / 0.198 / 0.218 ms flushing on the caller, with 2.8 instead of
// 5.0 context switches per publish; the publish call waits for the writes
// (p50 0.28 -> 0.37 ms). A socket that does not take a frame at once is
// finished by a goroutine of the writer's own, as in a group.
func (j *flushJob) startOnCaller() {
	if n := len(j.ws); n == 0 || n > inlineFlushMax || j.ws[0].cfg.delay > 0 {
		j.start()
		return
	}
	j.left.Store(1)
	j.run(j.ws)
}

// inlineFlushMax is the largest fan-out startOnCaller writes on the
// caller's goroutine: about 8 x 7 µs of loopback writes here.
const inlineFlushMax = 8

func (j *flushJob) startNow() {
	switch len(j.ws) {
	case 0:
		j.recycle()
		return
	case 1:
		if w := j.ws[0]; !j.delayed || w.takeDue() {
			flushers.Go(w)
		}
		j.recycle()
		return
	}
	// The last group to finish recycles j: once the groups are queued,
	// only ws (not j.ws) is read here.
	ws := j.ws
	groups := (len(ws) + flushGroup - 1) / flushGroup
	size := (len(ws) + groups - 1) / groups
	j.left.Store(int32(groups))
	fanouts.mu.Lock()
	if len(fanouts.queue)-fanouts.head >= maxFanoutBacklog {
		// The workers are behind: the server is saturated, and a free
		// processor would not stay free anyway. Each group gets a
		// goroutine, as the publications meanwhile share frames.
		fanouts.mu.Unlock()
		for lo := 0; lo < len(ws); lo += size {
			groupRunners.Go(jobGroup{j, ws[lo:min(lo+size, len(ws))]})
		}
		return
	}
	for lo := 0; lo < len(ws); lo += size {
		fanouts.queue = append(fanouts.queue, jobGroup{j, ws[lo:min(lo+size, len(ws))]})
	}
	start := max(min(fanoutWorkers()-fanouts.running, groups), 0)
	fanouts.running += start
	fanouts.mu.Unlock()
	for range start {
		groupFlushers.Go(&fanouts)
	}
}

// maxFanoutBacklog is how many groups may wait for the fan-out workers
// (two publications to 1,000 subscribers) before further groups get
// goroutines of their own: when the workers are that far behind, the
// server is saturated and the processor they leave free is busy anyway.
// (Burst with the server on one core, medians of 5: 671k deliveries a
// second with this, 480k with every group queued; the spread is wide.)
const maxFanoutBacklog = 64

// fanoutWorkers is how many goroutines flush fan-out groups at once: one
// processor fewer than there are, so that one stays free for the API,
// reads and replies, which the runtime otherwise only gets to when the
// fan-out is done (it looks for network events once its run queues are
// empty, or every 10 ms). On two cores, fan-out of 1,000 subscribers x
// 100 publications/s (medians of 4): HTTP publish p50 2.98 -> 0.83 ms,
// delivery p99 55 -> 31 ms, CPU per delivery 17 % less. Group writes
// never wait on a client (see
// NoWaitWriter), so one worker cannot be held up by one full socket.
func fanoutWorkers() int { return max(runtime.GOMAXPROCS(0)-1, 1) }

// fanouts queues the groups of all fan-outs, in order, for the workers.
var fanouts groupQueue

type groupQueue struct {
	mu      sync.Mutex
	queue   []jobGroup
	head    int
	running int
}

// serve flushes queued groups until none is left.
func (q *groupQueue) serve() {
	for {
		q.mu.Lock()
		if q.head == len(q.queue) {
			q.queue = q.queue[:0]
			q.head = 0
			q.running--
			q.mu.Unlock()
			return
		}
		g := q.queue[q.head]
		q.queue[q.head] = jobGroup{}
		q.head++
		q.mu.Unlock()
		g.j.run(g.ws)
		// Let the goroutines that wait for this processor run between
		// groups: a worker going from group to group kept publish calls
		// waiting until it was preempted, and the publications made
		// meanwhile no longer joined the frames of writers still queued.
		// Burst with the server on one core, without this: about 120k
		// deliveries a second against 305k before the workers; with it,
		// 830k against 470k (medians of 5).
		runtime.Gosched()
	}
}

// run flushes one group, ws, of j's writers.
func (j *flushJob) run(ws []*writer) {
	// Writers known to be slow get their own goroutine first.
	for i, w := range ws {
		if j.delayed && !w.takeDue() {
			ws[i] = nil // flushed already, for an urgent message
		} else if w.writeNoWait == nil || w.isSlow() {
			flushers.Go(w)
			ws[i] = nil
		}
	}
	for _, w := range ws {
		if w != nil && w.flushOnce(true) {
			flushers.Go(w)
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
	j.delayed = false
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
