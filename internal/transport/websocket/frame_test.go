package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/rotorhq/rotor/internal/node"

	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// checkAgainstGobwas parses p with parseStart/parseRest and with
// ws.ReadHeader and compares the results.
func checkAgainstGobwas(t *testing.T, p []byte) {
	t.Helper()
	if len(p) < 2 {
		return
	}
	h := parseStart(p)
	complete := parseRest(p, &h)
	g, err := ws.ReadHeader(bytes.NewReader(p))
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if complete {
			t.Fatalf("%x: complete header, gobwas wants more bytes", p)
		}
		return
	case errors.Is(err, ws.ErrHeaderLengthMSB):
		if complete && h.length != -1 {
			t.Fatalf("%x: length %d, gobwas: %v", p, h.length, err)
		}
		return
	case err != nil:
		t.Fatalf("%x: gobwas: %v", p, err)
	}
	if !complete {
		t.Fatalf("%x: incomplete header, gobwas read %+v", p, g)
	}
	// The size follows the length field as sent, which need not be the
	// shortest encoding ws.HeaderSize assumes.
	size := 2
	switch p[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if g.Masked {
		size += 4
	}
	if h.fin != g.Fin || h.rsv>>4 != g.Rsv || h.op != g.OpCode || h.masked != g.Masked ||
		h.length != g.Length || (h.masked && h.mask != g.Mask) || h.size != size {
		t.Fatalf("%x: parsed %+v, gobwas %+v (size %d)", p, h, g, size)
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		for _, masked := range []bool{false, true} {
			f := rawFrame(n%2 == 0, 0x10, 0x2, masked, make([]byte, n))
			for i := 2; i <= maxHeaderSize && i <= len(f); i++ {
				checkAgainstGobwas(t, f[:i])
			}
		}
	}
	checkAgainstGobwas(t, []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4})
	f.Add([]byte{0x02, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x89, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		checkAgainstGobwas(t, p)
	})
}

func TestPutServerHeader(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 24} {
		var b [maxServerHeaderSize]byte
		size := putServerHeader(&b, ws.OpBinary, n)
		g, err := ws.ReadHeader(bytes.NewReader(b[:size]))
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if !g.Fin || g.OpCode != ws.OpBinary || g.Masked || g.Length != int64(n) || ws.HeaderSize(g) != size {
			t.Fatalf("%d: header %+v of size %d", n, g, size)
		}
	}
}

func TestHandshakeProblemAcceptsTokenLists(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Connection", "keep-alive, Upgrade")
	h.Set("Upgrade", "WebSocket")
	h.Set("Sec-Websocket-Version", "13")
	h.Set("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r := &http.Request{Method: http.MethodGet, Header: h}
	if status, msg := handshakeProblem(r); status != 0 {
		t.Fatalf("%d %s", status, msg)
	}
}

// TestConsumeSplitAnywhere feeds the same frames to the reader cut at every
// position: the client must see the same commands.
func TestConsumeSplitAnywhere(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineEpoll, nil)
	cmd := []byte(s.connectCommand(t, "1"))
	var stream []byte
	stream = append(stream, clientFrame(false, 0x1, cmd[:7])...)
	stream = append(stream, clientFrame(true, 0xa, []byte("pong"))...)
	stream = append(stream, clientFrame(true, 0x0, cmd[7:])...)
	stream = append(stream, clientFrame(true, 0x1, []byte(`{"id":2,"subscribe":{"channel":"a"}}`))...)
	for cut := range len(stream) + 1 {
		server, client := net.Pipe()
		c := &conn{h: s.h, nc: server}
		cl, err := s.n.NewClient(c, node.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.client.Store(cl)
		replies := make(chan string, 1)
		go func() {
			var got strings.Builder
			for strings.Count(got.String(), `"id":`) < 2 {
				_, payload := readServerFrame(t, client)
				got.Write(payload)
			}
			replies <- got.String()
		}()
		if !c.consume(stream[:cut]) || !c.consume(stream[cut:]) {
			t.Fatalf("cut %d: connection finished", cut)
		}
		got := wait.Receive(t, replies, "replies")
		if !strings.Contains(got, `"id":1,"connect":{"client":`) || !strings.Contains(got, `"id":2,"subscribe":{}`) {
			t.Fatalf("cut %d: replies %s", cut, got)
		}
		if c.rs != nil {
			t.Fatalf("cut %d: read state kept after whole frames", cut)
		}
		c.finish()
		_ = client.Close()
	}
}

// FuzzConsume feeds arbitrary bytes, cut in two reads, to a client's
// reader: whatever they hold, it must not panic.
func FuzzConsume(f *testing.F) {
	f.Add([]byte{0x81, 0x82, 1, 2, 3, 4, 'z', 'y'}, 3)
	f.Add(append(clientFrame(false, 0x1, []byte("{")), clientFrame(true, 0x0, []byte("}"))...), 5)
	f.Add(clientFrame(true, 0x8, []byte{0x03, 0xe8}), 1)
	s := newTestServer(f, EngineEpoll, nil)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		server, client := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		c := &conn{h: s.h, nc: server}
		cl, err := s.n.NewClient(c, node.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.client.Store(cl)
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		if c.consume(data[:cut]) {
			c.consume(data[cut:])
		}
		c.finish()
		_ = client.Close()
	})
}
