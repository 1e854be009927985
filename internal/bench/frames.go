package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// maxFrameSize bounds one frame from the server; a longer one ends the
// connection as a protocol error.
const maxFrameSize = 16 << 20

// keepInBuffer is the largest partial-frame buffer a connection keeps
// between reads.
const keepInBuffer = 64 << 10

// closeError is a close frame from the server.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("closed by server: %d %s", e.code, e.reason)
}

// nextFrame parses the server frame (unmasked) at the start of b; n is 0
// when b does not hold all of it yet.
func nextFrame(b []byte) (fin bool, op ws.OpCode, payload []byte, n int, err error) {
	if len(b) < 2 {
		return false, 0, nil, 0, nil
	}
	if b[0]&0x70 != 0 {
		return false, 0, nil, 0, errors.New("frame with reserved bits set")
	}
	if b[1]&0x80 != 0 {
		return false, 0, nil, 0, errors.New("masked frame from the server")
	}
	fin, op = b[0]&0x80 != 0, ws.OpCode(b[0]&0x0f)
	size, h := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return false, 0, nil, 0, nil
		}
		size, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, nil, 0, nil
		}
		size, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if size > maxFrameSize {
		return false, 0, nil, 0, fmt.Errorf("frame of %d bytes, over the %d allowed", size, maxFrameSize)
	}
	if uint64(len(b)-h) < size {
		return false, 0, nil, 0, nil
	}
	end := h + int(size)
	return fin, op, b[h:end], end, nil
}

// feed parses the frames of b, which follow what c.in holds, and calls
// c.onMessage with each complete message; WebSocket pings are answered
// and a close frame ends feeding with a *closeError. What is left of a
// frame not complete yet stays in c.in. Only the connection's reader
// calls feed.
func (c *conn) feed(b []byte) error {
	if len(c.in) > 0 {
		c.in = append(c.in, b...)
		b = c.in
	}
	for {
		fin, op, p, n, err := nextFrame(b)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		b = b[n:]
		if err := c.frame(fin, op, p); err != nil {
			return err
		}
	}
	switch {
	case len(b) == 0 && cap(c.in) > keepInBuffer:
		c.in = nil
	default:
		// b may be the tail of c.in: append moves it to the front.
		c.in = append(c.in[:0], b...)
	}
	return nil
}

// frame handles one frame.
func (c *conn) frame(fin bool, op ws.OpCode, p []byte) error {
	switch op {
	case ws.OpPing:
		return c.write(ws.OpPong, p, time.Now().Add(pongTimeout))
	case ws.OpPong:
		return nil
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p)
		return &closeError{code: int(code), reason: reason}
	case ws.OpContinuation:
		if c.frag == nil {
			return errors.New("continuation frame without a message")
		}
		c.frag = append(c.frag, p...)
		if !fin {
			return nil
		}
		msg := c.frag
		c.frag = nil
		return c.onMessage(msg)
	case ws.OpText, ws.OpBinary:
		if c.frag != nil {
			return errors.New("new message inside a fragmented one")
		}
		if !fin {
			c.frag = append(make([]byte, 0, 2*len(p)), p...)
			return nil
		}
		return c.onMessage(p)
	}
	return fmt.Errorf("frame with opcode %d", op)
}

var frameWriteBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// write sends one masked frame, as clients must, in one write call.
func (c *conn) write(op ws.OpCode, p []byte, deadline time.Time) error {
	f := ws.MaskFrame(ws.NewFrame(op, true, p))
	buf := frameWriteBufs.Get().(*bytes.Buffer)
	defer frameWriteBufs.Put(buf)
	buf.Reset()
	if err := ws.WriteHeader(buf, f.Header); err != nil {
		return err
	}
	buf.Write(f.Payload)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(deadline)
	_, err := c.nc.Write(buf.Bytes())
	return err
}

// readBlocking reads from the connection until fn reports done, with
// every frame read going through feed. It is for setup, before the
// connection is handed to its reader.
func (c *conn) readBlocking(deadline time.Time, done func() bool) error {
	_ = c.nc.SetReadDeadline(deadline)
	defer c.nc.SetReadDeadline(time.Time{})
	buf := readBufs.Get().(*[]byte)
	defer readBufs.Put(buf)
	for !done() {
		n, err := c.nc.Read(*buf)
		if n > 0 {
			if ferr := c.feed((*buf)[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil && !done() {
			return err
		}
	}
	return nil
}

// readBufs are the buffers of blocking reads.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// readOnGoroutine reads c on a goroutine of its own until it ends: the
// way connections are read where there is no epoll, and TLS connections
// everywhere.
func (r *runner) readOnGoroutine(c *conn) {
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		buf := make([]byte, readBufferSize)
		for {
			n, err := c.nc.Read(buf)
			if n > 0 {
				if ferr := c.feed(buf[:n]); ferr != nil {
					r.end(c, ferr)
					return
				}
			}
			if err != nil {
				r.end(c, err)
				return
			}
		}
	}()
}
