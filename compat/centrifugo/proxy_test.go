//go:build centrifugo

package centrifugo

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/rotorproxy"
)

// errVIP is what the auth interceptor answers for channels and methods with
// "vip" in their name: an application code, which must reach the client.
var errVIP = &rotorproxy.Error{Code: 1403, Message: "vip only"}

// backend answers Centrifugo's proxy calls: connect, refresh, subscribe,
// publish and rpc services, an auth interceptor on connect, subscribe and
// rpc, and a telemetry interceptor on every type. It records what ran by
// client id.
type backend struct {
	mu      sync.Mutex
	steps   map[string][]string // client id → "who:type"
	headers map[string]string   // client id → X-Trace of its connect
	refresh chan string         // users refreshed
}

func newBackend(srv *rotorproxy.Server) *backend {
	b := &backend{steps: map[string][]string{}, headers: map[string]string{}, refresh: make(chan string, 16)}
	record := func(req rotorproxy.Request, step string) {
		b.mu.Lock()
		b.steps[req.Base().Client] = append(b.steps[req.Base().Client], step)
		b.mu.Unlock()
	}
	telemetry := func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		record(req, "telemetry:"+string(info.Type))
		return next(ctx, req)
	}
	auth := func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		record(req, "auth:"+string(info.Type))
		var d struct {
			AuthToken string `json:"authToken"`
		}
		if err := req.Bind(&d); err != nil {
			return nil, err
		}
		switch r := req.(type) {
		case *rotorproxy.SubscribeRequest:
			if strings.Contains(r.Channel, "vip") {
				return nil, errVIP
			}
		case *rotorproxy.RPCRequest:
			if strings.Contains(r.Method, "vip") {
				return nil, errVIP
			}
		}
		switch d.AuthToken {
		case "good":
			req = req.WithAttribute("user_id", "42")
		case "":
		default:
			if info.Type == rotorproxy.TypeConnect {
				return nil, &rotorproxy.Disconnect{Code: 4501, Reason: "bad token"}
			}
		}
		return next(ctx, req)
	}
	for _, typ := range []string{"connect", "subscribe", "rpc"} {
		if err := srv.Use(typ, auth); err != nil {
			panic(err)
		}
	}
	if err := srv.Use("*", telemetry); err != nil {
		panic(err)
	}

	srv.OnConnect(func(_ context.Context, r *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		record(r, "service:connect")
		b.mu.Lock()
		b.headers[r.Client] = r.Headers.Get("X-Trace")
		b.mu.Unlock()
		var d struct {
			User   string `json:"user"`
			Expire bool   `json:"expire"`
		}
		if err := r.Bind(&d); err != nil {
			return nil, err
		}
		if uid, ok := r.Attribute("user_id").(string); ok {
			d.User = uid
		}
		res := &rotorproxy.ConnectResult{User: d.User, Data: []byte(`{"welcome":true}`)}
		if d.Expire {
			// Expires in a second, so that the node asks the refresh service.
			res.ExpireAt = time.Now().Add(time.Second)
		}
		return res, nil
	})
	srv.OnRefresh(func(_ context.Context, r *rotorproxy.RefreshRequest) (*rotorproxy.RefreshResult, error) {
		record(r, "service:refresh")
		b.refresh <- r.User
		return &rotorproxy.RefreshResult{ExpireAt: time.Now().Add(time.Hour)}, nil
	})
	srv.OnSubscribe(func(_ context.Context, r *rotorproxy.SubscribeRequest) (*rotorproxy.SubscribeResult, error) {
		record(r, "service:subscribe")
		if strings.HasSuffix(r.Channel, "forbidden") {
			return nil, rotorproxy.ErrPermissionDenied
		}
		return &rotorproxy.SubscribeResult{}, nil
	})
	srv.OnPublish(func(_ context.Context, r *rotorproxy.PublishRequest) (*rotorproxy.PublishResult, error) {
		record(r, "service:publish")
		var msg map[string]any
		if err := r.Bind(&msg); err != nil {
			return nil, err
		}
		msg["by"] = r.User
		msg["channel"] = r.Channel
		data, _ := json.Marshal(msg)
		return &rotorproxy.PublishResult{Data: data}, nil
	})
	whoami := rotorproxy.RPCJSON(func(_ context.Context, r *rotorproxy.RPCRequest, _ struct{}) (map[string]string, error) {
		record(r, "service:rpc")
		uid, _ := r.Attribute("user_id").(string)
		return map[string]string{"user": r.User, "attribute": uid, "method": r.Method}, nil
	})
	for _, m := range []string{"whoami", "hx:whoami", "vip", "hx:vip"} {
		if err := srv.HandleRPC(m, whoami); err != nil {
			panic(err)
		}
	}
	return b
}

func (b *backend) stepsOf(client string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.steps[client])
}

// filter keeps the steps of one request type.
func filter(steps []string, typ string) []string {
	var out []string
	for _, s := range steps {
		if strings.HasSuffix(s, ":"+typ) {
			out = append(out, s)
		}
	}
	return out
}

// Connect goes through the connect proxy (gRPC), with the interceptors in
// order, a forwarded header and the backend's connect data; an expiring
// connection is refreshed through the refresh proxy.
func TestProxyConnectAndRefresh(t *testing.T) {
	_, ev := newClient(t, `{"authToken":"good","expire":true}`)
	if string(ev.Data) != `{"welcome":true}` {
		t.Errorf("connect data = %s", ev.Data)
	}
	if ev.ClientID == "" {
		t.Fatal("no client id")
	}
	steps := back.stepsOf(ev.ClientID)
	if got := filter(steps, "connect"); !slices.Equal(got, []string{"telemetry:connect", "auth:connect", "service:connect"}) {
		t.Errorf("connect ran %v, want telemetry, auth, service", got)
	}
	back.mu.Lock()
	hdr := back.headers[ev.ClientID]
	back.mu.Unlock()
	if hdr != "trace-"+t.Name() {
		t.Errorf("forwarded X-Trace = %q", hdr)
	}
	if got := receive(t, back.refresh, "refresh call"); got != "42" {
		t.Errorf("refreshed user %q, want 42", got)
	}
	if got := filter(back.stepsOf(ev.ClientID), "refresh"); len(got) < 2 || got[0] != "telemetry:refresh" || got[1] != "service:refresh" {
		t.Errorf("refresh ran %v, want telemetry then service (no auth on refresh)", got)
	}
}

// A connect the auth interceptor refuses: the client is disconnected with
// the interceptor's code, and the connect service is not called.
func TestProxyConnectRefused(t *testing.T) {
	c := centrifuge.NewJsonClient(env.wsURL, centrifuge.Config{Data: []byte(`{"authToken":"stolen"}`)})
	disc := make(chan centrifuge.DisconnectedEvent, 1)
	c.OnDisconnected(func(e centrifuge.DisconnectedEvent) {
		select {
		case disc <- e:
		default:
		}
	})
	t.Cleanup(c.Close)
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	if e := receive(t, disc, "disconnected event"); e.Code != 4501 || e.Reason != "bad token" {
		t.Errorf("refused client: %+v, want 4501 bad token", e)
	}
}

// Subscribe, publish and RPC through the gRPC proxies (namespace "px",
// methods without namespace) and the HTTP ones (namespace "hx").
func TestProxyChannelsAndRPC(t *testing.T) {
	for _, wire := range []struct{ name, ns, rpcPrefix string }{
		{"grpc", "px:", ""},
		{"http", "hx:", "hx:"},
	} {
		t.Run(wire.name, func(t *testing.T) {
			c, ev := newClient(t, `{"authToken":"good"}`)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			// Allowed subscribe; the publication's data is replaced.
			ch := wire.ns + "room"
			sub, pubs := subscribe(t, c, ch)
			if _, err := sub.Publish(ctx, []byte(`{"seat":"A1"}`)); err != nil {
				t.Fatalf("publish: %v", err)
			}
			want := `{"by":"42","channel":"` + ch + `","seat":"A1"}`
			if got := receive(t, pubs, "publication"); string(got) != want {
				t.Errorf("publication = %s, want %s", got, want)
			}
			steps := back.stepsOf(ev.ClientID)
			if got := filter(steps, "subscribe"); !slices.Equal(got, []string{"telemetry:subscribe", "auth:subscribe", "service:subscribe"}) {
				t.Errorf("subscribe ran %v", got)
			}
			if got := filter(steps, "publish"); !slices.Equal(got, []string{"telemetry:publish", "service:publish"}) {
				t.Errorf("publish ran %v", got)
			}

			// Refused by the service, and by the interceptor.
			for name, code := range map[string]uint32{"forbidden": 103, "vip": 1403} {
				s, err := c.NewSubscription(wire.ns + name)
				if err != nil {
					t.Fatal(err)
				}
				unsub := make(chan centrifuge.UnsubscribedEvent, 1)
				s.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) { unsub <- e })
				if err := s.Subscribe(); err != nil {
					t.Fatal(err)
				}
				if e := receive(t, unsub, "unsubscribed event"); e.Code != code {
					t.Errorf("subscribe %s: %+v, want code %d", name, e, code)
				}
			}

			// RPC: the user from the node, the attribute from the interceptor.
			res, err := c.RPC(ctx, wire.rpcPrefix+"whoami", []byte(`{"authToken":"good"}`))
			want = `{"attribute":"42","method":"` + wire.rpcPrefix + `whoami","user":"42"}`
			if err != nil || string(res.Data) != want {
				t.Errorf("whoami = %s %v, want %s", res.Data, err, want)
			}
			_, err = c.RPC(ctx, wire.rpcPrefix+"vip", nil)
			var ce *centrifuge.Error
			if !errors.As(err, &ce) || ce.Code != 1403 || ce.Message != "vip only" {
				t.Errorf("vip rpc: %v, want error 1403 vip only", err)
			}
			_, err = c.RPC(ctx, wire.rpcPrefix+"nope", nil)
			if !errors.As(err, &ce) || ce.Code != 404 {
				t.Errorf("unknown method: %v, want error 404", err)
			}
		})
	}
}
