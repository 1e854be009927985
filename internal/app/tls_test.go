package app

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil/testtls"
)

// With tls on, the client port serves WebSocket and the HTTP API over TLS,
// for both engines, and nothing in plaintext.
func TestTLSServesWebSocketAndAPI(t *testing.T) {
	t.Parallel()
	cert, key, pool := testtls.SelfSigned(t)
	for _, engine := range []string{"epoll", "gorilla"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, func(c *config.Config) {
				c.TLS, c.TLSCert, c.TLSKey = true, cert, key
				c.WebsocketEngine = engine
				c.APIKey = "api-key"
			})
			tc := &tls.Config{RootCAs: pool}
			d := websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 5 * time.Second}
			c, _, err := d.Dial("wss://"+a.Addr()+"/connection/websocket", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"token":"`+tok(t, a, "ann")+`"}}`)); err != nil {
				t.Fatal(err)
			}
			if got := readText(t, c); !strings.Contains(got, `"id":1,"connect":{"client":`) {
				t.Fatalf("connect reply over TLS: %s", got)
			}

			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
			req, _ := http.NewRequest(http.MethodPost, "https://"+a.Addr()+"/api/info", strings.NewReader(`{}`))
			req.Header.Set("X-API-Key", "api-key")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("API over TLS: %s", resp.Status)
			}

			// Plaintext gets no WebSocket.
			if c, _, err := (&websocket.Dialer{HandshakeTimeout: 2 * time.Second}).Dial("ws://"+a.Addr()+"/connection/websocket", nil); err == nil {
				c.Close()
				t.Fatal("a plaintext handshake was served")
			}
		})
	}
}

// A certificate that cannot be used stops the start with the key to fix.
func TestTLSBadFilesNameTheKey(t *testing.T) {
	t.Parallel()
	cert, key, _ := testtls.SelfSigned(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key string
		want            []string
	}{
		{"missing cert", filepath.Join(t.TempDir(), "missing.pem"), key, []string{"tls_cert", "missing.pem"}},
		{"missing key", cert, filepath.Join(t.TempDir(), "missing.pem"), []string{"tls_key", "missing.pem"}},
		{"garbage cert", garbage, key, []string{"tls_cert", "garbage.pem"}},
		{"swapped", key, cert, []string{"tls_cert", "tls_key"}},
	} {
		cfg := config.Defaults()
		cfg.Address, cfg.Port = "127.0.0.1", 0
		cfg.TLS, cfg.TLSCert, cfg.TLSKey = true, tc.cert, tc.key
		a, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start()
		if err == nil {
			a.closeListeners()
			t.Fatalf("%s: started", tc.name)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", tc.name, err, w)
			}
		}
	}
}
