package node

import (
	"fmt"
	"testing"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// BenchmarkBroadcast1000 measures one publication fanned out to 1000
// subscribers (half JSON, half Protobuf) on one node: one encode per
// protocol, one enqueue per subscriber.
func BenchmarkBroadcast1000(b *testing.B) {
	n := testNode(b, func(c *config.Config) { c.ClientQueueMaxSize = 1 << 30 })
	for i := 0; i < 1000; i++ {
		proto := protocol.TypeJSON
		if i%2 == 1 {
			proto = protocol.TypeProtobuf
		}
		tr := newSink(proto)
		c, err := n.NewClient(tr, ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		// Drop written frames: the benchmark measures the fan-out.
		c.w.write = func([]byte) error { return nil }
		c.mu.Lock()
		c.status = statusConnected
		c.user = fmt.Sprint(i)
		sub := &clientSub{}
		c.subs["room"] = sub
		c.mu.Unlock()
		n.hub.addSub("room", c, sub)
		n.hub.setSubReady("room", c, sub, nil)
	}
	data := []byte(`{"text":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := n.HandlePublication("room", &Publication{Data: data}, StreamPosition{}, false); err != nil {
			b.Fatal(err)
		}
	}
}
