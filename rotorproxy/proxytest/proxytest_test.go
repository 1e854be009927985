package proxytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/rotorhq/rotor/rotorproxy"
	"github.com/rotorhq/rotor/rotorproxy/proxytest"
)

func newServer(t *testing.T) *rotorproxy.Server {
	t.Helper()
	srv, err := rotorproxy.New(rotorproxy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestConnectThroughInterceptors(t *testing.T) {
	srv := newServer(t)
	srv.OnConnect(func(_ context.Context, r *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		return &rotorproxy.ConnectResult{
			User:     r.Attribute("user").(string),
			ExpireAt: time.Unix(2_000_000_000, 0),
			Info:     []byte(`{"ua":"` + r.Headers.Get("User-Agent") + `"}`),
			Subs:     map[string]rotorproxy.SubscribeOptions{"user#1": {Override: &rotorproxy.SubscribeOverride{Presence: rotorproxy.Bool(false)}}},
			Caps:     []rotorproxy.ChannelsCapability{{Match: "x", Allow: []string{"sub"}}},
		}, nil
	})
	if err := srv.Use("connect", func(ctx context.Context, req rotorproxy.Request, _ *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		var d struct{ Token string }
		if err := req.Bind(&d); err != nil || d.Token != "ok" {
			return nil, rotorproxy.ErrUnauthorized
		}
		return next(ctx, req.WithAttribute("user", "1"))
	}); err != nil {
		t.Fatal(err)
	}

	res, err := proxytest.Connect(t.Context(), srv, &rotorproxy.ConnectRequest{
		Common: rotorproxy.Common{Headers: http.Header{"User-Agent": {"demo/1"}}},
		Data:   []byte(`{"token":"ok"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &rotorproxy.ConnectResult{
		User:     "1",
		ExpireAt: time.Unix(2_000_000_000, 0),
		Info:     []byte(`{"ua":"demo/1"}`),
		Subs:     map[string]rotorproxy.SubscribeOptions{"user#1": {Override: &rotorproxy.SubscribeOverride{Presence: rotorproxy.Bool(false)}}},
		Caps:     []rotorproxy.ChannelsCapability{{Match: "x", Allow: []string{"sub"}}},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result:\n got %#v\nwant %#v", res, want)
	}

	_, err = proxytest.Connect(t.Context(), srv, &rotorproxy.ConnectRequest{Data: []byte(`{"token":"no"}`)})
	var e *rotorproxy.Error
	if !errors.As(err, &e) || e.Code != 101 {
		t.Errorf("err = %v, want *rotorproxy.Error 101", err)
	}
}

func TestDoEveryType(t *testing.T) {
	srv := newServer(t)
	srv.OnRefresh(func(context.Context, *rotorproxy.RefreshRequest) (*rotorproxy.RefreshResult, error) {
		return &rotorproxy.RefreshResult{Expired: true}, nil
	})
	srv.OnSubscribe(func(_ context.Context, r *rotorproxy.SubscribeRequest) (*rotorproxy.SubscribeResult, error) {
		return &rotorproxy.SubscribeResult{Data: r.Data}, nil
	})
	srv.OnPublish(func(context.Context, *rotorproxy.PublishRequest) (*rotorproxy.PublishResult, error) {
		return nil, &rotorproxy.Disconnect{Code: 4500, Reason: "spam"}
	})
	srv.OnSubRefresh(func(_ context.Context, r *rotorproxy.SubRefreshRequest) (*rotorproxy.SubRefreshResult, error) {
		return &rotorproxy.SubRefreshResult{Info: []byte(`"` + r.Channel + `"`)}, nil
	})
	if err := srv.HandleRPC("echo", rotorproxy.RPCJSON(func(_ context.Context, _ *rotorproxy.RPCRequest, in map[string]int) (map[string]int, error) {
		return in, nil
	})); err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	if res, err := proxytest.Do(ctx, srv, &rotorproxy.RefreshRequest{User: "u"}); err != nil || !res.(*rotorproxy.RefreshResult).Expired {
		t.Errorf("refresh: %v %v", res, err)
	}
	// Binary encoding: payloads travel base64-encoded and come back as bytes.
	bin := []byte{0, 1, 2}
	res, err := proxytest.Do(ctx, srv, &rotorproxy.SubscribeRequest{Common: rotorproxy.Common{Encoding: "binary"}, Channel: "c", Data: bin})
	if err != nil || string(res.(*rotorproxy.SubscribeResult).Data) != string(bin) {
		t.Errorf("subscribe: %v %v", res, err)
	}
	res, err = proxytest.Do(ctx, srv, &rotorproxy.PublishRequest{Channel: "c", Data: []byte(`{}`)})
	var d *rotorproxy.Disconnect
	if res != nil || !errors.As(err, &d) || d.Code != 4500 || d.Reason != "spam" {
		t.Errorf("publish: %v %v, want disconnect 4500", res, err)
	}
	res, err = proxytest.Do(ctx, srv, &rotorproxy.RPCRequest{Method: "echo", Data: []byte(`{"a":1}`)})
	if err != nil || string(res.(*rotorproxy.RPCResult).Data) != `{"a":1}` {
		t.Errorf("rpc: %v %v", res, err)
	}
	_, err = proxytest.Do(ctx, srv, &rotorproxy.RPCRequest{Method: "nope"})
	if !isCode(err, 404) {
		t.Errorf("rpc nope: %v, want 404", err)
	}
	res, err = proxytest.Do(ctx, srv, &rotorproxy.SubRefreshRequest{Channel: "c9"})
	if err != nil || string(res.(*rotorproxy.SubRefreshResult).Info) != `"c9"` {
		t.Errorf("sub_refresh: %v %v", res, err)
	}
	// No connect service.
	if _, err := proxytest.Do(ctx, srv, &rotorproxy.ConnectRequest{}); !isCode(err, 501) {
		t.Errorf("connect: %v, want 501", err)
	}
}

// Calls get the default proxy timeout, so a stuck handler is answered with
// the internal error within about a second.
func TestDefaultTimeout(t *testing.T) {
	srv := newServer(t)
	release := make(chan struct{})
	defer close(release)
	srv.OnRPC(func(ctx context.Context, r *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
		dl, ok := ctx.Deadline()
		if r.Method == "deadline" {
			b, _ := json.Marshal(map[string]any{"ok": ok, "ms": time.Until(dl).Milliseconds()})
			return &rotorproxy.RPCResult{Data: b}, nil
		}
		<-release
		return nil, nil
	})
	res, err := proxytest.RPC(t.Context(), srv, &rotorproxy.RPCRequest{Method: "deadline"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK bool
		MS int64
	}
	if err := json.Unmarshal(res.Data, &got); err != nil || !got.OK || got.MS > 1000 || got.MS < 500 {
		t.Errorf("handler deadline: %s (%v)", res.Data, err)
	}
	start := time.Now()
	_, err = proxytest.RPC(t.Context(), srv, &rotorproxy.RPCRequest{Method: "stuck"})
	if !isCode(err, 100) || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("stuck: %v after %v", err, time.Since(start))
	}
}

func isCode(err error, code uint32) bool {
	var e *rotorproxy.Error
	return errors.As(err, &e) && e.Code == code
}
