package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// tokenTTL is the lifetime of the tokens the tests connect with.
const tokenTTL = time.Hour

// protocol is one wire format of the client protocol, with the centrifuge-go
// constructor that speaks it.
type protocol struct {
	name      string
	newClient func(endpoint string, cfg centrifuge.Config) *centrifuge.Client
}

var protocols = []protocol{
	{name: "json", newClient: centrifuge.NewJsonClient},
	{name: "protobuf", newClient: centrifuge.NewProtobufClient},
}

// forEachProtocol runs fn as a parallel subtest per protocol.
func forEachProtocol(t *testing.T, fn func(t *testing.T, p protocol)) {
	t.Helper()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			fn(t, p)
		})
	}
}

// eventBuffer is the capacity of the event channels below.
const eventBuffer = 256

// push sends v on ch without blocking, so that SDK handlers never stall; an
// event that finds its channel full (a client retrying in a loop nobody
// reads) is dropped. Tests only wait for the first few events of a kind.
func push[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// goClient is a centrifuge-go client whose events are recorded on channels.
type goClient struct {
	*centrifuge.Client
	t *testing.T

	connected    chan centrifuge.ConnectedEvent
	connecting   chan centrifuge.ConnectingEvent
	disconnected chan centrifuge.DisconnectedEvent
	errs         chan centrifuge.ErrorEvent
}

// newGoClient builds a client of protocol p to srv with cfg. It does not
// connect; the client is closed when the test ends.
func newGoClient(t *testing.T, p protocol, srv *testutil.Server, cfg centrifuge.Config) *goClient {
	t.Helper()
	if cfg.MinReconnectDelay == 0 {
		cfg.MinReconnectDelay = 50 * time.Millisecond
	}
	if cfg.MaxReconnectDelay == 0 {
		cfg.MaxReconnectDelay = 200 * time.Millisecond
	}
	c := &goClient{
		Client:       p.newClient(srv.WSURL, cfg),
		t:            t,
		connected:    make(chan centrifuge.ConnectedEvent, eventBuffer),
		connecting:   make(chan centrifuge.ConnectingEvent, eventBuffer),
		disconnected: make(chan centrifuge.DisconnectedEvent, eventBuffer),
		errs:         make(chan centrifuge.ErrorEvent, eventBuffer),
	}
	c.OnConnected(func(e centrifuge.ConnectedEvent) { push(c.connected, e) })
	c.OnConnecting(func(e centrifuge.ConnectingEvent) { push(c.connecting, e) })
	c.OnDisconnected(func(e centrifuge.DisconnectedEvent) { push(c.disconnected, e) })
	c.OnError(func(e centrifuge.ErrorEvent) { push(c.errs, e) })
	t.Cleanup(c.Close)
	return c
}

// connectAs builds a client of protocol p connecting as user with a valid
// token, connects it and waits for its connected event.
func connectAs(t *testing.T, p protocol, srv *testutil.Server, user string) (*goClient, centrifuge.ConnectedEvent) {
	t.Helper()
	c := newGoClient(t, p, srv, centrifuge.Config{Token: srv.Token(user, tokenTTL)})
	if err := c.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	ev := wait.Receive(t, c.connected, "connected event of "+user)
	if ev.ClientID == "" {
		t.Fatal("connected event carries an empty client id")
	}
	return c, ev
}

// goSub is a subscription whose events are recorded on channels.
type goSub struct {
	*centrifuge.Subscription

	subscribed   chan centrifuge.SubscribedEvent
	unsubscribed chan centrifuge.UnsubscribedEvent
	pubs         chan centrifuge.PublicationEvent
	errs         chan centrifuge.SubscriptionErrorEvent
}

// newSub registers a subscription to channel on c; it does not subscribe.
func (c *goClient) newSub(channel string, cfg centrifuge.SubscriptionConfig) *goSub {
	c.t.Helper()
	sub, err := c.NewSubscription(channel, cfg)
	if err != nil {
		c.t.Fatalf("new subscription to %q: %v", channel, err)
	}
	s := &goSub{
		Subscription: sub,
		subscribed:   make(chan centrifuge.SubscribedEvent, eventBuffer),
		unsubscribed: make(chan centrifuge.UnsubscribedEvent, eventBuffer),
		pubs:         make(chan centrifuge.PublicationEvent, eventBuffer),
		errs:         make(chan centrifuge.SubscriptionErrorEvent, eventBuffer),
	}
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) { push(s.subscribed, e) })
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) { push(s.unsubscribed, e) })
	sub.OnPublication(func(e centrifuge.PublicationEvent) { push(s.pubs, e) })
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) { push(s.errs, e) })
	return s
}

// subscribe subscribes c to channel and waits until the server confirms.
func (c *goClient) subscribe(channel string, cfg centrifuge.SubscriptionConfig) *goSub {
	c.t.Helper()
	s := c.newSub(channel, cfg)
	if err := s.Subscribe(); err != nil {
		c.t.Fatalf("subscribe to %q: %v", channel, err)
	}
	select {
	case <-s.subscribed:
	case e := <-s.unsubscribed:
		c.t.Fatalf("subscribe to %q refused: unsubscribed %d %q", channel, e.Code, e.Reason)
	case <-time.After(wait.Timeout):
		c.t.Fatalf("no subscribed event for %q within %v", channel, wait.Timeout)
	}
	return s
}

// serverError returns the protocol error (code) wrapped in err, failing the
// test when err carries none.
func serverError(t *testing.T, err error) *centrifuge.Error {
	t.Helper()
	var e *centrifuge.Error
	if !errors.As(err, &e) {
		t.Fatalf("expected a server error with a code, got %T: %v", err, err)
	}
	return e
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) error {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return fmt.Errorf("not JSON: %q: %w", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return fmt.Errorf("not JSON: %q: %w", b, err)
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	if !bytes.Equal(ca, cb) {
		return fmt.Errorf("JSON differs: got %s, want %s", ca, cb)
	}
	return nil
}

// apiChannels returns the channels the server reports as having subscribers.
func apiChannels(t *testing.T, srv *testutil.Server) map[string]any {
	t.Helper()
	res := srv.APIResult(t, "channels", map[string]any{})
	chans, _ := res["channels"].(map[string]any)
	return chans
}

// apiNumClients returns the number of connections the server's nodes report.
func apiNumClients(t *testing.T, srv *testutil.Server) int {
	t.Helper()
	res := srv.APIResult(t, "info", map[string]any{})
	nodes, ok := res["nodes"].([]any)
	if !ok || len(nodes) == 0 {
		t.Fatalf("info: no nodes in result %v", res)
	}
	total := 0
	for _, n := range nodes {
		m, _ := n.(map[string]any)
		if v, ok := m["num_clients"].(float64); ok {
			total += int(v)
		}
	}
	return total
}
