//go:build !linux

package bench

import (
	"errors"
	"io"
)

// readState: without epoll each connection has a reader goroutine.
type readState struct{}

// startReading starts c's reader goroutine.
func (r *runner) startReading(c *conn) error {
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		buf := make([]byte, readBufferSize)
		for {
			n, err := c.nc.Read(buf)
			if n > 0 {
				if ferr := c.feed(buf[:n]); ferr != nil {
					r.end(c, ferr)
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("EOF")
				}
				r.end(c, err)
				return
			}
		}
	}()
	return nil
}

func (r *runner) stopReading(*conn) {}

func (r *runner) stopPollers() {}

// pollers: none without epoll.
type pollers struct{}
