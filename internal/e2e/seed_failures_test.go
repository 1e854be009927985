package e2e

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil/wait"
	"github.com/rotorhq/rotor/proxyproto"
)

// Codes of the client protocol and of the test backends' answers.
const (
	seedCodeInternal   = 100  // internal server error, temporary
	seedCodeBackendErr = 4001 // the backend's error on subscribe
	seedCodeBanned     = 4501 // the backend's terminal disconnect on connect
)

// seedQuiet is how long a test watches for something that must not happen
// (a reconnect): many times the clients' maximum reconnect delay.
const seedQuiet = time.Second

// seedClient is a centrifuge-go client (JSON) without a token, its events
// recorded on channels.
type seedClient struct {
	*centrifuge.Client
	t            *testing.T
	connected    chan centrifuge.ConnectedEvent
	connecting   chan centrifuge.ConnectingEvent
	disconnected chan centrifuge.DisconnectedEvent
	errs         chan centrifuge.ErrorEvent
}

// seedEvents is the capacity of the event channels; events that find a
// channel full are dropped (a client retrying in a loop nobody reads).
const seedEvents = 256

func seedPush[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// newSeedClient builds a client of the server at wsURL (not connected); it
// is closed when the test ends.
func newSeedClient(t *testing.T, wsURL string) *seedClient {
	t.Helper()
	c := &seedClient{
		Client: centrifuge.NewJsonClient(wsURL, centrifuge.Config{
			MinReconnectDelay: 50 * time.Millisecond,
			MaxReconnectDelay: 200 * time.Millisecond,
		}),
		t:            t,
		connected:    make(chan centrifuge.ConnectedEvent, seedEvents),
		connecting:   make(chan centrifuge.ConnectingEvent, seedEvents),
		disconnected: make(chan centrifuge.DisconnectedEvent, seedEvents),
		errs:         make(chan centrifuge.ErrorEvent, seedEvents),
	}
	c.OnConnected(func(e centrifuge.ConnectedEvent) { seedPush(c.connected, e) })
	c.OnConnecting(func(e centrifuge.ConnectingEvent) { seedPush(c.connecting, e) })
	c.OnDisconnected(func(e centrifuge.DisconnectedEvent) { seedPush(c.disconnected, e) })
	c.OnError(func(e centrifuge.ErrorEvent) { seedPush(c.errs, e) })
	t.Cleanup(c.Close)
	return c
}

// connect connects c and waits for its connected event.
func (c *seedClient) connect() centrifuge.ConnectedEvent {
	c.t.Helper()
	if err := c.Connect(); err != nil {
		c.t.Fatalf("connect: %v", err)
	}
	ev := wait.Receive(c.t, c.connected, "connected event")
	if ev.ClientID == "" {
		c.t.Fatal("connected without a client id")
	}
	return ev
}

// connectError waits for the client's next error event and returns the
// server error of its connect attempt.
func (c *seedClient) connectError() *centrifuge.Error {
	c.t.Helper()
	ev := wait.Receive(c.t, c.errs, "connect error")
	var ce centrifuge.ConnectError
	var se *centrifuge.Error
	if !errors.As(ev.Error, &ce) || !errors.As(ev.Error, &se) {
		c.t.Fatalf("error event %T %v, want a connect error with a server error", ev.Error, ev.Error)
	}
	return se
}

// seedOKBackend authenticates every connection as seedUser (no expiry) and
// allows subscribes, publishes and RPCs.
func seedOKBackend() *seedBackend {
	b := &seedBackend{}
	b.onConnect = seedConnectOK
	b.onSubscribe = func(context.Context, *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
		return &proxyproto.SubscribeResponse{Result: &proxyproto.SubscribeResult{}}, nil
	}
	b.onPublish = func(context.Context, *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
		return &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{}}, nil
	}
	b.onRPC = func(_ context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
		return &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{Data: r.GetData()}}, nil
	}
	return b
}

func seedConnectOK(context.Context, *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
	return &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{User: seedUser}}, nil
}

// runSeedWithGRPCBackend serves b over gRPC and runs Rotor from the seed
// config with every proxy endpoint at it; mutate (may be nil) adjusts the
// config. It returns the server and the backend's address.
func runSeedWithGRPCBackend(t *testing.T, b *seedBackend, mutate func(*config.Config)) (*seedServer, string) {
	t.Helper()
	addr, _ := b.serveGRPC(t, "127.0.0.1:0")
	cfg := loadSeedConfig(t)
	pointSeedAt(&cfg, seedGRPCEndpoint(addr), false)
	if mutate != nil {
		mutate(&cfg)
	}
	return runSeedServer(t, cfg), addr
}

// TestSeedProxyTimeout: a backend that answers connect after
// proxy_connect_timeout gives the client error 100 (temporary); the client
// retries and connects once the backend answers in time.
func TestSeedProxyTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	const slowCalls = 2
	var n atomic.Int32
	b := seedOKBackend()
	b.onConnect = func(ctx context.Context, r *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
		if n.Add(1) <= slowCalls {
			// Overrun the timeout: answer only after the server gave up.
			select {
			case <-ctx.Done():
			case <-time.After(3 * timeout):
			}
		}
		return seedConnectOK(ctx, r)
	}
	srv, _ := runSeedWithGRPCBackend(t, b, func(c *config.Config) { c.ProxyConnectTimeout = timeout })

	c := newSeedClient(t, srv.WSURL)
	start := time.Now()
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	for i := range slowCalls {
		e := c.connectError()
		if e.Code != seedCodeInternal || !e.Temporary {
			t.Fatalf("connect error %d: code %d temporary %v (%q), want %d temporary", i+1, e.Code, e.Temporary, e.Message, seedCodeInternal)
		}
	}
	if elapsed := time.Since(start); elapsed < slowCalls*timeout {
		t.Errorf("%d timed-out connects took %v, less than %d × proxy_connect_timeout %v", slowCalls, elapsed, slowCalls, timeout)
	}
	// The client keeps trying (error 100 is temporary) and gets in.
	ev := wait.Receive(t, c.connected, "connected event after the backend answers in time")
	if ev.ClientID == "" {
		t.Fatal("connected without a client id")
	}
	select {
	case d := <-c.disconnected:
		t.Fatalf("client disconnected (%d %q): a temporary error must not stop it", d.Code, d.Reason)
	default:
	}
	if got := b.countCalls(seedEvConnect); got != slowCalls+1 {
		t.Errorf("backend got %d connect calls, want %d", got, slowCalls+1)
	}
	// Each failed call is logged with the key, the endpoint and the timeout.
	rec := srv.Logs.waitFor(t, wait.Timeout, "proxy call failed", func(r seedLogRecord) bool {
		return r.Attrs["key"] == "proxy_connect_endpoint"
	})
	if !strings.HasPrefix(rec.Attrs["endpoint"], "grpc://127.0.0.1:") || !strings.Contains(rec.Attrs["error"], timeout.String()) {
		t.Errorf("log record %s: want the endpoint and the timeout %v in it", rec, timeout)
	}
}

// TestSeedProxyBackendError: errors the backend answers with reach the
// client as they are: subscribe 4001, publish 1002, rpc 1003 (temporary);
// the connection stays up.
func TestSeedProxyBackendError(t *testing.T) {
	t.Parallel()
	b := seedOKBackend()
	b.onSubscribe = func(context.Context, *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
		return &proxyproto.SubscribeResponse{Error: &proxyproto.Error{Code: seedCodeBackendErr, Message: "not in this room"}}, nil
	}
	b.onPublish = func(context.Context, *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
		return &proxyproto.PublishResponse{Error: &proxyproto.Error{Code: 1002, Message: "too loud"}}, nil
	}
	b.onRPC = func(context.Context, *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
		return &proxyproto.RPCResponse{Error: &proxyproto.Error{Code: 1003, Message: "try later", Temporary: true}}, nil
	}
	srv, _ := runSeedWithGRPCBackend(t, b, nil)
	c := newSeedClient(t, srv.WSURL)
	c.connect()

	sub, err := c.NewSubscription("room", centrifuge.SubscriptionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	subErrs := make(chan centrifuge.SubscriptionErrorEvent, seedEvents)
	unsubscribed := make(chan centrifuge.UnsubscribedEvent, seedEvents)
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) { seedPush(subErrs, e) })
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) { seedPush(unsubscribed, e) })
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	ev := wait.Receive(t, subErrs, "subscribe error")
	var se *centrifuge.Error
	if !errors.As(ev.Error, &se) {
		t.Fatalf("subscribe error %T %v carries no server error", ev.Error, ev.Error)
	}
	if se.Code != seedCodeBackendErr || se.Message != "not in this room" || se.Temporary {
		t.Fatalf("subscribe error %d %q temporary %v, want %d %q", se.Code, se.Message, se.Temporary, seedCodeBackendErr, "not in this room")
	}
	u := wait.Receive(t, unsubscribed, "unsubscribed event")
	if u.Code != seedCodeBackendErr {
		t.Errorf("unsubscribed with %d %q, want %d", u.Code, u.Reason, seedCodeBackendErr)
	}
	subs := seedCalls[*proxyproto.SubscribeRequest](b, seedEvSubscribe, nil)
	if len(subs) != 1 || subs[0].GetChannel() != "room" || subs[0].GetUser() != seedUser {
		t.Fatalf("backend subscribe calls %v, want one for %q by %q", subs, "room", seedUser)
	}

	ctx, cancel := context.WithTimeout(t.Context(), wait.Timeout)
	defer cancel()
	_, err = c.Publish(ctx, "room", []byte(`{"text":"hi"}`))
	if se := seedServerErr(t, err); se.Code != 1002 || se.Message != "too loud" {
		t.Errorf("publish error %d %q, want 1002 %q", se.Code, se.Message, "too loud")
	}
	_, err = c.RPC(ctx, "echo", []byte(`{}`))
	if se := seedServerErr(t, err); se.Code != 1003 || se.Message != "try later" || !se.Temporary {
		t.Errorf("rpc error %d %q temporary %v, want 1003 %q temporary", se.Code, se.Message, se.Temporary, "try later")
	}
	if st := c.State(); st != centrifuge.StateConnected {
		t.Fatalf("client state %q after backend errors, want connected", st)
	}
}

// seedServerErr returns the server error in err, failing the test when
// there is none.
func seedServerErr(t *testing.T, err error) *centrifuge.Error {
	t.Helper()
	var se *centrifuge.Error
	if !errors.As(err, &se) {
		t.Fatalf("got %T %v, want a server error", err, err)
	}
	return se
}

// TestSeedProxyDisconnect: a backend disconnect 4501 on connect closes the
// connection with 4501, and the client does not come back (4500–4999 are
// terminal).
func TestSeedProxyDisconnect(t *testing.T) {
	t.Parallel()
	b := seedOKBackend()
	b.onConnect = func(context.Context, *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
		return &proxyproto.ConnectResponse{Disconnect: &proxyproto.Disconnect{Code: seedCodeBanned, Reason: "banned"}}, nil
	}
	srv, _ := runSeedWithGRPCBackend(t, b, nil)
	c := newSeedClient(t, srv.WSURL)
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	d := wait.Receive(t, c.disconnected, "disconnected event")
	if d.Code != seedCodeBanned || d.Reason != "banned" {
		t.Fatalf("disconnected with %d %q, want %d %q", d.Code, d.Reason, seedCodeBanned, "banned")
	}
	// No reconnect: the backend is asked once, the client stays disconnected.
	deadline := time.Now().Add(seedQuiet)
	for time.Now().Before(deadline) {
		if n := b.countCalls(seedEvConnect); n != 1 {
			t.Fatalf("backend got %d connect calls, want 1 (4501 is terminal)", n)
		}
		if st := c.State(); st != centrifuge.StateDisconnected {
			t.Fatalf("client state %q after 4501, want disconnected", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case e := <-c.connected:
		t.Fatalf("client connected (%s) after a terminal disconnect", e.ClientID)
	default:
	}
}

// TestSeedProxyBackendRestart: while the gRPC backend is down, connects get
// error 100 (temporary) and the client keeps trying; a new backend on the
// same port is used within seconds, without restarting Rotor.
func TestSeedProxyBackendRestart(t *testing.T) {
	t.Parallel()
	first := seedOKBackend()
	addr, stopFirst := first.serveGRPC(t, "127.0.0.1:0")
	cfg := loadSeedConfig(t)
	pointSeedAt(&cfg, seedGRPCEndpoint(addr), false)
	srv := runSeedServer(t, cfg)

	// A connection made while the backend is up survives its going away.
	early := newSeedClient(t, srv.WSURL)
	early.connect()
	stopFirst()

	c := newSeedClient(t, srv.WSURL)
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		e := c.connectError()
		if e.Code != seedCodeInternal || !e.Temporary {
			t.Fatalf("connect error %d with the backend down: %d %q temporary %v, want %d temporary", i+1, e.Code, e.Message, e.Temporary, seedCodeInternal)
		}
	}
	if st := c.State(); st != centrifuge.StateConnecting {
		t.Fatalf("client state %q with the backend down, want connecting (retrying)", st)
	}
	srv.Logs.waitFor(t, wait.Timeout, "proxy call failed", func(r seedLogRecord) bool {
		return r.Attrs["key"] == "proxy_connect_endpoint" && r.Attrs["endpoint"] == "grpc://"+addr
	})

	second := seedOKBackend()
	started := time.Now()
	if got, _ := second.serveGRPC(t, addr); got != addr {
		t.Fatalf("new backend listens on %s, want %s", got, addr)
	}
	const within = 5 * time.Second
	select {
	case ev := <-c.connected:
		t.Logf("connected %v after the backend came back", time.Since(started).Round(time.Millisecond))
		if n := len(seedCalls(second, seedEvConnect, func(r *proxyproto.ConnectRequest) bool { return r.GetClient() == ev.ClientID })); n != 1 {
			t.Errorf("new backend got %d connect calls from %s, want 1", n, ev.ClientID)
		}
	case <-time.After(within):
		t.Fatalf("client not connected within %v of the backend coming back", within)
	}
	if st := early.State(); st != centrifuge.StateConnected {
		t.Errorf("connection made before the outage: state %q, want connected", st)
	}
	// The RPC proxy shares the backend connection: it works again too.
	ctx, cancel := context.WithTimeout(t.Context(), wait.Timeout)
	defer cancel()
	res, err := early.RPC(ctx, "echo", []byte(`{"back":true}`))
	if err != nil {
		t.Fatalf("rpc after the backend came back: %v", err)
	}
	if err := seedJSONEqual(res.Data, []byte(`{"back":true}`)); err != nil {
		t.Errorf("rpc result: %v", err)
	}
	if n := second.countCalls(seedEvRPC); n != 1 {
		t.Errorf("new backend got %d rpc calls, want 1", n)
	}
}
