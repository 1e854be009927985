// Package warm runs work on goroutines that outlive one piece of work.
//
// Starting a goroutine per connection, per handshake or per flush is cheap
// one at a time, but in a burst each new goroutine starts with a small stack
// and grows it, by copying, while it runs through a connect or a write: in a
// burst of 10,000 connects, stack growth took about a twentieth of the
// server's CPU. A Pool keeps a bounded number of finished goroutines
// parked, with their stacks, and hands them the next piece of work.
package warm

import "sync/atomic"

// Pool runs fn for each value given to Go. It never bounds how many run at
// once: work that waits (a write to a slow client, a handshake) does not
// hold back other work. At most maxParked goroutines wait for work.
type Pool[T any] struct {
	fn        func(T)
	maxParked int32
	handoff   chan T
	done      chan struct{}
	parked    atomic.Int32
}

// New returns a pool running fn with at most maxParked goroutines waiting.
func New[T any](maxParked int, fn func(T)) *Pool[T] {
	return &Pool[T]{
		fn:        fn,
		maxParked: int32(maxParked),
		handoff:   make(chan T),
		done:      make(chan struct{}),
	}
}

// Go runs fn(v) on a parked goroutine, or on a new one when none waits.
func (p *Pool[T]) Go(v T) {
	select {
	case p.handoff <- v:
	default:
		go p.work(v)
	}
}

// Close ends the parked goroutines, and those that finish later instead of
// parking. Go still works after Close, on new goroutines. Close must be
// called at most once.
func (p *Pool[T]) Close() { close(p.done) }

func (p *Pool[T]) work(v T) {
	for {
		p.fn(v)
		if p.parked.Add(1) > p.maxParked {
			p.parked.Add(-1)
			return
		}
		select {
		case v = <-p.handoff:
			p.parked.Add(-1)
		case <-p.done:
			p.parked.Add(-1)
			return
		}
	}
}

// Parked reports how many goroutines wait for work.
func (p *Pool[T]) Parked() int { return int(p.parked.Load()) }
