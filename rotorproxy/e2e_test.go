package rotorproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
	"github.com/rotorhq/rotor/rotorproxy"
)

// backend is the seed's centrifugo.php in Go: connect, subscribe, refresh,
// publish and rpc services, an auth interceptor on connect, subscribe and
// rpc, and a telemetry interceptor on every type. It records what ran.
type backend struct {
	srv *rotorproxy.Server

	mu    sync.Mutex
	steps []string
	hdrs  []string // X-Trace of connect requests
	calls chan string
}

func (b *backend) record(s string) {
	b.mu.Lock()
	b.steps = append(b.steps, s)
	b.mu.Unlock()
}

func (b *backend) stepsOf(typ string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, s := range b.steps {
		if len(s) > len(typ) && s[len(s)-len(typ)-1:] == ":"+typ {
			out = append(out, s)
		}
	}
	return out
}

func newBackend(t *testing.T, opts ...rotorproxy.Option) *backend {
	t.Helper()
	srv, err := rotorproxy.New(append([]rotorproxy.Option{rotorproxy.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{srv: srv, calls: make(chan string, 64)}
	tokens := map[string]string{"good": "42"}

	telemetry := func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		b.record("telemetry:" + string(info.Type))
		return next(ctx, req)
	}
	auth := func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		b.record("auth:" + string(info.Type))
		var d struct {
			AuthToken string `json:"authToken"`
		}
		if err := req.Bind(&d); err != nil {
			return nil, err
		}
		uid, ok := tokens[d.AuthToken]
		switch {
		case ok:
			req = req.WithAttribute("user_id", uid)
		case d.AuthToken != "" && info.Type == rotorproxy.TypeConnect:
			return nil, &rotorproxy.Disconnect{Code: 4501, Reason: "bad token"}
		}
		return next(ctx, req)
	}
	for _, typ := range []string{"connect", "subscribe", "rpc"} {
		if err := srv.Use(typ, auth); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Use("*", telemetry); err != nil {
		t.Fatal(err)
	}

	srv.OnConnect(func(_ context.Context, r *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		b.record("service:connect")
		b.mu.Lock()
		b.hdrs = append(b.hdrs, r.Headers.Get("X-Trace"))
		b.mu.Unlock()
		uid, _ := r.Attribute("user_id").(string)
		// Expires in a second, so that the node asks the refresh service.
		return &rotorproxy.ConnectResult{User: uid, ExpireAt: time.Now().Add(time.Second), Data: []byte(`{"welcome":true}`)}, nil
	})
	srv.OnRefresh(func(_ context.Context, r *rotorproxy.RefreshRequest) (*rotorproxy.RefreshResult, error) {
		b.record("service:refresh")
		b.calls <- "refresh " + r.User
		return &rotorproxy.RefreshResult{ExpireAt: time.Now().Add(time.Hour)}, nil
	})
	srv.OnSubscribe(func(_ context.Context, r *rotorproxy.SubscribeRequest) (*rotorproxy.SubscribeResult, error) {
		b.record("service:subscribe")
		if r.Channel == "forbidden" {
			return nil, rotorproxy.ErrPermissionDenied
		}
		return &rotorproxy.SubscribeResult{}, nil
	})
	srv.OnPublish(func(_ context.Context, r *rotorproxy.PublishRequest) (*rotorproxy.PublishResult, error) {
		b.record("service:publish")
		var msg map[string]any
		if err := r.Bind(&msg); err != nil {
			return nil, err
		}
		msg["by"] = r.User
		data, _ := json.Marshal(msg)
		return &rotorproxy.PublishResult{Data: data}, nil
	})
	must(t, srv.HandleRPC("cinema.schedule", func(context.Context, *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
		b.record("service:rpc")
		return &rotorproxy.RPCResult{Data: []byte(`["Alien","Heat"]`)}, nil
	}))
	must(t, srv.HandleRPC("user.whoami", rotorproxy.RPCJSON(func(_ context.Context, r *rotorproxy.RPCRequest, _ struct{}) (map[string]string, error) {
		b.record("service:rpc")
		uid, _ := r.Attribute("user_id").(string)
		return map[string]string{"user": r.User, "attribute": uid}, nil
	})))
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A real Rotor node with every proxy pointed at the backend, over gRPC (as
// in the seed) and over HTTP; centrifuge-go clients connect, subscribe,
// publish, call RPCs and get refreshed through the backend.
func TestEndToEndWithRotor(t *testing.T) {
	for _, wire := range []string{"grpc", "http"} {
		t.Run(wire, func(t *testing.T) {
			t.Parallel()
			var (
				b    *backend
				base string
			)
			switch wire {
			case "grpc":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				b = newBackend(t, rotorproxy.WithListener(ln))
				served := make(chan error, 1)
				go func() { served <- b.srv.Serve(context.WithoutCancel(t.Context())) }()
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
					defer cancel()
					must(t, b.srv.Shutdown(ctx))
					must(t, <-served)
				})
				base = "grpc://" + ln.Addr().String()
			case "http":
				b = newBackend(t)
				mux := http.NewServeMux()
				mux.Handle("/centrifugo/", b.srv.HTTPHandler())
				hs := httptest.NewServer(mux)
				t.Cleanup(hs.Close)
				base = hs.URL + "/centrifugo"
			}
			endpoint := func(event string) string {
				if wire == "grpc" {
					return base
				}
				return base + "/" + event
			}
			node := testutil.RunServer(t, func(cfg *config.Config) {
				cfg.ProxyConnectEndpoint = endpoint("connect")
				cfg.ProxyRefreshEndpoint = endpoint("refresh")
				cfg.ProxySubscribeEndpoint = endpoint("subscribe")
				cfg.ProxyPublishEndpoint = endpoint("publish")
				cfg.ProxyRPCEndpoint = endpoint("rpc")
				cfg.ProxySubscribe = true
				cfg.ProxyPublish = true
				cfg.ProxyHTTPHeaders = []string{"X-Trace"}
				for _, d := range []*time.Duration{&cfg.ProxyConnectTimeout, &cfg.ProxyRefreshTimeout, &cfg.ProxySubscribeTimeout, &cfg.ProxyPublishTimeout, &cfg.ProxyRPCTimeout} {
					*d = 3 * time.Second
				}
			})
			runScenario(t, b, node)
		})
	}
}

func runScenario(t *testing.T, b *backend, node *testutil.Server) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()

	// Connect with a token in the connect data and a forwarded header.
	connected := make(chan centrifuge.ConnectedEvent, 1)
	c := centrifuge.NewJsonClient(node.WSURL, centrifuge.Config{
		Data:              []byte(`{"authToken":"good"}`),
		Header:            http.Header{"X-Trace": {"trace-1"}},
		MinReconnectDelay: 50 * time.Millisecond,
	})
	c.OnConnected(func(e centrifuge.ConnectedEvent) {
		select {
		case connected <- e:
		default:
		}
	})
	t.Cleanup(c.Close)
	must(t, c.Connect())
	ev := wait.Receive(t, connected, "connected event")
	if string(ev.Data) != `{"welcome":true}` {
		t.Errorf("connect data = %s", ev.Data)
	}
	if got := b.stepsOf("connect"); !slices.Equal(got[:3], []string{"telemetry:connect", "auth:connect", "service:connect"}) {
		t.Errorf("connect ran %v, want telemetry, auth, service", got)
	}
	b.mu.Lock()
	hdr := b.hdrs[0]
	b.mu.Unlock()
	if hdr != "trace-1" {
		t.Errorf("forwarded header = %q", hdr)
	}

	// RPC through the router; the user comes from the node, the attribute
	// from the auth interceptor.
	res, err := c.RPC(ctx, "user.whoami", []byte(`{"authToken":"good"}`))
	if err != nil || string(res.Data) != `{"attribute":"42","user":"42"}` {
		t.Errorf("whoami = %s %v", res.Data, err)
	}
	if res, err := c.RPC(ctx, "cinema.schedule", nil); err != nil || string(res.Data) != `["Alien","Heat"]` {
		t.Errorf("schedule = %s %v", res.Data, err)
	}
	_, err = c.RPC(ctx, "cinema.nope", nil)
	var ce *centrifuge.Error
	if !errors.As(err, &ce) || ce.Code != 404 || ce.Message != "method not found" {
		t.Errorf("unknown method: %v", err)
	}

	// Subscribe (allowed) and publish (data replaced by the backend).
	sub, err := c.NewSubscription("screening.7")
	must(t, err)
	pubs := make(chan []byte, 4)
	subscribed := make(chan struct{}, 1)
	sub.OnPublication(func(e centrifuge.PublicationEvent) { pubs <- e.Data })
	sub.OnSubscribed(func(centrifuge.SubscribedEvent) { subscribed <- struct{}{} })
	must(t, sub.Subscribe())
	wait.Receive(t, subscribed, "subscribed event")
	if _, err := sub.Publish(ctx, []byte(`{"seat":"A1"}`)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got := wait.Receive(t, pubs, "publication"); string(got) != `{"by":"42","seat":"A1"}` {
		t.Errorf("publication = %s", got)
	}

	// Subscribe refused by the service: permission denied, for good.
	denied, err := c.NewSubscription("forbidden")
	must(t, err)
	unsub := make(chan centrifuge.UnsubscribedEvent, 1)
	denied.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) { unsub <- e })
	must(t, denied.Subscribe())
	if e := wait.Receive(t, unsub, "unsubscribed event"); e.Code != 103 {
		t.Errorf("refused subscription: %+v, want code 103", e)
	}

	// The connection expires a second after connect: the node asks the
	// refresh service, which extends it.
	if got := wait.Receive(t, b.calls, "refresh call"); got != "refresh 42" {
		t.Errorf("refresh call = %q", got)
	}
	if got := b.stepsOf("refresh"); len(got) < 2 || got[0] != "telemetry:refresh" || got[1] != "service:refresh" {
		t.Errorf("refresh ran %v, want telemetry then service (no auth on refresh)", got)
	}

	// An unknown token: the auth interceptor disconnects for good, and the
	// connect service is not called.
	before := len(b.stepsOf("connect"))
	bad := centrifuge.NewJsonClient(node.WSURL, centrifuge.Config{Data: []byte(`{"authToken":"stolen"}`)})
	disc := make(chan centrifuge.DisconnectedEvent, 1)
	bad.OnDisconnected(func(e centrifuge.DisconnectedEvent) {
		select {
		case disc <- e:
		default:
		}
	})
	t.Cleanup(bad.Close)
	must(t, bad.Connect())
	if e := wait.Receive(t, disc, "disconnected event"); e.Code != 4501 {
		t.Errorf("refused client: %+v, want 4501", e)
	}
	got := b.stepsOf("connect")[before:]
	if !slices.Equal(got, []string{"telemetry:connect", "auth:connect"}) {
		t.Errorf("refused connect ran %v, want telemetry and auth only", got)
	}
}
