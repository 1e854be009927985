package warm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			if len(state) > 0 {
				what += " (" + state[0]() + ")"
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEveryValueRunsOnce(t *testing.T) {
	const n = 10000
	var seen [n]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	p := New(4, func(i int) {
		seen[i].Add(1)
		wg.Done()
	})
	defer p.Close()
	var callers sync.WaitGroup
	for c := range 4 {
		callers.Go(func() {
			for i := c; i < n; i += 4 {
				p.Go(i)
			}
		})
	}
	callers.Wait()
	wg.Wait()
	for i := range seen {
		if got := seen[i].Load(); got != 1 {
			t.Fatalf("value %d ran %d times, want 1", i, got)
		}
	}
}

// settledGoroutines returns the number of goroutines once it has held for
// 20 ms, so that goroutines of earlier tests that are ending do not count.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for stable := 0; stable < 20; stable++ {
		time.Sleep(time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, stable = m, 0
		}
	}
	return n
}

func TestParkedGoroutinesAreBoundedAndReused(t *testing.T) {
	base := settledGoroutines()
	release := make(chan struct{})
	var running atomic.Int32
	p := New(2, func(int) {
		running.Add(1)
		<-release
		running.Add(-1)
	})
	// Five at once: none is parked, so each starts a goroutine.
	for i := range 5 {
		p.Go(i)
	}
	waitFor(t, "five running", func() bool { return running.Load() == 5 })
	close(release)
	waitFor(t, "two parked and the others gone", func() bool {
		return p.Parked() == 2 && runtime.NumGoroutine() == base+2
	}, func() string {
		return fmt.Sprintf("parked %d, goroutines %d, base %d", p.Parked(), runtime.NumGoroutine(), base)
	})

	// The parked ones take the next values: no goroutine is added.
	for i := range 2 {
		p.Go(i)
	}
	waitFor(t, "two parked again", func() bool { return p.Parked() == 2 && running.Load() == 0 })
	if got := runtime.NumGoroutine(); got != base+2 {
		t.Fatalf("goroutines: %d, want %d (the two parked)", got, base+2)
	}

	p.Close()
	waitFor(t, "parked goroutines ended by Close", func() bool {
		return p.Parked() == 0 && runtime.NumGoroutine() == base
	})
	// Go still runs work after Close, and nothing stays parked.
	ran := make(chan int, 1)
	r := New(2, func(i int) { ran <- i })
	r.Close()
	r.Go(7)
	if got := <-ran; got != 7 {
		t.Fatalf("ran %d after Close, want 7", got)
	}
	waitFor(t, "no goroutine left after Close", func() bool { return runtime.NumGoroutine() == base })
}
