package proxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// recorder notes which backend served which event.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, s)
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.seen, ",")
	r.seen = nil
	return s
}

// recording answers every event with an empty result and notes name:event
// with the value of the incoming header or metadata key, if any.
func recording(rec *recorder, name, key string) *backend {
	b := &backend{}
	note := func(ctx context.Context, event string) {
		s := name + ":" + event
		if v := incoming(ctx)[key]; len(v) > 0 {
			s += "[" + strings.Join(v, " ") + "]"
		}
		rec.note(s)
	}
	b.connect = func(ctx context.Context, _ *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
		note(ctx, "connect")
		return &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{}}, nil
	}
	b.subscribe = func(ctx context.Context, _ *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
		note(ctx, "subscribe")
		return &proxyproto.SubscribeResponse{}, nil
	}
	b.publish = func(ctx context.Context, _ *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
		note(ctx, "publish")
		return &proxyproto.PublishResponse{}, nil
	}
	b.subRefresh = func(ctx context.Context, _ *proxyproto.SubRefreshRequest) (*proxyproto.SubRefreshResponse, error) {
		note(ctx, "sub_refresh")
		return &proxyproto.SubRefreshResponse{}, nil
	}
	b.rpc = func(ctx context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
		note(ctx, "rpc "+r.Method)
		if r.Method == "ext:slow" {
			timer := time.NewTimer(5 * time.Second)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		return &proxyproto.RPCResponse{}, nil
	}
	return b
}

// routingConfig: backend A (gRPC) serves the global endpoints and the named
// proxy "a-named"; backend B (HTTP) serves the named proxies b-*.
func routingConfig(t *testing.T, rec *recorder) *config.Config {
	a := serve(t, wireGRPC, recording(rec, "A", "x-key"))
	b := serve(t, wireHTTP, recording(rec, "B", "authorization"))
	cfg := testConfig(a)
	cfg.ProxyPublish = false
	cfg.ProxySubRefresh = false
	cfg.ProxyRPCTimeout = 5 * time.Second
	cfg.Proxies = []config.Proxy{
		{Name: "a-named", Endpoint: a(""), Timeout: time.Second, GRPCCredentialsKey: "x-key", GRPCCredentialsValue: "named"},
		{Name: "b-rpc", Endpoint: b("rpc"), Timeout: 150 * time.Millisecond, HTTPHeaders: []string{"Authorization"}},
		{Name: "b-sub", Endpoint: b("subscribe"), Timeout: time.Second, HTTPHeaders: []string{"Authorization"}},
		{Name: "b-pub", Endpoint: b("publish"), Timeout: time.Second},
		{Name: "b-subref", Endpoint: b("sub_refresh"), Timeout: time.Second},
	}
	cfg.Namespaces = []config.Namespace{
		{Name: "chat", ChannelOptions: config.ChannelOptions{
			ProxySubscribe: true, SubscribeProxyName: "b-sub",
			ProxyPublish: true, PublishProxyName: "b-pub",
			ProxySubRefresh: true, SubRefreshProxyName: "b-subref",
		}},
		{Name: "news"},
		{Name: "mixed", ChannelOptions: config.ChannelOptions{
			ProxyPublish:       true,    // global endpoint
			SubscribeProxyName: "b-sub", // without proxy_subscribe: off
			ProxySubRefresh:    true, SubRefreshProxyName: "a-named",
		}},
	}
	cfg.RPCNamespaces = []config.RPCNamespace{
		{Name: "ext", ProxyRPC: true, RPCProxyName: "b-rpc"},
		{Name: "loc", ProxyRPC: true},
		{Name: "named", ProxyRPC: true, RPCProxyName: "a-named"},
		{Name: "off"},
	}
	return cfg
}

// TestEnabled checks the *Enabled answers per namespace, rpc namespace and
// seed flag.
func TestEnabled(t *testing.T) {
	t.Parallel()
	cfg := routingConfig(t, &recorder{})
	p, _ := newProxy(t, cfg)
	for _, tc := range []struct {
		what string
		got  bool
		want bool
	}{
		{"ConnectEnabled", p.ConnectEnabled(), true},
		{"RefreshEnabled", p.RefreshEnabled(), true},
		{"SubscribeEnabled(plain)", p.SubscribeEnabled("plain"), true},
		{"SubscribeEnabled(chat:1)", p.SubscribeEnabled("chat:1"), true},
		{"SubscribeEnabled($chat:1)", p.SubscribeEnabled("$chat:1"), true},
		{"SubscribeEnabled(news:1)", p.SubscribeEnabled("news:1"), false},
		{"SubscribeEnabled(mixed:1)", p.SubscribeEnabled("mixed:1"), false},
		{"SubscribeEnabled(unknown:1)", p.SubscribeEnabled("unknown:1"), false},
		{"PublishEnabled(plain)", p.PublishEnabled("plain"), false},
		{"PublishEnabled(chat:1)", p.PublishEnabled("chat:1"), true},
		{"PublishEnabled(news:1)", p.PublishEnabled("news:1"), false},
		{"PublishEnabled(mixed:1)", p.PublishEnabled("mixed:1"), true},
		{"SubRefreshEnabled(plain)", p.SubRefreshEnabled("plain"), false},
		{"SubRefreshEnabled(chat:1)", p.SubRefreshEnabled("chat:1"), true},
		{"SubRefreshEnabled(mixed:1)", p.SubRefreshEnabled("mixed:1"), true},
		{"RPCEnabled(m)", p.RPCEnabled("m"), true},
		{"RPCEnabled(ext:m)", p.RPCEnabled("ext:m"), true},
		{"RPCEnabled(loc:m)", p.RPCEnabled("loc:m"), true},
		{"RPCEnabled(off:m)", p.RPCEnabled("off:m"), false},
		{"RPCEnabled(other:m)", p.RPCEnabled("other:m"), true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}

	// The seed's booleans turn proxies off.
	off := false
	cfg.ProxyConnect, cfg.ProxyRPC, cfg.ProxyRefresh = &off, &off, &off
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "rpc_namespaces[1].proxy_rpc") {
		t.Errorf("rpc namespace on the global rpc proxy turned off: New err = %v", err)
	}
	cfg.RPCNamespaces = slices.DeleteFunc(cfg.RPCNamespaces, func(r config.RPCNamespace) bool { return r.Name == "loc" })
	p, _ = newProxy(t, cfg)
	if p.ConnectEnabled() || p.RefreshEnabled() || p.RPCEnabled("m") {
		t.Errorf("proxy_connect/proxy_refresh/proxy_rpc false: connect %v, refresh %v, rpc %v; want all false",
			p.ConnectEnabled(), p.RefreshEnabled(), p.RPCEnabled("m"))
	}
	if !p.RPCEnabled("ext:m") {
		t.Errorf("rpc namespace with its own named proxy should stay enabled")
	}
	_, err := p.Connect(testContext(t), &node.ProxyConnectRequest{ProxyClientInfo: clientInfo()})
	if !errors.Is(err, ErrNotEnabled) {
		t.Errorf("Connect when off: err = %v, want ErrNotEnabled", err)
	}
	_, err = p.Subscribe(testContext(t), &node.ProxySubscribeRequest{ProxyClientInfo: clientInfo(), Channel: "news:1"})
	if !errors.Is(err, ErrNotEnabled) {
		t.Errorf("Subscribe in a namespace without proxy: err = %v, want ErrNotEnabled", err)
	}
}

// TestRouting checks where each call goes: named proxies per namespace and
// rpc namespace, with the named proxy's headers, credentials and timeout;
// the global endpoints otherwise.
func TestRouting(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p, logs := newProxy(t, routingConfig(t, rec))
	ctx := testContext(t)
	info := clientInfo()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"subscribe plain", func() error {
			_, err := p.Subscribe(ctx, &node.ProxySubscribeRequest{ProxyClientInfo: info, Channel: "plain"})
			return err
		}, "A:subscribe"},
		{"subscribe chat", func() error {
			_, err := p.Subscribe(ctx, &node.ProxySubscribeRequest{ProxyClientInfo: info, Channel: "chat:1"})
			return err
		}, "B:subscribe[Bearer t1]"},
		{"publish chat", func() error {
			_, err := p.Publish(ctx, &node.ProxyPublishRequest{ProxyClientInfo: info, Channel: "chat:1"})
			return err
		}, "B:publish"},
		{"publish mixed", func() error {
			_, err := p.Publish(ctx, &node.ProxyPublishRequest{ProxyClientInfo: info, Channel: "mixed:1"})
			return err
		}, "A:publish"},
		{"sub_refresh chat", func() error {
			_, err := p.SubRefresh(ctx, &node.ProxySubRefreshRequest{ProxyClientInfo: info, Channel: "chat:1"})
			return err
		}, "B:sub_refresh"},
		{"sub_refresh mixed", func() error {
			_, err := p.SubRefresh(ctx, &node.ProxySubRefreshRequest{ProxyClientInfo: info, Channel: "mixed:1"})
			return err
		}, "A:sub_refresh[named]"},
		{"rpc plain", func() error {
			_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "m"})
			return err
		}, "A:rpc m"},
		{"rpc ext", func() error {
			_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "ext:m"})
			return err
		}, "B:rpc ext:m[Bearer t1]"},
		{"rpc loc", func() error {
			_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "loc:m"})
			return err
		}, "A:rpc loc:m"},
		{"rpc named", func() error {
			_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "named:m"})
			return err
		}, "A:rpc named:m[named]"},
		{"rpc unlisted namespace", func() error {
			_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "other:m"})
			return err
		}, "A:rpc other:m"},
	} {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := rec.take(); got != tc.want {
			t.Errorf("%s: served by %q, want %q", tc.name, got, tc.want)
		}
	}

	// The named proxy's timeout (150ms), not proxy_rpc_timeout (5s).
	start := time.Now()
	_, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "ext:slow"})
	if !isCallFailure(err) || time.Since(start) > time.Second {
		t.Errorf("slow named RPC: err = %v after %s, want a failure after 150ms", err, time.Since(start))
	}
	if err != nil && (!strings.Contains(err.Error(), "proxies[1].endpoint") || !strings.Contains(err.Error(), `"b-rpc"`)) {
		t.Errorf("error %q does not name the proxies item", err)
	}
	if s := logs.String(); !strings.Contains(s, "key=proxies[1].endpoint") || !strings.Contains(s, "proxy=b-rpc") {
		t.Errorf("log does not name the proxies item:\n%s", s)
	}

	// The global endpoints and "a-named" share one gRPC connection.
	if len(p.conns) != 1 {
		t.Errorf("%d gRPC connections, want 1 for the one gRPC endpoint", len(p.conns))
	}
}

// TestNewRejects checks the configurations New cannot build.
func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"unknown proxy name", func(c *config.Config) {
			c.Namespaces = []config.Namespace{{Name: "ns", ChannelOptions: config.ChannelOptions{ProxySubscribe: true, SubscribeProxyName: "nope"}}}
		}, `namespaces[0].subscribe_proxy_name is "nope"`},
		{"unknown rpc proxy name", func(c *config.Config) {
			c.RPCNamespaces = []config.RPCNamespace{{Name: "ns", ProxyRPC: true, RPCProxyName: "nope"}}
		}, `rpc_namespaces[0].rpc_proxy_name is "nope"`},
		{"flag without endpoint", func(c *config.Config) { c.ProxyPublish = true }, "proxy_publish is true but proxy_publish_endpoint"},
		{"bad scheme", func(c *config.Config) { c.ProxyConnectEndpoint = "ftp://x" }, "proxy_connect_endpoint"},
		{"bad named endpoint", func(c *config.Config) { c.Proxies = []config.Proxy{{Name: "p1", Endpoint: "x", Timeout: time.Second}} }, "proxies[0].endpoint"},
		{"missing TLS files", func(c *config.Config) {
			c.ProxyRPCEndpoint = "grpc://127.0.0.1:1"
			c.ProxyGRPCTLS, c.ProxyGRPCTLSCert, c.ProxyGRPCTLSKey = true, "/nonexistent.crt", "/nonexistent.key"
		}, "proxy_grpc_tls_cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			tc.change(&cfg)
			p, err := New(&cfg, nil)
			if err == nil {
				_ = p.Close()
				t.Fatalf("New succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestNothingConfigured checks that an empty configuration proxies nothing.
func TestNothingConfigured(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	p, err := New(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.ConnectEnabled() || p.RefreshEnabled() || p.RPCEnabled("m") || p.SubscribeEnabled("c") || p.PublishEnabled("c") || p.SubRefreshEnabled("c") {
		t.Errorf("something is enabled")
	}
}
