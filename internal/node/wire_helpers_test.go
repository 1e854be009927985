package node_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/broker/memory"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// The tests of this package run from outside it (package node_test) so that
// they can use the memory engine, which imports node: they talk to the node
// only through the client protocol and its exported API.

const waitTimeout = 5 * time.Second

// newNode starts a node on the memory engine with config.Defaults() changed
// by mutate.
func newNode(t testing.TB, mutate func(*config.Config)) *node.Node {
	t.Helper()
	cfg := config.Defaults()
	cfg.TokenHMACSecretKey = "test-secret"
	if mutate != nil {
		mutate(&cfg)
	}
	b := memory.New()
	n, err := node.New(&cfg, node.Options{Broker: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(t.Context()) })
	return n
}

// tconn is a client connection driven by a test: it is the node.Transport of
// its client and decodes what the node writes.
type tconn struct {
	t      testing.TB
	c      *node.Client
	proto  protocol.Type
	frames chan []byte
	done   chan struct{}
	once   sync.Once
	closed node.Disconnect
	// queue holds decoded replies not consumed yet.
	queue []*protocol.Reply
	next  uint32
}

func (k *tconn) Name() string            { return "test" }
func (k *tconn) Protocol() protocol.Type { return k.proto }
func (k *tconn) Write(frame []byte) error {
	select {
	case k.frames <- append([]byte(nil), frame...):
		return nil
	default:
		return errors.New("test transport: too many frames unread")
	}
}
func (k *tconn) Close(d node.Disconnect) error {
	k.once.Do(func() {
		k.closed = d
		close(k.done)
	})
	return nil
}

// open makes a client of protocol p, not connected yet.
func open(t testing.TB, n *node.Node, p protocol.Type) *tconn {
	t.Helper()
	k := &tconn{t: t, proto: p, frames: make(chan []byte, 4096), done: make(chan struct{})}
	c, err := n.NewClient(k, node.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.c = c
	t.Cleanup(func() { c.Disconnect(node.DisconnectConnectionClosed) })
	return k
}

// connect opens a client of protocol p connected as user.
func connect(t testing.TB, n *node.Node, p protocol.Type, user string) *tconn {
	t.Helper()
	return connectToken(t, n, p, userToken(t, n, user))
}

func connectToken(t testing.TB, n *node.Node, p protocol.Type, tok string) *tconn {
	t.Helper()
	k := open(t, n, p)
	r := k.call(&protocol.Command{Connect: &protocol.ConnectRequest{Token: tok}})
	if r.Error != nil || r.Connect == nil {
		t.Fatalf("connect: %v", r)
	}
	return k
}

func userToken(t testing.TB, n *node.Node, user string) string {
	t.Helper()
	tok, err := auth.GenerateConnectToken(n.Config(), user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func encodeCommand(t testing.TB, p protocol.Type, cmd *protocol.Command) []byte {
	t.Helper()
	var (
		b   []byte
		err error
	)
	if p == protocol.TypeProtobuf {
		b, err = protocol.NewProtobufCommandEncoder().Encode(cmd)
	} else {
		b, err = protocol.NewJSONCommandEncoder().Encode(cmd)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send sends cmd (with an id given here when it has none) without waiting.
func (k *tconn) send(cmd *protocol.Command) uint32 {
	k.t.Helper()
	if cmd.Id == 0 {
		k.next++
		cmd.Id = k.next
	}
	k.c.HandleFrame(encodeCommand(k.t, k.proto, cmd))
	return cmd.Id
}

// call sends cmd and returns its reply; pushes meanwhile stay queued.
func (k *tconn) call(cmd *protocol.Command) *protocol.Reply {
	k.t.Helper()
	id := k.send(cmd)
	return k.wait(func(r *protocol.Reply) bool { return r.Id == id }, "reply")
}

// push waits for a push satisfying pred and removes it from the queue.
func (k *tconn) push(what string, pred func(*protocol.Push) bool) *protocol.Push {
	k.t.Helper()
	return k.wait(func(r *protocol.Reply) bool { return r.Id == 0 && r.Push != nil && pred(r.Push) }, what).Push
}

// pub waits for the next publication push in ch.
func (k *tconn) pub(ch string) *protocol.Publication {
	k.t.Helper()
	return k.push("publication in "+ch, func(p *protocol.Push) bool { return p.Channel == ch && p.Pub != nil }).Pub
}

// noPush fails if a push satisfying pred arrives within d.
func (k *tconn) noPush(d time.Duration, pred func(*protocol.Push) bool) {
	k.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range k.queue {
			if r.Push != nil && pred(r.Push) {
				k.t.Fatalf("unexpected push %v", r.Push)
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		select {
		case f := <-k.frames:
			k.decode(f)
		case <-time.After(left):
		}
	}
}

func (k *tconn) wait(pred func(*protocol.Reply) bool, what string) *protocol.Reply {
	k.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		for i, r := range k.queue {
			if pred(r) {
				k.queue = append(k.queue[:i], k.queue[i+1:]...)
				return r
			}
		}
		select {
		case f := <-k.frames:
			k.decode(f)
		case <-k.done:
			// Drain what was written before the close.
			select {
			case f := <-k.frames:
				k.decode(f)
				continue
			default:
			}
			k.t.Fatalf("connection closed with %v while waiting for %s", k.closed, what)
		case <-timer.C:
			k.t.Fatalf("no %s within %v (queued: %v)", what, waitTimeout, k.queue)
		}
	}
}

func (k *tconn) decode(frame []byte) {
	k.t.Helper()
	var dec protocol.ReplyDecoder
	if k.proto == protocol.TypeProtobuf {
		dec = protocol.NewProtobufReplyDecoder(frame)
	} else {
		dec = protocol.NewJSONReplyDecoder(frame)
	}
	for {
		r, err := dec.Decode()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			k.t.Fatalf("decode frame %q: %v", frame, err)
		}
		k.queue = append(k.queue, r)
	}
}

// disconnect waits for the node to close the connection and returns why.
func (k *tconn) disconnect() node.Disconnect {
	k.t.Helper()
	select {
	case <-k.done:
		return k.closed
	case <-time.After(waitTimeout):
		k.t.Fatal("connection not closed")
		return node.Disconnect{}
	}
}

func subscribeCmd(req *protocol.SubscribeRequest) *protocol.Command {
	return &protocol.Command{Subscribe: req}
}

// subscribe subscribes k and fails the test on an error reply.
func (k *tconn) subscribe(req *protocol.SubscribeRequest) *protocol.SubscribeResult {
	k.t.Helper()
	r := k.call(subscribeCmd(req))
	if r.Error != nil || r.Subscribe == nil {
		k.t.Fatalf("subscribe %q: %v", req.Channel, r)
	}
	return r.Subscribe
}

func errCode(r *protocol.Reply) uint32 {
	if r.Error == nil {
		return 0
	}
	return r.Error.Code
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// tokenWith signs a connection token with claims (exp defaults to an hour
// from now).
func tokenWith(t testing.TB, n *node.Node, claims map[string]any) string {
	t.Helper()
	mc := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		mc[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString([]byte(n.Config().TokenHMACSecretKey))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
