package node

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// connRateLogEvery bounds how often refusals by the connection rate limit
// are logged.
const connRateLogEvery = 3 * time.Second

// connRate is the node's limit of new connections per second
// (client_connection_rate_limit): a token bucket refilled at that rate and
// holding at most one second's worth.
type connRate struct {
	lim *rate.Limiter
	// now is the clock; tests replace it.
	now func() time.Time

	mu       sync.Mutex
	loggedAt time.Time
	refused  int
}

func newConnRate(perSecond int) *connRate {
	if perSecond <= 0 {
		return nil
	}
	return &connRate{lim: rate.NewLimiter(rate.Limit(perSecond), perSecond), now: time.Now}
}

// AllowConnection reports whether a new connection may be accepted under
// client_connection_rate_limit; transports call it before the handshake
// and refuse the connection (HTTP 503) when it reports false. Refusals are
// logged at most every few seconds, with how many there were.
func (n *Node) AllowConnection() bool {
	r := n.connRate
	if r == nil {
		return true
	}
	now := r.now()
	if r.lim.AllowN(now, 1) {
		return true
	}
	r.mu.Lock()
	r.refused++
	if now.Sub(r.loggedAt) >= connRateLogEvery {
		n.log.Warn("connection rate limit reached: new connections refused",
			"key", "client_connection_rate_limit", "limit_per_second", n.cfg.ClientConnectionRateLimit, "refused", r.refused)
		r.loggedAt = now
		r.refused = 0
	}
	r.mu.Unlock()
	return false
}
