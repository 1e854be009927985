package node

import (
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
)

func TestAllowConnectionRate(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) { c.ClientConnectionRateLimit = 3 })
	now := time.Unix(1000, 0)
	n.connRate.now = func() time.Time { return now }
	// A second's worth at once, then nothing until tokens come back.
	for i := range 3 {
		if !n.AllowConnection() {
			t.Fatalf("connection %d refused within the limit", i+1)
		}
	}
	if n.AllowConnection() {
		t.Fatal("fourth connection in the same instant accepted")
	}
	now = now.Add(time.Second / 3)
	if !n.AllowConnection() {
		t.Fatal("refused after a third of a second refilled one token")
	}
	if n.AllowConnection() {
		t.Fatal("accepted a second one after one token refilled")
	}
	now = now.Add(time.Hour)
	for i := range 3 {
		if !n.AllowConnection() {
			t.Fatalf("after a long pause, connection %d refused", i+1)
		}
	}
	if n.AllowConnection() {
		t.Fatal("a long pause stored more than one second's worth")
	}
}

func TestAllowConnectionUnlimited(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	for range 10000 {
		if !n.AllowConnection() {
			t.Fatal("refused with client_connection_rate_limit 0")
		}
	}
}
