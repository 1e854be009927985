package testutil

import (
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// WaitTimeout is how long Receive waits for an event before failing the test.
const WaitTimeout = wait.Timeout

// CheckFor calls fn every poll until it returns nil, and fails the test with
// fn's last error if that has not happened within total (see wait.CheckFor).
func CheckFor(t testing.TB, total, poll time.Duration, fn func() error) {
	t.Helper()
	wait.CheckFor(t, total, poll, fn)
}

// Receive returns the next value from ch, failing the test if none arrives
// within WaitTimeout or ch is closed (see wait.Receive).
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return wait.Receive(t, ch, what)
}
