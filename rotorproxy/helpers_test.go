package rotorproxy

import (
	"bytes"
	"context"
	"fmt"
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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/proxyproto"

	"github.com/rotorhq/rotor/wirejson"
)

// logRecorder is a slog.Handler that keeps every record (as one line each)
// for tests to look for.
type logRecorder struct {
	mu   *sync.Mutex
	recs *[]string
}

func newLogRecorder() *logRecorder {
	return &logRecorder{mu: new(sync.Mutex), recs: new([]string)}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "stack" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	l.mu.Lock()
	*l.recs = append(*l.recs, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// find returns the first record containing every part, or "".
func (l *logRecorder) find(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, r := range *l.recs {
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		return r
	}
	return ""
}

func (l *logRecorder) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(*l.recs, "\n")
}

// waitLog waits up to 2 s for a record containing every part.
func (l *logRecorder) waitLog(t testing.TB, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if r := l.find(parts...); r != "" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log record with %q; records:\n%s", parts, l.all())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// harness is a Server served over real gRPC (loopback) and real HTTP
// (httptest), and the log it writes.
type harness struct {
	srv  *Server
	log  *logRecorder
	conn *grpc.ClientConn
	http *httptest.Server
}

func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := newLogRecorder()
	srv, err := New(append([]Option{WithListener(ln), WithLogger(slog.New(log))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.WithoutCancel(t.Context())) }()

	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPHandler())
	t.Cleanup(func() {
		hs.Close()
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &harness{srv: srv, log: log, conn: conn, http: hs}
}

// wire calls the server one way: gRPC or HTTP.
type wire struct {
	name string
	// call sends in as the proxy method (Connect, Refresh, Subscribe,
	// Publish, RPC, SubRefresh) with the headers and fills out.
	call func(ctx context.Context, method string, in, out proto.Message, hdr map[string]string) error
}

var httpPaths = map[string]string{
	"Connect": "connect", "Refresh": "refresh", "Subscribe": "subscribe",
	"Publish": "publish", "RPC": "rpc", "SubRefresh": "sub_refresh",
}

func (h *harness) wires() []wire {
	grpcWire := wire{name: "grpc", call: func(ctx context.Context, method string, in, out proto.Message, hdr map[string]string) error {
		for k, v := range hdr {
			ctx = metadata.AppendToOutgoingContext(ctx, k, v)
		}
		return h.conn.Invoke(ctx, "/centrifugal.centrifugo.proxy.CentrifugoProxy/"+method, in, out)
	}}
	httpWire := wire{name: "http", call: func(ctx context.Context, method string, in, out proto.Message, hdr map[string]string) error {
		body, err := wirejson.Marshal(in)
		if err != nil {
			return err
		}
		resp, err := h.post(ctx, "/"+httpPaths[method], body, hdr)
		if err != nil {
			return err
		}
		if resp.status != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.status, resp.body)
		}
		return wirejson.Unmarshal(resp.body, out)
	}}
	return []wire{grpcWire, httpWire}
}

type httpResponse struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) post(ctx context.Context, path string, body []byte, hdr map[string]string) (httpResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.http.URL+path, bytes.NewReader(body))
	if err != nil {
		return httpResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		return httpResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpResponse{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// forEachWire runs fn as a subtest per wire.
func (h *harness) forEachWire(t *testing.T, fn func(t *testing.T, w wire)) {
	t.Helper()
	for _, w := range h.wires() {
		t.Run(w.name, func(t *testing.T) { fn(t, w) })
	}
}

// testCtx is a context for one call of a test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connectReq(data string) *proxyproto.ConnectRequest {
	return &proxyproto.ConnectRequest{Client: "c1", Transport: "websocket", Protocol: "json", Encoding: "json", Data: []byte(data)}
}

// wantError fails unless e is the error reply code/message/temporary.
func wantError(t *testing.T, e *proxyproto.Error, code uint32, msg string, temporary bool) {
	t.Helper()
	if e == nil {
		t.Fatalf("want error %d %q, got no error", code, msg)
	}
	if e.Code != code || e.Message != msg || e.Temporary != temporary {
		t.Fatalf("error = {%d %q temporary=%v}, want {%d %q temporary=%v}", e.Code, e.Message, e.Temporary, code, msg, temporary)
	}
}

func newDiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
