package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/broker/redis"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/internal/testutil"
)

// discard is a node.BrokerEventHandler that drops everything.
type discard struct{}

func (discard) HandlePublication(string, *node.Publication, node.StreamPosition, bool) error {
	return nil
}
func (discard) HandleJoin(string, *node.ClientInfo) error  { return nil }
func (discard) HandleLeave(string, *node.ClientInfo) error { return nil }
func (discard) HandleControl([]byte) error                 { return nil }

var benchData = []byte(`{"input":"a typical small JSON message of about sixty bytes"}`)

// BenchmarkRedisPublish publishes with history (size 100, TTL 1 minute)
// through a real redis-server: one Lua script adds to the stream and
// publishes, one round trip per call.
func BenchmarkRedisPublish(b *testing.B) {
	srv := testutil.StartRedis(b)
	e, err := redis.New(redis.Config{Shards: []redis.ShardConfig{{Address: srv.Addr}}, Prefix: uniquePrefix()})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Run(discard{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	// The node has subscribers in the channels: every publication comes
	// back through PUB/SUB too.
	for _, ch := range []string{"bench", "bench0", "bench1", "bench2", "bench3"} {
		if err := e.Subscribe(ch); err != nil {
			b.Fatal(err)
		}
	}
	opts := node.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour}
	ctx := context.Background()

	b.Run("History", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Publish(ctx, "bench", benchData, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NoHistory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Publish(ctx, "bench", benchData, node.PublishOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// 16 goroutines per CPU publish to 4 channels: concurrent calls share
	// the client's pipelined connection.
	b.Run("HistoryParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			ch := fmt.Sprint("bench", seq.Add(1)%4)
			for pb.Next() {
				if _, err := e.Publish(ctx, ch, benchData, opts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
