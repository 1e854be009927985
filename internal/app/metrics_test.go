package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

func scrape(t *testing.T, a *App) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// With prometheus on, /metrics reports the node's clients, users, channels
// and subscriptions as they are; with it off there is no /metrics.
func TestPrometheusMetrics(t *testing.T) {
	t.Parallel()
	if code, _ := scrape(t, startApp(t, nil)); code != http.StatusNotFound {
		t.Fatalf("prometheus off: /metrics status %d, want 404", code)
	}
	a := startApp(t, func(c *config.Config) { c.Prometheus = true })
	for i, user := range []string{"u1", "u1", "u2"} {
		c, _, err := dial(t, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		frame := fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`+"\n"+`{"id":2,"subscribe":{"channel":"ch%d"}}`, tok(t, a, user), i%2)
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		for got := ""; strings.Count(got, `"id":`) < 2; {
			got += readText(t, c) + "\n"
		}
	}
	want := []string{
		"centrifugo_node_num_clients 3",
		"centrifugo_node_num_users 2",
		"centrifugo_node_num_channels 2",
		"centrifugo_node_num_subscriptions 3",
		"centrifugo_node_num_nodes 1",
		`centrifugo_node_build{version="` + node.Version + `"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := scrape(t, a)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, "\n"+w) {
				missing = w
				break
			}
		}
		if code == http.StatusOK && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics status %d, missing %q in:\n%s", code, missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
