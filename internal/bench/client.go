package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/mailru/easyjson/jlexer"
)

// Client buffer sizes. A connection keeps its read buffer for its lifetime,
// so it is small; frames are copied into pooled buffers, and the write
// buffer is pooled too (writes are rare: setup and pongs).
const (
	readBufferSize  = 1024
	writeBufferSize = 1024
	frameBufferSize = 4096
	maxPooledFrame  = 64 << 10
	pongTimeout     = 5 * time.Second
	closeTimeout    = time.Second
)

// Setup command ids.
const (
	connectID   = 1
	subscribeID = 2
)

var (
	jsonPong     = []byte("{}")
	protobufPong = []byte{0} // one message of length zero

	writeBufferPool = &sync.Pool{}
	framePool       = sync.Pool{New: func() any { b := make([]byte, 0, frameBufferSize); return &b }}
)

// conn is one client connection. After setup only its reader goroutine
// writes to ws (pongs); closing uses WriteControl and Close, which gorilla
// allows concurrently with that writer.
type conn struct {
	ws      *websocket.Conn
	channel int
	closing atomic.Bool
}

// newDialers returns one WebSocket dialer per source address (one with the
// system's choice when there is none).
func newDialers(o *Options) []*websocket.Dialer {
	sub := []string(nil)
	if o.Protocol == ProtocolProtobuf {
		sub = []string{"centrifuge-protobuf"}
	}
	mk := func(local net.Addr) *websocket.Dialer {
		nd := &net.Dialer{Timeout: o.ConnectTimeout, LocalAddr: local}
		return &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			Proxy:            nil, // never through an environment proxy
			HandshakeTimeout: o.ConnectTimeout,
			ReadBufferSize:   readBufferSize,
			WriteBufferSize:  writeBufferSize,
			WriteBufferPool:  writeBufferPool,
			Subprotocols:     sub,
		}
	}
	if len(o.SourceIPs) == 0 {
		return []*websocket.Dialer{mk(nil)}
	}
	ds := make([]*websocket.Dialer, len(o.SourceIPs))
	for i, s := range o.SourceIPs {
		ds[i] = mk(&net.TCPAddr{IP: net.ParseIP(s)})
	}
	return ds
}

// token returns the connection token of connection i.
func (r *runner) token(i int) (string, error) {
	switch {
	case r.o.Token != "":
		return r.o.Token, nil
	case r.o.TokenSecret != "":
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": fmt.Sprintf("bench-%d", i)})
		return t.SignedString([]byte(r.o.TokenSecret))
	}
	return "", nil
}

// setupFrame encodes connect and subscribe commands into one frame.
func (r *runner) setupFrame(token, channel string) ([]byte, error) {
	cmds := []*protocol.Command{
		{Id: connectID, Connect: &protocol.ConnectRequest{Token: token, Name: "rotor-bench"}},
		{Id: subscribeID, Subscribe: &protocol.SubscribeRequest{Channel: channel}},
	}
	var frame []byte
	for i, cmd := range cmds {
		if r.binary {
			b, err := cmd.MarshalVT()
			if err != nil {
				return nil, err
			}
			frame = binary.AppendUvarint(frame, uint64(len(b)))
			frame = append(frame, b...)
			continue
		}
		b, err := protocol.NewJSONCommandEncoder().Encode(cmd)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			frame = append(frame, '\n')
		}
		frame = append(frame, b...)
	}
	return frame, nil
}

// dial sets up connection i: dial, handshake, then connect and subscribe in
// one frame, waiting for both replies. On success the connection's reader
// goroutine is running.
func (r *runner) dial(ctx context.Context, i, channel int) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.ConnectTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	token, err := r.token(i)
	if err != nil {
		return nil, fmt.Errorf("signing token: %w", err)
	}
	frame, err := r.setupFrame(token, r.channelName(channel))
	if err != nil {
		return nil, fmt.Errorf("encoding setup: %w", err)
	}
	ws, resp, err := r.dialers[i%len(r.dialers)].DialContext(ctx, r.o.URL, nil)
	if resp != nil && resp.Body != nil {
		// gorilla has read what it needs (and, after an upgrade, the body is
		// empty); closing keeps the contract of http.Response.
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake: HTTP %d", resp.StatusCode)
		}
		return nil, err
	}
	c := &conn{ws: ws, channel: channel}
	if err := r.setup(c, frame, deadline); err != nil {
		_ = ws.Close()
		return nil, err
	}
	r.readers.Add(1)
	go r.readLoop(c)
	return c, nil
}

func (r *runner) setup(c *conn, frame []byte, deadline time.Time) error {
	_ = c.ws.SetWriteDeadline(deadline)
	_ = c.ws.SetReadDeadline(deadline)
	if err := c.ws.WriteMessage(r.messageType(), frame); err != nil {
		return fmt.Errorf("writing connect: %w", err)
	}
	var replied int
	for replied < 2 {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Errorf("closed by server during setup: %d %s", ce.Code, ce.Text)
			}
			return fmt.Errorf("reading setup replies: %w", err)
		}
		err = r.eachReply(data, func(rep *protocol.Reply) error {
			switch {
			case isPing(rep):
				return r.pong(c)
			case rep.Id == connectID && rep.Error != nil:
				return fmt.Errorf("connect: error %d %s", rep.Error.Code, rep.Error.Message)
			case rep.Id == subscribeID && rep.Error != nil:
				return fmt.Errorf("subscribe: error %d %s", rep.Error.Code, rep.Error.Message)
			case rep.Id == connectID || rep.Id == subscribeID:
				replied++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	_ = c.ws.SetReadDeadline(time.Time{})
	_ = c.ws.SetWriteDeadline(time.Time{})
	return nil
}

func (r *runner) messageType() int {
	if r.binary {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}

// pong answers a server ping with an empty command.
func (r *runner) pong(c *conn) error {
	if r.o.disablePongs {
		return nil
	}
	msg := jsonPong
	if r.binary {
		msg = protobufPong
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(pongTimeout))
	if err := c.ws.WriteMessage(r.messageType(), msg); err != nil {
		return err
	}
	r.pings.Add(1)
	return nil
}

// isPing reports whether rep is the server's ping: an empty reply.
func isPing(rep *protocol.Reply) bool {
	return rep.Id == 0 && rep.Error == nil && rep.Push == nil
}

// readLoop reads frames until the connection ends, counting publications
// and answering pings.
func (r *runner) readLoop(c *conn) {
	defer r.readers.Done()
	for {
		_, rd, err := c.ws.NextReader()
		if err != nil {
			r.connEnded(c, err)
			return
		}
		bp := framePool.Get().(*[]byte)
		data, err := readAll(rd, (*bp)[:0])
		if err == nil {
			err = r.eachReply(data, func(rep *protocol.Reply) error {
				if isPing(rep) {
					return r.pong(c)
				}
				if rep.Push != nil && rep.Push.Pub != nil {
					r.delivered(rep.Push.Pub.Data)
				}
				return nil
			})
		}
		if cap(data) <= maxPooledFrame {
			*bp = data[:0]
			framePool.Put(bp)
		}
		if err != nil {
			r.connEnded(c, err)
			_ = c.ws.Close()
			return
		}
	}
}

// delivered records one publication read by a subscriber.
func (r *runner) delivered(data []byte) {
	now := time.Now().UnixNano()
	t, ok := payloadTime(data)
	if !ok {
		r.foreign.Add(1)
		return
	}
	r.latency.Record(time.Duration(now - t))
	r.received.Add(1)
	r.lastDelivery.Store(now)
}

// connEnded records why a connection ended, unless the run closed it.
func (r *runner) connEnded(c *conn, err error) {
	if c.closing.Load() {
		return
	}
	code := 0
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	r.disconnects.Add(1)
	r.mu.Lock()
	r.closes[fmt.Sprint(code)]++
	r.mu.Unlock()
	if code == 0 {
		r.noteError("connection ended", err)
	}
}

// close closes c with a normal close frame.
func (c *conn) close() {
	c.closing.Store(true)
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeTimeout))
	_ = c.ws.Close()
}

// eachReply decodes every reply in a frame and calls fn on each.
func (r *runner) eachReply(data []byte, fn func(*protocol.Reply) error) error {
	if r.binary {
		for len(data) > 0 {
			n, k := binary.Uvarint(data)
			if k <= 0 || n > uint64(len(data)-k) {
				return errors.New("malformed protobuf frame")
			}
			msg := data[k : k+int(n)]
			data = data[k+int(n):]
			var rep protocol.Reply
			if err := rep.UnmarshalVT(msg); err != nil {
				return fmt.Errorf("decoding reply: %w", err)
			}
			if err := fn(&rep); err != nil {
				return err
			}
		}
		return nil
	}
	var fast protocol.Reply // reused: fn does not keep the replies
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		if pd, ok := jsonPubData(line); ok {
			// The common case: a publication, taken without a full decode
			// (which cost the load tool about half its CPU in fanout).
			if fast.Push == nil {
				fast.Push = &protocol.Push{Pub: &protocol.Publication{}}
			}
			fast.Push.Pub.Data = pd
			if err := fn(&fast); err != nil {
				return err
			}
			continue
		}
		var rep protocol.Reply
		l := jlexer.Lexer{Data: line}
		rep.UnmarshalEasyJSON(&l)
		if err := l.Error(); err != nil {
			return fmt.Errorf("decoding reply: %w", err)
		}
		if err := fn(&rep); err != nil {
			return err
		}
	}
	return nil
}

// readAll appends everything rd holds to b.
func readAll(rd io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// JSON forms of a publication push up to its data, as servers encode it:
// {"push":{"channel":"<name>","pub":{"data":<data>...}}}.
var (
	jsonPushStart = []byte(`{"push":{"channel":"`)
	jsonPubStart  = []byte(`","pub":{"data":`)
)

// jsonPubData returns the publication data (and what follows it) of a JSON
// publication push line whose channel name needs no escapes; ok is false
// for any other line, which then needs a full decode.
func jsonPubData(line []byte) (data []byte, ok bool) {
	rest, ok := bytes.CutPrefix(line, jsonPushStart)
	if !ok {
		return nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return nil, false
	}
	return bytes.CutPrefix(rest[i:], jsonPubStart)
}
