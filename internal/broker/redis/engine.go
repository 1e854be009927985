// Package redis is the Redis engine: a node.Broker and node.PresenceManager
// on Redis (standalone, several standalone servers as shards, Sentinel, or
// Cluster) through github.com/redis/rueidis, so that several nodes share
// publications, history, presence and control messages.
//
// Keys, with P the prefix and {ch} written with braces only on a Cluster
// (a hash tag keeps a channel's keys in one slot):
//
//	P.stream.{ch}          history: a Stream, entry ID = offset, field d = protobuf Publication
//	P.stream.meta.{ch}     stream position: hash e = epoch, s = top offset
//	P.result.{ch}.<key>    idempotent publish result: hash e, s
//	P.presence.data.{ch}   presence: hash client id -> protobuf ClientInfo
//	P.presence.expire.{ch} presence: sorted set client id -> expiry (Unix ms)
//
// PUB/SUB channels: P.client.<ch> carries a channel's publications
// ("__p1:<offset>:<epoch>__" + protobuf Publication) and join/leave events
// ("__j__" / "__l__" + protobuf ClientInfo); P.control carries control
// messages to every node. Publishing and adding to history happen in one
// Lua script, so PUB/SUB order is offset order.
//
// Each shard keeps one dedicated PUB/SUB connection, subscribed to the
// control channel and to the channels this node has subscribers in. When
// the connection breaks (Redis restarts, fails over, or is unreachable) the
// engine dials again, after 100ms and then backing off to once a second,
// and resubscribes to all of them. Subscribe fails with ErrPubSubDown
// meanwhile. Publications sent while the connection was down are lost to
// this node: the node notices the gap in offsets (recovery, position
// checks) as with any lost message.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "embed"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/internal/node"
)

var (
	//go:embed lua/publish.lua
	publishSource string
	//go:embed lua/publish_raw.lua
	publishRawSource string
	//go:embed lua/history.lua
	historySource string
	//go:embed lua/presence_add.lua
	presenceAddSource string
	//go:embed lua/presence_remove.lua
	presenceRemoveSource string
	//go:embed lua/presence_get.lua
	presenceGetSource string
)

// Engine is the Redis engine. Its methods are safe for concurrent use.
type Engine struct {
	prefix string
	log    *slog.Logger
	shards []*shard

	clientPrefix   string // P.client.
	controlChannel string // P.control

	publishScript        *rueidis.Lua
	publishRawScript     *rueidis.Lua
	historyScript        *rueidis.Lua
	presenceAddScript    *rueidis.Lua
	presenceRemoveScript *rueidis.Lua
	presenceGetScript    *rueidis.Lua

	handler node.BrokerEventHandler
	running atomic.Bool

	closeOnce sync.Once
	closing   chan struct{}
	wg        sync.WaitGroup

	// lastDropLog rate-limits the log of PUB/SUB messages dropped on a full
	// worker queue (Unix ns).
	lastDropLog atomic.Int64
	dropped     atomic.Int64
}

var (
	_ node.Broker          = (*Engine)(nil)
	_ node.PresenceManager = (*Engine)(nil)
)

// New returns an engine connected to the shards of cfg (connections are
// dialled here; an unreachable shard is an error). Run starts its PUB/SUB;
// Close releases everything.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("redis: no shards configured")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{
		prefix:               prefix,
		log:                  log,
		clientPrefix:         prefix + ".client.",
		controlChannel:       prefix + ".control",
		publishScript:        rueidis.NewLuaScript(publishSource),
		publishRawScript:     rueidis.NewLuaScript(publishRawSource),
		historyScript:        rueidis.NewLuaScript(historySource),
		presenceAddScript:    rueidis.NewLuaScript(presenceAddSource),
		presenceRemoveScript: rueidis.NewLuaScript(presenceRemoveSource),
		presenceGetScript:    rueidis.NewLuaScript(presenceGetSource),
		closing:              make(chan struct{}),
	}
	for i, sc := range cfg.Shards {
		s, err := newShard(e, i, sc)
		if err != nil {
			for _, prev := range e.shards {
				prev.client.Close()
			}
			return nil, fmt.Errorf("redis: shard %d: %w", i, err)
		}
		e.shards = append(e.shards, s)
	}
	if len(e.shards) > 1 {
		log.Info("redis sharding enabled", "shards", len(e.shards))
	}
	return e, nil
}

// shard is one Redis setup and this node's PUB/SUB connection to it.
type shard struct {
	e         *Engine
	index     int
	name      string // for logs: the first address
	client    rueidis.Client
	cluster   bool
	ioTimeout time.Duration

	// mu guards channels and conn. channels are the PUB/SUB channels
	// (P.client.<ch>) this node wants; conn is the live PUB/SUB connection,
	// nil while there is none.
	mu       sync.Mutex
	channels map[string]struct{}
	conn     rueidis.DedicatedClient

	// workers deliver PUB/SUB messages to the node: one queue per worker,
	// a channel always on the same one, so a channel's messages keep their
	// order. control delivers control messages, in order too.
	workers []chan rueidis.PubSubMessage
	control chan rueidis.PubSubMessage
}

const (
	// workerQueueSize bounds the messages waiting for one worker. The
	// connection's read loop must never block (it also reads the replies
	// of SUBSCRIBE calls), so a message arriving at a full queue is
	// dropped and logged; the node sees the offset gap.
	workerQueueSize = 4096
	// reconnectDelay is the pause before dialling a broken PUB/SUB
	// connection again; it doubles up to maxReconnectDelay while attempts
	// fail, so a restarted Redis is noticed within about a second.
	reconnectDelay    = 100 * time.Millisecond
	maxReconnectDelay = time.Second
	// subscribeBatch bounds the channels of one SUBSCRIBE on resubscribe.
	subscribeBatch = 512
)

func newShard(e *Engine, index int, sc ShardConfig) (*shard, error) {
	opt, err := sc.clientOption()
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", opt.InitAddress, err)
	}
	s := &shard{
		e:         e,
		index:     index,
		name:      strings.Join(opt.InitAddress, ","),
		client:    client,
		cluster:   len(sc.ClusterAddresses) > 0,
		ioTimeout: orDefault(sc.IOTimeout, defaultIOTimeout),
		channels:  make(map[string]struct{}),
		control:   make(chan rueidis.PubSubMessage, workerQueueSize),
	}
	n := max(runtime.GOMAXPROCS(0), 2)
	s.workers = make([]chan rueidis.PubSubMessage, n)
	for i := range s.workers {
		s.workers[i] = make(chan rueidis.PubSubMessage, workerQueueSize)
	}
	return s, nil
}

// shardFor returns the shard holding channel.
func (e *Engine) shardFor(channel string) *shard {
	return e.shards[shardIndex(channel, len(e.shards))]
}

// Run implements node.Broker: it starts the PUB/SUB connection of every
// shard and returns once each is subscribed to the control channel, or the
// first error.
func (e *Engine) Run(h node.BrokerEventHandler) error {
	if h == nil {
		return errors.New("redis: nil handler")
	}
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("redis: already running")
	}
	e.handler = h
	started := make([]chan error, len(e.shards))
	for i, s := range e.shards {
		started[i] = make(chan error, 1)
		s.startWorkers()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			s.runPubSub(started[i])
		}()
	}
	for i, ch := range started {
		if err := <-ch; err != nil {
			e.stop()
			return fmt.Errorf("redis: shard %d (%s): PUB/SUB: %w", i, e.shards[i].name, err)
		}
	}
	return nil
}

// Close implements node.Broker: it stops the PUB/SUB connections and
// workers and closes the clients.
func (e *Engine) Close() error {
	e.stop()
	return nil
}

func (e *Engine) stop() {
	e.closeOnce.Do(func() {
		close(e.closing)
		e.wg.Wait()
		for _, s := range e.shards {
			s.client.Close()
		}
	})
}

// Ping checks that every shard answers, for health checks.
func (e *Engine) Ping(ctx context.Context) error {
	for _, s := range e.shards {
		cctx, cancel := s.callContext(ctx)
		err := s.client.Do(cctx, s.client.B().Ping().Build()).Error()
		cancel()
		if err != nil {
			return fmt.Errorf("redis: shard %d (%s): %w", s.index, s.name, err)
		}
	}
	return nil
}

// callContext bounds a call by the shard's I/O timeout.
func (s *shard) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.ioTimeout)
}

// key builds P.<kind>.<channel>, with the channel as a hash tag on a
// Cluster so that all keys of a channel share a slot.
func (s *shard) key(kind, channel string) string {
	var b strings.Builder
	b.Grow(len(s.e.prefix) + len(kind) + len(channel) + 4)
	b.WriteString(s.e.prefix)
	b.WriteByte('.')
	b.WriteString(kind)
	b.WriteByte('.')
	if s.cluster {
		b.WriteByte('{')
		b.WriteString(channel)
		b.WriteByte('}')
	} else {
		b.WriteString(channel)
	}
	return b.String()
}

// wrap adds the operation and shard to a Redis error.
func (s *shard) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redis %s (shard %d): %w", op, s.index, err)
}
