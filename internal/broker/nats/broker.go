// Package nats is a node.Broker on NATS (github.com/nats-io/nats.go): it
// carries publications, join/leave events and control messages between
// nodes, and keeps no history. Subjects, with P the prefix:
//
//	P.client.<channel>  a channel's publications and join/leave events
//	P.control           control messages to every node
//
// A message is one type byte ('p' publication, 'j' join, 'l' leave)
// followed by a protobuf Publication or ClientInfo. NATS orders the
// messages of one publisher, so a node's publications of a channel arrive
// in the order it sent them. History and RemoveHistory return
// node.ErrorNotAvailable, Publish ignores the history options and the
// idempotency key and returns a zero position, and presence is left to a
// separate node.PresenceManager.
//
// While the connection to NATS is down, publishes fail at once (nothing is
// buffered) and nats.go reconnects in the background, re-establishing every
// subscription; messages published meanwhile are lost to this node.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/centrifugal/protocol"
	"github.com/nats-io/nats.go"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// Config configures a Broker.
type Config struct {
	// URL of the NATS server; several may be given separated by commas.
	// Zero value means nats://127.0.0.1:4222.
	URL string
	// Prefix starts every subject. Zero value means "rotor".
	Prefix string
	// DialTimeout bounds connecting to NATS. Zero value means 1s.
	DialTimeout time.Duration
	// WriteTimeout bounds writing to and flushing the connection. Zero
	// value means 1s.
	WriteTimeout time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// FromConfig maps the nats_* keys of a configuration to a Config.
func FromConfig(c *config.Config, log *slog.Logger) Config {
	return Config{
		URL:          c.NATSURL,
		Prefix:       c.NATSPrefix,
		DialTimeout:  c.NATSDialTimeout,
		WriteTimeout: c.NATSWriteTimeout,
		Logger:       log,
	}
}

// Broker is the NATS broker. Its methods are safe for concurrent use.
type Broker struct {
	cfg            Config
	log            *slog.Logger
	clientPrefix   string // P.client.
	controlSubject string // P.control

	running atomic.Bool
	closed  chan struct{} // closed by the connection's closed handler
	h       node.BrokerEventHandler
	nc      atomic.Pointer[nats.Conn]

	mu   sync.Mutex
	subs map[string]*nats.Subscription
}

var _ node.Broker = (*Broker)(nil)

// Message type bytes.
const (
	typePublication = 'p'
	typeJoin        = 'j'
	typeLeave       = 'l'
)

// New validates cfg and returns a broker; Run connects it.
func New(cfg Config) (*Broker, error) {
	if cfg.URL == "" {
		cfg.URL = nats.DefaultURL
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "rotor"
	}
	if err := checkSubject(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("nats: prefix %q: %w", cfg.Prefix, err)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Broker{
		cfg:            cfg,
		log:            log,
		clientPrefix:   cfg.Prefix + ".client.",
		controlSubject: cfg.Prefix + ".control",
		closed:         make(chan struct{}),
		subs:           make(map[string]*nats.Subscription),
	}, nil
}

// Run implements node.Broker: it connects to NATS and subscribes to the
// control subject.
func (b *Broker) Run(h node.BrokerEventHandler) error {
	if h == nil {
		return errors.New("nats: nil handler")
	}
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("nats: already running")
	}
	b.h = h
	nc, err := nats.Connect(b.cfg.URL,
		nats.Name("rotor"),
		nats.Timeout(b.cfg.DialTimeout),
		nats.FlusherTimeout(b.cfg.WriteTimeout),
		nats.DrainTimeout(5*b.cfg.WriteTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// Fail publishes while reconnecting instead of buffering them.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Error("nats: disconnected, reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			b.log.Error("nats: asynchronous error", "subject", subject, "error", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	)
	if err != nil {
		return fmt.Errorf("nats: connect to %s: %w", b.cfg.URL, err)
	}
	b.nc.Store(nc)
	if _, err := nc.Subscribe(b.controlSubject, func(m *nats.Msg) {
		if err := h.HandleControl(m.Data); err != nil {
			b.log.Error("nats: handling a control message", "error", err)
		}
	}); err != nil {
		nc.Close()
		return fmt.Errorf("nats: subscribe to %s: %w", b.controlSubject, err)
	}
	if err := nc.FlushTimeout(b.cfg.WriteTimeout); err != nil {
		nc.Close()
		return fmt.Errorf("nats: flush: %w", err)
	}
	return nil
}

// Close implements node.Broker: it drains the connection (messages already
// received are still handled) and waits for it to close.
func (b *Broker) Close() error {
	nc := b.nc.Load()
	if nc == nil || nc.IsClosed() {
		return nil
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	t := time.NewTimer(10 * b.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case <-b.closed:
	case <-t.C:
		nc.Close()
	}
	return nil
}

// Ping checks the connection with a round trip to the server, for health
// checks.
func (b *Broker) Ping(ctx context.Context) error {
	nc, err := b.conn()
	if err != nil {
		return err
	}
	if !nc.IsConnected() {
		return fmt.Errorf("nats: not connected (%s)", nc.Status())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.WriteTimeout)
		defer cancel()
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats: ping: %w", err)
	}
	return nil
}

func (b *Broker) conn() (*nats.Conn, error) {
	nc := b.nc.Load()
	if nc == nil {
		return nil, errors.New("nats: not running")
	}
	return nc, nil
}

// Subscribe implements node.Broker. It returns once the server has the
// subscription, so that nothing published afterwards is missed.
func (b *Broker) Subscribe(channel string) error {
	nc, err := b.conn()
	if err != nil {
		return err
	}
	if err := checkSubject(channel); err != nil {
		return fmt.Errorf("nats: channel %q: %w", channel, err)
	}
	b.mu.Lock()
	if _, ok := b.subs[channel]; ok {
		b.mu.Unlock()
		return nil
	}
	sub, err := nc.Subscribe(b.clientPrefix+channel, func(m *nats.Msg) {
		if err := b.handle(channel, m.Data); err != nil {
			b.log.Error("nats: handling a message", "channel", channel, "error", err)
		}
	})
	if err != nil {
		b.mu.Unlock()
		return fmt.Errorf("nats: subscribe %q: %w", channel, err)
	}
	b.subs[channel] = sub
	b.mu.Unlock()
	// Past the default pending limits (500000 messages, 64 MB) messages
	// of a slow handler are dropped and reported to the error handler.

	// The flush (a round trip) runs unlocked: subscribes of different
	// channels do not wait for each other.
	if err := nc.FlushTimeout(b.cfg.WriteTimeout); err != nil {
		b.mu.Lock()
		if b.subs[channel] == sub {
			delete(b.subs, channel)
		}
		b.mu.Unlock()
		_ = sub.Unsubscribe()
		return fmt.Errorf("nats: subscribe %q: %w", channel, err)
	}
	return nil
}

// Unsubscribe implements node.Broker.
func (b *Broker) Unsubscribe(channel string) error {
	b.mu.Lock()
	sub, ok := b.subs[channel]
	delete(b.subs, channel)
	b.mu.Unlock()
	if !ok {
		return nil
	}
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("nats: unsubscribe %q: %w", channel, err)
	}
	return nil
}

// Publish implements node.Broker. History options and the idempotency key
// are ignored: NATS keeps no history, and the position is always zero.
func (b *Broker) Publish(ctx context.Context, channel string, data []byte, opts node.PublishOptions) (node.StreamPosition, error) {
	pp := &protocol.Publication{Data: data, Tags: opts.Tags, Delta: opts.Delta}
	if opts.ClientInfo != nil {
		pp.Info = infoToProto(opts.ClientInfo)
	}
	return node.StreamPosition{}, b.send(ctx, channel, typePublication, pp.SizeVT(), pp.MarshalToSizedBufferVT)
}

// PublishJoin implements node.Broker.
func (b *Broker) PublishJoin(ctx context.Context, channel string, info *node.ClientInfo) error {
	if info == nil {
		return errors.New("nats: nil client info")
	}
	ci := infoToProto(info)
	return b.send(ctx, channel, typeJoin, ci.SizeVT(), ci.MarshalToSizedBufferVT)
}

// PublishLeave implements node.Broker.
func (b *Broker) PublishLeave(ctx context.Context, channel string, info *node.ClientInfo) error {
	if info == nil {
		return errors.New("nats: nil client info")
	}
	ci := infoToProto(info)
	return b.send(ctx, channel, typeLeave, ci.SizeVT(), ci.MarshalToSizedBufferVT)
}

// send publishes a type byte and a protobuf body of size bytes, written by
// marshal, to channel's subject.
func (b *Broker) send(ctx context.Context, channel string, typ byte, size int, marshal func([]byte) (int, error)) error {
	nc, err := b.conn()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSubject(channel); err != nil {
		return fmt.Errorf("nats: channel %q: %w", channel, err)
	}
	msg := make([]byte, 1+size)
	msg[0] = typ
	if _, err := marshal(msg[1:]); err != nil {
		return fmt.Errorf("nats: encode: %w", err)
	}
	if err := nc.Publish(b.clientPrefix+channel, msg); err != nil {
		return fmt.Errorf("nats: publish to %q: %w", channel, err)
	}
	return nil
}

// PublishControl implements node.Broker.
func (b *Broker) PublishControl(ctx context.Context, data []byte) error {
	nc, err := b.conn()
	if err != nil {
		return err
	}
	if err := nc.Publish(b.controlSubject, data); err != nil {
		return fmt.Errorf("nats: publish control: %w", err)
	}
	return nil
}

// History implements node.Broker: NATS keeps no history.
func (b *Broker) History(context.Context, string, node.HistoryOptions) (node.HistoryResult, error) {
	return node.HistoryResult{}, node.ErrorNotAvailable
}

// RemoveHistory implements node.Broker: NATS keeps no history.
func (b *Broker) RemoveHistory(context.Context, string) error {
	return node.ErrorNotAvailable
}

// handle decodes a message of channel's subject and hands it to the node.
func (b *Broker) handle(channel string, data []byte) error {
	if len(data) == 0 {
		return errors.New("empty message")
	}
	switch data[0] {
	case typePublication:
		var pp protocol.Publication
		if err := pp.UnmarshalVT(data[1:]); err != nil {
			return fmt.Errorf("publication: %w", err)
		}
		pub := &node.Publication{Data: pp.Data, Tags: pp.Tags}
		if pp.Info != nil {
			pub.Info = infoFromProto(pp.Info)
		}
		return b.h.HandlePublication(channel, pub, node.StreamPosition{}, pp.Delta)
	case typeJoin, typeLeave:
		var ci protocol.ClientInfo
		if err := ci.UnmarshalVT(data[1:]); err != nil {
			return fmt.Errorf("client info: %w", err)
		}
		if data[0] == typeJoin {
			return b.h.HandleJoin(channel, infoFromProto(&ci))
		}
		return b.h.HandleLeave(channel, infoFromProto(&ci))
	default:
		return fmt.Errorf("unknown message type %q", data[0])
	}
}

// checkSubject rejects what cannot be part of a NATS subject: whitespace,
// empty tokens, and the wildcard tokens "*" and ">" (which would subscribe
// a node to other channels).
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return errors.New("contains whitespace")
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch tok {
		case "":
			return errors.New("has an empty token between dots")
		case "*", ">":
			return fmt.Errorf("has the wildcard token %q", tok)
		}
	}
	return nil
}

func infoToProto(ci *node.ClientInfo) *protocol.ClientInfo {
	return &protocol.ClientInfo{User: ci.User, Client: ci.Client, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo}
}

func infoFromProto(ci *protocol.ClientInfo) *node.ClientInfo {
	return &node.ClientInfo{User: ci.User, Client: ci.Client, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo}
}
