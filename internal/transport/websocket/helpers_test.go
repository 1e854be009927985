package websocket

import (
	"context"
	"encoding/binary"
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

	"github.com/gorilla/websocket"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/broker/memory"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"

	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// waitTimeout bounds every wait of the tests.
const waitTimeout = wait.Timeout

// engineDirect is the epoll engine with handshakes taken by a
// DirectListener in front of the HTTP server, as the app serves it.
const engineDirect = "epoll-direct"

// engines are the values of websocket_engine every shared test runs with,
// and engineDirect.
var engines = []string{EngineEpoll, EngineGorilla, engineDirect}

// forEngines runs fn as a parallel subtest per engine.
func forEngines(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e, func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

// testServer is a node behind a Handler on an httptest server.
type testServer struct {
	cfg  *config.Config
	n    *node.Node
	h    *Handler
	srv  *httptest.Server
	url  string
	logs *logRecorder
}

func newTestServer(t testing.TB, engine string, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startTestServer(t, engine, false, mutate)
}

// newTLSTestServer is newTestServer with TLS (wss://).
func newTLSTestServer(t testing.TB, engine string, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startTestServer(t, engine, true, mutate)
}

func startTestServer(t testing.TB, engine string, useTLS bool, mutate func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Defaults()
	cfg.TokenHMACSecretKey = "secret"
	cfg.AllowSubscribeForClient = true
	cfg.AllowPublishForClient = true
	cfg.WebsocketEngine = engine
	direct := engine == engineDirect
	if direct {
		cfg.WebsocketEngine = EngineEpoll
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rec := &logRecorder{}
	n, err := node.New(&cfg, node.Options{Logger: slog.New(rec), Broker: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	h := NewHandler(n)
	srv := httptest.NewUnstartedServer(h)
	if direct && !useTLS {
		srv.Listener = h.DirectListener(srv.Listener, DirectOptions{Path: "/connection/websocket", HeaderTimeout: 10 * time.Second})
	}
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
		srv.Close()
	})
	return &testServer{
		cfg:  &cfg,
		n:    n,
		h:    h,
		srv:  srv,
		url:  "ws" + strings.TrimPrefix(srv.URL, "http") + "/connection/websocket",
		logs: rec,
	}
}

func (s *testServer) dial(t *testing.T, query string, subprotocols ...string) *websocket.Conn {
	t.Helper()
	d := s.dialer()
	d.Subprotocols = subprotocols
	c, resp, err := d.Dial(s.url+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialer returns a dialer that trusts the server's certificate.
func (s *testServer) dialer() *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: waitTimeout}
	if s.srv.TLS != nil {
		d.TLSClientConfig = s.srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	return d
}

func (s *testServer) token(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.GenerateConnectToken(s.cfg, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// connectCommand is a JSON connect command with id 1 for user.
func (s *testServer) connectCommand(t *testing.T, user string) string {
	t.Helper()
	return fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, s.token(t, user))
}

// connect dials and connects as user.
func (s *testServer) connect(t *testing.T, user string) *websocket.Conn {
	t.Helper()
	c := s.dial(t, "")
	writeText(t, c, s.connectCommand(t, user))
	if got := readText(t, c); !strings.Contains(got, `"id":1,"connect":{"client":`) {
		t.Fatalf("connect reply = %s", got)
	}
	return c
}

// numClients is the number of connected clients of the node.
func (s *testServer) numClients(t *testing.T) int {
	t.Helper()
	info, err := s.n.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return int(info[0].NumClients)
}

// waitNoClients waits until the node has no connected client.
func (s *testServer) waitNoClients(t *testing.T) {
	t.Helper()
	wait.CheckFor(t, waitTimeout, 10*time.Millisecond, func() error {
		if n := s.numClients(t); n != 0 {
			return fmt.Errorf("%d clients connected", n)
		}
		return nil
	})
}

func writeText(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		t.Fatalf("message type %d, want text", mt)
	}
	return string(data)
}

// closeOf reads until the server's close frame and returns its code and
// text.
func closeOf(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		t.Fatalf("read ended without a close frame: %v", err)
	}
}

// clientFrame builds a masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	return rawFrame(fin, 0, op, true, payload)
}

// rawFrame builds any frame: rsv holds the RSV bits in place (0x70).
func rawFrame(fin bool, rsv, op byte, masked bool, payload []byte) []byte {
	b0 := rsv | op
	if fin {
		b0 |= 0x80
	}
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, maskBit|byte(n))
	case n <= 0xffff:
		f = append(f, maskBit|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, maskBit|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if !masked {
		return append(f, payload...)
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count returns how many records have msg and the given attributes.
func (r *logRecorder) count(msg string, attrs ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for _, rec := range r.records {
		if rec.msg != msg {
			continue
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			if rec.attrs[attrs[i]] != attrs[i+1] {
				continue next
			}
		}
		n++
	}
	return n
}

// wait waits until a record with msg and attrs was logged.
func (r *logRecorder) wait(t *testing.T, msg string, attrs ...string) {
	t.Helper()
	wait.CheckFor(t, waitTimeout, 10*time.Millisecond, func() error {
		if r.count(msg, attrs...) == 0 {
			return fmt.Errorf("no log %q %v", msg, attrs)
		}
		return nil
	})
}

// httpDo sends a request with header to the handler and returns the
// status and the body.
func httpDo(t *testing.T, s *testServer, method string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+"/connection/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// readInOrder reads n messages from c (frames split into lines, server
// pings left out) and checks that message k contains want(k).
func readInOrder(c *websocket.Conn, n int, want func(k int) string) error {
	for next := 0; next < n; {
		_ = c.SetReadDeadline(time.Now().Add(2 * waitTimeout))
		_, data, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("after %d messages: %w", next, err)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if line == "{}" {
				continue // a server ping
			}
			if w := want(next); !strings.Contains(line, w) {
				return fmt.Errorf("message %d: got %.120s, want %s", next, line, w)
			}
			next++
		}
	}
	return nil
}
