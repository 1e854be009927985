package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// isCallFailure reports whether err is what a call without a usable answer
// returns: ErrCallFailed, and neither a *node.Error nor a Disconnect.
func isCallFailure(err error) bool {
	var e *node.Error
	var d node.Disconnect
	return errors.Is(err, ErrCallFailed) && !errors.As(err, &e) && !errors.As(err, &d)
}

// TestBackendError checks that a backend error reaches the caller as a
// *node.Error with the backend's code, message and temporary flag, even
// next to a result.
func TestBackendError(t *testing.T) {
	t.Parallel()
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			answering(b, &proxyproto.Error{Code: 1403, Message: "forbidden", Temporary: true}, nil, 0)
			p, logs := newProxy(t, testConfig(serve(t, w, b)))
			for _, ev := range events {
				err := ev.call(testContext(t), p)
				var e *node.Error
				if !errors.As(err, &e) || *e != (node.Error{Code: 1403, Message: "forbidden", Temporary: true}) {
					t.Errorf("%s: err = %v, want *node.Error 1403 forbidden temporary", ev.name, err)
				}
			}
			if s := logs.String(); strings.Contains(s, "WARN") {
				t.Errorf("backend errors were logged as failures:\n%s", s)
			}
		})
	}
}

// TestBackendDisconnect checks that a backend disconnect reaches the caller
// as a node.Disconnect, before any error or result.
func TestBackendDisconnect(t *testing.T) {
	t.Parallel()
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			answering(b, &proxyproto.Error{Code: 400, Message: "ignored"}, &proxyproto.Disconnect{Code: 4501, Reason: "banned"}, 0)
			p, _ := newProxy(t, testConfig(serve(t, w, b)))
			for _, ev := range events {
				err := ev.call(testContext(t), p)
				var d node.Disconnect
				if !errors.As(err, &d) || d != (node.Disconnect{Code: 4501, Reason: "banned"}) || d.Reconnect() {
					t.Errorf("%s: err = %v, want Disconnect 4501 banned (terminal)", ev.name, err)
				}
			}
		})
	}
}

// TestNoResult checks answers without result, error or disconnect.
func TestNoResult(t *testing.T) {
	t.Parallel()
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{
				connect: func(context.Context, *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
					return &proxyproto.ConnectResponse{}, nil
				},
				refresh: func(context.Context, *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error) {
					return &proxyproto.RefreshResponse{}, nil
				},
				subRefresh: func(context.Context, *proxyproto.SubRefreshRequest) (*proxyproto.SubRefreshResponse, error) {
					return &proxyproto.SubRefreshResponse{}, nil
				},
				subscribe: func(context.Context, *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
					return &proxyproto.SubscribeResponse{}, nil
				},
			}
			p, _ := newProxy(t, testConfig(serve(t, w, b)))
			ctx := testContext(t)
			_, err := p.Connect(ctx, &node.ProxyConnectRequest{ProxyClientInfo: clientInfo()})
			var d node.Disconnect
			if !errors.Is(err, ErrNoCredentials) || !errors.As(err, &d) || d.Code != 3501 {
				t.Errorf("Connect without result: err = %v, want ErrNoCredentials (disconnect 3501)", err)
			}
			if r, err := p.Refresh(ctx, &node.ProxyRefreshRequest{ProxyClientInfo: clientInfo()}); err != nil || !r.Expired {
				t.Errorf("Refresh without result = %+v, %v; want expired", r, err)
			}
			if r, err := p.SubRefresh(ctx, &node.ProxySubRefreshRequest{ProxyClientInfo: clientInfo(), Channel: "x"}); err != nil || !r.Expired {
				t.Errorf("SubRefresh without result = %+v, %v; want expired", r, err)
			}
			if r, err := p.Subscribe(ctx, &node.ProxySubscribeRequest{ProxyClientInfo: clientInfo(), Channel: "x"}); err != nil || r == nil {
				t.Errorf("Subscribe without result = %+v, %v; want allowed", r, err)
			}
		})
	}
}

// TestTimeout checks that a backend slower than proxy_<event>_timeout gives
// a call failure (not a *node.Error) soon after the timeout, logged with
// the key and endpoint.
func TestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			answering(b, nil, nil, 5*time.Second)
			ep := serve(t, w, b)
			cfg := testConfig(ep)
			cfg.ProxyConnectTimeout, cfg.ProxyRefreshTimeout, cfg.ProxyRPCTimeout = timeout, timeout, timeout
			cfg.ProxySubscribeTimeout, cfg.ProxyPublishTimeout, cfg.ProxySubRefreshTimeout = timeout, timeout, timeout
			p, logs := newProxy(t, cfg)
			for _, ev := range events {
				start := time.Now()
				err := ev.call(testContext(t), p)
				elapsed := time.Since(start)
				if !isCallFailure(err) {
					t.Errorf("%s: err = %v, want a call failure", ev.name, err)
				}
				if elapsed < timeout-50*time.Millisecond || elapsed > timeout+700*time.Millisecond {
					t.Errorf("%s: failed after %s, want about %s", ev.name, elapsed, timeout)
				}
				key := "proxy_" + ev.name + "_endpoint"
				if err != nil && (!strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "200ms")) {
					t.Errorf("%s: error %q does not name %s and the timeout", ev.name, err, key)
				}
				if s := logs.String(); !strings.Contains(s, "key="+key) || !strings.Contains(s, ep(ev.name)) {
					t.Errorf("%s: log does not name %s and %s:\n%s", ev.name, key, ep(ev.name), s)
				}
			}
		})
	}
}

// TestCallerCancel checks that a call abandoned by its caller ends at once
// and is not logged as a warning.
func TestCallerCancel(t *testing.T) {
	t.Parallel()
	b := &backend{}
	answering(b, nil, nil, 5*time.Second)
	cfg := testConfig(serve(t, wireGRPC, b))
	p, logs := newProxy(t, cfg)
	ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	if _, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: clientInfo(), Method: "m"}); !isCallFailure(err) {
		t.Errorf("err = %v, want a call failure", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Errorf("cancelled call took %s", time.Since(start))
	}
	if s := logs.String(); strings.Contains(s, "WARN") || !strings.Contains(s, "DEBUG") {
		t.Errorf("cancelled call should be logged at debug level only:\n%s", s)
	}
}

// TestGRPCBackendDownThenUp stops the backend, checks that calls fail fast,
// starts a new backend on the same port and checks that the same Proxy uses
// it within two seconds.
func TestGRPCBackendDownThenUp(t *testing.T) {
	t.Parallel()
	b := &backend{}
	answering(b, nil, nil, 0)
	srv, addr := serveGRPC(t, b, "127.0.0.1:0")
	cfg := testConfig(func(string) string { return "grpc://" + addr })
	cfg.ProxyRPCTimeout = 3 * time.Second
	p, logs := newProxy(t, cfg)
	rpc := func() error {
		_, err := p.RPC(testContext(t), &node.ProxyRPCRequest{ProxyClientInfo: clientInfo(), Method: "m"})
		return err
	}
	if err := rpc(); err != nil {
		t.Fatalf("RPC with the backend up: %v", err)
	}

	srv.Stop()
	for i := range 3 {
		start := time.Now()
		err := rpc()
		if !isCallFailure(err) {
			t.Fatalf("RPC %d with the backend down: err = %v, want a call failure", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("RPC %d with the backend down took %s; it should fail fast, not wait for the timeout", i, d)
		}
	}
	if !strings.Contains(logs.String(), "key=proxy_rpc_endpoint") {
		t.Errorf("failure not logged with its key:\n%s", logs)
	}

	serveGRPC(t, b, addr)
	up := time.Now()
	for {
		err := rpc()
		if err == nil {
			t.Logf("backend used again %s after it came back", time.Since(up).Round(time.Millisecond))
			break
		}
		if time.Since(up) > 2*time.Second {
			t.Fatalf("backend back on %s for %s but calls still fail: %v", addr, time.Since(up), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUnresolvableHost checks the seed's "127.0.0.1c": New succeeds, and each
// call fails with an error naming the key and endpoint, and is logged.
func TestUnresolvableHost(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"grpc://127.0.0.1c:10001", "http://127.0.0.1c:10001/refresh"} {
		t.Run(ep, func(t *testing.T) {
			t.Parallel()
			cfg := config.Defaults()
			cfg.ProxyRefreshEndpoint = ep
			p, logs := newProxy(t, &cfg)
			if !p.RefreshEnabled() || p.ConnectEnabled() {
				t.Errorf("RefreshEnabled, ConnectEnabled = %v, %v; want true, false", p.RefreshEnabled(), p.ConnectEnabled())
			}
			start := time.Now()
			_, err := p.Refresh(testContext(t), &node.ProxyRefreshRequest{ProxyClientInfo: clientInfo()})
			if !isCallFailure(err) {
				t.Fatalf("err = %v, want a call failure", err)
			}
			t.Logf("error: %v", err)
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("took %s", d)
			}
			for _, want := range []string{"proxy_refresh_endpoint", ep, "Refresh"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "key=proxy_refresh_endpoint") || !strings.Contains(s, "127.0.0.1c") {
				t.Errorf("warning with key and endpoint not logged:\n%s", s)
			}
		})
	}
}

// TestHTTPBadAnswers checks that HTTP statuses other than 200 and bodies
// that are not proxy answers are call failures.
func TestHTTPBadAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"500", http.StatusInternalServerError, `{"result":{}}`},
		{"404", http.StatusNotFound, "not found"},
		{"204", http.StatusNoContent, ""},
		{"not json", http.StatusOK, "<html>"},
		{"array", http.StatusOK, `[1]`},
		{"bad field", http.StatusOK, `{"result":{"user":42}}`},
		{"bad code", http.StatusOK, `{"error":{"code":-1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			cfg := testConfig(func(string) string { return srv.URL })
			p, logs := newProxy(t, cfg)
			_, err := p.Connect(testContext(t), &node.ProxyConnectRequest{ProxyClientInfo: clientInfo()})
			if !isCallFailure(err) {
				t.Errorf("err = %v, want a call failure", err)
			}
			if !strings.Contains(logs.String(), "key=proxy_connect_endpoint") {
				t.Errorf("failure not logged:\n%s", logs)
			}
		})
	}
}

// TestGRPCStatusError checks that a backend answering with a gRPC error
// status (RoadRunner does when a worker fails) is a call failure.
func TestGRPCStatusError(t *testing.T) {
	t.Parallel()
	p, _ := newProxy(t, testConfig(serve(t, wireGRPC, &backend{})))
	_, err := p.Publish(testContext(t), &node.ProxyPublishRequest{ProxyClientInfo: clientInfo(), Channel: "c"})
	if !isCallFailure(err) || !strings.Contains(err.Error(), "Unimplemented") {
		t.Errorf("err = %v, want a call failure with the status", err)
	}
}

// TestHTTPDataNotJSON checks that binary data cannot go to a JSON-encoded
// HTTP proxy: the client gets bad request, and the backend is not called.
func TestHTTPDataNotJSON(t *testing.T) {
	t.Parallel()
	b := &backend{}
	answering(b, nil, nil, 0)
	p, _ := newProxy(t, testConfig(serve(t, wireHTTP, b)))
	_, err := p.Publish(testContext(t), &node.ProxyPublishRequest{ProxyClientInfo: clientInfo(), Channel: "c", Data: []byte{0xff}})
	if node.ToError(err) != node.ErrorBadRequest {
		t.Errorf("err = %v, want bad request", err)
	}
	if b.body("/publish") != nil {
		t.Errorf("backend was called")
	}
}

// TestRefusedConnection checks an endpoint where nothing listens.
func TestRefusedConnection(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	for _, ep := range []string{"grpc://" + addr, "http://" + addr + "/x"} {
		cfg := testConfig(func(string) string { return ep })
		p, _ := newProxy(t, cfg)
		start := time.Now()
		_, err := p.SubRefresh(testContext(t), &node.ProxySubRefreshRequest{ProxyClientInfo: clientInfo(), Channel: "c"})
		if !isCallFailure(err) || time.Since(start) > 500*time.Millisecond {
			t.Errorf("%s: err = %v after %s, want a fast call failure", ep, err, time.Since(start))
		}
	}
}
