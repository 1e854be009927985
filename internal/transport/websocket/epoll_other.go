//go:build !linux

package websocket

import "syscall"

// pollState is empty: without epoll each connection is read by a
// goroutine of its own.
type pollState struct{}

// describe says how the engine reads connections, for the start log.
func (e *epollEngine) describe() string {
	return "one goroutine per connection (no epoll on this system)"
}

// preparePoll does nothing without epoll.
func (c *conn) preparePoll() {}

// startReading reads the connection on a goroutine of its own.
func (c *conn) startReading() { go c.readLoop() }

// unregister does nothing without epoll.
func (c *conn) unregister() {}

// writeNow writes nothing without epoll: every write goes through the
// runtime's poller.
func (c *conn) writeNow(b []byte) (int, error) { return 0, nil }

// CanWriteNoWait implements node.NoWaitWriter: without epoll nothing is
// written without waiting.
func (c *conn) CanWriteNoWait() bool { return false }

// writeNoWait writes nothing without epoll.
func writeNoWait(rc syscall.RawConn, b []byte) (int, error) { return 0, nil }
