package app

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rotorhq/rotor/apiproto"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
)

func startApp(t *testing.T, mutate func(*config.Config)) *App {
	t.Helper()
	cfg := config.Defaults()
	cfg.Address = "127.0.0.1"
	cfg.Port = 0
	cfg.TokenHMACSecretKey = "secret"
	cfg.AllowSubscribeForClient = true
	cfg.AllowPublishForClient = true
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return a
}

func dial(t *testing.T, a *App, header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: subprotocols, HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws://"+a.Addr()+"/connection/websocket?cf_protocol_version=v2&unknown=1", header)
}

func tok(t *testing.T, a *App, user string) string {
	t.Helper()
	s, err := auth.GenerateConnectToken(&a.cfg, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

func closeCode(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
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

func TestWebSocketJSONFlow(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	c, _, err := dial(t, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Several commands in one frame.
	frame := fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`+"\n"+`{"id":2,"subscribe":{"channel":"news"}}`, tok(t, a, "7"))
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	var got string
	for strings.Count(got, `"id":`) < 2 {
		got += readText(t, c) + "\n"
	}
	if !strings.Contains(got, `"id":1,"connect":{"client":`) || !strings.Contains(got, `"id":2,"subscribe":{}`) {
		t.Fatalf("replies = %s", got)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":3,"publish":{"channel":"news","data":{"x":1}}}`)); err != nil {
		t.Fatal(err)
	}
	got = ""
	for !strings.Contains(got, `"pub"`) || !strings.Contains(got, `"id":3`) {
		got += readText(t, c) + "\n"
	}
	if !strings.Contains(got, `"data":{"x":1}`) || !strings.Contains(got, `"user":"7"`) {
		t.Fatalf("publication = %s", got)
	}
}

func TestWebSocketProtobuf(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	c, resp, err := dial(t, a, nil, "centrifuge-protobuf")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "centrifuge-protobuf" {
		t.Fatalf("subprotocol = %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	cmd := &protocol.Command{Id: 1, Connect: &protocol.ConnectRequest{Token: tok(t, a, "7")}}
	b, err := cmd.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, append(binary.AppendUvarint(nil, uint64(len(b))), b...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := c.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage {
		t.Fatalf("read: %v, type %d", err, mt)
	}
	r, err := protocol.NewProtobufReplyDecoder(data).Decode()
	if err != nil || r.Id != 1 || r.Connect == nil || r.Connect.Client == "" {
		t.Fatalf("reply = %v, %v", r, err)
	}
}

func TestWebSocketOrigins(t *testing.T) {
	t.Parallel()
	a := startApp(t, func(c *config.Config) { c.AllowedOrigins = []string{"https://*.good.example", "http://localhost:3000"} })
	for origin, ok := range map[string]bool{
		"":                           true,
		"https://app.good.example":   true,
		"http://LOCALHOST:3000":      true,
		"https://evil.example":       false,
		"https://good.example.evil":  false,
		"http://localhost:3000.evil": false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := dial(t, a, h)
		if ok {
			if err != nil {
				t.Errorf("origin %q refused: %v", origin, err)
				continue
			}
			c.Close()
			continue
		}
		if err == nil {
			c.Close()
			t.Errorf("origin %q accepted", origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: response %v, want 403", origin, resp)
		}
	}
}

func TestWebSocketEmptyOriginListRefusesBrowsers(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	h := http.Header{}
	h.Set("Origin", "http://localhost:8000")
	if c, _, err := dial(t, a, h); err == nil {
		c.Close()
		t.Fatal("request with an Origin accepted although allowed_origins is empty")
	}
}

func TestWebSocketCloseCodes(t *testing.T) {
	t.Parallel()
	a := startApp(t, func(c *config.Config) { c.WebsocketMessageSizeLimit = 1024 })

	t.Run("invalid token", func(t *testing.T) {
		c, _, err := dial(t, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"token":"not.a.jwt"}}`))
		if code, reason := closeCode(t, c); code != 3500 || reason != "invalid token" {
			t.Fatalf("close = %d %q", code, reason)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		c, _, err := dial(t, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{{{`))
		if code, _ := closeCode(t, c); code != 3501 {
			t.Fatalf("close = %d", code)
		}
	})
	t.Run("too large", func(t *testing.T) {
		c, _, err := dial(t, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"data":"`+strings.Repeat("x", 2048)+`"}}`))
		if code, _ := closeCode(t, c); code != websocket.CloseMessageTooBig {
			t.Fatalf("close = %d", code)
		}
	})
}

func TestShutdownClosesClientsWith3001(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	c, _, err := dial(t, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, tok(t, a, "1"))))
	readText(t, c)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	}()
	if code, reason := closeCode(t, c); code != 3001 || reason != "shutdown" {
		t.Fatalf("close = %d %q", code, reason)
	}
}

func apiPost(t *testing.T, a *App, key, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/api/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = io.Copy(&sb, resp.Body)
	return resp.StatusCode, sb.String()
}

func TestHTTPAPIOnRealNode(t *testing.T) {
	t.Parallel()
	a := startApp(t, func(c *config.Config) { c.APIKey = "k" })
	c, _, err := dial(t, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`+"\n"+`{"id":2,"subscribe":{"channel":"news"}}`, tok(t, a, "9"))))
	var got string
	for !strings.Contains(got, `"id":2`) {
		got += readText(t, c)
	}

	if code, body := apiPost(t, a, "wrong", "publish", `{"channel":"news","data":{}}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d %s", code, body)
	}
	if code, body := apiPost(t, a, "k", "publish", `{"channel":"news","data":{"n":1}}`); code != 200 || body != `{"result":{}}` {
		t.Fatalf("publish: %d %s", code, body)
	}
	if msg := readText(t, c); !strings.Contains(msg, `"channel":"news"`) || !strings.Contains(msg, `"data":{"n":1}`) {
		t.Fatalf("publication = %s", msg)
	}
	if code, body := apiPost(t, a, "k", "publish", `{"channel":"nope:x","data":{}}`); code != 200 || !strings.Contains(body, `"code":102`) {
		t.Fatalf("unknown namespace: %d %s", code, body)
	}
	if _, body := apiPost(t, a, "k", "channels", `{}`); !strings.Contains(body, `"news":{"num_clients":1}`) {
		t.Fatalf("channels: %s", body)
	}
	if _, body := apiPost(t, a, "k", "info", `{}`); !strings.Contains(body, `"num_clients":1`) {
		t.Fatalf("info: %s", body)
	}
	if _, body := apiPost(t, a, "k", "disconnect", `{"user":"9","disconnect":{"code":4501,"reason":"banned"}}`); body != `{"result":{}}` {
		t.Fatalf("disconnect: %s", body)
	}
	if code, reason := closeCode(t, c); code != 4501 || reason != "banned" {
		t.Fatalf("close = %d %q", code, reason)
	}
}

func TestHTTPAPIRefusedWithoutKey(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	if code, _ := apiPost(t, a, "", "info", `{}`); code != http.StatusUnauthorized {
		t.Fatalf("status = %d", code)
	}
	b := startApp(t, func(c *config.Config) { c.APIInsecure = true })
	if code, body := apiPost(t, b, "", "info", `{}`); code != 200 || !strings.Contains(body, `"nodes"`) {
		t.Fatalf("insecure: %d %s", code, body)
	}
}

func TestGRPCAPIServed(t *testing.T) {
	t.Parallel()
	a := startApp(t, func(c *config.Config) {
		c.GRPCAPI = true
		c.GRPCAPIAddress = "127.0.0.1"
		c.GRPCAPIPort = 0
		c.GRPCAPIKey = "gk"
	})
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := apiproto.NewCentrifugoApiClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Info(ctx, &apiproto.InfoRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without key: %v", err)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "apikey gk")
	resp, err := client.Info(ctx, &apiproto.InfoRequest{})
	if err != nil || resp.Error != nil || len(resp.Result.Nodes) != 1 {
		t.Fatalf("info: %v %v", resp, err)
	}
	pub, err := client.Publish(ctx, &apiproto.PublishRequest{Channel: "news", Data: []byte(`{}`)})
	if err != nil || pub.Error != nil {
		t.Fatalf("publish: %v %v", pub, err)
	}
}
