package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mailru/easyjson/jlexer"
)

// Client buffer sizes. A blocking read (setup) borrows a pooled buffer;
// after setup connections are read by a few loops with a buffer each, and
// a connection keeps only the start of a frame not complete yet.
const (
	readBufferSize = 4096
	pollBufferSize = 64 << 10
	pongTimeout    = 5 * time.Second
	closeTimeout   = time.Second
)

// Setup command ids.
const (
	connectID   = 1
	subscribeID = 2
)

var (
	jsonPong     = []byte("{}")
	protobufPong = []byte{0} // one message of length zero
)

// conn is one client connection. After setup only its reader writes to it
// (pongs), apart from the close at the end; wmu orders the two.
type conn struct {
	nc      net.Conn
	channel int
	closing atomic.Bool
	ended   atomic.Bool
	wmu     sync.Mutex

	// in holds the start of a frame not complete yet; frag the fragments
	// of a message so far. Only the reader uses them.
	in   []byte
	frag []byte
	// onMessage handles each complete message.
	onMessage func(msg []byte) error
	// reading is how the reader loop reaches the connection (epoll).
	reading readState
}

// newDialers returns one WebSocket dialer per source address (one with the
// system's choice when there is none).
func newDialers(o *Options) []*ws.Dialer {
	var sub []string
	if o.Protocol == ProtocolProtobuf {
		sub = []string{"centrifuge-protobuf"}
	}
	mk := func(local net.Addr) *ws.Dialer {
		nd := &net.Dialer{Timeout: o.ConnectTimeout, LocalAddr: local}
		return &ws.Dialer{
			NetDial:        nd.DialContext,
			Timeout:        o.ConnectTimeout,
			ReadBufferSize: readBufferSize,
			Protocols:      sub,
			TLSConfig:      o.tls,
		}
	}
	if len(o.SourceIPs) == 0 {
		return []*ws.Dialer{mk(nil)}
	}
	ds := make([]*ws.Dialer, len(o.SourceIPs))
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
// one frame, waiting for both replies. On success the connection is read
// by the reader loops.
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
	nc, br, _, err := r.dialers[i%len(r.dialers)].Dial(ctx, r.o.URL)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("handshake: HTTP %d", int(se))
		}
		return nil, err
	}
	c := &conn{nc: nc, channel: channel}
	if br != nil {
		// What the server sent right behind its handshake response.
		c.in = make([]byte, br.Buffered())
		_, _ = br.Read(c.in)
		ws.PutReader(br)
	}
	if err := r.setup(c, frame, deadline); err != nil {
		_ = nc.Close()
		return nil, err
	}
	handle := c.handle(r)
	c.onMessage = func(msg []byte) error { return r.eachReply(msg, handle) }
	if err := r.startReading(c); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("starting to read: %w", err)
	}
	return c, nil
}

func (r *runner) setup(c *conn, frame []byte, deadline time.Time) error {
	if err := c.write(r.opCode(), frame, deadline); err != nil {
		return fmt.Errorf("writing connect: %w", err)
	}
	var replied int
	var refused error
	steady := c.handle(r)
	c.onMessage = func(msg []byte) error {
		return r.eachReply(msg, func(rep *protocol.Reply) error {
			switch {
			case rep.Id == connectID && rep.Error != nil:
				refused = fmt.Errorf("connect: error %d %s", rep.Error.Code, rep.Error.Message)
				return refused
			case rep.Id == subscribeID && rep.Error != nil:
				refused = fmt.Errorf("subscribe: error %d %s", rep.Error.Code, rep.Error.Message)
				return refused
			case rep.Id == connectID || rep.Id == subscribeID:
				replied++
				return nil
			}
			return steady(rep)
		})
	}
	var err error
	if len(c.in) > 0 {
		// Frames that came with the handshake response.
		in := c.in
		c.in = nil
		err = c.feed(in)
	}
	if err == nil {
		err = c.readBlocking(deadline, func() bool { return replied >= 2 })
	}
	var ce *closeError
	switch {
	case err == nil:
		return nil
	case refused != nil:
		return refused
	case errors.As(err, &ce):
		return fmt.Errorf("closed by server during setup: %d %s", ce.code, ce.reason)
	}
	return fmt.Errorf("reading setup replies: %w", err)
}

func (r *runner) opCode() ws.OpCode {
	if r.binary {
		return ws.OpBinary
	}
	return ws.OpText
}

// handle returns c's handler of replies after setup: it answers pings and
// counts publications.
func (c *conn) handle(r *runner) func(*protocol.Reply) error {
	return func(rep *protocol.Reply) error {
		if isPing(rep) {
			return r.pong(c)
		}
		if rep.Push != nil && rep.Push.Pub != nil {
			r.delivered(rep.Push.Pub.Data)
		}
		return nil
	}
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
	if err := c.write(r.opCode(), msg, time.Now().Add(pongTimeout)); err != nil {
		return err
	}
	r.pings.Add(1)
	return nil
}

// isPing reports whether rep is the server's ping: an empty reply.
func isPing(rep *protocol.Reply) bool {
	return rep.Id == 0 && rep.Error == nil && rep.Push == nil
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

// end ends c after a read error, a protocol error or a close frame,
// recording why unless the run closed it.
func (r *runner) end(c *conn, err error) {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	r.stopReading(c)
	_ = c.nc.Close()
	if c.closing.Load() {
		return
	}
	code := 0
	var ce *closeError
	if errors.As(err, &ce) {
		code = ce.code
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
	_ = c.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), time.Now().Add(closeTimeout))
	_ = c.nc.Close()
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
