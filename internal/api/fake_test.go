package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/node"
)

// call is one recorded NodeAPI call: the method name and its arguments after
// the context.
type call struct {
	Method string
	Args   []any
}

func (c call) String() string { return fmt.Sprintf("%s%v", c.Method, c.Args) }

// fakeNode records calls and answers with canned values. errs maps a method
// name (or "Publish:<channel>") to the error it returns; panics names a
// method that panics. barrier, when set, makes Publish wait until that many
// Publish calls are in flight at once.
type fakeNode struct {
	mu    sync.Mutex
	calls []call

	errs   map[string]error
	panics string

	publishResult node.PublishResult
	presence      map[string]*node.ClientInfo
	numClients    uint32
	numUsers      uint32
	history       node.HistoryResult
	channels      map[string]node.ChannelInfo
	info          []node.NodeInfo
	rpcResult     []byte // nil: echo params

	barrier *barrier
}

var _ NodeAPI = (*fakeNode)(nil)

func (f *fakeNode) record(method string, args ...any) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{Method: method, Args: args})
	f.mu.Unlock()
	if f.panics == method {
		panic("fake node: " + method)
	}
	return f.errs[method]
}

func (f *fakeNode) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeNode) Publish(ctx context.Context, channel string, data []byte, opts node.PublishOptions) (node.PublishResult, error) {
	err := f.record("Publish", channel, string(data), opts)
	if f.barrier != nil {
		if !f.barrier.arrive(5 * time.Second) {
			return node.PublishResult{}, errors.New("barrier timeout: calls not concurrent")
		}
	}
	if err == nil {
		err = f.errs["Publish:"+channel]
	}
	if err != nil {
		return node.PublishResult{}, err
	}
	return f.publishResult, nil
}

func (f *fakeNode) Subscribe(ctx context.Context, user, channel string, opts node.ServerSubscribeOptions) error {
	return f.record("Subscribe", user, channel, opts)
}

func (f *fakeNode) Unsubscribe(ctx context.Context, user, channel, client, session string) error {
	return f.record("Unsubscribe", user, channel, client, session)
}

func (f *fakeNode) Disconnect(ctx context.Context, user string, d node.Disconnect, opts node.DisconnectOptions) error {
	return f.record("Disconnect", user, d, opts)
}

func (f *fakeNode) Refresh(ctx context.Context, user string, opts node.RefreshOptions) error {
	return f.record("Refresh", user, opts)
}

func (f *fakeNode) Presence(ctx context.Context, channel string) (map[string]*node.ClientInfo, error) {
	if err := f.record("Presence", channel); err != nil {
		return nil, err
	}
	return f.presence, nil
}

func (f *fakeNode) PresenceStats(ctx context.Context, channel string) (uint32, uint32, error) {
	if err := f.record("PresenceStats", channel); err != nil {
		return 0, 0, err
	}
	return f.numClients, f.numUsers, nil
}

func (f *fakeNode) History(ctx context.Context, channel string, opts node.HistoryOptions) (node.HistoryResult, error) {
	if err := f.record("History", channel, opts); err != nil {
		return node.HistoryResult{}, err
	}
	return f.history, nil
}

func (f *fakeNode) RemoveHistory(ctx context.Context, channel string) error {
	return f.record("RemoveHistory", channel)
}

func (f *fakeNode) Channels(ctx context.Context, pattern string) (map[string]node.ChannelInfo, error) {
	if err := f.record("Channels", pattern); err != nil {
		return nil, err
	}
	return f.channels, nil
}

func (f *fakeNode) Info(ctx context.Context) ([]node.NodeInfo, error) {
	if err := f.record("Info"); err != nil {
		return nil, err
	}
	return f.info, nil
}

func (f *fakeNode) RPC(ctx context.Context, method string, params []byte) ([]byte, error) {
	if err := f.record("RPC", method, string(params)); err != nil {
		return nil, err
	}
	if f.rpcResult == nil {
		return params, nil
	}
	return f.rpcResult, nil
}

// barrier releases its waiters once n of them have arrived.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	done    chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, done: make(chan struct{})} }

func (b *barrier) arrive(timeout time.Duration) bool {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.done)
	}
	b.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
		return true
	case <-t.C:
		return false
	}
}

// logBuffer is a concurrency-safe sink for slog output in tests.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const testKey = "s3cret-key"

// newTestAPI builds an executor over f and an HTTP handler with the test key
// (unless opts sets its own auth), logging into the returned buffer.
func newTestAPI(t testing.TB, f *fakeNode, opts HTTPOptions) (http.Handler, *Executor, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	exec, err := NewExecutor(f, ExecutorConfig{Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Key == "" && !opts.Insecure {
		opts.Key = testKey
	}
	return NewHTTPHandler(exec, opts), exec, logs
}

type reply struct {
	status int
	header http.Header
	body   string
}

// post sends body to path with the test key and returns the reply.
func post(h http.Handler, path, body string, header ...string) reply {
	return do(h, http.MethodPost, path, body, append([]string{"X-API-Key", testKey}, header...)...)
}

// do sends a request with the given method, body and header pairs.
func do(h http.Handler, method, path, body string, header ...string) reply {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

func newTestLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newChunkedRequest builds an authorized POST whose body length is unknown
// in advance (no Content-Length).
func newChunkedRequest(path, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("X-API-Key", testKey)
	return req
}

func serve(h http.Handler, req *http.Request) reply {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}
