package websocket

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/gobwas/ws"

	"github.com/rotorhq/rotor/internal/node"
)

// epollEngine upgrades with gobwas/ws and parses frames itself. On Linux a
// plain TCP connection is read by the epoll loops (epoll_linux.go): it holds
// no goroutine and no buffer while idle. Any other connection is read by a
// goroutine of its own (conn.readLoop).
type epollEngine struct {
	h        *Handler
	upgrader ws.HTTPUpgrader
}

func newEpollEngine(h *Handler) *epollEngine {
	return &epollEngine{h: h, upgrader: ws.HTTPUpgrader{
		Timeout: h.timeout,
		Protocol: func(p string) bool {
			return p == SubprotocolProtobuf || p == SubprotocolJSON
		},
	}}
}

func (e *epollEngine) serve(w http.ResponseWriter, r *http.Request) {
	h := e.h
	// Answer requests that are no WebSocket handshake as gorilla/websocket
	// does, before the connection is taken over.
	if status, msg := handshakeProblem(r); status != 0 {
		http.Error(w, msg, status)
		h.n.Log().Debug("websocket upgrade failed", "remote", r.RemoteAddr, "error", msg)
		return
	}
	nc, rw, hs, err := e.upgrader.Upgrade(r, w)
	if err != nil {
		// Upgrade has answered the request already.
		if nc != nil {
			_ = nc.Close()
		}
		h.n.Log().Debug("websocket upgrade failed", "remote", r.RemoteAddr, "error", err)
		return
	}
	c := &conn{h: h, nc: nc, binary: protocolOf(hs.Protocol, r) == protocol.TypeProtobuf}
	// Everything the readers need is set before the node sees the
	// transport: its timers may call Close from now on.
	c.preparePoll()
	cl, err := h.n.NewClient(c, node.ClientOptions{Headers: r.Header})
	if err != nil {
		var d node.Disconnect
		if !errors.As(err, &d) {
			d = node.DisconnectServerError
		}
		_ = c.Close(d)
		c.finish()
		return
	}
	c.client.Store(cl)
	// Frames the client sent right behind its handshake are in the
	// hijacked reader's buffer: handle them before reading the socket.
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		if !c.consume(b) {
			return
		}
	}
	// The HTTP server's goroutine ends here: its stack grew while serving
	// the request and the upgrade, and an idle connection would keep it.
	c.startReading()
}

// readBufferSize is the size of the buffers the readers read into.
const readBufferSize = 4096

// smallFrame is the largest payload Write copies behind the frame header
// to write both with one write(2); a larger payload is written with the
// header in one writev(2), without a copy.
const smallFrame = 2048

// writeBufPool holds buffers of maxServerHeaderSize+smallFrame bytes.
var writeBufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, maxServerHeaderSize+smallFrame)
	return &b
}}

var (
	errCloseSent      = errors.New("websocket: close sent")
	errControlTooLong = errors.New("websocket: invalid control frame")
)

// conn is one client connection of the epoll engine and its
// node.Transport. Write and Close may be called concurrently with each
// other and with the reader; the reader state (rs, closing) is used by one
// reader at a time: pollState.reading hands the connection to one reader
// and keeps it there until the socket is drained.
type conn struct {
	h      *Handler
	nc     net.Conn
	binary bool
	client atomic.Pointer[node.Client]

	// pollState is the epoll registration (empty where there is none).
	pollState

	// rs holds what a read left unfinished: nil between whole messages.
	rs *readState
	// closing is set once the client is closed: data messages are then
	// dropped while the reader waits for the peer's close frame.
	closing bool

	finished atomic.Bool

	// wmu serialises frame writes; the fields below it are guarded by it.
	wmu sync.Mutex
	// closeSent is set once a close frame was written (or tried): nothing
	// is written after it.
	closeSent bool
	// closed is set by the first Close.
	closed bool
	// deadlineAt is the write deadline set on nc; zero when none is.
	deadlineAt time.Time
	// closeTimer finishes the connection closeWait after the server closed
	// it, when the peer does not answer.
	closeTimer *time.Timer
}

// readState is what a read left unfinished: bytes of an incomplete frame
// and the fragments of an unfinished message. It is allocated only then.
type readState struct {
	// buf holds the bytes of an incomplete frame.
	buf []byte
	// msg is the unmasked payload of a fragmented message so far.
	msg []byte
	// msgLen is the payload length of the message's complete frames.
	msgLen int64
	// fragmented is set while a message's final frame is awaited.
	fragmented bool
}

var _ node.Transport = (*conn)(nil)

// Name implements node.Transport.
func (c *conn) Name() string { return "websocket" }

// Protocol implements node.Transport.
func (c *conn) Protocol() protocol.Type {
	if c.binary {
		return protocol.TypeProtobuf
	}
	return protocol.TypeJSON
}

// Write implements node.Transport: frame goes out as one final text (JSON)
// or binary (Protobuf) frame. A frame the socket takes at once is written
// without waiting (writeNow); what has to wait is written under a write
// deadline between half and all of websocket_write_timeout away.
// A failed write leaves the stream unusable: the connection is dropped
// closeWait later at the latest.
func (c *conn) Write(frame []byte) error {
	op := c.dataOp()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	err := c.writeFrameLocked(op, frame, true)
	if err != nil {
		c.startCloseTimerLocked()
	}
	return err
}

// dataOp is the opcode of the connection's data frames: text for JSON,
// binary for Protobuf.
func (c *conn) dataOp() ws.OpCode {
	if c.binary {
		return ws.OpBinary
	}
	return ws.OpText
}

// WriteNoWait implements node.NoWaitWriter: the frame is written as by
// Write as far as the socket takes it at once. The rest, if any, is left
// to the returned function, which keeps the connection's write lock until
// it has written it (or failed), so that nothing else goes out between the
// two parts. All of the frame is left when another write holds the lock.
func (c *conn) WriteNoWait(frame []byte) (rest func() error, err error) {
	if !c.wmu.TryLock() {
		b := bytes.Clone(frame)
		return func() error { return c.Write(b) }, nil
	}
	if c.closeSent {
		c.wmu.Unlock()
		return nil, errCloseSent
	}
	op := c.dataOp()
	var hdr [maxServerHeaderSize]byte
	n := putServerHeader(&hdr, op, len(frame))
	bp := writeBufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	// left is what the socket did not take; it may share buf, so buf goes
	// back to the pool only once left is written.
	var left []byte
	if len(frame) <= smallFrame {
		b := append(append(buf, hdr[:n]...), frame...)
		var written int
		written, err = c.writeNow(b)
		left = b[written:]
	} else {
		// A large payload is not copied unless the socket leaves some of it.
		b := append(buf, hdr[:n]...)
		var hw, pw int
		if hw, err = c.writeNow(b); err == nil && hw == n {
			pw, err = c.writeNow(frame)
		}
		if err == nil && pw < len(frame) {
			left = append(b[hw:], frame[pw:]...)
		}
	}
	if err != nil || len(left) == 0 {
		*bp = buf[:0]
		writeBufPool.Put(bp)
		if err != nil {
			c.startCloseTimerLocked()
		}
		c.wmu.Unlock()
		return nil, err
	}
	return c.restLocked(left, bp, buf), nil
}

// restLocked returns the function that writes left, the part of a frame
// WriteNoWait could not, and then releases the write lock and bp (whose
// buffer buf left may share).
func (c *conn) restLocked(left []byte, bp *[]byte, buf []byte) func() error {
	return func() error {
		defer c.wmu.Unlock()
		c.armDeadlineLocked()
		_, err := c.nc.Write(left)
		*bp = buf[:0]
		writeBufPool.Put(bp)
		if err != nil {
			c.startCloseTimerLocked()
		}
		return err
	}
}

// writeFrameLocked writes one unmasked final frame with one system call.
// A small one is first written without waiting: most writes are taken
// whole by the socket, and then need neither the runtime's poller nor a
// deadline. When the write has to wait and arm is set, the lazy write
// deadline is moved first (control frames set theirs beforehand).
func (c *conn) writeFrameLocked(op ws.OpCode, payload []byte, arm bool) error {
	if len(payload) > smallFrame {
		if arm {
			c.armDeadlineLocked()
		}
		return c.writeLargeLocked(op, payload)
	}
	var hdr [maxServerHeaderSize]byte
	n := putServerHeader(&hdr, op, len(payload))
	bp := writeBufPool.Get().(*[]byte)
	b := append((*bp)[:0], hdr[:n]...)
	b = append(b, payload...)
	written, err := c.writeNow(b)
	if err == nil && written < len(b) {
		if arm {
			c.armDeadlineLocked()
		}
		_, err = c.nc.Write(b[written:])
	}
	*bp = b[:0]
	writeBufPool.Put(bp)
	return err
}

// armDeadlineLocked makes sure a write that waits is bounded: it moves
// the deadline only when less than half the timeout is left, so a
// connection written to often sets it about twice per timeout rather than
// before every frame, and each write is still bounded by at least half
// the timeout.
func (c *conn) armDeadlineLocked() {
	if t := c.h.timeout; t > 0 {
		if now := time.Now(); c.deadlineAt.Sub(now) < t/2 {
			c.setDeadlineLocked(now.Add(t))
		}
	} else if !c.deadlineAt.IsZero() {
		c.setDeadlineLocked(time.Time{})
	}
}

// Close implements node.Transport: the first call sends a close frame with
// d's code and reason, and the connection is dropped once the peer answers
// it, or closeWait later.
func (c *conn) Close(d node.Disconnect) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.startCloseTimerLocked()
	var b [maxControlPayload + 1]byte
	payload := appendClosePayload(b[:0], int(d.Code), d.Reason)
	if len(payload) > maxControlPayload {
		// Too long for a control frame: gorilla/websocket sends nothing
		// either.
		c.closeSent = true
		return errControlTooLong
	}
	return c.writeControlLocked(ws.OpClose, payload)
}

// writeControlLocked writes a control frame with the closeWait deadline;
// after a close frame nothing more is written.
func (c *conn) writeControlLocked(op ws.OpCode, payload []byte) error {
	if c.closeSent {
		return errCloseSent
	}
	if op == ws.OpClose {
		c.closeSent = true
	}
	c.setDeadlineLocked(time.Now().Add(closeWait))
	return c.writeFrameLocked(op, payload, false)
}

// setDeadlineLocked sets the write deadline of nc (none when t is zero).
func (c *conn) setDeadlineLocked(t time.Time) {
	c.deadlineAt = t
	_ = c.nc.SetWriteDeadline(t)
}

// writeLargeLocked writes the header and the payload with one writev(2),
// without copying the payload.
func (c *conn) writeLargeLocked(op ws.OpCode, payload []byte) error {
	var hdr [maxServerHeaderSize]byte
	n := putServerHeader(&hdr, op, len(payload))
	bufs := net.Buffers{hdr[:n], payload}
	_, err := bufs.WriteTo(c.nc)
	return err
}

// startCloseTimerLocked makes sure the connection is finished closeWait
// from now at the latest.
func (c *conn) startCloseTimerLocked() {
	if c.closeTimer == nil && !c.finished.Load() {
		c.closeTimer = time.AfterFunc(closeWait, c.finish)
	}
}

// finish ends the connection: it leaves the epoll loop, the socket is
// closed and the client is told, once, whatever the reason.
func (c *conn) finish() {
	if !c.finished.CompareAndSwap(false, true) {
		return
	}
	// Leave epoll before the descriptor is closed, so that its number,
	// once reused, cannot lead an event here. Closing before taking wmu
	// ends a write in progress at once.
	c.unregister()
	_ = c.nc.Close()
	c.wmu.Lock()
	c.closeSent = true
	t := c.closeTimer
	c.wmu.Unlock()
	if t != nil {
		t.Stop()
	}
	if cl := c.client.Load(); cl != nil {
		cl.OnTransportClosed()
	}
}

// readLoop reads the connection on the calling goroutine until it is
// finished; it serves the connections epoll does not.
func (c *conn) readLoop() {
	buf := make([]byte, readBufferSize)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 && !c.consume(buf[:n]) {
			return
		}
		if err != nil {
			c.finish()
			return
		}
	}
}

// consume handles data read from the connection: each complete frame in
// order, keeping an incomplete one for the next call. data is not retained.
// It reports false once the connection is finished.
func (c *conn) consume(data []byte) bool {
	p := data
	inBuf := false
	if c.rs != nil && len(c.rs.buf) > 0 {
		c.rs.buf = append(c.rs.buf, data...)
		p = c.rs.buf
		inBuf = true
	}
	for len(p) >= 2 {
		h := parseStart(p)
		if problem := headerProblems(&h, c.rs != nil && c.rs.fragmented); problem != "" {
			c.fail(problem)
			return false
		}
		if !parseRest(p, &h) {
			break
		}
		if (h.op == ws.OpText || h.op == ws.OpBinary || h.op == ws.OpContinuation) && !c.checkSize(&h) {
			return false
		}
		end := int64(h.size) + h.length
		if int64(len(p)) < end {
			break
		}
		if !c.onFrame(&h, p[h.size:end]) {
			return false
		}
		p = p[end:]
	}
	c.keep(p, inBuf)
	return true
}

// keep stores the unparsed rest p of a read (a part of rs.buf when inBuf)
// for the next one, and drops the read state when nothing is pending.
func (c *conn) keep(p []byte, inBuf bool) {
	if len(p) == 0 {
		if c.rs != nil {
			c.rs.buf = nil
			if !c.rs.fragmented {
				c.rs = nil
			}
		}
		return
	}
	rs := c.readState()
	if inBuf {
		rs.buf = rs.buf[:copy(rs.buf, p)]
		return
	}
	rs.buf = append(rs.buf[:0], p...)
}

func (c *conn) readState() *readState {
	if c.rs == nil {
		c.rs = &readState{}
	}
	return c.rs
}

// checkSize enforces websocket_message_size_limit on the message the data
// frame h belongs to, as soon as its header is known.
func (c *conn) checkSize(h *frameHeader) bool {
	var before int64
	if h.op == ws.OpContinuation && c.rs != nil {
		before = c.rs.msgLen
	}
	limit := c.h.limit
	if h.length >= 0 && (limit <= 0 || h.length <= limit-before) {
		return true
	}
	if !c.closing {
		c.h.n.Log().Info("client message too large", "client", c.client.Load().ID(), "limit", limit)
	}
	if h.length >= 0 {
		// A declared length of 2^63 or more ends the connection without a
		// close frame, as with gorilla/websocket.
		c.writeClose(closeMessageTooBig, "")
	}
	c.finish()
	return false
}

// onFrame handles one complete frame; payload is still masked. It reports
// false once the connection is finished.
func (c *conn) onFrame(h *frameHeader, payload []byte) bool {
	switch h.op {
	case ws.OpText, ws.OpBinary:
		if h.fin {
			if c.closing {
				return true
			}
			msg := make([]byte, len(payload))
			copy(msg, payload)
			ws.Cipher(msg, h.mask, 0)
			return c.deliver(msg)
		}
		rs := c.readState()
		rs.fragmented = true
		rs.msgLen = h.length
		rs.msg = appendUnmasked(rs.msg[:0], payload, h.mask)
	case ws.OpContinuation:
		rs := c.rs
		rs.msgLen += h.length
		rs.msg = appendUnmasked(rs.msg, payload, h.mask)
		if h.fin {
			msg := rs.msg
			rs.msg, rs.msgLen, rs.fragmented = nil, 0, false
			return c.deliver(msg)
		}
	case ws.OpPing:
		var b [maxControlPayload]byte
		pl := b[:copy(b[:], payload)]
		ws.Cipher(pl, h.mask, 0)
		return c.pong(pl)
	case ws.OpClose:
		var b [maxControlPayload]byte
		pl := b[:copy(b[:], payload)]
		ws.Cipher(pl, h.mask, 0)
		code, _, problem := parseClosePayload(pl)
		if problem != "" {
			c.fail(problem)
			return false
		}
		// Answer with the peer's code, or with the empty payload for a
		// close frame without one; nothing when the server's own close
		// frame went out first.
		c.writeClose(code, "")
		c.finish()
		return false
	}
	// Pongs need no answer: the client protocol has pings of its own.
	return true
}

// appendUnmasked appends payload unmasked with mask to dst.
func appendUnmasked(dst, payload []byte, mask [4]byte) []byte {
	n := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[n:], mask, 0)
	return dst
}

// deliver hands one message to the client. Once the client is closed,
// messages are dropped and the connection waits (closeWait at most) for
// the peer's close frame.
func (c *conn) deliver(msg []byte) bool {
	if c.closing {
		return true
	}
	if !c.client.Load().HandleFrame(msg) {
		c.closing = true
		c.wmu.Lock()
		c.startCloseTimerLocked()
		c.wmu.Unlock()
	}
	return !c.finished.Load()
}

// pong answers a ping. A failed write ends the connection unless it timed
// out, as with gorilla/websocket.
func (c *conn) pong(payload []byte) bool {
	c.wmu.Lock()
	err := c.writeControlLocked(ws.OpPong, payload)
	c.wmu.Unlock()
	if err == nil || errors.Is(err, errCloseSent) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	c.finish()
	return false
}

// writeClose writes a close frame unless one was written already.
func (c *conn) writeClose(code int, reason string) {
	var b [maxControlPayload + 1]byte
	payload := appendClosePayload(b[:0], code, reason)
	if len(payload) > maxControlPayload {
		payload = payload[:maxControlPayload]
	}
	c.wmu.Lock()
	_ = c.writeControlLocked(ws.OpClose, payload)
	c.wmu.Unlock()
}

// fail ends the connection after a protocol error with close code 1002.
func (c *conn) fail(problem string) {
	c.writeClose(closeProtocolError, problem)
	c.finish()
}
