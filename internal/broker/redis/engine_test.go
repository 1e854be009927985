package redis_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/broker/brokertest"
	"github.com/rotorhq/rotor/internal/broker/redis"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/internal/testutil"
)

// setups are the Redis deployments the engine is tested against, each
// started for real on loopback ports.
var setups = []struct {
	name  string
	start func(t *testing.T) []redis.ShardConfig
}{
	{"Standalone", func(t *testing.T) []redis.ShardConfig {
		return []redis.ShardConfig{{Address: testutil.StartRedis(t).URL()}}
	}},
	{"TwoShards", func(t *testing.T) []redis.ShardConfig {
		a, b := testutil.StartRedis(t), testutil.StartRedis(t)
		return []redis.ShardConfig{{Address: a.Addr}, {Address: b.URL() + "/0"}}
	}},
	{"Cluster", func(t *testing.T) []redis.ShardConfig {
		return []redis.ShardConfig{{ClusterAddresses: testutil.StartRedisCluster(t).Addrs()}}
	}},
	{"Sentinel", func(t *testing.T) []redis.ShardConfig {
		rs := testutil.StartRedisSentinel(t)
		return []redis.ShardConfig{{SentinelAddresses: []string{rs.Sentinel.Addr}, SentinelMasterName: rs.MasterName}}
	}},
}

var prefixSeq atomic.Int64

// uniquePrefix returns a key prefix no other test uses.
func uniquePrefix() string {
	return fmt.Sprintf("rt%d-%d", time.Now().UnixNano(), prefixSeq.Add(1))
}

func newEngine(t testing.TB, shards []redis.ShardConfig, prefix string) *redis.Engine {
	t.Helper()
	e, err := redis.New(redis.Config{Shards: shards, Prefix: prefix, Logger: testutil.NewLogger(t)})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	return e
}

func TestContract(t *testing.T) {
	t.Parallel()
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			shards := setup.start(t)
			brokertest.Run(t, func(t *testing.T) (node.Broker, node.PresenceManager) {
				e := newEngine(t, shards, uniquePrefix())
				return e, e
			})
		})
	}
}
