package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
)

// Version is the server version reported to clients, in the info API and by
// "rotor version". Builds set it with
// -ldflags "-X github.com/rotorhq/rotor/internal/node.Version=v1.2.3".
var Version = "dev"

// Node is one Rotor server: it owns the hub of connections and channels and
// talks to the broker. Its methods are safe for concurrent use.
type Node struct {
	cfg      *config.Config
	log      *slog.Logger
	broker   Broker
	presence PresenceManager
	verifier *auth.Verifier
	proxy    Proxy
	hub      *hub
	dispatch *dispatcher
	// fwdHeaders are the request headers a client keeps for proxies.
	fwdHeaders []string
	pinger     *pinger
	connRate   *connRate

	uid       string
	name      string
	startedAt time.Time

	// subsMu serialises the broker subscribe/unsubscribe decision for a
	// channel with the hub change that caused it.
	subLocks [numHubShards]sync.Mutex

	nodes   nodeRegistry
	surveys surveys
	closing atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Options holds what New needs besides the server configuration.
type Options struct {
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Broker; required.
	Broker Broker
	// PresenceManager keeps channel presence; nil means the broker when it
	// implements PresenceManager, else presence is not available (108).
	PresenceManager PresenceManager
	// Verifier checks connection and subscription tokens; nil builds one
	// from the configuration.
	Verifier *auth.Verifier
	// Proxy asks the application backend about client actions; nil means
	// no proxies.
	Proxy Proxy
}

// New creates a node from a validated configuration.
func New(cfg *config.Config, opts Options) (*Node, error) {
	if cfg == nil {
		return nil, errors.New("node: nil config")
	}
	if opts.Broker == nil {
		return nil, errors.New("node: no broker")
	}
	if cfg.PingInterval <= 0 || cfg.PongTimeout <= 0 || cfg.PongTimeout >= cfg.PingInterval {
		return nil, fmt.Errorf("node: ping_interval (%s) must be greater than pong_timeout (%s), both positive", cfg.PingInterval, cfg.PongTimeout)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	v := opts.Verifier
	if v == nil {
		var err error
		v, err = auth.NewVerifier(cfg)
		if err != nil {
			return nil, err
		}
	}
	name := cfg.Name
	if name == "" {
		host, _ := os.Hostname()
		name = host + "_" + strconv.Itoa(cfg.Port)
	}
	n := &Node{
		cfg:       cfg,
		log:       log,
		broker:    opts.Broker,
		presence:  opts.PresenceManager,
		verifier:  v,
		proxy:     opts.Proxy,
		hub:       newHub(),
		uid:       uuid.NewString(),
		name:      name,
		startedAt: time.Now(),
		stop:      make(chan struct{}),
	}
	if n.presence == nil {
		n.presence, _ = opts.Broker.(PresenceManager)
	}
	if cd, ok := opts.Broker.(CallerDelivery); ok {
		n.hub.onCaller = cd.DeliversOnCaller()
	}
	n.pinger = newPinger(cfg.PingInterval, cfg.PongTimeout)
	n.connRate = newConnRate(cfg.ClientConnectionRateLimit)
	n.fwdHeaders = forwardedHeaders(cfg)
	n.dispatch = newDispatcher(n.fanOut, func(channel string) bool {
		return n.hub.numSubscribers(channel) <= dispatchInlineMax
	})
	return n, nil
}

// Run starts the broker and the ping loop.
func (n *Node) Run() error {
	if err := n.broker.Run(n); err != nil {
		return fmt.Errorf("node: start broker: %w", err)
	}
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		n.pinger.run()
	}()
	go func() {
		defer n.wg.Done()
		n.announce()
	}()
	go func() {
		defer n.wg.Done()
		n.maintain()
	}()
	return nil
}

// Config returns the node's configuration (not to be modified).
func (n *Node) Config() *config.Config { return n.cfg }

// Log returns the node's logger.
func (n *Node) Log() *slog.Logger { return n.log }

// Shutdown disconnects every client with 3001 "shutdown" and stops the node.
func (n *Node) Shutdown(ctx context.Context) error {
	if !n.closing.CompareAndSwap(false, true) {
		return nil
	}
	clients := n.hub.allConns()
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for _, c := range clients {
		// Each Disconnect is bounded by the transport's write deadline.
		sem <- struct{}{}
		wg.Add(1)
		go func(c *Client) {
			defer func() { <-sem; wg.Done() }()
			c.Disconnect(DisconnectShutdown)
		}(c)
	}
	wg.Wait()
	close(n.stop)
	n.pinger.stop()
	n.wg.Wait()
	n.verifier.Close()
	return n.broker.Close()
}

// HandlePublication implements BrokerEventHandler: it delivers pub to the
// node's subscribers of channel. It only queues the fan-out (see
// dispatcher), so a publish call does not wait for it.
func (n *Node) HandlePublication(channel string, pub *Publication, sp StreamPosition, delta bool) error {
	n.dispatch.add(dispatchEvent{channel: channel, pub: pub, sp: sp, delta: delta})
	return nil
}

// HandleJoin implements BrokerEventHandler: it pushes a join to the node's
// subscribers of channel that asked for join/leave pushes.
func (n *Node) HandleJoin(channel string, info *ClientInfo) error {
	n.dispatch.add(dispatchEvent{channel: channel, push: &protocol.Push{Channel: channel, Join: &protocol.Join{Info: info.toProto()}}})
	return nil
}

// HandleLeave implements BrokerEventHandler, as HandleJoin for leaves.
func (n *Node) HandleLeave(channel string, info *ClientInfo) error {
	n.dispatch.add(dispatchEvent{channel: channel, push: &protocol.Push{Channel: channel, Leave: &protocol.Leave{Info: info.toProto()}}})
	return nil
}

// fanOut delivers one broker event to the hub (the dispatcher's run).
func (n *Node) fanOut(ev dispatchEvent) {
	var err error
	if ev.push != nil {
		err = n.hub.broadcastJoinLeave(ev.channel, ev.push)
	} else {
		err = n.hub.broadcastPublication(ev.channel, ev.pub, ev.sp, ev.delta)
	}
	if err != nil {
		n.log.Error("broadcast failed", "channel", ev.channel, "error", err)
	}
}

func (p *Publication) toProto() *protocol.Publication {
	pp := &protocol.Publication{
		Data:   p.Data,
		Offset: p.Offset,
		Tags:   p.Tags,
	}
	if p.Info != nil {
		pp.Info = p.Info.toProto()
	}
	return pp
}

func (ci *ClientInfo) toProto() *protocol.ClientInfo {
	return &protocol.ClientInfo{
		User:     ci.User,
		Client:   ci.Client,
		ConnInfo: ci.ConnInfo,
		ChanInfo: ci.ChanInfo,
	}
}

func (n *Node) subLock(channel string) *sync.Mutex {
	return &n.subLocks[shardIndex(channel)]
}

// addSubscription adds c's subscription sub to channel in the hub,
// subscribing the node to the channel in the broker when c is its first
// subscriber here.
func (n *Node) addSubscription(channel string, c *Client, sub *clientSub) error {
	mu := n.subLock(channel)
	mu.Lock()
	defer mu.Unlock()
	if first := n.hub.addSub(channel, c, sub); first {
		if err := n.broker.Subscribe(channel); err != nil {
			n.hub.removeSub(channel, c, sub)
			return fmt.Errorf("broker subscribe %q: %w", channel, err)
		}
	}
	return nil
}

// removeSubscription removes c's subscription sub from channel (any
// subscription of c when sub is nil), unsubscribing the node in the broker
// when it was the last subscriber here. It reports whether sub was there.
func (n *Node) removeSubscription(channel string, c *Client, sub *clientSub) bool {
	mu := n.subLock(channel)
	mu.Lock()
	defer mu.Unlock()
	removed, last := n.hub.removeSub(channel, c, sub)
	if last {
		if err := n.broker.Unsubscribe(channel); err != nil {
			n.log.Error("broker unsubscribe failed", "channel", channel, "error", err)
		}
	}
	return removed
}

// writerConfig is what the configuration sets for every client's writer.
func (n *Node) writerConfig() writerConfig {
	return writerConfig{
		maxSize:    n.cfg.ClientQueueMaxSize,
		delay:      n.cfg.ClientWriteDelay,
		maxInFrame: n.cfg.ClientMaxMessagesInFrame,
	}
}
