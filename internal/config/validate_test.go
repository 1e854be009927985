package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func pemOf(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func boolPtr(b bool) *bool { return &b }

func TestValidateRules(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM, ecPEM, edPEM := pemOf(t, &rsaKey.PublicKey), pemOf(t, &ecKey.PublicKey), pemOf(t, edPub)
	rsaPKCS1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}))

	tests := []struct {
		name string
		edit func(c *Config)
		// key is the key the single problem must name; "" means valid.
		key string
		// msg must appear in the message (bad value or advice).
		msg string
	}{
		{"defaults", func(c *Config) {}, "", ""},
		{"engine", func(c *Config) { c.Engine = "tarantool" }, "engine", `"tarantool"`},
		{"engine redis ok", func(c *Config) { c.Engine = "redis" }, "", ""},
		{"broker", func(c *Config) { c.Broker = "kafka" }, "broker", `"kafka"`},
		{"broker nats ok", func(c *Config) { c.Broker = "nats" }, "", ""},
		{"port high", func(c *Config) { c.Port = 70000 }, "port", "70000"},
		{"port negative", func(c *Config) { c.Port = -1 }, "port", "-1"},
		{"port zero ok", func(c *Config) { c.Port = 0 }, "", ""},
		{"internal_port", func(c *Config) { c.InternalPort = 65536 }, "internal_port", "65536"},
		{"grpc_api_port", func(c *Config) { c.GRPCAPIPort = 100000 }, "grpc_api_port", "100000"},
		{"grpc_api_port clash", func(c *Config) { c.GRPCAPI = true; c.GRPCAPIPort = 8000 }, "grpc_api_port", "8000"},
		{"ping not above pong", func(c *Config) { c.PingInterval = 5 * time.Second }, "ping_interval", "pong_timeout (8s)"},
		{"ping zero", func(c *Config) { c.PingInterval = 0 }, "ping_interval", "0s"},
		{"log_level", func(c *Config) { c.LogLevel = "verbose" }, "log_level", `"verbose"`},
		{"log_level none ok", func(c *Config) { c.LogLevel = "none" }, "", ""},
		{"negative limit", func(c *Config) { c.ClientChannelLimit = -5 }, "client_channel_limit", "-5"},
		{"negative duration", func(c *Config) { c.ClientStaleCloseDelay = -time.Second }, "client_stale_close_delay", "-1s"},
		{"negative redis_db", func(c *Config) { c.RedisDB = -1 }, "redis_db", "-1"},
		{"client_queue_max_size zero", func(c *Config) { c.ClientQueueMaxSize = 0 }, "client_queue_max_size", "0"},
		{"client_max_messages_in_frame zero", func(c *Config) { c.ClientMaxMessagesInFrame = 0 }, "client_max_messages_in_frame", "0 must be between 1 and 1024"},
		{"client_max_messages_in_frame high", func(c *Config) { c.ClientMaxMessagesInFrame = 5000 }, "client_max_messages_in_frame", "5000"},
		{"client_max_messages_in_frame ok", func(c *Config) { c.ClientMaxMessagesInFrame = 16 }, "", ""},
		{"client_write_delay negative", func(c *Config) { c.ClientWriteDelay = -time.Millisecond }, "client_write_delay", "-1ms is negative"},
		{"client_write_delay high", func(c *Config) { c.ClientWriteDelay = 2 * time.Second }, "client_write_delay", "2s is above 1s"},
		{"client_write_delay ok", func(c *Config) { c.ClientWriteDelay = 20 * time.Millisecond }, "", ""},
		{"websocket_message_size_limit", func(c *Config) { c.WebsocketMessageSizeLimit = -1 }, "websocket_message_size_limit", "-1"},
		{"websocket_engine", func(c *Config) { c.WebsocketEngine = "netpoll" }, "websocket_engine", `"netpoll" is not allowed; use one of "epoll", "gorilla"`},
		{"websocket_engine empty", func(c *Config) { c.WebsocketEngine = "" }, "websocket_engine", `"" is not allowed`},
		{"websocket_engine gorilla ok", func(c *Config) { c.WebsocketEngine = "gorilla" }, "", ""},
		{"channel_max_length", func(c *Config) { c.ChannelMaxLength = 0 }, "channel_max_length", "0"},
		{"namespace name", func(c *Config) { c.Namespaces = []Namespace{{Name: "a b"}} }, "namespaces[0].name", `"a b"`},
		{"namespace name short", func(c *Config) { c.Namespaces = []Namespace{{Name: "a"}} }, "namespaces[0].name", `"a"`},
		{"namespace duplicate", func(c *Config) { c.Namespaces = []Namespace{{Name: "chat"}, {Name: "chat"}} }, "namespaces[1].name", "namespaces[0]"},
		{"history size without ttl", func(c *Config) { c.HistorySize = 10 }, "history_size", "history_ttl"},
		{"history ttl without size in namespace", func(c *Config) {
			c.Namespaces = []Namespace{{Name: "ns", ChannelOptions: ChannelOptions{HistoryTTL: time.Minute}}}
		}, "namespaces[0].history_size", "1m0s"},
		{"history ok", func(c *Config) { c.HistorySize, c.HistoryTTL, c.ForceRecovery = 10, time.Minute, true }, "", ""},
		{"force_recovery without history", func(c *Config) { c.ForceRecovery = true }, "force_recovery", "history_size and history_ttl"},
		{"allow_positioning without history", func(c *Config) {
			c.Namespaces = []Namespace{{Name: "ns", ChannelOptions: ChannelOptions{AllowPositioning: true}}}
		}, "namespaces[0].allow_positioning", "history"},
		{"force_recovery_mode", func(c *Config) { c.ForceRecoveryMode = "fast" }, "force_recovery_mode", `"fast"`},
		{"force_recovery_mode cache ok", func(c *Config) { c.ForceRecoveryMode = "cache" }, "", ""},
		{"allowed_delta_types", func(c *Config) { c.AllowedDeltaTypes = []string{"fossil", "xdelta"} }, "allowed_delta_types", `"xdelta"`},
		{"channel_regex", func(c *Config) { c.ChannelRegex = "([a-z" }, "channel_regex", `"([a-z"`},
		{"namespace channel_regex", func(c *Config) {
			c.Namespaces = []Namespace{{Name: "ns", ChannelOptions: ChannelOptions{ChannelRegex: "*"}}}
		}, "namespaces[0].channel_regex", `"*"`},
		{"api_error_mode", func(c *Config) { c.APIErrorMode = "json" }, "api_error_mode", `"json"`},
		{"api_error_mode transport ok", func(c *Config) { c.APIErrorMode = "transport" }, "", ""},
		{"grpc_api_error_mode", func(c *Config) { c.GRPCAPIErrorMode = "x" }, "grpc_api_error_mode", `"x"`},
		{"api_handler_prefix", func(c *Config) { c.APIHandlerPrefix = "api" }, "api_handler_prefix", `"api"`},
		{"tls without cert", func(c *Config) { c.TLS, c.TLSKey = true, "k.pem" }, "tls_cert", "tls_cert"},
		{"tls without key", func(c *Config) { c.TLS, c.TLSCert = true, "c.pem" }, "tls_key", "tls_key"},
		{"grpc_api_tls", func(c *Config) { c.GRPCAPITLS = true }, "grpc_api_tls", "grpc_api_tls_cert"},
		{"admin without secrets", func(c *Config) { c.Admin, c.AdminPassword = true, "p" }, "admin_secret", "admin_insecure"},
		{"proxy endpoint scheme", func(c *Config) { c.ProxyConnectEndpoint = "tcp://h:1" }, "proxy_connect_endpoint", `"tcp://h:1"`},
		{"proxy endpoint no port", func(c *Config) { c.ProxyRPCEndpoint = "grpc://host" }, "proxy_rpc_endpoint", "host:port"},
		{"proxy endpoint bad port", func(c *Config) { c.ProxyRPCEndpoint = "grpc://host:99999" }, "proxy_rpc_endpoint", `"99999"`},
		{"proxy endpoint no host", func(c *Config) { c.ProxyRefreshEndpoint = "http:///path" }, "proxy_refresh_endpoint", "no host"},
		{"proxy endpoint bare", func(c *Config) { c.ProxyPublishEndpoint = "127.0.0.1:10001" }, "proxy_publish_endpoint", "grpc://"},
		{"proxy http ok", func(c *Config) { c.ProxyConnectEndpoint = "https://backend.example/centrifugo/connect" }, "", ""},
		{"proxy timeout", func(c *Config) { c.ProxySubscribeTimeout = 0 }, "proxy_subscribe_timeout", "0s"},
		{"proxy_connect true without endpoint", func(c *Config) { c.ProxyConnect = boolPtr(true) }, "proxy_connect", "proxy_connect_endpoint"},
		{"proxy_refresh true without endpoint", func(c *Config) { c.ProxyRefresh = boolPtr(true) }, "proxy_refresh", "proxy_refresh_endpoint"},
		{"proxy_rpc true without endpoint", func(c *Config) { c.ProxyRPC = boolPtr(true) }, "proxy_rpc", "proxy_rpc_endpoint"},
		{"proxy_connect false with endpoint ok", func(c *Config) {
			c.ProxyConnect, c.ProxyConnectEndpoint = boolPtr(false), "grpc://127.0.0.1:1"
		}, "", ""},
		{"proxy_subscribe without endpoint", func(c *Config) { c.ProxySubscribe = true }, "proxy_subscribe", "proxy_subscribe_endpoint"},
		{"namespace proxy_publish without endpoint", func(c *Config) {
			c.Namespaces = []Namespace{{Name: "ns", ChannelOptions: ChannelOptions{ProxyPublish: true}}}
		}, "namespaces[0].proxy_publish", "proxy_publish_endpoint"},
		{"named proxy ok", func(c *Config) {
			c.Proxies = []Proxy{{Name: "p1", Endpoint: "grpc://127.0.0.1:1", Timeout: time.Second}}
			c.ProxySubscribe, c.SubscribeProxyName = true, "p1"
		}, "", ""},
		{"unknown proxy name", func(c *Config) { c.PublishProxyName = "nope" }, "publish_proxy_name", `"nope"`},
		{"named proxy endpoint", func(c *Config) { c.Proxies = []Proxy{{Name: "p1", Endpoint: "ftp://x", Timeout: time.Second}} }, "proxies[0].endpoint", `"ftp://x"`},
		{"named proxy timeout", func(c *Config) { c.Proxies = []Proxy{{Name: "p1", Endpoint: "grpc://h:1"}} }, "proxies[0].timeout", "0s"},
		{"named proxy duplicate", func(c *Config) {
			c.Proxies = []Proxy{{Name: "p1", Endpoint: "grpc://h:1", Timeout: 1}, {Name: "p1", Endpoint: "grpc://h:1", Timeout: 1}}
		}, "proxies[1].name", `"p1"`},
		{"rpc namespace proxy", func(c *Config) { c.RPCNamespaces = []RPCNamespace{{Name: "rpc", ProxyRPC: true}} }, "rpc_namespaces[0].proxy_rpc", "proxy_rpc_endpoint"},
		{"rpc namespace name", func(c *Config) { c.RPCNamespaces = []RPCNamespace{{Name: "r/1"}} }, "rpc_namespaces[0].name", `"r/1"`},
		{"rsa key ok", func(c *Config) { c.TokenRSAPublicKey = rsaPEM }, "", ""},
		{"rsa pkcs1 ok", func(c *Config) { c.TokenRSAPublicKey = rsaPKCS1 }, "", ""},
		{"rsa key garbage", func(c *Config) { c.TokenRSAPublicKey = "not a key" }, "token_rsa_public_key", "not a PEM block"},
		{"rsa key is ecdsa", func(c *Config) { c.TokenRSAPublicKey = ecPEM }, "token_rsa_public_key", "ECDSA"},
		{"ecdsa key ok", func(c *Config) { c.TokenECDSAPublicKey = ecPEM }, "", ""},
		{"ecdsa key is ed25519", func(c *Config) { c.TokenECDSAPublicKey = edPEM }, "token_ecdsa_public_key", "ed25519"},
		{"subscription rsa key", func(c *Config) { c.SubscriptionTokenRSAPublicKey = "x" }, "subscription_token_rsa_public_key", "PEM"},
		{"audience regex", func(c *Config) { c.TokenAudienceRegex = "(" }, "token_audience_regex", `"("`},
		{"audience and regex", func(c *Config) { c.TokenAudience, c.TokenAudienceRegex = "a", "a.*" }, "token_audience_regex", "only one"},
		{"jwks endpoint", func(c *Config) { c.TokenJWKSPublicEndpoint = "file:///keys" }, "token_jwks_public_endpoint", `"file:///keys"`},
		{"redis address", func(c *Config) { c.Engine, c.RedisAddress = "redis", []string{"http://x"} }, "redis_address", `"http://x"`},
		{"redis address host:port ok", func(c *Config) { c.Engine, c.RedisAddress = "redis", []string{"10.0.0.1:6379", "rediss://h:1"} }, "", ""},
		{"redis sentinel without master", func(c *Config) {
			c.Engine, c.RedisSentinelAddress = "redis", []string{"h:26379"}
		}, "redis_sentinel_master_name", "redis_sentinel_address"},
		{"nats url", func(c *Config) { c.Broker, c.NATSURL = "nats", "" }, "nats_url", "nats"},
		{"personal namespace", func(c *Config) {
			c.UserSubscribeToPersonal, c.UserPersonalChannelNamespace = true, "personal"
		}, "user_personal_channel_namespace", `"personal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.edit(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			ps := c.Problems()
			if len(ps) != 1 {
				t.Fatalf("want exactly one problem naming %s, got %d: %v", tt.key, len(ps), err)
			}
			if ps[0].Key != tt.key {
				t.Errorf("key = %q, want %q (%v)", ps[0].Key, tt.key, ps[0])
			}
			if !strings.Contains(ps[0].Message, tt.msg) {
				t.Errorf("message %q does not contain %q", ps[0].Message, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("error %q does not start with the key", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Engine = "tarantool"
	c.Port = 99999
	c.PingInterval = time.Second
	c.LogLevel = "loud"
	c.ProxyConnect = boolPtr(true)
	c.Namespaces = []Namespace{{Name: "x", ChannelOptions: ChannelOptions{ForceRecovery: true}}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	wantKeys := []string{"engine", "log_level", "port", "ping_interval", "namespaces[0].name",
		"namespaces[0].force_recovery", "proxy_connect"}
	got := ProblemsOf(err)
	if len(got) != len(wantKeys) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(wantKeys), err)
	}
	for _, k := range wantKeys {
		found := false
		for _, p := range got {
			if p.Key == k {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem for %s in:\n%v", k, err)
		}
	}
	var p Problem
	if !errors.As(err, &p) {
		t.Error("errors.As(err, *Problem) fails")
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines != len(wantKeys) {
		t.Errorf("error has %d lines, want one per problem", lines)
	}
}

func TestProblemsOfPlainError(t *testing.T) {
	t.Parallel()
	if ps := ProblemsOf(nil); ps != nil {
		t.Fatalf("ProblemsOf(nil) = %v", ps)
	}
	ps := ProblemsOf(errors.New("boom"))
	if len(ps) != 1 || ps[0].Key != "" || ps[0].Message != "boom" {
		t.Fatalf("got %v", ps)
	}
}
