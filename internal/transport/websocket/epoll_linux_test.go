//go:build linux

package websocket

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// TestIdleConnectionsHoldNoGoroutine connects 200 clients and checks that
// the server keeps no goroutine for them once they are idle. It is not
// parallel, so that other tests do not change the count.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	const conns = 200
	s := newTestServer(t, EngineEpoll, nil)
	s.connect(t, "warm-up")
	before := runtime.NumGoroutine()
	for i := range conns {
		s.connect(t, fmt.Sprint(i))
	}
	wait.CheckFor(t, waitTimeout, 10*time.Millisecond, func() error {
		// The clients' side of the connections starts no goroutine either.
		if d := runtime.NumGoroutine() - before; d > conns/10 {
			return fmt.Errorf("%d more goroutines with %d more idle connections", d, conns)
		}
		return nil
	})
}
