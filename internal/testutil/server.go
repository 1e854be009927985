// Package testutil starts real Rotor servers for tests and holds the small
// helpers tests share: polling instead of sleeping, tokens, server API calls.
//
// A test calls RunServer, which binds 127.0.0.1 on free ports and returns once
// the server accepts connections; the server is shut down when the test ends.
// Server logs go to the test's log at debug level, so a failing test shows
// what the server did.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/app"
	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
)

// ShutdownTimeout bounds how long the cleanup of RunServer waits for the
// server to shut down.
const ShutdownTimeout = 10 * time.Second

// apiTimeout bounds one server API call made by a test.
const apiTimeout = 10 * time.Second

// Server is a Rotor server started by RunServer.
type Server struct {
	// URL is the base URL of the HTTP server: http://127.0.0.1:port.
	URL string
	// WSURL is the client WebSocket endpoint: ws://127.0.0.1:port/connection/websocket.
	WSURL string
	// Config is the configuration the server runs with.
	Config config.Config
	// App is the running server.
	App *app.App

	tb testing.TB
}

// RunServer starts a server for the duration of the test. It starts from
// config.Defaults() with the HTTP server and the gRPC API on free loopback
// ports, a random HMAC token secret and a random API key; mutate (which may be
// nil) adjusts the config, which must then pass config.Validate. The server is
// shut down by a t.Cleanup.
func RunServer(t testing.TB, mutate func(*config.Config)) *Server {
	t.Helper()

	cfg := config.Defaults()
	cfg.Address = "127.0.0.1"
	cfg.Port = 0
	cfg.GRPCAPIAddress = "127.0.0.1"
	cfg.GRPCAPIPort = 0
	cfg.LogLevel = "debug"
	cfg.TokenHMACSecretKey = RandomString(t, 32)
	cfg.APIKey = RandomString(t, 16)
	if mutate != nil {
		mutate(&cfg)
	}
	// serve validates before building the app; so do tests, so that a test
	// config the server would refuse fails here, with every problem listed.
	if err := cfg.Validate(); err != nil {
		t.Fatalf("testutil: invalid config:\n%v", err)
	}

	log := NewLogger(t)
	a, err := app.New(cfg, log)
	if err != nil {
		t.Fatalf("testutil: building server: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("testutil: starting server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), ShutdownTimeout)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("testutil: server shutdown: %v", err)
		}
	})

	addr := a.Addr()
	if addr == "" {
		t.Fatal("testutil: server started but reports no HTTP address")
	}
	return &Server{
		URL:    "http://" + addr,
		WSURL:  "ws://" + addr + "/connection/websocket",
		Config: cfg,
		App:    a,
		tb:     t,
	}
}

// Token returns a connection token (HS256 JWT) for user that expires after
// ttl, signed with the server's secret. A failure to make one is reported on
// the test that started the server (with Errorf, safe from any goroutine) and
// gives "".
func (s *Server) Token(user string, ttl time.Duration) string {
	tok, err := auth.GenerateConnectToken(&s.Config, user, ttl)
	if err != nil {
		s.tb.Errorf("testutil: connection token for %q: %v", user, err)
		return ""
	}
	return tok
}

// SubToken returns a subscription token (HS256 JWT) allowing user to
// subscribe to channel, expiring after ttl, signed with the server's secret.
// Failures are reported like Token's.
func (s *Server) SubToken(user, channel string, ttl time.Duration) string {
	tok, err := auth.GenerateSubscriptionToken(&s.Config, user, channel, ttl)
	if err != nil {
		s.tb.Errorf("testutil: subscription token for %q in %q: %v", user, channel, err)
		return ""
	}
	return tok
}

// APICall calls POST /api/<method> of the server API with the server's API
// key and body encoded as JSON, and returns the decoded reply, which holds
// either "result" or "error". It fails the test on a transport error, a
// status other than 200 or a reply that is not a JSON object.
func (s *Server) APICall(t testing.TB, method string, body any) map[string]any {
	t.Helper()
	reply, status, err := s.postAPI(t.Context(), method, body)
	if err != nil {
		t.Fatalf("testutil: api %s: %v", method, err)
	}
	if status != http.StatusOK {
		t.Fatalf("testutil: api %s: status %d, body %s", method, status, reply)
	}
	var out map[string]any
	if err := json.Unmarshal(reply, &out); err != nil {
		t.Fatalf("testutil: api %s: reply is not a JSON object: %v (body %s)", method, err, reply)
	}
	return out
}

// APIResult is APICall for calls expected to succeed: it also fails the test
// when the reply carries an error, and returns the reply's "result" object
// (empty when the reply has none).
func (s *Server) APIResult(t testing.TB, method string, body any) map[string]any {
	t.Helper()
	reply := s.APICall(t, method, body)
	if e, ok := reply["error"]; ok && e != nil {
		t.Fatalf("testutil: api %s: error reply %v", method, e)
	}
	res, _ := reply["result"].(map[string]any)
	if res == nil {
		res = map[string]any{}
	}
	return res
}

func (s *Server) postAPI(ctx context.Context, method string, body any) ([]byte, int, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding body: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/"+method, bytes.NewReader(payload))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", s.Config.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading reply: %w", err)
	}
	return reply, resp.StatusCode, nil
}

// RandomString returns n random bytes as hex (2n characters).
func RandomString(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testutil: random: %v", err)
	}
	return hex.EncodeToString(b)
}
