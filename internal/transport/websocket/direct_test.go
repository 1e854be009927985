package websocket

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
	srv.Listener = s.h.DirectListener(srv.Listener, "/connection/websocket", 100*time.Millisecond)
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
	dl := s.h.DirectListener(ln, "/connection/websocket", time.Second)
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
	if got := s.h.DirectListener(ln, "/connection/websocket", time.Second); got != ln {
		t.Fatalf("gorilla engine: listener wrapped (%T)", got)
	}
}
