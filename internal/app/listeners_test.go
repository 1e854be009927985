package app

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
)

// freePort returns a port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// apiCalls makes n info calls on one keep-alive connection to addr and
// returns their statuses.
func apiCalls(t *testing.T, addr, key string, n int) []int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var statuses []int
	for range n {
		req := "POST /api/info HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key + "\r\nContent-Length: 2\r\n\r\n{}"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("call %d: %v", len(statuses), err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && !strings.Contains(string(body), `"nodes"`) {
			t.Fatalf("info answer: %s", body)
		}
		statuses = append(statuses, resp.StatusCode)
	}
	return statuses
}

// The HTTP API answers keep-alive connections on the port it is on, for
// both engines: the client port by default, internal_port when set (the
// client port then has no API).
func TestAPIListeners(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"epoll", "gorilla"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, func(c *config.Config) { c.WebsocketEngine = engine; c.APIKey = "k" })
			if got := apiCalls(t, a.Addr(), "k", 3); !slices.Equal(got, []int{200, 200, 200}) {
				t.Errorf("client port: %v", got)
			}
			if got := apiCalls(t, a.Addr(), "wrong", 2); !slices.Equal(got, []int{401, 401}) {
				t.Errorf("wrong key: %v", got)
			}

			port := freePort(t)
			b := startApp(t, func(c *config.Config) {
				c.WebsocketEngine = engine
				c.APIKey = "k"
				c.InternalAddress, c.InternalPort = "127.0.0.1", port
			})
			internal := b.listeners[1].Addr().String()
			if got := apiCalls(t, internal, "k", 3); !slices.Equal(got, []int{200, 200, 200}) {
				t.Errorf("internal port: %v", got)
			}
			if got := apiCalls(t, b.Addr(), "k", 1); !slices.Equal(got, []int{404}) {
				t.Errorf("client port with internal_port set: %v", got)
			}
		})
	}
}
