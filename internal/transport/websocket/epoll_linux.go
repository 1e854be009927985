//go:build linux

package websocket

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxReaders bounds the goroutines that read connections made readable by
// the epoll loops. A reader runs the client's commands, which may wait on a
// proxy, so the bound is far above
// the number of processors: a slow backend holds back the reads of other
// connections only once this many readers wait on it.
const maxReaders = 1024

// pollEvents is what a connection waits for: data and the peer's
// shutdown, edge-triggered, so that the registration needs no re-arming
// after each read, as with EPOLLONESHOT (an epoll_ctl call per read: 10,000
// idle connections over a ping cycle took 2.7 % of a core with it, 2.3 %
// without, medians of 3). Who reads is settled by pollState.reading.
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

// Values of pollState.reading.
const (
	// readIdle: no reader has the connection.
	readIdle int32 = iota
	// readBusy: a reader has it.
	readBusy
	// readAgain: a reader has it, and an event came after it started, so
	// it reads once more before letting go.
	readAgain
)

// pollState is a connection's epoll registration.
type pollState struct {
	// rc reads the descriptor; it fails once the connection is closed, so
	// a reader never reads a reused descriptor number.
	rc syscall.RawConn
	// p is the connection's epoll loop; nil when the connection is not a
	// plain TCP one, or epoll is not available.
	p  *poller
	fd int32
	// gen tells this registration from one of an earlier connection that
	// had the same descriptor number.
	gen uint32
	// reading makes sure one reader at a time has the connection, and that
	// an event arriving while it reads is not lost (see claimRead).
	reading atomic.Int32
}

// claimRead is called for each event: it reports whether the caller must
// hand c to a reader. When a reader has c already, it is told to read
// again instead: with edge-triggered events, data that arrived after its
// last read brings no other event.
func (c *conn) claimRead() bool {
	for {
		switch c.reading.Load() {
		case readIdle:
			if c.reading.CompareAndSwap(readIdle, readBusy) {
				return true
			}
		case readBusy:
			if c.reading.CompareAndSwap(readBusy, readAgain) {
				return false
			}
		default:
			return false
		}
	}
}

// poller is one epoll instance and the goroutine that waits on it.
type poller struct {
	epfd int
	// rc waits for the epoll descriptor in the runtime's network poller,
	// so that a waiting loop holds no thread; nil when the descriptor could
	// not be wrapped, and the loop blocks in epoll_wait(2) instead.
	rc syscall.RawConn
	// file keeps the descriptor wrapped by rc open.
	file *os.File
	// stride is the number of pollers: a descriptor fd belongs to poller
	// fd%stride, at index fd/stride of conns.
	stride int

	mu sync.Mutex
	// conns are the registered connections by descriptor.
	conns []*conn
}

var (
	pollersOnce sync.Once
	pollerList  []*poller
	pollersErr  error
	// generation numbers registrations.
	generation atomic.Uint32
	// epollFailed logs once that epoll cannot be used.
	epollFailed sync.Once
)

// getPollers starts the epoll loops on first use: one per processor.
func getPollers() ([]*poller, error) {
	pollersOnce.Do(func() {
		n := max(runtime.GOMAXPROCS(0), 1)
		list := make([]*poller, 0, n)
		for range n {
			fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				for _, p := range list {
					_ = unix.Close(p.epfd)
				}
				pollersErr = fmt.Errorf("websocket: epoll_create1: %w", err)
				return
			}
			p := &poller{epfd: fd, stride: n}
			if unix.SetNonblock(fd, true) == nil {
				// A non-blocking descriptor makes a pollable File: the
				// runtime's poller reports when this epoll instance has
				// events.
				p.file = os.NewFile(uintptr(fd), "epoll")
				p.rc, _ = p.file.SyscallConn()
			}
			list = append(list, p)
		}
		for _, p := range list {
			go p.loop()
		}
		pollerList = list
	})
	return pollerList, pollersErr
}

// describe says how the engine reads connections, for the start log.
func (e *epollEngine) describe() string {
	n := max(runtime.GOMAXPROCS(0), 1)
	return fmt.Sprintf("%d epoll loops and up to %d readers", n, maxReaders)
}

// preparePoll sets up the epoll registration of a plain TCP connection.
// Other connections, or all when epoll is not available, keep p nil.
func (c *conn) preparePoll() {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return
	}
	list, err := getPollers()
	if err != nil {
		epollFailed.Do(func() {
			c.h.n.Log().Warn("epoll is not available: each websocket connection is read by a goroutine", "error", err)
		})
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		return
	}
	c.rc = rc
	c.fd = int32(fd)
	c.gen = generation.Add(1)
	c.p = list[fd%len(list)]
}

// startReading hands the connection to its epoll loop, or to a goroutine
// of its own when it has none.
func (c *conn) startReading() {
	if c.p != nil {
		err := c.p.add(c)
		if err == nil {
			return
		}
		// Not registered: remove and rearm leave the connection alone.
		c.h.n.Log().Warn("epoll_ctl add failed: the websocket connection is read by a goroutine", "error", err)
	}
	go c.readLoop()
}

// unregister takes the connection out of its epoll loop.
func (c *conn) unregister() {
	if c.p != nil {
		c.p.remove(c)
	}
}

// event is c's registration: the descriptor and the generation come back
// with each event.
func (c *conn) event() unix.EpollEvent {
	return unix.EpollEvent{Events: pollEvents, Fd: c.fd, Pad: int32(c.gen)}
}

// add registers c; a finished connection is not registered.
func (p *poller) add(c *conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.finished.Load() {
		return nil
	}
	ev := c.event()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
		return err
	}
	i := int(c.fd) / p.stride
	if i >= len(p.conns) {
		p.conns = append(p.conns, make([]*conn, i+1-len(p.conns))...)
	}
	p.conns[i] = c
	return nil
}

// remove deregisters c, before its descriptor is closed.
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := int(c.fd) / p.stride
	if i >= len(p.conns) || p.conns[i] != c {
		return
	}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), &unix.EpollEvent{})
	p.conns[i] = nil
}

// loop waits for events and hands each readable connection to a reader.
// It waits in the runtime's network poller when it can: a goroutine parked
// there costs no thread, where one blocked in epoll_wait(2) costs a thread
// and a handoff of its processor on every wake-up (measured with `rotor
// bench --scenario idle`, 10,000 connections: about 1 point of CPU).
func (p *poller) loop() {
	events := make([]unix.EpollEvent, 256)
	ready := make([]*conn, 0, len(events))
	if p.rc != nil {
		var n int
		var werr error
		wait := func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			return n > 0 || werr != nil
		}
		for {
			if err := p.rc.Read(wait); err != nil {
				// Not pollable: block in epoll_wait below.
				break
			}
			if werr != nil {
				if errors.Is(werr, unix.EINTR) {
					continue
				}
				slog.Error("websocket: epoll_wait failed", "error", werr)
				return
			}
			ready = p.dispatch(events[:n], ready)
		}
	}
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			slog.Error("websocket: epoll_wait failed", "error", err)
			return
		}
		ready = p.dispatch(events[:n], ready)
	}
}

// dispatch hands the connections of events to readers; ready is scratch
// space, returned for the next call.
func (p *poller) dispatch(events []unix.EpollEvent, ready []*conn) []*conn {
	p.mu.Lock()
	for i := range events {
		ev := &events[i]
		j := int(ev.Fd) / p.stride
		if j < len(p.conns) {
			if c := p.conns[j]; c != nil && c.gen == uint32(ev.Pad) && c.claimRead() {
				ready = append(ready, c)
			}
		}
	}
	p.mu.Unlock()
	for _, c := range ready {
		readers.submit(c)
	}
	clear(ready)
	return ready[:0]
}

// readerPool runs the reads of readable connections on goroutines that
// outlive one connection: a reader that finds nothing more to do waits for
// the next connection while fewer than maxParkedReaders wait, and ends
// otherwise. Up to maxReaders read at once; past that, connections queue.
// Reusing readers matters during bursts of connects: a new goroutine grows
// its stack two or three times while it runs a connect command (about a
// twentieth of the server's CPU when each connect had a new reader).
type readerPool struct {
	// handoff passes a connection to a parked reader.
	handoff chan *conn

	mu      sync.Mutex
	queue   []*conn
	head    int
	running int
	parked  int
}

// maxParkedReaders bounds the readers kept waiting for work; each keeps
// its stack, a few KiB.
const maxParkedReaders = 64

var readers = readerPool{handoff: make(chan *conn)}

func (rp *readerPool) submit(c *conn) {
	rp.mu.Lock()
	if rp.parked > 0 {
		select {
		case rp.handoff <- c:
			// The reader counted itself parked; it runs now.
			rp.parked--
			rp.running++
			rp.mu.Unlock()
			return
		default:
			// It is on its way to the handoff, not there yet.
		}
	}
	if rp.running < maxReaders {
		rp.running++
		rp.mu.Unlock()
		go rp.read(c)
		return
	}
	rp.queue = append(rp.queue, c)
	rp.mu.Unlock()
}

// nextLocked takes a waiting connection off the queue, or returns nil;
// rp.mu is held.
func (rp *readerPool) nextLocked() *conn {
	if rp.head == len(rp.queue) {
		rp.queue = rp.queue[:0]
		rp.head = 0
		return nil
	}
	c := rp.queue[rp.head]
	rp.queue[rp.head] = nil
	rp.head++
	return c
}

// read serves c, then the queue, then what is handed to it while parked.
func (rp *readerPool) read(c *conn) {
	for {
		c.onReadable()
		rp.mu.Lock()
		if c = rp.nextLocked(); c != nil {
			rp.mu.Unlock()
			continue
		}
		rp.running--
		if rp.parked >= maxParkedReaders {
			rp.mu.Unlock()
			return
		}
		rp.parked++
		rp.mu.Unlock()
		c = <-rp.handoff
	}
}

// readBuf is a reader's buffer with the read callback bound to it, so
// that a read allocates nothing.
type readBuf struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var readBufPool = sync.Pool{New: func() any {
	rb := &readBuf{b: make([]byte, readBufferSize)}
	rb.fn = rb.readFD
	return rb
}}

// readFD reads once without waiting: the descriptor is non-blocking, and
// returning true keeps RawConn.Read from parking on EAGAIN.
func (rb *readBuf) readFD(fd uintptr) bool {
	rb.n, rb.err = readNonblock(fd, rb.b)
	return true
}

// read reads what the socket holds, up to len(rb.b) bytes.
func (rb *readBuf) read(rc syscall.RawConn) (int, error) {
	rb.n, rb.err = 0, nil
	if err := rc.Read(rb.fn); err != nil {
		return 0, err
	}
	if rb.n < 0 {
		rb.n = 0
	}
	return rb.n, rb.err
}

// onReadable reads and handles what the socket holds, and again while
// events came meanwhile (claimRead), then lets the connection go.
func (c *conn) onReadable() {
	rb := readBufPool.Get().(*readBuf)
	defer readBufPool.Put(rb)
	for c.readAvailable(rb) {
		if c.reading.CompareAndSwap(readBusy, readIdle) {
			return
		}
		c.reading.Store(readBusy) // it was readAgain
	}
}

// readAvailable reads until the socket is drained. It reports false once
// the connection is finished.
func (c *conn) readAvailable(rb *readBuf) bool {
	for {
		n, err := rb.read(c.rc)
		if n > 0 && !c.consume(rb.b[:n]) {
			return false
		}
		switch {
		case err == unix.EAGAIN:
			return true
		case err == unix.EINTR:
			continue
		case err != nil || n == 0:
			c.finish()
			return false
		case n < len(rb.b):
			// Drained, most likely: what arrived since brings an event,
			// and claimRead has this reader read again.
			return true
		}
	}
}

// rawWrite is a write(2) run through RawConn.Control, with its callback
// bound once, so that a write allocates nothing. Control holds a
// reference on the descriptor, so it cannot be closed, and its number
// reused, during the call.
type rawWrite struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr)
}

var rawWrites = sync.Pool{New: func() any {
	w := new(rawWrite)
	w.fn = w.do
	return w
}}

// do writes w.b until it is all out or the socket would block.
func (w *rawWrite) do(fd uintptr) {
	for w.n < len(w.b) {
		n, err := writeNonblock(fd, w.b[w.n:])
		if n > 0 {
			w.n += n
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			w.err = err
			return
		}
	}
}

// CanWriteNoWait implements node.NoWaitWriter: connections read by epoll
// can be written without waiting (writeNow); others (TLS) cannot.
func (c *conn) CanWriteNoWait() bool { return c.rc != nil }

// writeNow writes what of b the socket takes without waiting and returns
// how much that was; err is nil also when the socket would block, and the
// caller writes the rest through the runtime's poller. Writing straight to
// the non-blocking descriptor skips the poller's locking and re-arming
// for the common case. Connections without epoll (TLS) write nothing here.
func (c *conn) writeNow(b []byte) (int, error) {
	if c.rc == nil {
		return 0, nil
	}
	return writeNoWait(c.rc, b)
}

// writeNoWait writes what of b the non-blocking socket of rc takes at
// once, with raw system calls; err is nil also when it would block.
func writeNoWait(rc syscall.RawConn, b []byte) (int, error) {
	w := rawWrites.Get().(*rawWrite)
	w.b, w.n, w.err = b, 0, nil
	cerr := rc.Control(w.fn)
	n, err := w.n, w.err
	w.b = nil
	rawWrites.Put(w)
	if cerr != nil {
		return n, cerr
	}
	if err == unix.EAGAIN {
		err = nil
	}
	return n, err
}
