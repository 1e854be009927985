package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// sinkTransport is a Transport whose frames go to a channel.
type sinkTransport struct {
	proto  protocol.Type
	frames chan []byte
	mu     sync.Mutex
	closed *Disconnect
	done   chan struct{}
	// block, when set, makes Write wait until it is closed.
	block chan struct{}
	fail  error
}

func newSink(proto protocol.Type) *sinkTransport {
	return &sinkTransport{proto: proto, frames: make(chan []byte, 1024), done: make(chan struct{})}
}

func (s *sinkTransport) Name() string            { return "test" }
func (s *sinkTransport) Protocol() protocol.Type { return s.proto }
func (s *sinkTransport) Write(frame []byte) error {
	if s.block != nil {
		<-s.block
	}
	if s.fail != nil {
		return s.fail
	}
	s.frames <- append([]byte(nil), frame...)
	return nil
}

// WriteNoWait implements NoWaitWriter: a sink with block set stands for a
// full socket, and leaves the whole frame to rest.
func (s *sinkTransport) WriteNoWait(frame []byte) (func() error, error) {
	if s.block != nil {
		b := append([]byte(nil), frame...)
		return func() error { return s.Write(b) }, nil
	}
	return nil, s.Write(frame)
}

func (s *sinkTransport) CanWriteNoWait() bool { return true }

func (s *sinkTransport) Close(d Disconnect) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed == nil {
		s.closed = &d
		close(s.done)
	}
	return nil
}

// disconnect waits for the transport to be closed and returns the reason.
func (s *sinkTransport) disconnect(t testing.TB) Disconnect {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("transport not closed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.closed
}

// reply waits for the next reply (frames may hold several).
func (s *sinkTransport) replies(t *testing.T) []*protocol.Reply {
	t.Helper()
	select {
	case f := <-s.frames:
		var dec protocol.ReplyDecoder
		if s.proto == protocol.TypeProtobuf {
			dec = protocol.NewProtobufReplyDecoder(f)
		} else {
			dec = protocol.NewJSONReplyDecoder(f)
		}
		var out []*protocol.Reply
		for {
			r, err := dec.Decode()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return out
				}
				t.Fatalf("decode reply frame %q: %v", f, err)
			}
			out = append(out, r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
		return nil
	}
}

func (s *sinkTransport) reply(t *testing.T) *protocol.Reply {
	t.Helper()
	rs := s.replies(t)
	if len(rs) != 1 {
		t.Fatalf("got %d replies in one frame, want 1", len(rs))
	}
	return rs[0]
}

func (s *sinkTransport) noFrame(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case f := <-s.frames:
		t.Fatalf("unexpected frame %q", f)
	case <-time.After(wait):
	}
}

// loopBroker delivers publications and events straight back to the node; it
// keeps no history (the memory engine's tests cover that, from outside the
// package).
type loopBroker struct {
	h BrokerEventHandler
}

func (b *loopBroker) Run(h BrokerEventHandler) error { b.h = h; return nil }
func (b *loopBroker) Subscribe(string) error         { return nil }
func (b *loopBroker) Unsubscribe(string) error       { return nil }
func (b *loopBroker) Close() error                   { return nil }
func (b *loopBroker) Publish(_ context.Context, ch string, data []byte, o PublishOptions) (StreamPosition, error) {
	return StreamPosition{}, b.h.HandlePublication(ch, &Publication{Data: data, Info: o.ClientInfo, Tags: o.Tags}, StreamPosition{}, o.Delta)
}
func (b *loopBroker) PublishJoin(_ context.Context, ch string, info *ClientInfo) error {
	return b.h.HandleJoin(ch, info)
}
func (b *loopBroker) PublishLeave(_ context.Context, ch string, info *ClientInfo) error {
	return b.h.HandleLeave(ch, info)
}
func (b *loopBroker) PublishControl(_ context.Context, data []byte) error {
	return b.h.HandleControl(data)
}
func (b *loopBroker) History(context.Context, string, HistoryOptions) (HistoryResult, error) {
	return HistoryResult{}, nil
}
func (b *loopBroker) RemoveHistory(context.Context, string) error { return nil }

func testNode(t testing.TB, mutate func(*config.Config)) *Node {
	t.Helper()
	cfg := config.Defaults()
	cfg.TokenHMACSecretKey = "test-secret"
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(&cfg, Options{Broker: &loopBroker{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(t.Context()) })
	return n
}

// jsonFrame joins JSON commands into one frame.
func jsonFrame(cmds ...string) []byte {
	var b []byte
	for i, c := range cmds {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, c...)
	}
	return b
}

// connectClient connects a JSON client with the given connect command.
func connectClient(t *testing.T, n *Node, connectCmd string) (*Client, *sinkTransport) {
	t.Helper()
	tr := newSink(protocol.TypeJSON)
	c, err := n.NewClient(tr, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.HandleFrame([]byte(connectCmd))
	return c, tr
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscribeClients adds count connected clients subscribed to channel,
// every other one with the Protobuf protocol, each with a sink transport.
func subscribeClients(t testing.TB, n *Node, channel string, count int) []*Client {
	t.Helper()
	cs := make([]*Client, count)
	for i := range cs {
		proto := protocol.TypeJSON
		if i%2 == 1 {
			proto = protocol.TypeProtobuf
		}
		c, err := n.NewClient(newSink(proto), ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.status = statusConnected
		c.user = strconv.Itoa(i)
		sub := &clientSub{}
		c.subs[channel] = sub
		c.mu.Unlock()
		n.hub.addSub(channel, c, sub)
		n.hub.setSubReady(channel, c, sub, nil)
		cs[i] = c
	}
	return cs
}
