package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
)

// jsDir is tests/js relative to this package's directory (where go test runs).
var jsDir = filepath.Join("..", "..", "tests", "js")

// jsFileTimeout bounds one JS test file.
const jsFileTimeout = 90 * time.Second

// jsSuite is one JS test file with the server config it needs and the tokens
// it reads from ROTOR_TOKEN_<NAME>.
type jsSuite struct {
	file   string
	config func(*config.Config)
	tokens func(t *testing.T, srv *testutil.Server) map[string]string
}

var jsSuites = []jsSuite{
	{
		file: "connect.test.mjs",
		tokens: func(t *testing.T, srv *testutil.Server) map[string]string {
			return map[string]string{
				"ALICE":   srv.Token("alice", tokenTTL),
				"BOB":     srv.Token("bob", tokenTTL),
				"FOREIGN": srv.ForeignToken(t, "mallory", tokenTTL),
				"EXPIRED": srv.ExpiredToken(t, "alice"),
			}
		},
	},
	{
		file:   "pubsub.test.mjs",
		config: pubSubConfig,
		tokens: func(t *testing.T, srv *testutil.Server) map[string]string {
			return map[string]string{
				"ALICE":      srv.Token("alice", tokenTTL),
				"BOB":        srv.Token("bob", tokenTTL),
				"SUB_SECRET": srv.SubToken("alice", "$secret", tokenTTL),
			}
		},
	},
	{
		file:   "recovery.test.mjs",
		config: recoveryJSConfig,
		tokens: func(t *testing.T, srv *testutil.Server) map[string]string {
			return map[string]string{"ALICE": srv.Token("alice", tokenTTL)}
		},
	},
	{
		file:   "presence.test.mjs",
		config: presenceJSConfig,
		tokens: func(t *testing.T, srv *testutil.Server) map[string]string {
			return map[string]string{
				"ALICE": srv.Token("alice", tokenTTL),
				"BOB":   srv.Token("bob", tokenTTL),
				"CAROL": srv.Token("carol", tokenTTL),
			}
		},
	},
	{
		file: "origin.test.mjs",
		config: func(c *config.Config) {
			c.AllowedOrigins = []string{"http://good.example"}
		},
		tokens: func(t *testing.T, srv *testutil.Server) map[string]string {
			return map[string]string{"ALICE": srv.Token("alice", tokenTTL)}
		},
	},
}

// TestJSClient runs each tests/js/*.test.mjs file with Node's test runner
// against its own server.
func TestJSClient(t *testing.T) {
	t.Parallel()
	node := requireJS(t)
	for _, s := range jsSuites {
		t.Run(strings.TrimSuffix(s.file, ".test.mjs"), func(t *testing.T) {
			t.Parallel()
			srv := testutil.RunServer(t, s.config)
			env := append(os.Environ(),
				"ROTOR_WS_URL="+srv.WSURL,
				"ROTOR_HTTP_URL="+srv.URL,
				"ROTOR_API_KEY="+srv.Config.APIKey,
				"NO_COLOR=1",
			)
			for name, tok := range s.tokens(t, srv) {
				env = append(env, "ROTOR_TOKEN_"+name+"="+tok)
			}
			runNode(t, node, env, "--test", "--test-reporter=spec", s.file)
		})
	}
}

// TestJSSuitesListed makes sure every JS test file is run by TestJSClient.
func TestJSSuitesListed(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(jsDir, "*.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.test.mjs files in %s", jsDir)
	}
	listed := map[string]bool{}
	for _, s := range jsSuites {
		listed[s.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in jsSuites, so it never runs", filepath.Base(f))
		}
	}
}

// requireJS returns the path of node, failing the test (never skipping) when
// node or the JS dependencies are missing.
func requireJS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: run `make deps` (installs Node.js and the tests/js dependencies): %v", err)
	}
	for _, mod := range []string{"centrifuge", "ws"} {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", mod, "package.json")); err != nil {
			t.Fatalf("tests/js/node_modules/%s is missing: run `make deps` (npm ci in tests/js): %v", mod, err)
		}
	}
	return node
}

// runNode runs node with args in tests/js, streams its output to the test
// log line by line, and fails the test if it exits non-zero or times out.
func runNode(t *testing.T, node string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), jsFileTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = jsDir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		// Drain whatever a too-long line left, so node never blocks.
		_, _ = io.Copy(io.Discard, pr)
	}()

	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()

	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node %s: timed out after %v", strings.Join(args, " "), jsFileTimeout)
	}
	if err != nil {
		t.Fatalf("node %s: %v (the failing JS tests are in the log above)", strings.Join(args, " "), err)
	}
}
