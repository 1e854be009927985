package bench

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// After setup, connections are read by a few epoll loops instead of a
// goroutine each: one epoll_wait reports many connections with data (about
// 7 in fanout), and each is read once. A goroutine per connection made two
// read calls per message, the second finding nothing, and woke its
// goroutine for each; the load tool spent a fifth more user CPU, which it
// takes from the server it measures.

// readState is what a connection's epoll loop needs.
type readState struct {
	rc syscall.RawConn
	p  *poller
	// slot is the connection's index in p.conns, sent with its events.
	slot int32
}

// pollers are the epoll loops of one run.
type pollers struct {
	once sync.Once
	err  error
	list []*poller
	next atomic.Uint32
}

type poller struct {
	epfd int
	stop atomic.Bool

	mu    sync.Mutex
	conns []*conn
	free  []int32
}

// startReading registers c with an epoll loop, starting the loops on
// first use.
func (r *runner) startReading(c *conn) error {
	ps := &r.pollers
	ps.once.Do(func() { ps.err = r.startPollers() })
	if ps.err != nil {
		return ps.err
	}
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		// TLS: the socket's bytes are not the frames.
		r.readOnGoroutine(c)
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	p := ps.list[int(ps.next.Add(1))%len(ps.list)]
	p.mu.Lock()
	defer p.mu.Unlock()
	var slot int32
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
		p.conns[slot] = c
	} else {
		slot = int32(len(p.conns))
		p.conns = append(p.conns, c)
	}
	c.reading = readState{rc: rc, p: p, slot: slot}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.conns[slot] = nil
		p.free = append(p.free, slot)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// stopReading takes c out of its epoll loop, before it is closed.
func (r *runner) stopReading(c *conn) {
	st := &c.reading
	if st.p == nil {
		return
	}
	p := st.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[st.slot] != c {
		return
	}
	_ = st.rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), &unix.EpollEvent{})
	})
	p.conns[st.slot] = nil
	p.free = append(p.free, st.slot)
}

// startPollers starts one epoll loop per processor.
func (r *runner) startPollers() error {
	n := max(runtime.GOMAXPROCS(0), 1)
	for range n {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			r.stopPollers()
			return fmt.Errorf("epoll_create1: %w", err)
		}
		p := &poller{epfd: fd}
		r.pollers.list = append(r.pollers.list, p)
		r.readers.Add(1)
		go func() {
			defer r.readers.Done()
			r.pollLoop(p)
		}()
	}
	return nil
}

// stopPollers ends the epoll loops; the connections are closed already.
func (r *runner) stopPollers() {
	for _, p := range r.pollers.list {
		p.stop.Store(true)
	}
}

// pollWait bounds one epoll_wait, so that a loop notices its stop.
const pollWait = 50 // milliseconds

// pollLoop reads the connections p reports readable until p is stopped.
// It blocks in epoll_wait on a thread of its own: waiting in the
// runtime's poller instead would register this epoll instance in the
// runtime's, and every message would then wake two of them.
func (r *runner) pollLoop(p *poller) {
	defer unix.Close(p.epfd)
	events := make([]unix.EpollEvent, 256)
	ready := make([]*conn, 0, len(events))
	buf := make([]byte, pollBufferSize)
	for !p.stop.Load() {
		n, err := unix.EpollWait(p.epfd, events, pollWait)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			r.noteError("epoll_wait", err)
			return
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if c := p.conns[ev.Fd]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for _, c := range ready {
			r.readOnce(c, buf)
		}
		clear(ready)
		ready = ready[:0]
	}
}

// readOnce reads what c holds, up to len(buf) bytes, and handles it; the
// loop comes back when more is left.
func (r *runner) readOnce(c *conn, buf []byte) {
	var n int
	var err error
	cerr := c.reading.rc.Control(func(fd uintptr) {
		for {
			n, err = unix.Read(int(fd), buf)
			if err != unix.EINTR {
				return
			}
		}
	})
	switch {
	case cerr != nil:
		r.end(c, cerr)
	case err == unix.EAGAIN:
	case err != nil:
		r.end(c, err)
	case n == 0:
		r.end(c, io.EOF)
	default:
		if err := c.feed(buf[:n]); err != nil {
			r.end(c, err)
		}
	}
}
