package node

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// BenchmarkBroadcast1000 measures one publication fanned out to 1000
// subscribers (half JSON, half Protobuf) on one node: one encode per
// protocol, one enqueue per subscriber.
func BenchmarkBroadcast1000(b *testing.B) {
	n := testNode(b, func(c *config.Config) { c.ClientQueueMaxSize = 1 << 30 })
	for _, c := range subscribeClients(b, n, "room", 1000) {
		// Drop written frames: the benchmark measures the fan-out.
		c.w.write = func([]byte) error { return nil }
	}
	data := []byte(`{"text":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901"}`)
	b.ReportAllocs()
	for b.Loop() {
		// The hub's fan-out itself, as the dispatcher runs it.
		if err := n.hub.broadcastPublication("room", &Publication{Data: data}, StreamPosition{}, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePublication measures the encode a broadcast makes once per
// protocol: a 100-byte publication with an offset into its push frame.
func BenchmarkEncodePublication(b *testing.B) {
	data := []byte(`{"text":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901"}`)
	for _, p := range []protocol.Type{protocol.TypeJSON, protocol.TypeProtobuf} {
		b.Run(string(p), func(b *testing.B) {
			pub := &Publication{Data: data, Offset: 42, Info: &ClientInfo{Client: "c1", User: "u1"}}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				enc := pubEncoding{channel: "room", pub: pub}
				frame, err := enc.get(p, encPlain)
				if err != nil {
					b.Fatal(err)
				}
				n = len(frame)
			}
			if n < len(data) {
				b.Fatalf("frame of %d bytes for %d bytes of data", n, len(data))
			}
		})
	}
}

// BenchmarkIdleClientMemory reports the heap one connected client holds
// while idle, subscribed to a channel of its own (the idle scenario's
// shape), without its transport: the node's share of a connection's memory.
func BenchmarkIdleClientMemory(b *testing.B) {
	const clients = 10000
	for b.Loop() {
		b.StopTimer()
		n := testNode(b, func(c *config.Config) { c.AllowSubscribeForClient = true })
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		keep := make([]*Client, 0, clients)
		b.StartTimer()
		for i := range clients {
			c, err := n.NewClient(discardTransport{}, ClientOptions{})
			if err != nil {
				b.Fatal(err)
			}
			c.HandleFrame([]byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(b, n, fmt.Sprint(i), 0))))
			c.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"subscribe":{"channel":"ch%d"}}`, i)))
			keep = append(keep, c)
		}
		b.StopTimer()
		// Let the replies' flushes end (their goroutines and buffers go).
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		for _, c := range keep {
			if c.status != statusConnected || len(c.subs) != 1 {
				b.Fatalf("client not connected and subscribed: status %v, %d subscriptions", c.status, len(c.subs))
			}
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/clients, "heap-B/client")
		runtime.KeepAlive(keep)
		b.StartTimer()
	}
}

// discardTransport drops what is written to it.
type discardTransport struct{}

func (discardTransport) Name() string            { return "discard" }
func (discardTransport) Protocol() protocol.Type { return protocol.TypeJSON }
func (discardTransport) Write([]byte) error      { return nil }
func (discardTransport) Close(Disconnect) error  { return nil }
