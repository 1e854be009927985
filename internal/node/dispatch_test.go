package node

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Events of one channel leave the dispatcher in the order they were added,
// whatever the number of producers and channels, also when some of them
// run on the producer's goroutine (small channels, idle queue).
func TestDispatcherKeepsPerChannelOrder(t *testing.T) {
	t.Parallel()
	for name, small := range map[string]func(string) bool{
		"queued": nil,
		"mixed":  func(ch string) bool { return len(ch)%2 == 0 },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDispatcherOrder(t, small)
		})
	}
}

func testDispatcherOrder(t *testing.T, small func(string) bool) {
	const channels, perChannel = 50, 400
	var mu sync.Mutex
	got := map[string][]uint64{}
	var done sync.WaitGroup
	done.Add(channels * perChannel)
	d := newDispatcher(func(ev dispatchEvent) {
		mu.Lock()
		got[ev.channel] = append(got[ev.channel], ev.pub.Offset)
		mu.Unlock()
		done.Done()
	}, small)
	var producers sync.WaitGroup
	for c := range channels {
		producers.Add(1)
		go func() {
			defer producers.Done()
			ch := fmt.Sprintf("ch%d", c)
			for i := range perChannel {
				d.add(dispatchEvent{channel: ch, pub: &Publication{Offset: uint64(i + 1)}})
			}
		}()
	}
	producers.Wait()
	done.Wait()
	for ch, offs := range got {
		if len(offs) != perChannel {
			t.Fatalf("%s: %d events, want %d", ch, len(offs), perChannel)
		}
		for i, o := range offs {
			if o != uint64(i+1) {
				t.Fatalf("%s: event %d has offset %d, want %d", ch, i, o, i+1)
			}
		}
	}
}

// A full queue makes the producer wait until the fan-out made room, and an
// empty queue holds no goroutine.
func TestDispatcherBoundsQueueAndEndsIdle(t *testing.T) {
	before := runtime.NumGoroutine()
	running := make(chan struct{})
	release := make(chan struct{})
	var ran sync.WaitGroup
	total := dispatchQueueMax + 2
	ran.Add(total)
	d := newDispatcher(func(ev dispatchEvent) {
		if ev.pub.Offset == 1 {
			close(running)
			<-release
		}
		ran.Done()
	}, nil)
	// The first event holds the drain; the next dispatchQueueMax fill the
	// queue; the last one must wait for room.
	d.add(dispatchEvent{channel: "c", pub: &Publication{Offset: 1}})
	<-running
	for i := 2; i < total; i++ {
		d.add(dispatchEvent{channel: "c", pub: &Publication{Offset: uint64(i)}})
	}
	added := make(chan struct{})
	go func() {
		d.add(dispatchEvent{channel: "c", pub: &Publication{Offset: uint64(total)}})
		close(added)
	}()
	select {
	case <-added:
		t.Fatal("add returned while the queue was full")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		t.Fatal("add still waits after the queue drained")
	}
	ran.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after draining, want at most %d (the drain goroutine ended)", n, before)
	}
}

// A small channel's event runs on the caller's goroutine when its queue is
// idle, and is queued behind the events already waiting otherwise.
func TestDispatcherRunsSmallFanOutInline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	running := make(chan struct{})
	ran := make(chan string, 4)
	d := newDispatcher(func(ev dispatchEvent) {
		if ev.channel == "big" {
			close(running)
			<-release
		}
		ran <- ev.channel
	}, func(ch string) bool { return ch != "big" })
	d.add(dispatchEvent{channel: "small", pub: &Publication{}})
	select {
	case ch := <-ran:
		if ch != "small" {
			t.Fatalf("ran %q, want small", ch)
		}
	default:
		t.Fatal("a small event on an idle queue was not run before add returned")
	}
	// Single queue: make both channels share it.
	d.queues = d.queues[:1]
	d.add(dispatchEvent{channel: "big", pub: &Publication{}})
	<-running
	d.add(dispatchEvent{channel: "small", pub: &Publication{}})
	select {
	case ch := <-ran:
		t.Fatalf("ran %q while the queue was busy, want it queued", ch)
	default:
	}
	close(release)
	for _, want := range []string{"big", "small"} {
		select {
		case ch := <-ran:
			if ch != want {
				t.Fatalf("ran %q, want %q", ch, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not run", want)
		}
	}
}
