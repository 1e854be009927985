package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// noEnv is an empty environment, so tests never see the process's.
var noEnv = []string{}

func loadJSON(t *testing.T, data string, environ ...string) (Config, []Warning) {
	t.Helper()
	if environ == nil {
		environ = noEnv
	}
	cfg, ws, err := Load(LoadOptions{File: "test.json", Data: []byte(data), Environ: environ})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg, ws
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, ws, err := Load(LoadOptions{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 0 {
		t.Fatalf("warnings: %v", ws)
	}
	if want := Defaults(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Load() without sources differs from Defaults():\n got %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// Spot checks against the Centrifugo v5 defaults.
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"engine", cfg.Engine, "memory"},
		{"port", cfg.Port, 8000},
		{"ping_interval", cfg.PingInterval, 25 * time.Second},
		{"pong_timeout", cfg.PongTimeout, 8 * time.Second},
		{"client_queue_max_size", cfg.ClientQueueMaxSize, 1048576},
		{"grpc_api_port", cfg.GRPCAPIPort, 10000},
		{"proxy_connect_timeout", cfg.ProxyConnectTimeout, time.Second},
		{"redis_address", cfg.RedisAddress, []string{"redis://127.0.0.1:6379"}},
		{"channel_namespace_boundary", cfg.ChannelNamespaceBoundary, ":"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadDoesNotAliasDefaults(t *testing.T) {
	t.Parallel()
	cfg, _ := loadJSON(t, `{}`)
	cfg.RedisAddress[0] = "changed"
	if Defaults().RedisAddress[0] == "changed" {
		t.Fatal("Load returned a slice shared with Defaults")
	}
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	const file = `{"port": 8100, "name": "from-file", "log_level": "debug", "engine": "memory"}`
	flags := func(args ...string) *pflag.FlagSet {
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		fs.IntP("port", "p", 8000, "")
		fs.String("name", "", "")
		fs.String("engine", "memory", "")
		fs.StringP("config", "c", "config.json", "") // not a key: skipped
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	tests := []struct {
		name      string
		env       []string
		flags     *pflag.FlagSet
		wantPort  int
		wantName  string
		wantLevel string
	}{
		{"file over defaults", noEnv, nil, 8100, "from-file", "debug"},
		{"centrifugo env over file", []string{"CENTRIFUGO_PORT=8200", "CENTRIFUGO_NAME=c"}, nil, 8200, "c", "debug"},
		{"rotor env over centrifugo env", []string{"ROTOR_PORT=8300", "CENTRIFUGO_PORT=8200"}, nil, 8300, "from-file", "debug"},
		{"rotor env listed first still wins", []string{"CENTRIFUGO_PORT=8200", "ROTOR_PORT=8300"}, nil, 8300, "from-file", "debug"},
		{"empty env is ignored", []string{"ROTOR_PORT=", "ROTOR_LOG_LEVEL="}, nil, 8100, "from-file", "debug"},
		{"flags over env", []string{"ROTOR_PORT=8300", "ROTOR_LOG_LEVEL=error"}, flags("-p", "8400", "-c", "x.json"), 8400, "from-file", "error"},
		{"unset flags keep lower sources", []string{"ROTOR_NAME=env"}, flags("--engine", "memory"), 8100, "env", "debug"},
		{"flag name", noEnv, flags("--name", "flag"), 8100, "flag", "debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := Load(LoadOptions{File: "c.json", Data: []byte(file), Environ: tt.env, Flags: tt.flags})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Port != tt.wantPort || cfg.Name != tt.wantName || cfg.LogLevel != tt.wantLevel {
				t.Fatalf("port=%d name=%q log_level=%q, want %d %q %q",
					cfg.Port, cfg.Name, cfg.LogLevel, tt.wantPort, tt.wantName, tt.wantLevel)
			}
		})
	}
}

func TestLoadFlagTypes(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Bool("client_insecure", false, "")
	fs.StringSlice("redis_address", nil, "")
	fs.Bool("grpc_api", false, "")
	if err := fs.Parse([]string{"--client_insecure", "--redis_address", "a:1,b:2", "--redis_address", "c:3"}); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(LoadOptions{Environ: noEnv, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ClientInsecure || cfg.GRPCAPI {
		t.Fatalf("client_insecure=%v grpc_api=%v", cfg.ClientInsecure, cfg.GRPCAPI)
	}
	if want := []string{"a:1", "b:2", "c:3"}; !reflect.DeepEqual(cfg.RedisAddress, want) {
		t.Fatalf("redis_address = %q, want %q", cfg.RedisAddress, want)
	}
}

func TestLoadEnv(t *testing.T) {
	t.Parallel()
	cfg, ws := loadJSON(t, `{}`,
		"CENTRIFUGO_ALLOWED_ORIGINS=https://a.example  https://b.example",
		"ROTOR_REDIS_ADDRESS=redis://r1:6379 redis://r2:6379",
		`CENTRIFUGO_NAMESPACES=[{"name":"chat","presence":true,"history_size":10,"history_ttl":"300s"}]`,
		`ROTOR_RPC_NAMESPACES=[{"name":"rpc1","proxy_rpc":true}]`,
		`ROTOR_PROXIES=[{"name":"p1","endpoint":"grpc://127.0.0.1:1","timeout":"2s"},{"name":"p2","endpoint":"http://h:8/x"}]`,
		`ROTOR_PROXY_STATIC_HTTP_HEADERS={"X-A":"1"}`,
		"ROTOR_PING_INTERVAL=30s",
		"ROTOR_PONG_TIMEOUT=5",
		"ROTOR_CLIENT_INSECURE=true",
		"ROTOR_PROXY_CONNECT=false",
		"PATH=/usr/bin",
		"ROTORX_PORT=1",
	)
	if len(ws) != 0 {
		t.Fatalf("warnings: %v", ws)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"allowed_origins", cfg.AllowedOrigins, []string{"https://a.example", "https://b.example"}},
		{"redis_address", cfg.RedisAddress, []string{"redis://r1:6379", "redis://r2:6379"}},
		{"namespaces", cfg.Namespaces, []Namespace{{Name: "chat", ChannelOptions: ChannelOptions{
			Presence: true, HistorySize: 10, HistoryTTL: 300 * time.Second}}}},
		{"rpc_namespaces", cfg.RPCNamespaces, []RPCNamespace{{Name: "rpc1", ProxyRPC: true}}},
		{"proxies", cfg.Proxies, []Proxy{
			{Name: "p1", Endpoint: "grpc://127.0.0.1:1", Timeout: 2 * time.Second},
			{Name: "p2", Endpoint: "http://h:8/x", Timeout: DefaultProxyTimeout},
		}},
		{"proxy_static_http_headers", cfg.ProxyStaticHTTPHeaders, map[string]string{"X-A": "1"}},
		{"ping_interval", cfg.PingInterval, 30 * time.Second},
		{"pong_timeout", cfg.PongTimeout, 5 * time.Second},
		{"client_insecure", cfg.ClientInsecure, true},
		{"proxy_connect set", cfg.ProxyConnect != nil && !*cfg.ProxyConnect, true},
		{"port untouched", cfg.Port, 8000},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestLoadEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  string
		want []string
	}{
		{"ROTOR_NAMESPACES=[{", []string{"env ROTOR_NAMESPACES", "namespaces", "must be JSON"}},
		{"CENTRIFUGO_PORT=http", []string{"env CENTRIFUGO_PORT", "port", `"http"`}},
		{"ROTOR_PING_INTERVAL=soon", []string{"env ROTOR_PING_INTERVAL", "ping_interval", `"soon"`}},
		{"ROTOR_HEALTH=maybe", []string{"env ROTOR_HEALTH", "health", `"maybe"`}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			_, _, err := Load(LoadOptions{Environ: []string{tt.env}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFormats(t *testing.T) {
	t.Parallel()
	want := func(cfg Config) []string {
		var bad []string
		if cfg.Port != 9000 {
			bad = append(bad, "port")
		}
		if cfg.ProxyConnectTimeout != 10*time.Second || cfg.PingInterval != 30*time.Second {
			bad = append(bad, "durations")
		}
		if !reflect.DeepEqual(cfg.AllowedOrigins, []string{"*"}) {
			bad = append(bad, "allowed_origins")
		}
		if !reflect.DeepEqual(cfg.RedisAddress, []string{"127.0.0.1:6379"}) {
			bad = append(bad, "redis_address")
		}
		if len(cfg.Namespaces) != 2 || cfg.Namespaces[0].Name != "chat" || !cfg.Namespaces[0].Presence ||
			cfg.Namespaces[1].HistoryTTL != time.Minute || cfg.Namespaces[1].HistorySize != 5 {
			bad = append(bad, "namespaces")
		}
		if cfg.ProxyStaticHTTPHeaders["X-Rotor"] != "yes" {
			bad = append(bad, "proxy_static_http_headers")
		}
		return bad
	}
	tests := []struct {
		file, data string
	}{
		{"c.json", `{
  "port": 9000,
  "proxy_connect_timeout": "10s",
  "ping_interval": 30,
  "allowed_origins": ["*"],
  "redis_address": "127.0.0.1:6379",
  "proxy_static_http_headers": {"X-Rotor": "yes"},
  "namespaces": [{"name": "chat", "presence": true}, {"name": "feed", "history_size": 5, "history_ttl": "1m"}]
}`},
		{"c.yaml", `
port: 9000
proxy_connect_timeout: 10s
ping_interval: 30
allowed_origins: ["*"]
redis_address: 127.0.0.1:6379
proxy_static_http_headers:
  X-Rotor: "yes"
namespaces:
  - name: chat
    presence: true
  - name: feed
    history_size: 5
    history_ttl: 1m
`},
		{"c.yml", `{port: 9000, proxy_connect_timeout: "10s", ping_interval: "30s", allowed_origins: ["*"],
redis_address: ["127.0.0.1:6379"], proxy_static_http_headers: {X-Rotor: "yes"},
namespaces: [{name: chat, presence: true}, {name: feed, history_size: 5, history_ttl: 60}]}`},
		{"c.toml", `
port = 9000
proxy_connect_timeout = "10s"
ping_interval = 30
allowed_origins = ["*"]
redis_address = "127.0.0.1:6379"

[proxy_static_http_headers]
X-Rotor = "yes"

[[namespaces]]
name = "chat"
presence = true

[[namespaces]]
name = "feed"
history_size = 5
history_ttl = "1m"
`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			// Through a real file, so the extension picks the parser.
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, ws, err := Load(LoadOptions{File: path, Environ: noEnv})
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != 0 {
				t.Errorf("warnings: %v", ws)
			}
			if bad := want(cfg); len(bad) > 0 {
				t.Fatalf("wrong %v in %+v", bad, cfg)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  time.Duration
	}{
		{`"10s"`, 10 * time.Second},
		{`"1m30s"`, 90 * time.Second},
		{`"250ms"`, 250 * time.Millisecond},
		{`10`, 10 * time.Second},
		{`"10"`, 10 * time.Second},
		{`1.5`, 1500 * time.Millisecond},
		{`0`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			cfg, _ := loadJSON(t, `{"proxy_rpc_timeout": `+tt.value+`}`)
			if cfg.ProxyRPCTimeout != tt.want {
				t.Fatalf("got %v, want %v", cfg.ProxyRPCTimeout, tt.want)
			}
		})
	}
}

func TestLoadRedisAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  []string
	}{
		{`"redis://h:6379"`, []string{"redis://h:6379"}},
		{`["h1:6379", "h2:6379"]`, []string{"h1:6379", "h2:6379"}},
		{`[]`, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			cfg, _ := loadJSON(t, `{"redis_address": `+tt.value+`}`)
			if !reflect.DeepEqual(cfg.RedisAddress, tt.want) {
				t.Fatalf("got %q, want %q", cfg.RedisAddress, tt.want)
			}
		})
	}
}

func TestLoadNullKeepsDefault(t *testing.T) {
	t.Parallel()
	cfg, _ := loadJSON(t, `{"port": null, "namespaces": [{"name": "ns", "presence": null}]}`)
	if cfg.Port != 8000 {
		t.Fatalf("port = %d, want the default", cfg.Port)
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	t.Parallel()
	_, ws := loadJSON(t, `{
  "presense": true,
  "completely_unknown": 1,
  "presence_ttl": "60s",
  "sockjs": true,
  "namespaces": [{"name": "chat", "histroy_size": 10}],
  "rpc_namespaces": [{"name": "r1", "bogus": 1}],
  "proxies": [{"name": "p1", "endpoint": "grpc://127.0.0.1:1", "tiemout": "1s"}]
}`, "ROTOR_NOT_A_KEY=1", "CENTRIFUGO_PORTT=1")
	want := map[string]string{
		"presense":                   `did you mean "presence"`,
		"completely_unknown":         "unknown key",
		"presence_ttl":               `use "global_presence_ttl"`,
		"sockjs":                     "does not support",
		"namespaces[0].histroy_size": `did you mean "history_size"`,
		"rpc_namespaces[0].bogus":    "unknown key",
		"proxies[0].tiemout":         `did you mean "timeout"`,
		"not_a_key":                  "unknown key",
		"portt":                      `did you mean "port"`,
	}
	got := make(map[string]Warning)
	for _, w := range ws {
		got[w.Key] = w
	}
	for key, msg := range want {
		w, ok := got[key]
		if !ok {
			t.Errorf("no warning for %q; got %v", key, ws)
			continue
		}
		if !strings.Contains(w.Message, msg) {
			t.Errorf("warning for %q = %q, want it to contain %q", key, w.Message, msg)
		}
	}
	if len(ws) != len(want) {
		t.Errorf("got %d warnings, want %d: %v", len(ws), len(want), ws)
	}
	if w := got["not_a_key"]; w.Source != "env ROTOR_NOT_A_KEY" {
		t.Errorf("source = %q", w.Source)
	}
	if w := got["presense"]; w.Source != "test.json" || !strings.HasPrefix(w.String(), "test.json: presense: ") {
		t.Errorf("warning = %q", w)
	}
}

func TestLoadPublishCompat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		data        string
		env         []string
		wantTop     bool
		wantNS      bool
		wantWarning string
	}{
		{"top true", `{"publish": true}`, nil, true, false, "publish"},
		{"top false", `{"publish": false}`, nil, false, false, "publish"},
		{"env", `{}`, []string{"ROTOR_PUBLISH=true"}, true, false, "publish"},
		{"namespace", `{"namespaces": [{"name": "ns", "publish": true}]}`, nil, false, true, "namespaces[0].publish"},
		{"absent", `{}`, nil, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, ws := loadJSON(t, tt.data, tt.env...)
			if cfg.AllowPublishForClient != tt.wantTop {
				t.Errorf("allow_publish_for_client = %v, want %v", cfg.AllowPublishForClient, tt.wantTop)
			}
			if len(cfg.Namespaces) > 0 && cfg.Namespaces[0].AllowPublishForClient != tt.wantNS {
				t.Errorf("namespace allow_publish_for_client = %v, want %v", cfg.Namespaces[0].AllowPublishForClient, tt.wantNS)
			}
			if tt.wantWarning == "" {
				if len(ws) != 0 {
					t.Errorf("warnings: %v", ws)
				}
				return
			}
			if len(ws) != 1 || ws[0].Key != tt.wantWarning || strings.Contains(ws[0].Message, "\n") {
				t.Errorf("want one one-line warning for %s, got %v", tt.wantWarning, ws)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		data string
		want []string
	}{
		{"syntax error has line and column", "c.json", "{\n  \"port\": 1,\n  \"name\" \"x\"\n}", []string{"c.json", "line 3, column 10"}},
		{"not an object", "c.json", `[1, 2]`, []string{"JSON object", "an array"}},
		{"unknown extension", "c.ini", `port=1`, []string{"c.ini", `".ini"`}},
		{"yaml syntax", "c.yaml", "port: [1", []string{"c.yaml"}},
		{"toml syntax", "c.toml", "port = = 1", []string{"c.toml"}},
		{"every bad value at once", "c.json", `{"port": "x", "ping_interval": "soon", "namespaces": [{"name": "ns", "history_ttl": []}]}`,
			[]string{`port: "x" is not a valid integer`, `ping_interval: "soon" is not a duration`, "namespaces[0].history_ttl: a list"}},
		{"huge duration", "c.json", `{"ping_interval": 1e300}`, []string{"ping_interval", "not a valid duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Load(LoadOptions{File: tt.file, Data: []byte(tt.data), Environ: noEnv})
			if err == nil {
				t.Fatal("no error")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Errorf("error %T is not a *LoadError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, _, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "nope.json"), Environ: noEnv})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestStripJSONComments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"full line", "{\n  // ...\n  \"a\": 1\n}", "{\n        \n  \"a\": 1\n}"},
		{"trailing", `{"a": 1 // one` + "\n}", `{"a": 1       ` + "\n}"},
		{"block", `{/* x */"a": 1}`, `{       "a": 1}`},
		{"slashes in strings stay", `{"u": "grpc://h:1", "v": "a/*b*/c"}`, `{"u": "grpc://h:1", "v": "a/*b*/c"}`},
		{"escaped quote", `{"u": "x\"//y"}`, `{"u": "x\"//y"}`},
		{"crlf", "{\r\n// c\r\n\"a\":1}", "{\r\n    \r\n\"a\":1}"},
		{"unterminated block", `{"a":1} /* x`, `{"a":1}     `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(StripJSONComments([]byte(tt.in))); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	keys := Keys()
	seen := make(map[string]bool)
	for _, k := range keys {
		if seen[k] {
			t.Errorf("duplicate key %q", k)
		}
		seen[k] = true
	}
	for _, k := range []string{"port", "presence", "namespaces", "proxy_connect", "publish", "redis_address"} {
		if !IsKey(k) {
			t.Errorf("IsKey(%q) = false", k)
		}
	}
	if IsKey("name_of_nothing") {
		t.Error("IsKey accepts an unknown key")
	}
}

func FuzzLoadJSON(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed_config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"namespaces": [{"name": "a", "history_ttl": 1e300}], "redis_address": ["x"]}`))
	f.Add([]byte(`{"proxies": [{"name": "p", "timeout": "1s"}], "proxy_static_http_headers": {"a.b": "c"}}`))
	f.Add([]byte(`{"port": "1", "ping_interval": -1, "proxy_connect": "true", /* c */ "publish": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Load(LoadOptions{File: "fuzz.json", Data: data, Environ: noEnv})
		if err != nil {
			return
		}
		_ = cfg.Validate()
		for _, ev := range proxyEvents {
			_ = cfg.ProxyEndpoint(ev)
		}
	})
}

// Keys Rotor reads but does not act on come back as warnings naming them.
func TestLoadWarnsAboutUnservedKeys(t *testing.T) {
	t.Parallel()
	_, ws := loadJSON(t, `{"admin": true, "admin_password": "p", "admin_secret": "s", "client_connection_rate_limit": 100}`)
	got := map[string]string{}
	for _, w := range ws {
		got[w.Key] = w.Message
	}
	if !strings.Contains(got["admin"], "no admin web interface") {
		t.Fatalf("admin warning = %q (all: %v)", got["admin"], ws)
	}
	// Enforced now: no warning.
	if m, ok := got["client_connection_rate_limit"]; ok {
		t.Fatalf("client_connection_rate_limit warning = %q", m)
	}
	if _, ws := loadJSON(t, `{"admin": false}`); len(ws) != 0 {
		t.Fatalf("warnings for keys left off: %v", ws)
	}
}
