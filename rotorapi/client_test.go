package rotorapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rotorhq/rotor/internal/app"
	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/rotorapi"
)

const (
	httpKey = "k"
	grpcKey = "gk"
)

// rotor is a real Rotor server started in-process for one test.
type rotor struct {
	app *app.App
	cfg config.Config
}

func startRotor(t *testing.T) *rotor {
	t.Helper()
	cfg := config.Defaults()
	cfg.Address = "127.0.0.1"
	cfg.Port = 0
	cfg.APIKey = httpKey
	cfg.GRPCAPI = true
	cfg.GRPCAPIAddress = "127.0.0.1"
	cfg.GRPCAPIPort = 0
	cfg.GRPCAPIKey = grpcKey
	cfg.TokenHMACSecretKey = "s"
	cfg.AllowSubscribeForClient = true
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("rotor shutdown: %v", err)
		}
	})
	return &rotor{app: a, cfg: cfg}
}

// wire is one way of reaching the server API.
type wire struct {
	name string
	addr string
	key  string
}

func (r *rotor) wires() []wire {
	return []wire{
		{name: "grpc", addr: "tcp://" + r.app.GRPCAddr(), key: grpcKey},
		{name: "http", addr: "http://" + r.app.Addr(), key: httpKey},
	}
}

func (r *rotor) client(t *testing.T, w wire, opts ...rotorapi.Option) *rotorapi.Client {
	t.Helper()
	c, err := rotorapi.New(w.addr, append([]rotorapi.Option{rotorapi.WithAPIKey(w.key)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode fails unless err holds an *Error with code.
func wantCode(t *testing.T, err error, code uint32) {
	t.Helper()
	var e *rotorapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *rotorapi.Error %d", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %d (%v), want %d", e.Code, err, code)
	}
	if c, ok := rotorapi.ErrorCode(err); !ok || c != code {
		t.Fatalf("ErrorCode = %d %v", c, ok)
	}
}

// okOrCode accepts success, or an *Error with code (a method the server
// does not offer yet); any other failure fails the test. It reports
// whether the call succeeded.
func okOrCode(t *testing.T, err error, code uint32) bool {
	t.Helper()
	if err == nil {
		return true
	}
	wantCode(t, err, code)
	return false
}

// subscriber is a WebSocket client of the server subscribed to channels.
type subscriber struct {
	conn    *websocket.Conn
	pending []string // lines of a frame not looked at yet
}

func (r *rotor) subscribe(t *testing.T, user string, channels ...string) *subscriber {
	t.Helper()
	tok, err := auth.GenerateConnectToken(&r.cfg, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.DialContext(ctx(t), "ws://"+r.app.Addr()+"/connection/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { _ = conn.Close() })
	cmds := []string{fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, tok)}
	for i, ch := range channels {
		cmds = append(cmds, fmt.Sprintf(`{"id":%d,"subscribe":{"channel":%q}}`, i+2, ch))
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(strings.Join(cmds, "\n"))); err != nil {
		t.Fatal(err)
	}
	s := &subscriber{conn: conn}
	for replies := 0; replies < len(cmds); {
		line := s.line(t)
		if strings.Contains(line, `"error"`) {
			t.Fatalf("subscriber: %s", line)
		}
		if strings.HasPrefix(line, `{"id":`) {
			replies++
		}
	}
	return s
}

// line returns the next message: several may come in one frame, one per
// line.
func (s *subscriber) line(t *testing.T) string {
	t.Helper()
	for len(s.pending) == 0 {
		_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			t.Fatalf("subscriber read: %v", err)
		}
		s.pending = strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	line := s.pending[0]
	s.pending = s.pending[1:]
	return line
}

// publication waits for the next publication push and returns its channel
// and data.
func (s *subscriber) publication(t *testing.T) (string, string) {
	t.Helper()
	for {
		var m struct {
			Push struct {
				Channel string `json:"channel"`
				Pub     *struct {
					Data json.RawMessage `json:"data"`
				} `json:"pub"`
			} `json:"push"`
		}
		if json.Unmarshal([]byte(s.line(t)), &m) == nil && m.Push.Pub != nil {
			return m.Push.Channel, string(m.Push.Pub.Data)
		}
	}
}

func TestEveryMethod(t *testing.T) {
	r := startRotor(t)
	for _, w := range r.wires() {
		t.Run(w.name, func(t *testing.T) {
			c := r.client(t, w)
			ch := "news-" + w.name
			sub := r.subscribe(t, "u-"+w.name, ch)

			// Publish: the subscriber receives the data.
			res, err := c.Publish(ctx(t), rotorapi.PublishRequest{Channel: ch, Data: []byte(`{"n":1}`), Tags: map[string]string{"k": "v"}})
			if err != nil || res == nil {
				t.Fatalf("publish: %v %v", res, err)
			}
			if gotCh, data := sub.publication(t); gotCh != ch || data != `{"n":1}` {
				t.Errorf("subscriber got %s %s", gotCh, data)
			}
			if _, err := c.PublishJSON(ctx(t), ch, map[string]int{"n": 2}); err != nil {
				t.Fatalf("publish json: %v", err)
			}
			if _, data := sub.publication(t); data != `{"n":2}` {
				t.Errorf("subscriber got %s", data)
			}
			_, err = c.Publish(ctx(t), rotorapi.PublishRequest{Channel: "nope:x", Data: []byte(`{}`)})
			wantCode(t, err, rotorapi.CodeUnknownChannel)
			if !strings.Contains(err.Error(), "publish") {
				t.Errorf("error %q does not name the method", err)
			}

			// Broadcast: one result per channel, in order.
			bres, err := c.Broadcast(ctx(t), rotorapi.BroadcastRequest{Channels: []string{ch, "other"}, Data: []byte(`{"n":3}`)})
			if err != nil || len(bres.Publications) != 2 || bres.Err() != nil {
				t.Fatalf("broadcast: %+v %v", bres, err)
			}
			if bres.Publications[0].Channel != ch || bres.Publications[1].Channel != "other" {
				t.Errorf("broadcast channels: %+v", bres.Publications)
			}
			if _, data := sub.publication(t); data != `{"n":3}` {
				t.Errorf("subscriber got %s", data)
			}
			bres, err = c.BroadcastJSON(ctx(t), []string{"other", "nope:x"}, 1)
			if err != nil {
				t.Fatalf("broadcast with a bad channel failed as a whole: %v", err)
			}
			if bres.Publications[0].Err != nil {
				t.Errorf("good channel failed: %v", bres.Publications[0].Err)
			}
			wantCode(t, bres.Publications[1].Err, rotorapi.CodeUnknownChannel)
			wantCode(t, bres.Err(), rotorapi.CodeUnknownChannel)

			// Channels and info see the subscriber.
			chans, err := c.Channels(ctx(t), "news-*")
			if err != nil {
				t.Fatalf("channels: %v", err)
			}
			if info, ok := chans.Channels[ch]; !ok || info.NumClients != 1 {
				t.Errorf("channels = %+v, want %s with 1 client", chans.Channels, ch)
			}
			ires, err := c.Info(ctx(t))
			if err != nil || len(ires.Nodes) != 1 {
				t.Fatalf("info: %+v %v", ires, err)
			}
			if n := ires.Nodes[0]; n.UID == "" || n.NumClients < 1 || n.NumChannels < 1 {
				t.Errorf("node = %+v", n)
			}

			// Methods that need presence or history: not available yet on
			// every server, or working.
			if p, err := c.Presence(ctx(t), ch); okOrCode(t, err, rotorapi.CodeNotAvailable) && len(p.Clients) != 1 {
				t.Errorf("presence = %+v", p)
			}
			if ps, err := c.PresenceStats(ctx(t), ch); okOrCode(t, err, rotorapi.CodeNotAvailable) && ps.NumClients != 1 {
				t.Errorf("presence stats = %+v", ps)
			}
			if _, err := c.History(ctx(t), rotorapi.HistoryRequest{Channel: ch, Limit: -1}); !okOrCode(t, err, rotorapi.CodeNotAvailable) {
				t.Logf("history: %v", err)
			}
			okOrCode(t, c.HistoryRemove(ctx(t), ch), rotorapi.CodeNotAvailable)

			// RPC: the open-source servers have no methods.
			if _, err := c.RPC(ctx(t), rotorapi.RPCRequest{Method: "nothing", Params: json.RawMessage(`{}`)}); !okOrCode(t, err, rotorapi.CodeMethodNotFound) {
				t.Logf("rpc: %v", err)
			}

			// Connection management.
			if err := c.Subscribe(ctx(t), rotorapi.SubscribeRequest{Channel: "extra", User: "u-" + w.name,
				Override: &rotorapi.SubscribeOverride{Presence: rotorapi.Bool(false)}}); err != nil {
				t.Errorf("subscribe: %v", err)
			}
			if err := c.Unsubscribe(ctx(t), rotorapi.UnsubscribeRequest{Channel: "extra", User: "u-" + w.name}); err != nil {
				t.Errorf("unsubscribe: %v", err)
			}
			if err := c.Refresh(ctx(t), rotorapi.RefreshRequest{User: "u-" + w.name, ExpireAt: time.Now().Add(time.Hour)}); err != nil {
				t.Errorf("refresh: %v", err)
			}
			if err := c.Disconnect(ctx(t), rotorapi.DisconnectRequest{User: "u-" + w.name, Code: 4500, Reason: "bye"}); err != nil {
				t.Errorf("disconnect: %v", err)
			}
			_ = sub.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := sub.conn.ReadMessage(); err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) || ce.Code != 4500 {
						t.Errorf("subscriber ended with %v, want close 4500", err)
					}
					break
				}
			}
		})
	}
}

func TestBatch(t *testing.T) {
	r := startRotor(t)
	for _, w := range r.wires() {
		t.Run(w.name, func(t *testing.T) {
			c := r.client(t, w)
			res, err := c.Batch(ctx(t), rotorapi.BatchRequest{Commands: []rotorapi.Command{
				rotorapi.PublishRequest{Channel: "a", Data: []byte(`1`)},
				&rotorapi.BroadcastRequest{Channels: []string{"a", "b"}, Data: []byte(`2`)},
				rotorapi.PublishRequest{Channel: "nope:x", Data: []byte(`3`)},
				rotorapi.SubscribeRequest{Channel: "a", User: "nobody"},
				rotorapi.UnsubscribeRequest{Channel: "a", User: "nobody"},
				rotorapi.DisconnectRequest{User: "nobody"},
				rotorapi.RefreshRequest{User: "nobody", Expired: true},
				rotorapi.InfoRequest{},
				rotorapi.ChannelsRequest{},
				rotorapi.PresenceStatsRequest{Channel: "a"},
			}})
			if err != nil {
				t.Fatalf("batch: %v", err)
			}
			if len(res.Replies) != 10 {
				t.Fatalf("%d replies", len(res.Replies))
			}
			if _, ok := res.Replies[0].Result.(*rotorapi.PublishResult); !ok || res.Replies[0].Err != nil {
				t.Errorf("publish reply = %+v", res.Replies[0])
			}
			if b, ok := res.Replies[1].Result.(*rotorapi.BroadcastResult); !ok || len(b.Publications) != 2 || b.Publications[1].Channel != "b" {
				t.Errorf("broadcast reply = %+v", res.Replies[1])
			}
			wantCode(t, res.Replies[2].Err, rotorapi.CodeUnknownChannel)
			for i := 3; i <= 6; i++ {
				if res.Replies[i].Err != nil || res.Replies[i].Result != nil {
					t.Errorf("reply %d = %+v, want success without result", i, res.Replies[i])
				}
			}
			if info, ok := res.Replies[7].Result.(*rotorapi.InfoResult); !ok || len(info.Nodes) != 1 {
				t.Errorf("info reply = %+v", res.Replies[7])
			}
			if _, ok := res.Replies[8].Result.(*rotorapi.ChannelsResult); !ok {
				t.Errorf("channels reply = %+v", res.Replies[8])
			}
			if rep := res.Replies[9]; rep.Err != nil {
				wantCode(t, rep.Err, rotorapi.CodeNotAvailable)
			} else if _, ok := rep.Result.(*rotorapi.PresenceStatsResult); !ok {
				t.Errorf("presence stats reply = %+v", rep)
			}
			wantCode(t, res.Err(), rotorapi.CodeUnknownChannel)
			if _, err := c.Batch(ctx(t), rotorapi.BatchRequest{Commands: []rotorapi.Command{(*rotorapi.PublishRequest)(nil)}}); err == nil {
				t.Error("a nil command was sent")
			}
		})
	}
}

func TestWrongAPIKey(t *testing.T) {
	r := startRotor(t)
	for _, w := range r.wires() {
		t.Run(w.name, func(t *testing.T) {
			for _, key := range []string{"wrong", ""} {
				c, err := rotorapi.New(w.addr, rotorapi.WithAPIKey(key))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, err = c.Publish(ctx(t), rotorapi.PublishRequest{Channel: "a", Data: []byte(`{}`)})
				if !errors.Is(err, rotorapi.ErrUnauthorized) {
					t.Fatalf("key %q: err = %v, want ErrUnauthorized", key, err)
				}
				if _, isAPI := rotorapi.ErrorCode(err); isAPI {
					t.Errorf("an authorization failure looks like an API error: %v", err)
				}
				switch w.name {
				case "grpc":
					if status.Code(err) != codes.Unauthenticated {
						t.Errorf("gRPC code = %v, want Unauthenticated", status.Code(err))
					}
				case "http":
					var he *rotorapi.HTTPError
					if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
						t.Errorf("err = %v, want *HTTPError 401", err)
					}
				}
			}
		})
	}
}

// A call without a context deadline gets the client's timeout; a context
// deadline wins over it.
func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(release)

	c, err := rotorapi.New(hs.URL, rotorapi.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Info(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v, want the default timeout", err, time.Since(start))
	}
	cctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	c2, err := rotorapi.New(hs.URL, rotorapi.WithTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := c2.Info(cctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v, want the context's deadline", err, time.Since(start))
	}
}

// HTTP details: the URL forms, the transport error mode, other statuses.
func TestHTTPDetails(t *testing.T) {
	var paths []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path+" "+r.Header.Get("X-API-Key")+" "+r.Header.Get("Content-Type"))
		switch r.URL.Path {
		case "/custom/info", "/api/info":
			_, _ = w.Write([]byte(`{"result":{"nodes":[{"uid":"n1","num_clients":"3","uptime":2}]}}`))
		case "/api/publish":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":102,"message":"unknown channel"}`))
		default:
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer hs.Close()
	for _, base := range []string{hs.URL, hs.URL + "/", hs.URL + "/api", hs.URL + "/custom/"} {
		c, err := rotorapi.New(base, rotorapi.WithAPIKey("key"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Info(ctx(t))
		if err != nil || res.Nodes[0].UID != "n1" || res.Nodes[0].NumClients != 3 || res.Nodes[0].Uptime != 2*time.Second {
			t.Errorf("%s: %+v %v", base, res, err)
		}
	}
	want := []string{"/api/info key application/json", "/api/info key application/json", "/api/info key application/json", "/custom/info key application/json"}
	if strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Errorf("requests:\n got %q\nwant %q", paths, want)
	}
	c, _ := rotorapi.New(hs.URL)
	_, err := c.Publish(ctx(t), rotorapi.PublishRequest{Channel: "x", Data: []byte(`1`)})
	wantCode(t, err, 102)
	_, err = c.Channels(ctx(t), "")
	var he *rotorapi.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadGateway || he.Body != "boom" {
		t.Errorf("err = %v, want *HTTPError 502", err)
	}
	// Binary data goes base64-encoded in b64data.
	var body string
	hs2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		body = string(b)
		_, _ = w.Write([]byte(`{"result":{}}`))
	}))
	defer hs2.Close()
	c, _ = rotorapi.New(hs2.URL)
	if _, err := c.Publish(ctx(t), rotorapi.PublishRequest{Channel: "x", Data: []byte{0xff, 0}}); err != nil {
		t.Fatal(err)
	}
	if body != `{"channel":"x","b64data":"/wA="}` {
		t.Errorf("body = %s", body)
	}
}

func TestNewRejectsBadAddresses(t *testing.T) {
	for _, addr := range []string{"", "ftp://x:1", "http://", "unix:///tmp/x"} {
		if _, err := rotorapi.New(addr); err == nil {
			t.Errorf("New(%q) succeeded", addr)
		}
	}
	if _, err := rotorapi.New("x:1", rotorapi.WithTimeout(-time.Second)); err == nil {
		t.Error("a negative timeout was accepted")
	}
}

func TestBroadcaster(t *testing.T) {
	r := startRotor(t)
	for _, w := range r.wires() {
		t.Run(w.name, func(t *testing.T) {
			c := r.client(t, w)
			sub := r.subscribe(t, "7", "screening.1", "user#7")
			b := rotorapi.NewBroadcaster(c, rotorapi.BroadcastSkipHistory())
			seats := map[string]any{"seats": []string{"A1", "A2"}}
			if err := b.Broadcast(ctx(t), "cinema.tickets.reserved", seats, "screening.1", "user#7"); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for range 2 {
				ch, data := sub.publication(t)
				got[ch] = data
			}
			want := `{"event":"cinema.tickets.reserved","data":{"seats":["A1","A2"]}}`
			if got["screening.1"] != want || got["user#7"] != want {
				t.Errorf("publications = %v, want %s in both", got, want)
			}
			if err := b.Broadcast(ctx(t), "x", nil, "screening.1", "nope:x"); err == nil {
				t.Error("a refused channel was not reported")
			} else {
				wantCode(t, err, rotorapi.CodeUnknownChannel)
			}
			if _, data := sub.publication(t); data != `{"event":"x"}` {
				t.Errorf("event without data = %s", data)
			}
			if err := b.Broadcast(ctx(t), "x", nil); err == nil {
				t.Error("no channels accepted")
			}
			pb := rotorapi.NewBroadcaster(c, rotorapi.BroadcastChannelPrefix("nope:"))
			if err := pb.Broadcast(ctx(t), "x", 1, "a"); err == nil {
				t.Error("prefix not applied")
			}
		})
	}
}
