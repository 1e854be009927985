package websocket

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const handshakeHeaders = "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

// rawRequest writes req on c and reads the response head.
func rawRequest(t *testing.T, c net.Conn, br *bufio.Reader, req ...string) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	for i, part := range req {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := io.WriteString(c, part); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response to %q: %v", strings.Join(req, ""), err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func TestDirectListenerRouting(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, engineDirect, nil)
	addr := s.srv.Listener.Addr().String()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, bufio.NewReader(c)
	}

	// Another path goes to the HTTP server, which keeps the connection:
	// its next request is the HTTP server's too, even for the path.
	c, br := dial()
	resp := rawRequest(t, c, br, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || resp.Close {
		t.Fatalf("other path: %d, close %v", resp.StatusCode, resp.Close)
	}
	resp = rawRequest(t, c, br, "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || resp.Close {
		t.Fatalf("second request: %d, close %v", resp.StatusCode, resp.Close)
	}

	// A longer path that starts with it is not it.
	c, br = dial()
	resp = rawRequest(t, c, br, "GET /connection/websocketx HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || resp.Close {
		t.Fatalf("longer path: %d, close %v", resp.StatusCode, resp.Close)
	}

	// The path, refused here (no upgrade headers): answered directly, and
	// the connection closed.
	c, br = dial()
	resp = rawRequest(t, c, br, "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || !resp.Close {
		t.Fatalf("refused handshake: %d, close %v", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection left open after a refusal: %v", err)
	}

	// A handshake sent in pieces, the request line split, with a query.
	c, br = dial()
	resp = rawRequest(t, c, br, "GE", "T /connection/websocket?cf_protocol_version=v2 HTTP/1.1\r\n", handshakeHeaders)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake in pieces: %d", resp.StatusCode)
	}

	// Headers past the HTTP server's bound.
	c, br = dial()
	resp = rawRequest(t, c, br, "GET /connection/websocket HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", http.DefaultMaxHeaderBytes)+"\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge headers: %d", resp.StatusCode)
	}

	// Not HTTP at all: the HTTP server answers it.
	c, br = dial()
	resp = rawRequest(t, c, br, "HELLO\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage: %d", resp.StatusCode)
	}
}

func TestDirectListenerHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineEpoll, nil)
	srv := httptest.NewUnstartedServer(s.h)
	srv.Listener = s.h.DirectListener(srv.Listener, DirectOptions{Path: "/connection/websocket", HeaderTimeout: 100 * time.Millisecond})
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Half a request line, then nothing: the connection is dropped.
	_, _ = io.WriteString(c, "GET /conn")
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read = %d, %v; want the connection closed", n, err)
	}
}

func TestDirectListenerClose(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineEpoll, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := s.h.DirectListener(ln, DirectOptions{Path: "/connection/websocket", HeaderTimeout: time.Second})
	errc := make(chan error, 1)
	go func() {
		_, err := dl.Accept()
		errc <- err
	}()
	_ = dl.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Accept after Close returned no error")
		}
	case <-time.After(waitTimeout):
		t.Fatal("Accept did not return after Close")
	}
}

func TestDirectListenerLeavesGorillaAlone(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineGorilla, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := s.h.DirectListener(ln, DirectOptions{Path: "/connection/websocket", HeaderTimeout: time.Second}); got != ln {
		t.Fatalf("gorilla engine: listener wrapped (%T)", got)
	}
}

// apiTestServer serves mux "/api/" through a DirectListener with the API
// option; the handler answers with how it was served ("direct" or "http",
// told by the HTTP server's context key) and what body it read.
func apiTestServer(t *testing.T, idle time.Duration) string {
	t.Helper()
	s := newTestServer(t, EngineEpoll, nil)
	mux := http.NewServeMux()
	via := func(r *http.Request) string {
		if r.Context().Value(http.ServerContextKey) != nil {
			return "http"
		}
		return "direct"
	}
	mux.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"via":"`+via(r)+`","body":"`+string(body)+`"}`)
	})
	mux.HandleFunc("POST /api/skip", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // the body is left unread
	})
	mux.HandleFunc("POST /api/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, via(r))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = s.h.DirectListener(srv.Listener, DirectOptions{
		Path: "/connection/websocket", HeaderTimeout: time.Second,
		API: mux, APIPrefix: "/api", IdleTimeout: idle,
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// readAnswer reads one response and its body.
func readAnswer(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a body: %v", err)
	}
	return resp, string(b)
}

func dialAPI(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	return c, bufio.NewReader(c)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func post(path, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); err == nil {
		t.Fatalf("connection still open: read %q", b)
	}
}

func TestDirectListenerAPIKeepAlive(t *testing.T) {
	t.Parallel()
	addr := apiTestServer(t, time.Minute)
	c, br := dialAPI(t, addr)

	// One request after another, then two at once, all served directly
	// on the same connection.
	for i, body := range []string{"a", "bb", "ccc"} {
		send(t, c, post("/api/echo", body))
		resp, got := readAnswer(t, br)
		want := `{"via":"direct","body":"` + body + `"}`
		if resp.StatusCode != http.StatusOK || got != want || resp.Close || resp.ContentLength != int64(len(want)) ||
			resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Date") == "" {
			t.Fatalf("request %d: %d %q close=%v length=%d header=%v", i, resp.StatusCode, got, resp.Close, resp.ContentLength, resp.Header)
		}
	}
	send(t, c, post("/api/echo", "p1")+post("/api/echo", "p2"))
	for _, body := range []string{"p1", "p2"} {
		if _, got := readAnswer(t, br); got != `{"via":"direct","body":"`+body+`"}` {
			t.Fatalf("pipelined: %q", got)
		}
	}

	// A body the handler leaves unread is dropped; the next request is
	// read where it starts.
	send(t, c, post("/api/skip", "unread body")+post("/api/echo", "after"))
	if resp, _ := readAnswer(t, br); resp.StatusCode != http.StatusUnauthorized || resp.Close {
		t.Fatalf("skip: %d close=%v", resp.StatusCode, resp.Close)
	}
	if _, got := readAnswer(t, br); got != `{"via":"direct","body":"after"}` {
		t.Fatalf("after an unread body: %q", got)
	}

	// A chunked body.
	send(t, c, "POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if _, got := readAnswer(t, br); got != `{"via":"direct","body":"abcde"}` {
		t.Fatalf("chunked: %q", got)
	}

	// Another request goes to the HTTP server with the connection, which
	// then serves the rest.
	send(t, c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, got := readAnswer(t, br); resp.StatusCode != http.StatusOK || got != "http" {
		t.Fatalf("handed over: %d %q", resp.StatusCode, got)
	}
	send(t, c, post("/api/echo", "z"))
	if _, got := readAnswer(t, br); got != `{"via":"http","body":"z"}` {
		t.Fatalf("after the hand-over: %q", got)
	}
}

func TestDirectListenerAPIExpectContinue(t *testing.T) {
	t.Parallel()
	addr := apiTestServer(t, time.Minute)
	c, br := dialAPI(t, addr)
	send(t, c, "POST /api/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	if resp, _ := readAnswer(t, br); resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue first, got %d", resp.StatusCode)
	}
	send(t, c, "body")
	if resp, got := readAnswer(t, br); resp.StatusCode != http.StatusOK || got != `{"via":"direct","body":"body"}` || resp.Close {
		t.Fatalf("after 100 Continue: %d %q close=%v", resp.StatusCode, got, resp.Close)
	}

	// Refused before the body was asked for: the answer ends the
	// connection, as the client still holds the body.
	send(t, c, "POST /api/skip HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	if resp, _ := readAnswer(t, br); resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Fatalf("refused: %d close=%v", resp.StatusCode, resp.Close)
	}
	wantClosed(t, br)

	// An expectation other than 100-continue.
	c, br = dialAPI(t, addr)
	send(t, c, "POST /api/echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx")
	if resp, _ := readAnswer(t, br); resp.StatusCode != http.StatusExpectationFailed || !resp.Close {
		t.Fatalf("unknown expectation: %d close=%v", resp.StatusCode, resp.Close)
	}
}

func TestDirectListenerAPIConnectionEnds(t *testing.T) {
	t.Parallel()
	addr := apiTestServer(t, 300*time.Millisecond)
	for _, tc := range []struct {
		name, req string
		close     bool
	}{
		{"close asked", "POST /api/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", true},
		{"HTTP/1.0", "POST /api/echo HTTP/1.0\r\nContent-Length: 1\r\n\r\nx", true},
		{"HTTP/1.0 keep-alive", "POST /api/echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", false},
	} {
		c, br := dialAPI(t, addr)
		send(t, c, tc.req)
		resp, got := readAnswer(t, br)
		if resp.StatusCode != http.StatusOK || got != `{"via":"direct","body":"x"}` || resp.Close != tc.close {
			t.Fatalf("%s: %d %q close=%v", tc.name, resp.StatusCode, got, resp.Close)
		}
		if !tc.close && resp.Header.Get("Connection") != "keep-alive" {
			t.Errorf("%s: Connection %q", tc.name, resp.Header.Get("Connection"))
		}
		if tc.close {
			wantClosed(t, br)
		}
	}

	// Idle past IdleTimeout: closed.
	c, br := dialAPI(t, addr)
	send(t, c, post("/api/echo", "x"))
	readAnswer(t, br)
	start := time.Now()
	wantClosed(t, br)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed after %v idle, want about 300ms", d)
	}

	// Malformed headers and headers too large: answered and closed.
	for req, status := range map[string]int{
		"POST /api/echo HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n":                                                       http.StatusBadRequest,
		"POST /api/echo HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", http.DefaultMaxHeaderBytes+8192) + "\r\n\r\n": http.StatusRequestHeaderFieldsTooLarge,
	} {
		c, br := dialAPI(t, addr)
		send(t, c, post("/api/echo", "ok")+req)
		readAnswer(t, br)
		if resp, _ := readAnswer(t, br); resp.StatusCode != status || !resp.Close {
			t.Errorf("want %d, got %d close=%v", status, resp.StatusCode, resp.Close)
		}
		wantClosed(t, br)
	}

	// A handler that panics: the connection ends without an answer, and
	// others are served.
	c, br = dialAPI(t, addr)
	send(t, c, post("/api/panic", ""))
	wantClosed(t, br)
	c, br = dialAPI(t, addr)
	send(t, c, post("/api/echo", "still"))
	if _, got := readAnswer(t, br); got != `{"via":"direct","body":"still"}` {
		t.Fatalf("after a panic: %q", got)
	}
}

// TestDirectListenerAPIClose: closing the listener ends the API
// connections waiting for a request.
func TestDirectListenerAPIClose(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineEpoll, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := s.h.DirectListener(ln, DirectOptions{HeaderTimeout: time.Second, API: mux, APIPrefix: "/api", IdleTimeout: time.Minute})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(dl) }()
	c, br := dialAPI(t, dl.Addr().String())
	send(t, c, post("/api/echo", ""))
	if _, got := readAnswer(t, br); got != "ok" {
		t.Fatalf("answer %q", got)
	}
	time.Sleep(50 * time.Millisecond) // the connection waits for its next request
	start := time.Now()
	_ = srv.Close()
	wantClosed(t, br)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed %v after the listener", d)
	}
}

// TestDirectListenerAPIBadInput sends a served request followed by bad or
// random bytes, then ends its side: each connection must end (answered or
// not) without the listener hanging on it, and a well-behaved client is
// served after all of them.
func TestDirectListenerAPIBadInput(t *testing.T) {
	t.Parallel()
	addr := apiTestServer(t, 2*time.Second)
	tails := []string{
		"P", "POST /api", "POST /api/echo HTTP/1.1\r\n",
		"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort",
		"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n",
		"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"POST /api/echo HTTP/9.9\r\nHost: x\r\n\r\n",
		"POST /api/echo\r\n\r\n",
		"\r\n\r\n\r\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			b = append([]byte("POST /api/echo HTTP/1.1\r\n"), b...)
		}
		tails = append(tails, string(b))
	}
	for i, tail := range tails {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := io.WriteString(c, post("/api/echo", "ok")+tail); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		br := bufio.NewReader(c)
		if resp, got := readAnswer(t, br); resp.StatusCode != http.StatusOK || got != `{"via":"direct","body":"ok"}` {
			t.Fatalf("tail %d: first answer %d %q", i, resp.StatusCode, got)
		}
		// Whatever follows, the connection ends: read until it does.
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Fatalf("tail %d %q: connection did not end: %v", i, tail, err)
		}
		_ = c.Close()
	}
	c, br := dialAPI(t, addr)
	send(t, c, post("/api/echo", "after"))
	if _, got := readAnswer(t, br); got != `{"via":"direct","body":"after"}` {
		t.Fatalf("after bad input: %q", got)
	}
}
