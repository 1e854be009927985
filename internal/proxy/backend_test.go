package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"

	"github.com/rotorhq/rotor/wirejson"
)

// backend is a test application backend with function-valued handlers,
// served over gRPC (as proxyproto.CentrifugoProxyServer) and over HTTP (as
// an http.Handler taking POST /<event>). A nil handler answers
// Unimplemented (gRPC) or 500 (HTTP).
type backend struct {
	proxyproto.UnimplementedCentrifugoProxyServer

	connect    func(context.Context, *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error)
	refresh    func(context.Context, *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error)
	subscribe  func(context.Context, *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error)
	publish    func(context.Context, *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error)
	rpc        func(context.Context, *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error)
	subRefresh func(context.Context, *proxyproto.SubRefreshRequest) (*proxyproto.SubRefreshResponse, error)

	mu     sync.Mutex
	bodies map[string][]byte // last HTTP request body by path
}

func handle[Req, Resp any](ctx context.Context, h func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	if h == nil {
		var zero Resp
		return zero, status.Error(codes.Unimplemented, "no handler")
	}
	return h(ctx, req)
}

func (b *backend) Connect(ctx context.Context, r *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
	return handle(ctx, b.connect, r)
}

func (b *backend) Refresh(ctx context.Context, r *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error) {
	return handle(ctx, b.refresh, r)
}

func (b *backend) Subscribe(ctx context.Context, r *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
	return handle(ctx, b.subscribe, r)
}

func (b *backend) Publish(ctx context.Context, r *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
	return handle(ctx, b.publish, r)
}

func (b *backend) RPC(ctx context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
	return handle(ctx, b.rpc, r)
}

func (b *backend) SubRefresh(ctx context.Context, r *proxyproto.SubRefreshRequest) (*proxyproto.SubRefreshResponse, error) {
	return handle(ctx, b.subRefresh, r)
}

// headersKey carries the HTTP request headers to handlers.
type headersKey struct{}

// incoming returns what a handler's caller sent besides the request: gRPC
// metadata, or HTTP headers with lower-case names.
func incoming(ctx context.Context) map[string][]string {
	if h, ok := ctx.Value(headersKey{}).(http.Header); ok {
		out := make(map[string][]string, len(h))
		for k, v := range h {
			out[strings.ToLower(k)] = v
		}
		return out
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return md
}

// ServeHTTP decodes the JSON request of the event named by the path, calls
// its handler and writes the JSON answer.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	if b.bodies == nil {
		b.bodies = make(map[string][]byte)
	}
	b.bodies[r.URL.Path] = body
	b.mu.Unlock()
	ctx := context.WithValue(r.Context(), headersKey{}, r.Header)
	var out []byte
	switch r.URL.Path {
	case "/connect":
		out, err = serveJSON(ctx, body, &proxyproto.ConnectRequest{}, b.Connect)
	case "/refresh":
		out, err = serveJSON(ctx, body, &proxyproto.RefreshRequest{}, b.Refresh)
	case "/subscribe":
		out, err = serveJSON(ctx, body, &proxyproto.SubscribeRequest{}, b.Subscribe)
	case "/publish":
		out, err = serveJSON(ctx, body, &proxyproto.PublishRequest{}, b.Publish)
	case "/rpc":
		out, err = serveJSON(ctx, body, &proxyproto.RPCRequest{}, b.RPC)
	case "/sub_refresh":
		out, err = serveJSON(ctx, body, &proxyproto.SubRefreshRequest{}, b.SubRefresh)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func serveJSON[Req, Resp proto.Message](ctx context.Context, body []byte, req Req, h func(context.Context, Req) (Resp, error)) ([]byte, error) {
	if err := wirejson.Unmarshal(body, req); err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	if err != nil {
		return nil, err
	}
	return wirejson.Marshal(resp)
}

func (b *backend) body(path string) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bodies[path]
}

// wire is how a test backend is served.
type wire string

const (
	wireGRPC wire = "grpc"
	wireHTTP wire = "http"
)

var wires = []wire{wireGRPC, wireHTTP}

// endpoints maps an event to the endpoint serving it.
type endpoints func(event string) string

// serve starts b on a loopback port over w and returns its endpoints.
func serve(t *testing.T, w wire, b *backend) endpoints {
	t.Helper()
	if w == wireHTTP {
		srv := httptest.NewServer(b)
		t.Cleanup(srv.Close)
		return func(event string) string { return srv.URL + "/" + event }
	}
	_, addr := serveGRPC(t, b, "127.0.0.1:0")
	return func(string) string { return "grpc://" + addr }
}

// serveGRPC serves b over gRPC at addr until the test ends or the server is
// stopped, and returns the server and the address it listens on.
func serveGRPC(t *testing.T, b *backend, addr string) (*grpc.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv := grpc.NewServer()
	proxyproto.RegisterCentrifugoProxyServer(srv, b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return srv, lis.Addr().String()
}

// testConfig enables every event at ep, for channels without namespace.
func testConfig(ep endpoints) *config.Config {
	c := config.Defaults()
	c.ProxyConnectEndpoint = ep(config.ProxyEventConnect)
	c.ProxyRefreshEndpoint = ep(config.ProxyEventRefresh)
	c.ProxyRPCEndpoint = ep(config.ProxyEventRPC)
	c.ProxySubscribeEndpoint = ep(config.ProxyEventSubscribe)
	c.ProxyPublishEndpoint = ep(config.ProxyEventPublish)
	c.ProxySubRefreshEndpoint = ep(config.ProxyEventSubRefresh)
	c.ProxySubscribe = true
	c.ProxyPublish = true
	c.ProxySubRefresh = true
	return &c
}

// logBuffer collects log output from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newProxy builds a Proxy from cfg, closed when the test ends, and the log
// it writes.
func newProxy(t *testing.T, cfg *config.Config) (*Proxy, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	p, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, logs
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clientInfo is the connection every test call comes from.
func clientInfo() node.ProxyClientInfo {
	return node.ProxyClientInfo{
		Client:    "client-1",
		Transport: "websocket",
		Protocol:  "json",
		User:      "user-1",
		Meta:      []byte(`{"role":"admin"}`),
		Headers: http.Header{
			"Authorization": {"Bearer t1"},
			"X-Real-Ip":     {"10.0.0.1"},
			"Cookie":        {"session=secret"},
		},
	}
}

// event calls one proxy event with a fixed request and returns its error.
type event struct {
	name string
	call func(ctx context.Context, p *Proxy) error
}

// events calls every event: channel "chat" and method "hello" route to the
// global proxies of testConfig.
var events = []event{
	{"connect", func(ctx context.Context, p *Proxy) error {
		_, err := p.Connect(ctx, &node.ProxyConnectRequest{ProxyClientInfo: clientInfo()})
		return err
	}},
	{"refresh", func(ctx context.Context, p *Proxy) error {
		_, err := p.Refresh(ctx, &node.ProxyRefreshRequest{ProxyClientInfo: clientInfo()})
		return err
	}},
	{"subscribe", func(ctx context.Context, p *Proxy) error {
		_, err := p.Subscribe(ctx, &node.ProxySubscribeRequest{ProxyClientInfo: clientInfo(), Channel: "chat"})
		return err
	}},
	{"publish", func(ctx context.Context, p *Proxy) error {
		_, err := p.Publish(ctx, &node.ProxyPublishRequest{ProxyClientInfo: clientInfo(), Channel: "chat", Data: []byte(`{}`)})
		return err
	}},
	{"rpc", func(ctx context.Context, p *Proxy) error {
		_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: clientInfo(), Method: "hello"})
		return err
	}},
	{"sub_refresh", func(ctx context.Context, p *Proxy) error {
		_, err := p.SubRefresh(ctx, &node.ProxySubRefreshRequest{ProxyClientInfo: clientInfo(), Channel: "chat"})
		return err
	}},
}

// answering sets every handler of b to answer with e and d (result when both
// are nil), after waiting for wait; a call that ends first gets no answer.
func answering(b *backend, e *proxyproto.Error, d *proxyproto.Disconnect, wait time.Duration) {
	b.connect = after[*proxyproto.ConnectRequest](wait, &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{User: "u"}, Error: e, Disconnect: d})
	b.refresh = after[*proxyproto.RefreshRequest](wait, &proxyproto.RefreshResponse{Result: &proxyproto.RefreshResult{}, Error: e, Disconnect: d})
	b.subscribe = after[*proxyproto.SubscribeRequest](wait, &proxyproto.SubscribeResponse{Result: &proxyproto.SubscribeResult{}, Error: e, Disconnect: d})
	b.publish = after[*proxyproto.PublishRequest](wait, &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{}, Error: e, Disconnect: d})
	b.rpc = after[*proxyproto.RPCRequest](wait, &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{}, Error: e, Disconnect: d})
	b.subRefresh = after[*proxyproto.SubRefreshRequest](wait, &proxyproto.SubRefreshResponse{Result: &proxyproto.SubRefreshResult{}, Error: e, Disconnect: d})
}

// after returns a handler answering resp after wait, or nothing when the
// call ends first.
func after[Req, Resp any](wait time.Duration, resp Resp) func(context.Context, Req) (Resp, error) {
	return func(ctx context.Context, _ Req) (Resp, error) {
		if wait > 0 {
			timer := time.NewTimer(wait)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
				var zero Resp
				return zero, ctx.Err()
			}
		}
		return resp, nil
	}
}
