package node

import (
	"sync"
	"time"
)

// pingTick is the resolution of the ping wheel.
const pingTick = 100 * time.Millisecond

// pinger sends server pings and enforces pong timeouts for every connected
// client from one goroutine: clients sit in slots of a wheel that turns once
// per ping interval, so an idle connection holds no timer of its own. Each
// tick visits one slot to ping its clients and the slot pinged pong_timeout
// ago to disconnect those that did not answer (3012).
type pinger struct {
	slots     []pingSlot
	pongTicks int
	next      int // slot the next client joins (spreads pings evenly)
	nextMu    sync.Mutex
	interval  time.Duration
	stopCh    chan struct{}
	stopOnce  sync.Once
}

type pingSlot struct {
	mu      sync.Mutex
	clients map[*Client]struct{}
}

func newPinger(interval, pongTimeout time.Duration) *pinger {
	n := int(interval / pingTick)
	if n < 1 {
		n = 1
	}
	p := &pinger{
		slots:     make([]pingSlot, n),
		pongTicks: int((pongTimeout + pingTick - 1) / pingTick),
		interval:  interval,
		stopCh:    make(chan struct{}),
	}
	for i := range p.slots {
		p.slots[i].clients = make(map[*Client]struct{})
	}
	return p
}

// add puts c on the wheel and returns its slot.
func (p *pinger) add(c *Client) int {
	p.nextMu.Lock()
	i := p.next
	p.next = (p.next + 1) % len(p.slots)
	p.nextMu.Unlock()
	s := &p.slots[i]
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	return i
}

func (p *pinger) remove(c *Client, slot int) {
	s := &p.slots[slot]
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

func (p *pinger) stop() { p.stopOnce.Do(func() { close(p.stopCh) }) }

func (p *pinger) run() {
	t := time.NewTicker(pingTick)
	defer t.Stop()
	tick := 0
	var batch []*Client
	for {
		select {
		case <-p.stopCh:
			return
		case <-t.C:
		}
		tick++
		n := len(p.slots)
		// Check first: clients pinged pongTicks ago that did not answer.
		batch = p.collect(batch[:0], ((tick-p.pongTicks)%n+n)%n)
		for _, c := range batch {
			c.checkPong()
		}
		// The pings of a slot are flushed together (see flushJob), not
		// by a goroutine per client.
		batch = p.collect(batch[:0], tick%n)
		job := newFlushJob()
		for _, c := range batch {
			c.sendPing(job)
		}
		job.start()
		clear(batch)
	}
}

func (p *pinger) collect(dst []*Client, slot int) []*Client {
	s := &p.slots[slot]
	s.mu.Lock()
	for c := range s.clients {
		dst = append(dst, c)
	}
	s.mu.Unlock()
	return dst
}
