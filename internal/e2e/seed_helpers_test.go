package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/internal/app"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
	"github.com/rotorhq/rotor/proxyproto"
)

// The seed's config.json, as its author wrote it (typo included).
var seedConfigFile = filepath.Join("..", "config", "testdata", "seed_config.json")

// seedRefreshTypo is the seed's proxy_refresh_endpoint: a host that does not
// resolve ("127.0.0.1c").
const seedRefreshTypo = "grpc://127.0.0.1c:10001"

// seedUser is the user the test backends authenticate every connection as.
const seedUser = "u1"

// seedExpireIn is how far ahead of now (in whole seconds) the test backends
// set expire_at, so that refreshes come within the test.
const seedExpireIn = 2

// Proxy events, as the test backends name them (and as the HTTP endpoint
// paths spell them).
const (
	seedEvConnect   = "connect"
	seedEvRefresh   = "refresh"
	seedEvSubscribe = "subscribe"
	seedEvPublish   = "publish"
	seedEvRPC       = "rpc"
)

// loadSeedConfig loads the seed's config.json (ignoring the environment)
// and makes only the changes a test on a shared machine needs: the HTTP
// server and the gRPC API listen on free loopback ports. Every other key is
// as written; the caller points the proxy endpoints at its backend.
func loadSeedConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, warnings, err := config.Load(config.LoadOptions{File: seedConfigFile, Environ: []string{}})
	if err != nil {
		t.Fatalf("loading %s: %v", seedConfigFile, err)
	}
	for _, w := range warnings {
		t.Logf("seed config: %s", w)
	}
	// The seed as written: all five proxies at one gRPC backend, refresh with
	// a typo in the host.
	want := map[string]string{
		"proxy_connect_endpoint":   "grpc://127.0.0.1:10001",
		"proxy_subscribe_endpoint": "grpc://127.0.0.1:10001",
		"proxy_publish_endpoint":   "grpc://127.0.0.1:10001",
		"proxy_rpc_endpoint":       "grpc://127.0.0.1:10001",
		"proxy_refresh_endpoint":   seedRefreshTypo,
	}
	got := map[string]string{
		"proxy_connect_endpoint":   cfg.ProxyConnectEndpoint,
		"proxy_subscribe_endpoint": cfg.ProxySubscribeEndpoint,
		"proxy_publish_endpoint":   cfg.ProxyPublishEndpoint,
		"proxy_rpc_endpoint":       cfg.ProxyRPCEndpoint,
		"proxy_refresh_endpoint":   cfg.ProxyRefreshEndpoint,
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("seed config: %s is %q, want %q", k, got[k], v)
		}
	}
	if !cfg.ProxySubscribe || !cfg.ProxyPublish || !cfg.GRPCAPI {
		t.Fatalf("seed config: proxy_subscribe=%v proxy_publish=%v grpc_api=%v, want all true",
			cfg.ProxySubscribe, cfg.ProxyPublish, cfg.GRPCAPI)
	}
	if cfg.ProxyConnectTimeout != 10*time.Second {
		t.Fatalf("seed config: proxy_connect_timeout is %v, want 10s", cfg.ProxyConnectTimeout)
	}

	cfg.Address = "127.0.0.1"
	cfg.Port = 0
	cfg.GRPCAPIAddress = "127.0.0.1"
	cfg.GRPCAPIPort = 0
	return cfg
}

// pointSeedAt sets the proxy endpoints of cfg to endpoint(event). With
// keepTypo, proxy_refresh_endpoint keeps the seed's unresolvable host.
func pointSeedAt(cfg *config.Config, endpoint func(event string) string, keepTypo bool) {
	cfg.ProxyConnectEndpoint = endpoint(seedEvConnect)
	cfg.ProxySubscribeEndpoint = endpoint(seedEvSubscribe)
	cfg.ProxyPublishEndpoint = endpoint(seedEvPublish)
	cfg.ProxyRPCEndpoint = endpoint(seedEvRPC)
	if !keepTypo {
		cfg.ProxyRefreshEndpoint = endpoint(seedEvRefresh)
	}
}

// seedGRPCEndpoint gives the endpoint of every event at a gRPC backend on addr.
func seedGRPCEndpoint(addr string) func(string) string {
	return func(string) string { return "grpc://" + addr }
}

// seedHTTPEndpoint gives the endpoint of each event at an HTTP backend: base/<event>.
func seedHTTPEndpoint(base string) func(string) string {
	return func(ev string) string { return base + "/" + ev }
}

// seedServer is a Rotor server built from a (seed) config, whose log
// records are kept for assertions and also written to the test log.
type seedServer struct {
	App   *app.App
	WSURL string
	Logs  *seedLogStore
}

// runSeedServer validates cfg, builds and starts the server, and shuts it
// down when the test ends.
func runSeedServer(t *testing.T, cfg config.Config) *seedServer {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config refused:\n%v", err)
	}
	logs := &seedLogStore{}
	a, err := app.New(cfg, slog.New(&seedCaptureHandler{store: logs, next: testutil.NewLogger(t).Handler()}))
	if err != nil {
		t.Fatalf("building server: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("starting server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), testutil.ShutdownTimeout)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return &seedServer{App: a, WSURL: "ws://" + a.Addr() + "/connection/websocket", Logs: logs}
}

// seedLogRecord is one log record with its attributes (those added by With
// included) as strings, group names joined with ".".
type seedLogRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (r seedLogRecord) String() string {
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.Level, r.Msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, r.Attrs[k])
	}
	return b.String()
}

// seedLogStore keeps the records of a server's logger.
type seedLogStore struct {
	mu   sync.Mutex
	recs []seedLogRecord
}

// find returns the records with message msg for which match (nil: any) is true.
func (s *seedLogStore) find(msg string, match func(seedLogRecord) bool) []seedLogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []seedLogRecord
	for _, r := range s.recs {
		if r.Msg == msg && (match == nil || match(r)) {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits up to total for a record with message msg that match
// accepts, and returns the first one.
func (s *seedLogStore) waitFor(t *testing.T, total time.Duration, msg string, match func(seedLogRecord) bool) seedLogRecord {
	t.Helper()
	var rec seedLogRecord
	wait.CheckFor(t, total, 20*time.Millisecond, func() error {
		recs := s.find(msg, match)
		if len(recs) == 0 {
			return fmt.Errorf("no log record %q with the expected attributes", msg)
		}
		rec = recs[0]
		return nil
	})
	return rec
}

// seedCaptureHandler records every record in store and passes it on to next.
type seedCaptureHandler struct {
	store  *seedLogStore
	next   slog.Handler
	attrs  []slog.Attr // from WithAttrs, keys already prefixed
	prefix string      // groups from WithGroup, "a.b."
}

func (h *seedCaptureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *seedCaptureHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := seedLogRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		seedAddAttr(rec.Attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		seedAddAttr(rec.Attrs, h.prefix, a)
		return true
	})
	h.store.mu.Lock()
	h.store.recs = append(h.store.recs, rec)
	h.store.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func seedAddAttr(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range v.Group() {
			seedAddAttr(m, p, ga)
		}
		return
	}
	m[prefix+a.Key] = v.String()
}

func (h *seedCaptureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *seedCaptureHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// seedBackend is a test application backend for the proxy. Each call is
// recorded (request and time) before its handler runs; a nil handler
// answers Unimplemented. It is served over gRPC (serveGRPC) or HTTP
// (serveHTTP). Handlers are set before serving.
type seedBackend struct {
	proxyproto.UnimplementedCentrifugoProxyServer

	onConnect   func(context.Context, *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error)
	onRefresh   func(context.Context, *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error)
	onSubscribe func(context.Context, *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error)
	onPublish   func(context.Context, *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error)
	onRPC       func(context.Context, *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error)

	mu    sync.Mutex
	calls []seedCall
	// bodies are the raw JSON bodies of HTTP calls, by event.
	bodies map[string][][]byte
}

// seedCall is one recorded call.
type seedCall struct {
	event string
	req   proto.Message
}

func (b *seedBackend) record(event string, req proto.Message) {
	b.mu.Lock()
	b.calls = append(b.calls, seedCall{event: event, req: proto.Clone(req)})
	b.mu.Unlock()
}

// seedCalls returns the recorded requests of event, in order, that keep (nil:
// any) accepts.
func seedCalls[T proto.Message](b *seedBackend, event string, keep func(T) bool) []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []T
	for _, c := range b.calls {
		if c.event != event {
			continue
		}
		r := c.req.(T)
		if keep == nil || keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// countCalls is the number of recorded calls of event.
func (b *seedBackend) countCalls(event string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.calls {
		if c.event == event {
			n++
		}
	}
	return n
}

func seedHandle[Req proto.Message, Resp any](b *seedBackend, event string, ctx context.Context, h func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	b.record(event, req)
	if h == nil {
		var zero Resp
		return zero, status.Errorf(codes.Unimplemented, "the test backend has no %s handler", event)
	}
	return h(ctx, req)
}

func (b *seedBackend) Connect(ctx context.Context, r *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
	return seedHandle(b, seedEvConnect, ctx, b.onConnect, r)
}

func (b *seedBackend) Refresh(ctx context.Context, r *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error) {
	return seedHandle(b, seedEvRefresh, ctx, b.onRefresh, r)
}

func (b *seedBackend) Subscribe(ctx context.Context, r *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
	return seedHandle(b, seedEvSubscribe, ctx, b.onSubscribe, r)
}

func (b *seedBackend) Publish(ctx context.Context, r *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
	return seedHandle(b, seedEvPublish, ctx, b.onPublish, r)
}

func (b *seedBackend) RPC(ctx context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
	return seedHandle(b, seedEvRPC, ctx, b.onRPC, r)
}

// serveGRPC serves b over gRPC on addr ("127.0.0.1:0" for a free port) and
// returns the address and a func that stops the server (closing its
// listener and connections at once). The server is also stopped when the
// test ends.
func (b *seedBackend) serveGRPC(t *testing.T, addr string) (string, func()) {
	t.Helper()
	var ln net.Listener
	// Rebinding the port of a backend stopped a moment ago may briefly fail.
	wait.CheckFor(t, wait.Timeout, 20*time.Millisecond, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	srv := grpc.NewServer()
	proxyproto.RegisterCentrifugoProxyServer(srv, b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Stop()
			<-done
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// serveHTTP serves b as an HTTP proxy backend: POST /<event> with the JSON
// form of the proxy protocol (Centrifugo's field names, data as raw JSON).
// It returns the base URL; the server is closed when the test ends.
func (b *seedBackend) serveHTTP(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	for _, ev := range []string{seedEvConnect, seedEvRefresh, seedEvSubscribe, seedEvPublish, seedEvRPC} {
		mux.HandleFunc("POST /"+ev, func(w http.ResponseWriter, r *http.Request) {
			b.serveHTTPEvent(w, r, ev)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// seedHTTPRequest is the JSON body of any proxy request: the fields every
// request has and those of each event.
type seedHTTPRequest struct {
	Client    string          `json:"client"`
	Transport string          `json:"transport"`
	Protocol  string          `json:"protocol"`
	Encoding  string          `json:"encoding"`
	User      string          `json:"user"`
	Channel   string          `json:"channel"`
	Method    string          `json:"method"`
	Name      string          `json:"name"`
	Version   string          `json:"version"`
	Data      json.RawMessage `json:"data"`
}

type seedHTTPError struct {
	Code      uint32 `json:"code"`
	Message   string `json:"message"`
	Temporary bool   `json:"temporary,omitempty"`
}

type seedHTTPDisconnect struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

// seedHTTPResponse is the JSON body of any proxy answer; result holds the
// event's result object with its bytes fields as raw JSON.
type seedHTTPResponse struct {
	Result     map[string]any      `json:"result,omitempty"`
	Error      *seedHTTPError      `json:"error,omitempty"`
	Disconnect *seedHTTPDisconnect `json:"disconnect,omitempty"`
}

func (b *seedBackend) serveHTTPEvent(w http.ResponseWriter, r *http.Request, ev string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	if b.bodies == nil {
		b.bodies = map[string][][]byte{}
	}
	b.bodies[ev] = append(b.bodies[ev], body)
	b.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, "Content-Type is "+ct, http.StatusBadRequest)
		return
	}
	var req seedHTTPRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	data := []byte(req.Data)
	var out seedHTTPResponse
	var answerErr error
	ctx := r.Context()
	switch ev {
	case seedEvConnect:
		resp, err := b.Connect(ctx, &proxyproto.ConnectRequest{Client: req.Client, Transport: req.Transport,
			Protocol: req.Protocol, Encoding: req.Encoding, Data: data, Name: req.Name, Version: req.Version})
		answerErr = err
		if res := resp.GetResult(); res != nil {
			out.Result = seedResultObject(map[string]any{"user": res.GetUser(), "expire_at": res.GetExpireAt()},
				map[string][]byte{"info": res.GetInfo(), "data": res.GetData()})
		}
		out.Error, out.Disconnect = seedHTTPAnswer(resp)
	case seedEvRefresh:
		resp, err := b.Refresh(ctx, &proxyproto.RefreshRequest{Client: req.Client, Transport: req.Transport,
			Protocol: req.Protocol, Encoding: req.Encoding, User: req.User})
		answerErr = err
		if res := resp.GetResult(); res != nil {
			out.Result = seedResultObject(map[string]any{"expired": res.GetExpired(), "expire_at": res.GetExpireAt()},
				map[string][]byte{"info": res.GetInfo()})
		}
		out.Error, out.Disconnect = seedHTTPAnswer(resp)
	case seedEvSubscribe:
		resp, err := b.Subscribe(ctx, &proxyproto.SubscribeRequest{Client: req.Client, Transport: req.Transport,
			Protocol: req.Protocol, Encoding: req.Encoding, User: req.User, Channel: req.Channel, Data: data})
		answerErr = err
		if res := resp.GetResult(); res != nil {
			out.Result = seedResultObject(map[string]any{"expire_at": res.GetExpireAt()},
				map[string][]byte{"info": res.GetInfo(), "data": res.GetData()})
		}
		out.Error, out.Disconnect = seedHTTPAnswer(resp)
	case seedEvPublish:
		resp, err := b.Publish(ctx, &proxyproto.PublishRequest{Client: req.Client, Transport: req.Transport,
			Protocol: req.Protocol, Encoding: req.Encoding, User: req.User, Channel: req.Channel, Data: data})
		answerErr = err
		if res := resp.GetResult(); res != nil {
			out.Result = seedResultObject(map[string]any{"skip_history": res.GetSkipHistory()},
				map[string][]byte{"data": res.GetData()})
		}
		out.Error, out.Disconnect = seedHTTPAnswer(resp)
	case seedEvRPC:
		resp, err := b.RPC(ctx, &proxyproto.RPCRequest{Client: req.Client, Transport: req.Transport,
			Protocol: req.Protocol, Encoding: req.Encoding, User: req.User, Method: req.Method, Data: data})
		answerErr = err
		if res := resp.GetResult(); res != nil {
			out.Result = seedResultObject(nil, map[string][]byte{"data": res.GetData()})
		}
		out.Error, out.Disconnect = seedHTTPAnswer(resp)
	}
	if answerErr != nil {
		http.Error(w, answerErr.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// seedResultObject is a result with the non-zero scalars and the bytes fields
// embedded as raw JSON, as Centrifugo's HTTP proxy format has them.
func seedResultObject(scalars map[string]any, raw map[string][]byte) map[string]any {
	m := map[string]any{}
	for k, v := range scalars {
		switch v := v.(type) {
		case string:
			if v == "" {
				continue
			}
		case int64:
			if v == 0 {
				continue
			}
		case bool:
			if !v {
				continue
			}
		}
		m[k] = v
	}
	for k, v := range raw {
		if len(v) > 0 {
			m[k] = json.RawMessage(v)
		}
	}
	return m
}

// seedAnswer is what every proxy response has besides its result.
type seedAnswer interface {
	GetError() *proxyproto.Error
	GetDisconnect() *proxyproto.Disconnect
}

func seedHTTPAnswer(resp seedAnswer) (*seedHTTPError, *seedHTTPDisconnect) {
	var he *seedHTTPError
	var hd *seedHTTPDisconnect
	if e := resp.GetError(); e != nil {
		he = &seedHTTPError{Code: e.GetCode(), Message: e.GetMessage(), Temporary: e.GetTemporary()}
	}
	if d := resp.GetDisconnect(); d != nil {
		hd = &seedHTTPDisconnect{Code: d.GetCode(), Reason: d.GetReason()}
	}
	return he, hd
}

// httpBodies returns the raw JSON bodies the HTTP backend received for ev.
func (b *seedBackend) httpBodies(ev string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.bodies[ev])
}

// seedJSON encodes v, which cannot fail for the values tests build.
func seedJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// seedExpireAt is the expire_at the test backends give: seedExpireIn seconds
// from now.
func seedExpireAt() int64 { return time.Now().Unix() + seedExpireIn }

// seedJSDir is tests/js relative to this package's directory.
var seedJSDir = filepath.Join("..", "..", "tests", "js")

// seedJSTimeout bounds one JS test file of the seed tests.
const seedJSTimeout = 60 * time.Second

// seedRequireNode returns the path of node, failing the test (never
// skipping) when node or the JS dependencies are missing.
func seedRequireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: run `make deps` (installs Node.js and the tests/js dependencies): %v", err)
	}
	for _, mod := range []string{"centrifuge", "ws"} {
		if _, err := os.Stat(filepath.Join(seedJSDir, "node_modules", mod, "package.json")); err != nil {
			t.Fatalf("tests/js/node_modules/%s is missing: run `make deps` (npm ci in tests/js): %v", mod, err)
		}
	}
	return node
}

// seedRunNode runs `node --test file` in tests/js with env added to the
// process environment, streams its output to the test log and fails the
// test if it exits non-zero or overruns seedJSTimeout.
func seedRunNode(t *testing.T, node, file string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), seedJSTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", file)
	cmd.Dir = seedJSDir
	cmd.Env = append(os.Environ(), append([]string{"NO_COLOR=1"}, env...)...)
	cmd.WaitDelay = 5 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node --test %s: timed out after %v", file, seedJSTimeout)
	}
	if err != nil {
		t.Fatalf("node --test %s: %v (the failing JS tests are in the log above)", file, err)
	}
}

// seedJSONEqual reports whether a and b hold the same JSON value.
func seedJSONEqual(a, b []byte) error {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return fmt.Errorf("not JSON: %q: %w", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return fmt.Errorf("not JSON: %q: %w", b, err)
	}
	if ca, cb := seedJSON(va), seedJSON(vb); string(ca) != string(cb) {
		return fmt.Errorf("JSON differs: got %s, want %s", ca, cb)
	}
	return nil
}
