//go:build !linux

package bench

// readState: without epoll each connection has a reader goroutine.
type readState struct{}

// startReading starts c's reader goroutine.
func (r *runner) startReading(c *conn) error {
	r.readOnGoroutine(c)
	return nil
}

func (r *runner) stopReading(*conn) {}

func (r *runner) stopPollers() {}

// pollers: none without epoll.
type pollers struct{}
