package websocket

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/gorilla/websocket"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"

	"github.com/rotorhq/rotor/internal/testutil/wait"
)

func TestEngineSelection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		engine      string
		compression bool
		want        string
	}{
		{name: "epoll", engine: EngineEpoll, want: EngineEpoll},
		{name: "gorilla", engine: EngineGorilla, want: EngineGorilla},
		{name: "epoll with compression", engine: EngineEpoll, compression: true, want: EngineGorilla},
		{name: "empty means epoll", engine: "", want: EngineEpoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, tt.engine, func(c *config.Config) { c.WebsocketCompression = tt.compression })
			if got := s.h.Engine(); got != tt.want {
				t.Fatalf("Engine() = %q, want %q", got, tt.want)
			}
			if s.logs.count("websocket engine", "engine", tt.want) != 1 {
				t.Fatalf("the engine was not logged once")
			}
		})
	}
}

func TestHandshakeAnswers(t *testing.T) {
	t.Parallel()
	const bad = "websocket: the client is not using the websocket protocol: "
	upgrade := func(edit func(h http.Header)) http.Header {
		h := http.Header{}
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if edit != nil {
			edit(h)
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		header http.Header
		status int
		body   string
	}{
		{"plain GET", http.MethodGet, http.Header{}, http.StatusBadRequest, bad + "'upgrade' token not found in 'Connection' header\n"},
		{"no Upgrade", http.MethodGet, upgrade(func(h http.Header) { h.Del("Upgrade") }), http.StatusBadRequest, bad + "'websocket' token not found in 'Upgrade' header\n"},
		{"POST", http.MethodPost, upgrade(nil), http.StatusMethodNotAllowed, bad + "request method is not GET\n"},
		{"version", http.MethodGet, upgrade(func(h http.Header) { h.Set("Sec-WebSocket-Version", "8") }), http.StatusBadRequest, "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header\n"},
		{"key", http.MethodGet, upgrade(func(h http.Header) { h.Set("Sec-WebSocket-Key", "short") }), http.StatusBadRequest, "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length\n"},
		{"origin", http.MethodGet, upgrade(func(h http.Header) { h.Set("Origin", "http://evil.example") }), http.StatusForbidden, "request origin not allowed\n"},
	}
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		for _, tt := range tests {
			status, body := httpDo(t, s, tt.method, tt.header.Clone())
			if status != tt.status || body != tt.body {
				t.Errorf("%s: %d %q, want %d %q", tt.name, status, body, tt.status, tt.body)
			}
		}
	})
}

// With client_connection_rate_limit 1, of ten dials made one after the
// other (far quicker than one a second), the first is accepted and later
// ones are refused with 503 before any upgrade.
func TestConnectionRateLimit(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, func(c *config.Config) { c.ClientConnectionRateLimit = 1 })
		refused := 0
		for i := range 10 {
			c, resp, err := s.dialer().Dial(s.url, nil)
			if err == nil {
				_ = c.Close()
				continue
			}
			if i == 0 {
				t.Fatalf("first dial refused: %v", err)
			}
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("dial %d: %v, response %v", i, err, resp)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if !strings.Contains(string(body), "client_connection_rate_limit") {
				t.Fatalf("503 body = %q, want it to name the key", body)
			}
			refused++
		}
		if refused == 0 {
			t.Fatal("no dial refused")
		}
		if s.logs.count("connection rate limit reached: new connections refused", "key", "client_connection_rate_limit", "limit_per_second", "1") == 0 {
			t.Fatal("refusals not logged")
		}
	})
}

func TestAllowedOrigin(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, func(c *config.Config) { c.AllowedOrigins = []string{"http://*.example.com"} })
		c, resp, err := s.dialer().Dial(s.url, http.Header{"Origin": {"http://app.example.com"}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = resp.Body.Close()
		_ = c.Close()
	})
}

func TestJSONFlow(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		c := s.dial(t, "", "centrifuge-json")
		if c.Subprotocol() != SubprotocolJSON {
			t.Fatalf("subprotocol = %q", c.Subprotocol())
		}
		// Several commands in one frame.
		writeText(t, c, s.connectCommand(t, "7")+"\n"+`{"id":2,"subscribe":{"channel":"news"}}`)
		var got string
		for strings.Count(got, `"id":`) < 2 {
			got += readText(t, c) + "\n"
		}
		if !strings.Contains(got, `"id":1,"connect":{"client":`) || !strings.Contains(got, `"id":2,"subscribe":{}`) {
			t.Fatalf("replies = %s", got)
		}
		if _, err := s.n.Publish(t.Context(), "news", []byte(`{"x":1}`), node.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, c); !strings.Contains(got, `"pub":{"data":{"x":1}`) {
			t.Fatalf("push = %s", got)
		}
	})
}

func TestProtobuf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		query        string
		subprotocols []string
	}{
		{name: "subprotocol", subprotocols: []string{"unknown", SubprotocolProtobuf}},
		{name: "format", query: "?format=protobuf"},
		{name: "cf_protocol", query: "?cf_protocol=protobuf"},
	}
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		for _, tt := range tests {
			c := s.dial(t, tt.query, tt.subprotocols...)
			if len(tt.subprotocols) > 0 && c.Subprotocol() != SubprotocolProtobuf {
				t.Fatalf("%s: subprotocol = %q", tt.name, c.Subprotocol())
			}
			cmd, err := protocol.NewProtobufCommandEncoder().Encode(&protocol.Command{
				Id:      1,
				Connect: &protocol.ConnectRequest{Token: s.token(t, "1")},
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
			if err := c.WriteMessage(websocket.BinaryMessage, cmd); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			mt, data, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: read: %v", tt.name, err)
			}
			if mt != websocket.BinaryMessage {
				t.Fatalf("%s: message type %d, want binary", tt.name, mt)
			}
			r, err := protocol.NewProtobufReplyDecoder(data).Decode()
			if err != nil {
				t.Fatalf("%s: decode: %v", tt.name, err)
			}
			if r.Id != 1 || r.Connect == nil || r.Connect.Client == "" {
				t.Fatalf("%s: reply = %v", tt.name, r)
			}
		}
	})
}

// TestFragmentedMessage sends a connect command in three fragments with a
// ping between them.
func TestFragmentedMessage(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		c := s.dial(t, "")
		pongs := make(chan string, 1)
		c.SetPongHandler(func(data string) error {
			pongs <- data
			return nil
		})
		cmd := []byte(s.connectCommand(t, "1"))
		var frames []byte
		frames = append(frames, clientFrame(false, 0x1, cmd[:5])...)
		frames = append(frames, clientFrame(true, 0x9, []byte("mid"))...)
		frames = append(frames, clientFrame(false, 0x0, cmd[5:20])...)
		frames = append(frames, clientFrame(true, 0x0, cmd[20:])...)
		if _, err := c.UnderlyingConn().Write(frames); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, c); !strings.Contains(got, `"id":1,"connect":{"client":`) {
			t.Fatalf("connect reply = %s", got)
		}
		if got := wait.Receive(t, pongs, "pong"); got != "mid" {
			t.Fatalf("pong = %q", got)
		}
	})
}

func TestPingAnsweredWithPong(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		c := s.dial(t, "")
		pongs := make(chan string, 1)
		c.SetPongHandler(func(data string) error {
			pongs <- data
			return nil
		})
		if err := c.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// The pong comes before the reply to the command sent after the
		// ping; reading the reply runs the pong handler.
		writeText(t, c, s.connectCommand(t, "1"))
		readText(t, c)
		if got := wait.Receive(t, pongs, "pong"); got != "hello" {
			t.Fatalf("pong = %q", got)
		}
	})
}

func TestClientCloseAnswered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
		code    int
	}{
		{name: "with code", payload: websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), code: websocket.CloseNormalClosure},
		{name: "application code", payload: websocket.FormatCloseMessage(4000, ""), code: 4000},
		{name: "without code", payload: nil, code: websocket.CloseNoStatusReceived},
	}
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		for _, tt := range tests {
			c := s.connect(t, "1")
			if err := c.WriteControl(websocket.CloseMessage, tt.payload, time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			// The answer carries the code only.
			if code, text := closeOf(t, c); code != tt.code || text != "" {
				t.Fatalf("%s: close = %d %q, want %d", tt.name, code, text, tt.code)
			}
			s.waitNoClients(t)
		}
		s.logs.wait(t, "client closed", "code", "3000")
	})
}

func TestMessageTooLarge(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, func(c *config.Config) { c.WebsocketMessageSizeLimit = 1024 })

		c := s.connect(t, "1")
		writeText(t, c, `{"id":2,"rpc":{"data":"`+strings.Repeat("x", 2048)+`"}}`)
		if code, _ := closeOf(t, c); code != websocket.CloseMessageTooBig {
			t.Fatalf("close = %d", code)
		}
		s.logs.wait(t, "client message too large", "limit", "1024")
		s.waitNoClients(t)

		// The limit holds for a fragmented message as a whole.
		c = s.connect(t, "1")
		part := []byte(strings.Repeat("y", 400))
		var frames []byte
		frames = append(frames, clientFrame(false, 0x1, part)...)
		frames = append(frames, clientFrame(false, 0x0, part)...)
		frames = append(frames, clientFrame(true, 0x0, part)...)
		if _, err := c.UnderlyingConn().Write(frames); err != nil {
			t.Fatal(err)
		}
		if code, _ := closeOf(t, c); code != websocket.CloseMessageTooBig {
			t.Fatalf("fragmented: close = %d", code)
		}
		s.waitNoClients(t)

		// A message of exactly the limit passes.
		c = s.connect(t, "1")
		cmd := `{"id":2,"rpc":{"data":"`
		cmd += strings.Repeat("z", 1024-len(cmd)-3) + `"}}`
		writeText(t, c, cmd)
		if got := readText(t, c); !strings.Contains(got, `"id":2`) {
			t.Fatalf("reply = %s", got)
		}
	})
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frames [][]byte
		text   string
	}{
		{"unmasked", [][]byte{rawFrame(true, 0, 0x1, false, []byte("{}"))}, "bad MASK"},
		{"opcode", [][]byte{clientFrame(true, 0x3, nil)}, "bad opcode 3"},
		{"rsv1", [][]byte{rawFrame(true, 0x40, 0x1, true, []byte("{}"))}, "RSV1 set"},
		{"rsv2 rsv3", [][]byte{rawFrame(true, 0x30, 0x1, true, []byte("{}"))}, "RSV2 set, RSV3 set"},
		{"continuation first", [][]byte{clientFrame(true, 0x0, []byte("{}"))}, "continuation after FIN"},
		{"data inside fragments", [][]byte{clientFrame(false, 0x1, []byte("{")), clientFrame(true, 0x1, []byte("}"))}, "data before FIN"},
		{"fragmented control", [][]byte{clientFrame(false, 0x9, nil)}, "FIN not set on control"},
		{"long control", [][]byte{clientFrame(true, 0x9, make([]byte, 126))}, "len > 125 for control"},
		{"close code", [][]byte{clientFrame(true, 0x8, []byte{0x03, 0xe7})}, "bad close code 999"},
		{"close 1005", [][]byte{clientFrame(true, 0x8, []byte{0x03, 0xed})}, "bad close code 1005"},
		{"close utf8", [][]byte{clientFrame(true, 0x8, []byte{0x03, 0xe8, 0xff, 0xfe})}, "invalid utf8 payload in close frame"},
	}
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		for _, tt := range tests {
			c := s.dial(t, "")
			for _, f := range tt.frames {
				if _, err := c.UnderlyingConn().Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if code, text := closeOf(t, c); code != websocket.CloseProtocolError || text != tt.text {
				t.Errorf("%s: close = %d %q, want 1002 %q", tt.name, code, text, tt.text)
			}
		}
	})
}

// TestPipelinedAfterUpgrade sends commands in the same write as the
// handshake: they reach the server's reader before the upgrade is answered.
// gorilla/websocket refuses such connections ("client sent data before
// handshake is complete"), so only the epoll engine is tested.
func TestPipelinedAfterUpgrade(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineEpoll, nil)
	nc, err := net.Dial("tcp", s.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	req := "GET /connection/websocket HTTP/1.1\r\nHost: rotor\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	b := []byte(req)
	b = append(b, clientFrame(true, 0x1, []byte(s.connectCommand(t, "1")))...)
	sub := clientFrame(true, 0x1, []byte(`{"id":2,"subscribe":{"channel":"a"}}`))
	// The second command is cut in two: its end comes with a later write.
	b = append(b, sub[:10]...)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if _, payload := readServerFrame(t, br); !strings.Contains(string(payload), `"id":1,"connect":{"client":`) {
		t.Fatalf("connect reply = %s", payload)
	}
	if _, err := nc.Write(sub[10:]); err != nil {
		t.Fatal(err)
	}
	if _, payload := readServerFrame(t, br); !strings.Contains(string(payload), `"id":2,"subscribe":{}`) {
		t.Fatalf("subscribe reply = %s", payload)
	}
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, r io.Reader) (byte, []byte) {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	case 127:
		t.Fatal("unexpected 64-bit length")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	return hdr[0] & 0x0f, payload
}

func TestServerCloseReachesClient(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		c := s.connect(t, "u1")
		d := node.Disconnect{Code: 4501, Reason: "go away"}
		if err := s.n.Disconnect(t.Context(), "u1", d, node.DisconnectOptions{}); err != nil {
			t.Fatal(err)
		}
		if code, text := closeOf(t, c); code != 4501 || text != "go away" {
			t.Fatalf("close = %d %q", code, text)
		}
		s.waitNoClients(t)
	})
}

// TestServerCloseWithoutAnswer checks that the server drops the socket
// about closeWait after its close frame when the peer does not answer.
func TestServerCloseWithoutAnswer(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		c := s.connect(t, "u1")
		raw := c.UnderlyingConn()
		start := time.Now()
		if err := s.n.Disconnect(t.Context(), "u1", node.Disconnect{Code: 4502, Reason: "x"}, node.DisconnectOptions{}); err != nil {
			t.Fatal(err)
		}
		_ = raw.SetReadDeadline(time.Now().Add(waitTimeout))
		op, payload := readServerFrame(t, raw)
		if op != 0x8 || string(payload) != "\x11\x96x" {
			t.Fatalf("frame %x %q, want close 4502", op, payload)
		}
		if n, err := raw.Read(make([]byte, 1)); err == nil {
			t.Fatalf("read %d bytes after the close frame", n)
		}
		if d := time.Since(start); d < closeWait/2 || d > 3*closeWait {
			t.Fatalf("socket dropped after %v, want about %v", d, closeWait)
		}
		s.waitNoClients(t)
	})
}

func TestPeerVanishes(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		for _, reset := range []bool{false, true} {
			c := s.connect(t, "1")
			if reset {
				_ = c.UnderlyingConn().(*net.TCPConn).SetLinger(0)
			}
			_ = c.UnderlyingConn().Close()
			s.waitNoClients(t)
		}
		wait.CheckFor(t, waitTimeout, 10*time.Millisecond, func() error {
			if n := s.logs.count("client closed", "code", "3000"); n != 2 {
				return fmt.Errorf("%d clients closed with 3000, want 2", n)
			}
			return nil
		})
	})
}

func TestLargeFrames(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		c := s.connect(t, "1")
		writeText(t, c, `{"id":2,"subscribe":{"channel":"big"}}`)
		readText(t, c)
		for _, n := range []int{100, smallFrame - 20, 3000, 70000} {
			data := `{"s":"` + strings.Repeat("a", n) + `"}`
			if _, err := s.n.Publish(t.Context(), "big", []byte(data), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := readText(t, c); !strings.Contains(got, data) {
				t.Fatalf("publication of %d bytes not received intact (%d bytes)", n, len(got))
			}
		}
		// A client message read in many pieces.
		data := strings.Repeat("b", 60000)
		writeText(t, c, `{"id":3,"publish":{"channel":"big","data":"`+data+`"}}`)
		var got string
		for !strings.Contains(got, `"id":3`) {
			got = readText(t, c)
		}
		// A frame written one byte at a time.
		raw := c.UnderlyingConn()
		for _, b := range clientFrame(true, 0x1, []byte(`{"id":4,"publish":{"channel":"big","data":"c"}}`)) {
			if _, err := raw.Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		for !strings.Contains(got, `"id":4`) {
			got = readText(t, c)
		}
	})
}

// TestManyConnectionsInOrder has 500 connections, each subscribed to its
// own channel, receive 20 publications each while all are published at
// once.
func TestManyConnectionsInOrder(t *testing.T) {
	t.Parallel()
	const conns, pubs = 500, 20
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		cs := make([]*websocket.Conn, conns)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range cs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				c, resp, err := s.dialer().Dial(s.url, nil)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				_ = resp.Body.Close()
				cs[i] = c
				_ = c.WriteMessage(websocket.TextMessage, []byte(s.connectCommand(t, fmt.Sprint(i))+"\n"+
					fmt.Sprintf(`{"id":2,"subscribe":{"channel":"ch%d"}}`, i)))
				var got string
				for strings.Count(got, `"id":`) < 2 {
					_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
					_, data, err := c.ReadMessage()
					if err != nil {
						t.Errorf("conn %d: %v", i, err)
						return
					}
					got += string(data)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		defer func() {
			for _, c := range cs {
				_ = c.Close()
			}
		}()
		for i := range cs {
			wg.Go(func() {
				for k := range pubs {
					if _, err := s.n.Publish(t.Context(), fmt.Sprintf("ch%d", i), fmt.Appendf(nil, `{"k":%d}`, k), node.PublishOptions{}); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			})
			wg.Go(func() {
				if err := readInOrder(cs[i], pubs, func(k int) string { return fmt.Sprintf(`"data":{"k":%d}`, k) }); err != nil {
					t.Errorf("conn %d: %v", i, err)
				}
			})
		}
		wg.Wait()
	})
}

// TestManyCommandsInBursts has every connection send its commands as many
// small frames in bursts, so that frames arrive while a reader is still
// busy with the connection: none may be left unread (each gets its reply).
func TestManyCommandsInBursts(t *testing.T) {
	t.Parallel()
	const conns, cmds, burst = 50, 200, 10
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() {
				c, resp, err := s.dialer().Dial(s.url, nil)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				_ = resp.Body.Close()
				defer c.Close()
				if err := c.WriteMessage(websocket.TextMessage, []byte(s.connectCommand(t, fmt.Sprint(i)))); err != nil {
					t.Errorf("conn %d: %v", i, err)
					return
				}
				go func() {
					for k := range cmds {
						cmd := fmt.Sprintf(`{"id":%d,"publish":{"channel":"c%d","data":{"k":%d}}}`, k+2, i, k)
						if c.WriteMessage(websocket.TextMessage, []byte(cmd)) != nil {
							return
						}
						if k%burst == burst-1 {
							time.Sleep(time.Duration(k%3) * time.Millisecond)
						}
					}
				}()
				// The connect reply, then one publish reply per command, in
				// order.
				if err := readInOrder(c, cmds+1, func(k int) string { return fmt.Sprintf(`"id":%d,`, k+1) }); err != nil {
					t.Errorf("conn %d: %v", i, err)
				}
			})
		}
		wg.Wait()
	})
}

// oneMessageFrames configures one message per frame, a queue bound far
// above what the tests write, and the write timeout.
func oneMessageFrames(writeTimeout time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		c.ClientMaxMessagesInFrame = 1
		c.ClientQueueMaxSize = 64 << 20
		c.WebsocketWriteTimeout = writeTimeout
	}
}

// TestSocketFullThenDrained fills a client's socket while it does not
// read, so that writes are cut short and must wait (one message per frame,
// each written on its own), then reads: every message arrives, whole and
// in order.
func TestSocketFullThenDrained(t *testing.T) {
	t.Parallel()
	const msgs = 3000
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, oneMessageFrames(time.Minute))
		c, resp, err := s.dialer().Dial(s.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(s.connectCommand(t, "1")+"\n"+`{"id":2,"subscribe":{"channel":"full"}}`))
		var got string
		for strings.Count(got, `"id":`) < 2 {
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, data, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			got += string(data)
		}
		pad := strings.Repeat("x", 1500)
		for k := range msgs {
			if _, err := s.n.Publish(t.Context(), "full", fmt.Appendf(nil, `{"k":%d,"pad":%q}`, k, pad), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// 4.5 MB against socket buffers of a few hundred KB: the server's
		// writes wait now. Then read it all.
		time.Sleep(200 * time.Millisecond)
		if err := readInOrder(c, msgs, func(k int) string { return fmt.Sprintf(`"data":{"k":%d,"pad":"%s"}`, k, pad) }); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStuckSubscriberHoldsNoOneUp: a fan-out writes to its subscribers
// from a few workers; a subscriber whose socket is full must not hold
// them up (the write timeout is a minute here), and once it reads again it
// gets every message whole and in order. The reading subscriber gets each
// publication before the next is made, so that every publication finds
// the stuck subscriber's writer idle and is written to it by a worker.
func TestStuckSubscriberHoldsNoOneUp(t *testing.T) {
	t.Parallel()
	const msgs = 4000
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, oneMessageFrames(time.Minute))
		stuck := s.connect(t, "1")
		reader := s.connect(t, "2")
		for _, c := range []*websocket.Conn{stuck, reader} {
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":2,"subscribe":{"channel":"shared"}}`))
			if err := readInOrder(c, 1, func(int) string { return `"id":2` }); err != nil {
				t.Fatal(err)
			}
		}
		// 16 MB: the stuck subscriber's socket is full long before the end.
		pad := strings.Repeat("x", 4000)
		want := func(k int) string { return fmt.Sprintf(`"data":{"k":%d,"pad":"%s"}`, k, pad) }
		for k := range msgs {
			if _, err := s.n.Publish(t.Context(), "shared", fmt.Appendf(nil, `{"k":%d,"pad":%q}`, k, pad), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := readInOrder(reader, 1, func(int) string { return want(k) }); err != nil {
				t.Fatalf("the reading subscriber, publication %d: %v", k, err)
			}
		}
		if err := readInOrder(stuck, msgs, want); err != nil {
			t.Fatalf("the stuck subscriber, reading at last: %v", err)
		}
	})
}

// TestWriteTimeoutDropsStuckClient: a client that stops reading makes the
// server's writes wait once its socket is full; websocket_write_timeout
// must end that wait and drop the client.
func TestWriteTimeoutDropsStuckClient(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, oneMessageFrames(300*time.Millisecond))
		c := s.connect(t, "1")
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":2,"subscribe":{"channel":"stuck"}}`))
		if err := readInOrder(c, 1, func(int) string { return `"id":2` }); err != nil {
			t.Fatal(err)
		}
		pad := strings.Repeat("x", 1500)
		for k := range 3000 {
			if _, err := s.n.Publish(t.Context(), "stuck", fmt.Appendf(nil, `{"k":%d,"pad":%q}`, k, pad), node.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// The client never reads again.
		s.waitNoClients(t)
	})
}

// TestWriteAndCloseConcurrently publishes to connections while they are
// disconnected, for the race detector.
func TestWriteAndCloseConcurrently(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTestServer(t, engine, nil)
		const conns = 30
		cs := make([]*websocket.Conn, conns)
		for i := range cs {
			cs[i] = s.connect(t, fmt.Sprint(i))
			writeText(t, cs[i], `{"id":2,"subscribe":{"channel":"all"}}`)
			readText(t, cs[i])
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.n.Publish(t.Context(), "all", []byte(`{"x":"`+strings.Repeat("p", 3000)+`"}`), node.PublishOptions{})
			}
		})
		for i, c := range cs {
			wg.Go(func() {
				for {
					_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			})
			wg.Go(func() {
				_ = s.n.Disconnect(t.Context(), fmt.Sprint(i), node.Disconnect{Code: 4000, Reason: "bye"}, node.DisconnectOptions{})
			})
		}
		s.waitNoClients(t)
		close(stop)
		wg.Wait()
	})
}

// TestTLS runs over TLS, where the epoll engine reads each connection on a
// goroutine of its own: pipelined frames, fragments, close and vanishing
// peers behave as over plain TCP.
func TestTLS(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, engine string) {
		s := newTLSTestServer(t, engine, nil)
		c := s.dial(t, "")
		cmd := []byte(s.connectCommand(t, "u1"))
		var frames []byte
		frames = append(frames, clientFrame(false, 0x1, cmd[:9])...)
		frames = append(frames, clientFrame(true, 0x0, cmd[9:])...)
		if _, err := c.UnderlyingConn().Write(frames); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, c); !strings.Contains(got, `"id":1,"connect":{"client":`) {
			t.Fatalf("connect reply = %s", got)
		}
		if err := s.n.Disconnect(t.Context(), "u1", node.Disconnect{Code: 4501, Reason: "tls"}, node.DisconnectOptions{}); err != nil {
			t.Fatal(err)
		}
		if code, text := closeOf(t, c); code != 4501 || text != "tls" {
			t.Fatalf("close = %d %q", code, text)
		}
		s.waitNoClients(t)

		c = s.connect(t, "u2")
		_ = c.UnderlyingConn().Close()
		s.waitNoClients(t)
	})
}

func TestCompressionUsesGorilla(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, EngineEpoll, func(c *config.Config) { c.WebsocketCompression = true })
	d := s.dialer()
	d.EnableCompression = true
	c, resp, err := d.Dial(s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = resp.Body.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions = %q", ext)
	}
	writeText(t, c, s.connectCommand(t, "1"))
	if got := readText(t, c); !strings.Contains(got, `"connect":{"client":`) {
		t.Fatalf("connect reply = %s", got)
	}
}
