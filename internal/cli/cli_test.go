package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

const seedConfig = "../config/testdata/seed_config.json"

// result is what one in-process run of the command line produced.
type result struct {
	code           int
	stdout, stderr string
	// served is the config serve passed to the app, nil when it did not run.
	served *config.Config
}

// runCLI executes args with an empty environment (plus environ) and an app
// that returns at once.
func runCLI(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	var res result
	if environ == nil {
		environ = []string{}
	}
	e := &env{
		stdout:  &out,
		stderr:  &errOut,
		environ: environ,
		run: func(_ context.Context, cfg config.Config, log *slog.Logger) error {
			if log == nil {
				t.Error("nil logger")
			}
			res.served = &cfg
			return nil
		},
	}
	res.code = execute(ctx, e, args)
	res.stdout, res.stderr = out.String(), errOut.String()
	return res
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodConfig = `{
  // a comment
  "token_hmac_secret_key": "secret",
  "port": 8100,
  "engine": "memory",
  "allowed_origins": ["*"],
  "namespaces": [{"name": "chat", "presence": true}]
}`

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.json", goodConfig)
	bad := writeFile(t, "bad.json", `{"engine": "tarantool", "port": 70000, "proxy_connect": true}`)
	broken := writeFile(t, "broken.json", `{"port": }`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{"seed fails on the mistyped host", []string{"checkconfig", "-c", seedConfig}, 1, nil,
			[]string{seedConfig + ": proxy_refresh_endpoint: ", `"127.0.0.1c"`, "cannot be resolved"}},
		{"good file", []string{"checkconfig", "-c", good}, 0, []string{"config " + good + " is valid"}, nil},
		{"file as argument", []string{"checkconfig", good}, 0, []string{"is valid"}, nil},
		{"every problem", []string{"checkconfig", "--config", bad}, 1, nil,
			[]string{bad + ": engine: ", bad + ": port: ", bad + ": proxy_connect: ", "proxy_connect_endpoint"}},
		{"syntax error", []string{"checkconfig", "-c", broken}, 1, nil, []string{broken, "line 1"}},
		{"missing file", []string{"checkconfig", "-c", filepath.Join(t.TempDir(), "none.json")}, 1, nil, []string{"file not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout %q does not contain %q", r.stdout, w)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
}

func TestCheckConfigSeedReportsOnlyTheTypo(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "checkconfig", "-c", seedConfig)
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !strings.HasPrefix(line, "warning: ") {
			problems = append(problems, line)
		}
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "proxy_refresh_endpoint") {
		t.Fatalf("want one problem naming proxy_refresh_endpoint, got %q", problems)
	}
	if !strings.Contains(r.stderr, "warning: "+seedConfig+": publish: ") {
		t.Errorf("no publish notice in %q", r.stderr)
	}
}

func TestGenConfig(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"config.json", "config.yaml", "config.yml", "config.toml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), name)
			r := runCLI(t, nil, "genconfig", "-c", path)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			first, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, ws, err := config.Load(config.LoadOptions{File: path, Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != 0 {
				t.Errorf("warnings: %v", ws)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			for key, v := range map[string]string{
				"token_hmac_secret_key": cfg.TokenHMACSecretKey, "api_key": cfg.APIKey,
				"admin_password": cfg.AdminPassword, "admin_secret": cfg.AdminSecret,
			} {
				if len(v) < 32 {
					t.Errorf("%s = %q, want a long random value", key, v)
				}
			}
			if cfg.AllowedOrigins == nil || len(cfg.AllowedOrigins) != 0 {
				t.Errorf("allowed_origins = %#v, want empty", cfg.AllowedOrigins)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, %v; want 0600", info.Mode(), err)
			}

			// A second run refuses to overwrite.
			r = runCLI(t, nil, "genconfig", "-c", path)
			if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
				t.Fatalf("overwrite: exit %d, stderr %q", r.code, r.stderr)
			}
			if again, _ := os.ReadFile(path); !bytes.Equal(again, first) {
				t.Fatal("file changed although genconfig refused")
			}

			// --force overwrites with new secrets.
			r = runCLI(t, nil, "genconfig", "-c", path, "--force")
			if r.code != 0 {
				t.Fatalf("--force: exit %d: %s", r.code, r.stderr)
			}
			if again, _ := os.ReadFile(path); bytes.Equal(again, first) {
				t.Fatal("--force kept the old file")
			}
		})
	}
}

func TestGenConfigUnknownFormat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.ini")
	r := runCLI(t, nil, "genconfig", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "unknown format") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("file written")
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "version")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	want := "Rotor " + node.Version + " (Go " + goVersion() + ")\n"
	if r.stdout != want {
		t.Fatalf("got %q, want %q", r.stdout, want)
	}
	if !strings.HasPrefix(r.stdout, "Rotor dev (Go 1.") {
		t.Fatalf("unexpected %q", r.stdout)
	}
}

func TestServeFlagsOverrideFileAndEnv(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.json", goodConfig)
	e := &env{environ: []string{"ROTOR_PORT=8200", "ROTOR_LOG_LEVEL=debug", "CENTRIFUGO_NAME=from-env"}}
	root := newRoot(e)
	if err := root.ParseFlags([]string{"-c", path, "-p", "8300", "--engine", "redis",
		"--redis_address", "10.0.0.1:6379,10.0.0.2:6379", "--grpc_api", "--grpc_api_port", "10500",
		"--client_insecure", "--name", "flag-node"}); err != nil {
		t.Fatal(err)
	}
	p, explicit := configPath(root.Flags())
	cfg, _, err := e.loadConfig(root.Flags(), p, explicit)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"port (flag over env over file)", cfg.Port, 8300},
		{"log_level (env over default)", cfg.LogLevel, "debug"},
		{"name (flag over env)", cfg.Name, "flag-node"},
		{"engine", cfg.Engine, "redis"},
		{"redis_address", cfg.RedisAddress, []string{"10.0.0.1:6379", "10.0.0.2:6379"}},
		{"grpc_api", cfg.GRPCAPI, true},
		{"grpc_api_port", cfg.GRPCAPIPort, 10500},
		{"client_insecure", cfg.ClientInsecure, true},
		{"token_hmac_secret_key (file)", cfg.TokenHMACSecretKey, "secret"},
		{"api_insecure (flag not set)", cfg.APIInsecure, false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
		}
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.json", goodConfig)
	bad := writeFile(t, "bad.json", `{"engine": "tarantool", "ping_interval": "1s"}`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantPort   int // 0: serve must not run the app
		wantStderr []string
	}{
		{"bare rotor -c", []string{"-c", good}, 0, 8100, nil},
		{"serve -c", []string{"serve", "-c", good, "-p", "9100"}, 0, 9100, nil},
		// No config.json in the package directory: the default file may be missing.
		{"missing default file is fine", []string{"-p", "9200", "--log_level", "error"}, 0, 9200, nil},
		{"missing named file", []string{"-c", filepath.Join(t.TempDir(), "none.json")}, 1, 0, []string{"none.json"}},
		{"invalid config", []string{"serve", "-c", bad}, 1, 0, []string{bad + ": engine: ", bad + ": ping_interval: "}},
		{"bad flag value", []string{"-c", good, "--engine", "mongo"}, 1, 0, []string{"engine", `"mongo"`}},
		{"unknown command", []string{"frobnicate"}, 1, 0, []string{"unknown command"}},
		{"unknown flag", []string{"--nope"}, 1, 0, []string{"unknown flag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tt.wantCode, r.stderr)
			}
			switch {
			case tt.wantPort == 0 && r.served != nil:
				t.Fatal("the app ran")
			case tt.wantPort != 0 && r.served == nil:
				t.Fatal("the app did not run")
			case tt.wantPort != 0 && r.served.Port != tt.wantPort:
				t.Fatalf("port = %d, want %d", r.served.Port, tt.wantPort)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
}

func TestServeLogsWarningsAndKeepsRunning(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.json", `{"presense": true, "proxy_rpc_endpoint": "grpc://backend.invalid:10001"}`)
	r := runCLI(t, nil, "-c", path)
	if r.code != 0 || r.served == nil {
		t.Fatalf("exit %d, served %v: %s", r.code, r.served != nil, r.stderr)
	}
	for _, w := range []string{"key=presense", "key=proxy_rpc_endpoint", "backend.invalid"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("log %q does not contain %q", r.stderr, w)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.json", `{"token_hmac_secret_key": "s3cret"}`)

	r := runCLI(t, nil, "gentoken", "-u", "42", "-c", path)
	if r.code != 0 {
		t.Fatalf("gentoken: exit %d: %s", r.code, r.stderr)
	}
	header, token, ok := strings.Cut(strings.TrimSpace(r.stdout), "\n")
	if !ok || header != `HMAC SHA-256 JWT for user "42" with expiration TTL 168h0m0s:` || strings.Count(token, ".") != 2 {
		t.Fatalf("gentoken printed %q", r.stdout)
	}
	r = runCLI(t, nil, "checktoken", token, "-c", path)
	if r.code != 0 || !strings.HasPrefix(r.stdout, `valid token for user "42" with expiration `) {
		t.Fatalf("checktoken: exit %d: %q %q", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, nil, "gentoken", "-c", path, "-t", "0")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "HMAC SHA-256 JWT for anonymous user without expiration TTL:\n") {
		t.Fatalf("anonymous gentoken: %q %q", r.stdout, r.stderr)
	}
	anon := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[1])
	r = runCLI(t, nil, "checktoken", anon, "-c", path)
	if r.code != 0 || r.stdout != "valid token for anonymous user without expiration\n" {
		t.Fatalf("checktoken anonymous: %q %q", r.stdout, r.stderr)
	}

	r = runCLI(t, nil, "gensubtoken", "-u", "42", "-s", "news", "-t", "60", "-c", path)
	if r.code != 0 || !strings.HasPrefix(r.stdout, `HMAC SHA-256 JWT for user "42" and channel "news" with expiration TTL 1m0s:`) {
		t.Fatalf("gensubtoken: %q %q", r.stdout, r.stderr)
	}
	sub := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[1])
	r = runCLI(t, nil, "checksubtoken", sub, "-c", path)
	if r.code != 0 || !strings.HasPrefix(r.stdout, `valid subscription token for user "42" and channel "news" with expiration `) {
		t.Fatalf("checksubtoken: %q %q", r.stdout, r.stderr)
	}

	// The other secret, from the environment, rejects the token.
	r = runCLI(t, []string{"ROTOR_TOKEN_HMAC_SECRET_KEY=other"}, "checktoken", token, "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "invalid token") {
		t.Fatalf("wrong secret: exit %d: %q", r.code, r.stderr)
	}
	r = runCLI(t, nil, "checktoken", "not.a.token", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "invalid token") {
		t.Fatalf("garbage: exit %d: %q", r.code, r.stderr)
	}
	r = runCLI(t, nil, "gensubtoken", "-u", "42", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "--channel") {
		t.Fatalf("gensubtoken without channel: exit %d: %q", r.code, r.stderr)
	}
	empty := writeFile(t, "empty.json", `{}`)
	r = runCLI(t, nil, "gentoken", "-u", "42", "-c", empty)
	if r.code != 1 || !strings.Contains(r.stderr, "token_hmac_secret_key") {
		t.Fatalf("gentoken without secret: exit %d: %q", r.code, r.stderr)
	}
	r = runCLI(t, nil, "gentoken", "-u", "42", "-t", "-5", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "--ttl") {
		t.Fatalf("negative ttl: exit %d: %q", r.code, r.stderr)
	}
}

func TestBenchHelpHidesPublisherChild(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "bench", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--publisher-process") || strings.Contains(r.stdout, "publisher-child") {
		t.Fatalf("exit %d: %s", r.code, r.stdout)
	}
}

// TestBenchPublisherChild runs bench as the publisher process of another
// bench: it publishes to the API it is given and prints one JSON line.
func TestBenchPublisherChild(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/publish" || r.Header.Get("X-API-Key") != "k" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		calls.Add(1)
		_, _ = w.Write([]byte(`{"result":{}}`))
	}))
	defer api.Close()
	spec := `{"scenario":"channels","connections":4,"channels":2,"rate":40,"duration":250000000,` +
		`"api_url":"` + api.URL + `/api","api_key":"k","publish_via":"http"}`
	r := runCLI(t, nil, "bench", "--publisher-child="+spec)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var line struct {
		Published []int64 `json:"published"`
		Errors    int64   `json:"publish_errors"`
		P50       int64   `json:"publish_p50_ns"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("output %q: %v", r.stdout, err)
	}
	if !reflect.DeepEqual(line.Published, []int64{5, 5}) || line.Errors != 0 || line.P50 <= 0 || calls.Load() != 10 {
		t.Fatalf("line %+v after %d calls: %s", line, calls.Load(), r.stdout)
	}

	r = runCLI(t, nil, "bench", `--publisher-child={"scenario":`)
	if r.code != 1 || !strings.Contains(r.stderr, "--publisher-child") || r.stdout != "" {
		t.Fatalf("bad spec: exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
}
