package testutil

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// NewLogger returns a debug-level logger writing to t's log, so the output of
// a server shows up next to the test that failed (and with go test -v).
// Records logged after the test has finished (and its cleanups have run) are
// dropped: testing forbids logging then.
func NewLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter turns each Write (one slog record) into one t.Log line.
type testWriter struct {
	t testing.TB

	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
