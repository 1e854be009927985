// Package wait holds the waiting helpers of tests: polling for a condition
// and receiving from a channel, both bounded in time. It imports nothing of
// the project, so that the tests of any package can use it (testutil, which
// starts whole servers, cannot be imported by the packages it starts).
package wait

import (
	"testing"
	"time"
)

// Timeout is how long Receive waits for an event before failing the test.
const Timeout = 5 * time.Second

// CheckFor calls fn every poll until it returns nil, and fails the test with
// fn's last error if that has not happened within total. Tests use it instead
// of sleeping for something to happen.
func CheckFor(t testing.TB, total, poll time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(poll)
	}
}

// Receive returns the next value from ch, failing the test if none arrives
// within Timeout or ch is closed. what names the awaited event in the
// failure message.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("waiting for %s: channel closed", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("no %s within %v", what, Timeout)
	}
	panic("unreachable")
}
