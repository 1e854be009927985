package config

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestProxyEndpoint(t *testing.T) {
	t.Parallel()
	const ep = "grpc://127.0.0.1:10001"
	tests := []struct {
		name  string
		edit  func(c *Config)
		event string
		want  string
	}{
		{"endpoint alone enables", func(c *Config) { c.ProxyConnectEndpoint = ep }, ProxyEventConnect, ep},
		{"true with endpoint", func(c *Config) { c.ProxyConnectEndpoint, c.ProxyConnect = ep, boolPtr(true) }, ProxyEventConnect, ep},
		{"false disables", func(c *Config) { c.ProxyConnectEndpoint, c.ProxyConnect = ep, boolPtr(false) }, ProxyEventConnect, ""},
		{"refresh false disables", func(c *Config) { c.ProxyRefreshEndpoint, c.ProxyRefresh = ep, boolPtr(false) }, ProxyEventRefresh, ""},
		{"rpc false disables", func(c *Config) { c.ProxyRPCEndpoint, c.ProxyRPC = ep, boolPtr(false) }, ProxyEventRPC, ""},
		{"rpc", func(c *Config) { c.ProxyRPCEndpoint = ep }, ProxyEventRPC, ep},
		{"subscribe", func(c *Config) { c.ProxySubscribeEndpoint = ep }, ProxyEventSubscribe, ep},
		{"publish", func(c *Config) { c.ProxyPublishEndpoint = ep }, ProxyEventPublish, ep},
		{"sub_refresh", func(c *Config) { c.ProxySubRefreshEndpoint = ep }, ProxyEventSubRefresh, ep},
		{"no endpoint", func(c *Config) {}, ProxyEventConnect, ""},
		{"true without endpoint", func(c *Config) { c.ProxyConnect = boolPtr(true) }, ProxyEventConnect, ""},
		{"unknown event", func(c *Config) { c.ProxyConnectEndpoint = ep }, "disconnect", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.edit(&c)
			if got := c.ProxyEndpoint(tt.event); got != tt.want {
				t.Fatalf("ProxyEndpoint(%q) = %q, want %q", tt.event, got, tt.want)
			}
		})
	}
}

func TestProxyTimeout(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.ProxySubRefreshTimeout = 3 * time.Second
	if got := c.ProxyTimeout(ProxyEventSubRefresh); got != 3*time.Second {
		t.Fatalf("got %v", got)
	}
	if got := c.ProxyTimeout("nope"); got != 0 {
		t.Fatalf("unknown event: got %v", got)
	}
}

func TestCheckEndpoints(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := Defaults()
	c.ProxyConnectEndpoint = "grpc://127.0.0.1:10001"                                // IP literal
	c.ProxyRPCEndpoint = "http://localhost:3000/rpc"                                 // resolves from /etc/hosts
	c.ProxyPublishEndpoint = "grpc://backend.invalid:10001"                          // .invalid never resolves
	c.ProxySubscribeEndpoint = "grpc://[::1]:10001"                                  // IPv6 literal
	c.ProxyRefreshEndpoint, c.ProxyRefresh = "grpc://gone.invalid:1", boolPtr(false) // disabled: not checked
	c.ProxySubRefreshEndpoint = "not a url"                                          // left to Validate
	c.Proxies = []Proxy{{Name: "p1", Endpoint: "https://other.invalid/x", Timeout: time.Second}}

	ps := c.CheckEndpoints(ctx)
	if len(ps) != 2 {
		t.Fatalf("got %d problems, want 2: %v", len(ps), ps)
	}
	if ps[0].Key != "proxy_publish_endpoint" || !strings.Contains(ps[0].Message, `host "backend.invalid" of "grpc://backend.invalid:10001" cannot be resolved`) {
		t.Errorf("problem 0 = %v", ps[0])
	}
	if ps[1].Key != "proxies[0].endpoint" || !strings.Contains(ps[1].Message, `"other.invalid"`) {
		t.Errorf("problem 1 = %v", ps[1])
	}
}

// TestSeedConfig loads the seed's config.json as written (comments, the
// v3 "publish" key and the mistyped host included).
func TestSeedConfig(t *testing.T) {
	t.Parallel()
	cfg, ws, err := Load(LoadOptions{File: "testdata/seed_config.json", Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Key != "publish" {
		t.Errorf("want one notice for publish, got %v", ws)
	}
	if !cfg.AllowPublishForClient || !cfg.AllowSubscribeForClient {
		t.Error("publish / allow_subscribe_for_client not applied")
	}
	if !cfg.ProxyPublish || !cfg.ProxySubscribe {
		t.Error("proxy_publish / proxy_subscribe not applied")
	}
	if cfg.ProxyConnect == nil || !*cfg.ProxyConnect {
		t.Error("proxy_connect not read")
	}
	const ep = "grpc://127.0.0.1:10001"
	for ev, want := range map[string]string{
		ProxyEventConnect:    ep,
		ProxyEventPublish:    ep,
		ProxyEventSubscribe:  ep,
		ProxyEventRPC:        ep,
		ProxyEventRefresh:    "grpc://127.0.0.1c:10001",
		ProxyEventSubRefresh: "",
	} {
		if got := cfg.ProxyEndpoint(ev); got != want {
			t.Errorf("ProxyEndpoint(%s) = %q, want %q", ev, got, want)
		}
		if want != "" && cfg.ProxyTimeout(ev) != 10*time.Second {
			t.Errorf("ProxyTimeout(%s) = %v, want 10s", ev, cfg.ProxyTimeout(ev))
		}
	}
	if !cfg.GRPCAPI || cfg.GRPCAPIAddress != "0.0.0.0" || cfg.GRPCAPIPort != 10000 {
		t.Errorf("grpc api = %v %s:%d, want on 0.0.0.0:10000", cfg.GRPCAPI, cfg.GRPCAPIAddress, cfg.GRPCAPIPort)
	}
	if len(cfg.AllowedOrigins) != 1 || cfg.AllowedOrigins[0] != "*" {
		t.Errorf("allowed_origins = %q", cfg.AllowedOrigins)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps := cfg.CheckEndpoints(ctx)
	if len(ps) != 1 {
		t.Fatalf("want exactly one unresolvable endpoint, got %v", ps)
	}
	if ps[0].Key != "proxy_refresh_endpoint" ||
		!strings.Contains(ps[0].Message, `host "127.0.0.1c" of "grpc://127.0.0.1c:10001" cannot be resolved`) {
		t.Fatalf("got %v", ps[0])
	}
}
