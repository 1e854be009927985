package node

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
)

func hubClient(t *testing.T, n *Node, user string, proto protocol.Type) (*Client, *sinkTransport) {
	t.Helper()
	tr := newSink(proto)
	c, err := n.NewClient(tr, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.status = statusConnected
	c.user = user
	c.mu.Unlock()
	return c, tr
}

func TestHubConnections(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	h := newHub()
	a1, _ := hubClient(t, n, "a", protocol.TypeJSON)
	a2, _ := hubClient(t, n, "a", protocol.TypeJSON)
	b, _ := hubClient(t, n, "b", protocol.TypeJSON)
	for _, c := range []*Client{a1, a2, b} {
		h.addConn(c)
	}
	if clients, users := h.counts(); clients != 3 || users != 2 {
		t.Fatalf("counts = %d, %d", clients, users)
	}
	if got := len(h.userConns("a")); got != 2 {
		t.Fatalf("user a has %d connections", got)
	}
	h.removeConn(a1)
	h.removeConn(a1) // twice is harmless
	if got := h.userConns("a"); len(got) != 1 || got[0] != a2 {
		t.Fatalf("user a connections = %v", got)
	}
	h.removeConn(a2)
	if clients, users := h.counts(); clients != 1 || users != 1 || len(h.allConns()) != 1 {
		t.Fatalf("after removal: %d clients, %d users", clients, users)
	}
}

func TestHubSubscriptions(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	h := newHub()
	c1, tr1 := hubClient(t, n, "1", protocol.TypeJSON)
	c2, tr2 := hubClient(t, n, "2", protocol.TypeProtobuf)
	s1, s2 := &clientSub{}, &clientSub{}
	if !h.addSub("ch", c1, s1) {
		t.Fatal("first subscriber not reported first")
	}
	if h.addSub("ch", c2, s2) {
		t.Fatal("second subscriber reported first")
	}
	// Not ready: broadcasts skip both.
	pub := &Publication{Data: []byte(`{"n":1}`)}
	if err := h.broadcastPublication("ch", pub, StreamPosition{}, false); err != nil {
		t.Fatal(err)
	}
	tr1.noFrame(t, 20*time.Millisecond)
	h.setSubReady("ch", c1, s1, nil)
	h.setSubReady("ch", c2, s2, nil)
	if err := h.broadcastPublication("ch", pub, StreamPosition{}, false); err != nil {
		t.Fatal(err)
	}
	if r := tr1.reply(t); string(r.Push.Pub.Data) != `{"n":1}` {
		t.Fatalf("json subscriber got %v", r)
	}
	if r := tr2.reply(t); string(r.Push.Pub.Data) != `{"n":1}` {
		t.Fatalf("protobuf subscriber got %v", r)
	}
	if h.numSubscribers("ch") != 2 {
		t.Fatalf("subscribers = %d", h.numSubscribers("ch"))
	}
	if removed, last := h.removeSub("ch", c1, s1); !removed || last {
		t.Fatalf("remove c1: removed %v last %v", removed, last)
	}
	if removed, _ := h.removeSub("ch", c1, nil); removed {
		t.Fatal("c1 removed twice")
	}
	if removed, _ := h.removeSub("ch", c2, &clientSub{}); removed {
		t.Fatal("c2 removed with another subscription")
	}
	if removed, last := h.removeSub("ch", c2, s2); !removed || !last {
		t.Fatalf("remove c2: removed %v last %v", removed, last)
	}
	seen := 0
	h.channels(func(string, int) { seen++ })
	if seen != 0 {
		t.Fatalf("%d channels left", seen)
	}
}

func TestHubConcurrentUse(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	h := newHub()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, _ := hubClient(t, n, fmt.Sprint(i), protocol.TypeJSON)
			for j := 0; j < 200; j++ {
				ch := fmt.Sprintf("ch%d", j%7)
				h.addConn(c)
				sub := &clientSub{}
				h.addSub(ch, c, sub)
				h.setSubReady(ch, c, sub, nil)
				_ = h.broadcastPublication(ch, &Publication{Data: []byte(`1`)}, StreamPosition{}, false)
				h.removeSub(ch, c, sub)
				h.removeConn(c)
			}
		}(i)
	}
	wg.Wait()
	if clients, _ := h.counts(); clients != 0 {
		t.Fatalf("%d clients left", clients)
	}
}
