package bench

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// After setup, connections are read by a few epoll loops instead of a
// goroutine each: one epoll_wait reports many connections with data, and
// each is read once. A goroutine per connection made two read calls per
// message (the second finding nothing) and a wake-up of its goroutine,
// which cost the load tool about a core in fanout and competed with the
// server for the CPU it measures.

// readState is what a connection's epoll loop needs.
type readState struct {
	rc syscall.RawConn
	fd int
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
	file *os.File
	rc   syscall.RawConn

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
	tc := tcpConn(c.nc)
	if tc == nil {
		return fmt.Errorf("not a TCP connection: %T", c.nc)
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
	c.reading = readState{rc: rc, fd: fd, p: p, slot: slot}
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
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(fd)
			r.stopPollers()
			return err
		}
		// A non-blocking descriptor makes a pollable File: the loop waits
		// in the runtime's poller, not in a thread of its own.
		p := &poller{epfd: fd, file: os.NewFile(uintptr(fd), "epoll")}
		if p.rc, err = p.file.SyscallConn(); err != nil {
			_ = p.file.Close()
			r.stopPollers()
			return err
		}
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
		_ = p.file.Close()
	}
}

// pollLoop reads the connections p reports readable until p is closed.
func (r *runner) pollLoop(p *poller) {
	events := make([]unix.EpollEvent, 256)
	ready := make([]*conn, 0, len(events))
	buf := make([]byte, pollBufferSize)
	var n int
	var werr error
	wait := func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), events, 0)
		return n > 0 || (werr != nil && werr != unix.EINTR)
	}
	for {
		if err := p.rc.Read(wait); err != nil {
			return // closed: the run is over
		}
		if werr != nil {
			r.noteError("epoll_wait", werr)
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
		r.end(c, errors.New("EOF"))
	default:
		if err := c.feed(buf[:n]); err != nil {
			r.end(c, err)
		}
	}
}
