package node

import (
	"runtime"
	"sync"

	"github.com/centrifugal/protocol"
)

// dispatchQueueMax bounds the events one dispatch queue holds. A broker
// handing events faster than the hub fans them out waits for room: the
// publish calls slow down instead of the queue growing without limit.
const dispatchQueueMax = 16384

// dispatchInlineMax is the largest local fan-out run on the broker's
// goroutine when its queue is idle: queueing costs a goroutine start and
// wake-up, more than queueing the event to a few subscribers directly.
const dispatchInlineMax = 32

// dispatchEvent is one broker event waiting for its fan-out: a publication
// (pub set) or a join/leave push (push set).
type dispatchEvent struct {
	channel string
	pub     *Publication
	sp      StreamPosition
	delta   bool
	push    *protocol.Push
}

// dispatcher fans broker events out to the hub on goroutines of its own, so
// that a publish call is answered once the broker accepted the publication,
// not after it was queued to every local subscriber (with the memory engine
// the broker hands the publication over on the caller's goroutine).
//
// Events of one channel always land in the same queue and leave it in the
// order they came, which keeps the per-channel order the hub relies on
// (offsets, delta bases). A queue holds no goroutine while empty: the first
// event starts one, which ends once the queue is drained.
//
// An event whose queue is idle and whose channel has at most
// dispatchInlineMax local subscribers (small) runs on the caller's
// goroutine instead. That keeps the order too: nothing of its channel is
// queued, and a broker hands over one event of a channel at a time.
type dispatcher struct {
	queues []dispatchQueue
	run    func(dispatchEvent)
	small  func(channel string) bool
}

type dispatchQueue struct {
	mu      sync.Mutex
	room    sync.Cond
	events  []dispatchEvent
	running bool
}

func newDispatcher(run func(dispatchEvent), small func(channel string) bool) *dispatcher {
	n := 4 * runtime.GOMAXPROCS(0)
	if n > numHubShards {
		n = numHubShards
	}
	d := &dispatcher{queues: make([]dispatchQueue, n), run: run, small: small}
	for i := range d.queues {
		d.queues[i].room.L = &d.queues[i].mu
	}
	return d
}

// add queues ev behind the earlier events of its channel, waiting while
// the queue is full.
func (d *dispatcher) add(ev dispatchEvent) {
	q := &d.queues[shardIndex(ev.channel)%len(d.queues)]
	// Asked before taking q.mu, so that the queue's lock is never held
	// while the hub's is taken.
	small := d.small != nil && d.small(ev.channel)
	q.mu.Lock()
	if !q.running && small {
		q.mu.Unlock()
		d.run(ev)
		return
	}
	for len(q.events) >= dispatchQueueMax {
		q.room.Wait()
	}
	q.events = append(q.events, ev)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go d.drain(q)
	}
}

// drain runs the queue's events until it is empty.
func (d *dispatcher) drain(q *dispatchQueue) {
	var batch []dispatchEvent
	for {
		q.mu.Lock()
		if len(q.events) == 0 {
			q.running = false
			// Keep the backing array for the next burst unless a burst
			// grew it large.
			if cap(q.events) > 1024 {
				q.events = nil
			}
			q.mu.Unlock()
			return
		}
		// Swap the queue with the drained batch: producers append to the
		// other array while this one is fanned out.
		batch, q.events = q.events, batch[:0]
		q.room.Broadcast()
		q.mu.Unlock()
		for i := range batch {
			d.run(batch[i])
			batch[i] = dispatchEvent{}
		}
	}
}
