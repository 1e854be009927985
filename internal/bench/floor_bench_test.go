package bench

import (
	"io"
	"net"
	"os"
	"testing"
)

// The floor under one delivery: what the machine charges for the write(2)
// every delivery ends in, whatever the server does around it. docs/
// PERFORMANCE.md compares the fan-out's CPU per delivery with these.
//
//	go test -run '^$' -bench Floor -count=3 ./internal/bench/

// BenchmarkFloorSyscall is the cheapest system call there is.
func BenchmarkFloorSyscall(b *testing.B) {
	for b.Loop() {
		_ = os.Getppid()
	}
}

// BenchmarkFloorLoopbackWrite writes 130 bytes, a 100-byte publication in
// its frame, to a loopback TCP connection whose reader waits for data, as
// a subscriber's client does: on loopback the sender's call also does the
// receiving side's work and wakes the reader.
func BenchmarkFloorLoopbackWrite(b *testing.B) {
	msg := make([]byte, 130)
	b.Run("reader-waiting", func(b *testing.B) {
		w := loopbackPair(b)
		for b.Loop() {
			if _, err := w.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batched-10", func(b *testing.B) {
		// Ten such messages per write: what a write delay buys.
		w := loopbackPair(b)
		batch := make([]byte, 10*len(msg))
		for b.Loop() {
			if _, err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10, "ns/msg")
	})
}

// loopbackPair returns the writing end of a loopback TCP connection whose
// other end a goroutine reads and discards.
func loopbackPair(b *testing.B) net.Conn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r, ok := <-accepted
	if !ok {
		b.Fatal("accept failed")
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	b.Cleanup(func() {
		_ = w.Close()
		_ = r.Close()
	})
	return w
}
