package node

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// StreamPosition is a position in a channel's history stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// Publication is a message in a channel.
type Publication struct {
	Offset uint64
	Data   []byte
	Info   *ClientInfo
	Tags   map[string]string
}

// HistoryOptions select a slice of a channel's history.
type HistoryOptions struct {
	// Limit: 0 returns only the stream position, -1 everything.
	Limit int
	// Since, when set, returns the publications after Since.Offset (before
	// it with Reverse). An Epoch other than the stream's gives
	// ErrorUnrecoverablePosition; "" matches any epoch.
	Since *StreamPosition
	// Reverse returns the newest publications first.
	Reverse bool
	// MetaTTL is for brokers: how long a stream created by this read keeps
	// its position (Node.History sets it from history_meta_ttl); 0 means
	// forever.
	MetaTTL time.Duration
}

// HistoryResult is a slice of history plus the stream's current position.
type HistoryResult struct {
	StreamPosition
	Publications []*Publication
}

// checkChannel validates a channel named by an API call.
func (n *Node) checkChannel(channel string) error {
	if channel == "" {
		return ErrorBadRequest
	}
	if _, ok := n.cfg.ChannelOptionsFor(channel); !ok {
		return ErrorUnknownChannel
	}
	return nil
}

var channelRegexps sync.Map // pattern → *regexp.Regexp

// channelNameAllowed reports whether channel matches a namespace's
// channel_regex (validated at config load).
func (n *Node) channelNameAllowed(channel, pattern string) bool {
	if pattern == "" {
		return true
	}
	v, ok := channelRegexps.Load(pattern)
	if !ok {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return false
		}
		v, _ = channelRegexps.LoadOrStore(pattern, re)
	}
	return v.(*regexp.Regexp).MatchString(channel)
}

// Publish publishes data to channel: every subscriber on every node gets it.
// In a channel with history it is added to the stream and the result holds
// its position.
func (n *Node) Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (PublishResult, error) {
	chOpts, err := n.channelOptions(channel)
	if err != nil {
		return PublishResult{}, err
	}
	if historyEnabled(chOpts) {
		opts.HistorySize = chOpts.HistorySize
		opts.HistoryTTL = chOpts.HistoryTTL
		opts.HistoryMetaTTL = n.historyMetaTTL(chOpts)
	} else {
		opts.HistorySize, opts.HistoryTTL, opts.HistoryMetaTTL = 0, 0, 0
	}
	if chOpts.DeltaPublish {
		opts.Delta = true
	}
	sp, err := n.broker.Publish(ctx, channel, data, opts)
	if err != nil {
		return PublishResult{}, err
	}
	return PublishResult(sp), nil
}

// selectConns returns the user's connections, narrowed to one client id
// (and session) when given.
func (n *Node) selectConns(user, client, session string) []*Client {
	conns := n.hub.userConns(user)
	if client == "" && session == "" {
		return conns
	}
	out := conns[:0]
	for _, c := range conns {
		if client != "" && c.id != client {
			continue
		}
		// Sessions are not distinct from client ids here.
		if session != "" && c.id != session {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Subscribe subscribes the user's connections (or one connection of it) to
// channel, on every node; each gets a subscribe push.
func (n *Node) Subscribe(ctx context.Context, user, channel string, opts ServerSubscribeOptions) error {
	if err := n.checkChannel(channel); err != nil {
		return err
	}
	n.subscribeLocal(user, channel, opts)
	return n.publishControl(ctx, &controlMessage{Op: controlSubscribe, User: user, Channel: channel, Subscribe: &opts})
}

func (n *Node) subscribeLocal(user, channel string, opts ServerSubscribeOptions) {
	for _, c := range n.selectConns(user, opts.Client, opts.Session) {
		err := c.subscribeServerSide(serverSubSpec{
			channel:  channel,
			info:     opts.Info,
			data:     opts.Data,
			expireAt: opts.ExpireAt,
			override: opts.Override,
			since:    opts.RecoverSince,
		})
		var d Disconnect
		if err != nil && err != ErrorAlreadySubscribed && !errors.As(err, &d) {
			n.log.Error("server-side subscribe failed", "client", c.id, "channel", channel, "error", err)
		}
	}
}

// Unsubscribe unsubscribes the user's connections (or one connection) from
// channel, on every node; each gets an unsubscribe push with code 2000.
func (n *Node) Unsubscribe(ctx context.Context, user, channel, client, session string) error {
	if channel == "" {
		return ErrorBadRequest
	}
	n.unsubscribeLocal(user, channel, client, session)
	return n.publishControl(ctx, &controlMessage{Op: controlUnsubscribe, User: user, Channel: channel, Client: client, Session: session})
}

func (n *Node) unsubscribeLocal(user, channel, client, session string) {
	for _, c := range n.selectConns(user, client, session) {
		if c.removeSub(channel, nil) != nil {
			c.writePush(&protocol.Push{Channel: channel, Unsubscribe: &protocol.Unsubscribe{
				Code: UnsubscribeCodeServer, Reason: "server unsubscribe",
			}})
		}
	}
}

// Disconnect closes the user's connections with d, on every node.
func (n *Node) Disconnect(ctx context.Context, user string, d Disconnect, opts DisconnectOptions) error {
	n.disconnectLocal(user, d, opts)
	return n.publishControl(ctx, &controlMessage{Op: controlDisconnect, User: user, Disconnect: &d, DisconnectOpts: &opts})
}

func (n *Node) disconnectLocal(user string, d Disconnect, opts DisconnectOptions) {
	skip := make(map[string]struct{}, len(opts.Whitelist))
	for _, id := range opts.Whitelist {
		skip[id] = struct{}{}
	}
	for _, c := range n.selectConns(user, opts.Client, opts.Session) {
		if _, ok := skip[c.id]; ok {
			continue
		}
		c.Disconnect(d)
	}
}

// Refresh updates the expiry (or expires) the user's connections, on every
// node.
func (n *Node) Refresh(ctx context.Context, user string, opts RefreshOptions) error {
	n.refreshLocal(user, opts)
	return n.publishControl(ctx, &controlMessage{Op: controlRefresh, User: user, Refresh: &opts})
}

func (n *Node) refreshLocal(user string, opts RefreshOptions) {
	for _, c := range n.selectConns(user, opts.Client, opts.Session) {
		if opts.Expired {
			c.Disconnect(DisconnectExpired)
			continue
		}
		c.extend(opts.ExpireAt, opts.Info)
		push := &protocol.Refresh{}
		if opts.ExpireAt > 0 {
			push.Expires = true
			if ttl := opts.ExpireAt - time.Now().Unix(); ttl > 0 {
				push.Ttl = uint32(ttl)
			}
		}
		c.writePush(&protocol.Push{Refresh: push})
	}
}

// Info describes every live node.
func (n *Node) Info(ctx context.Context) ([]NodeInfo, error) {
	return append([]NodeInfo{n.localInfo()}, n.nodes.live(time.Now())...), nil
}

// presenceOptions checks that channel keeps presence (108 otherwise).
func (n *Node) presenceOptions(channel string) error {
	opts, err := n.channelOptions(channel)
	if err != nil {
		return err
	}
	if !opts.Presence || n.presence == nil {
		return ErrorNotAvailable
	}
	return nil
}

// Presence returns the clients subscribed to channel, keyed by client id.
func (n *Node) Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error) {
	if err := n.presenceOptions(channel); err != nil {
		return nil, err
	}
	return n.presence.Presence(ctx, channel)
}

// PresenceStats counts clients and unique users in channel.
func (n *Node) PresenceStats(ctx context.Context, channel string) (numClients, numUsers uint32, err error) {
	if err := n.presenceOptions(channel); err != nil {
		return 0, 0, err
	}
	st, err := n.presence.PresenceStats(ctx, channel)
	if err != nil {
		return 0, 0, err
	}
	return uint32(st.NumClients), uint32(st.NumUsers), nil
}

// historyOptions checks that channel keeps history (108 otherwise).
func (n *Node) historyOptions(channel string) (config.ChannelOptions, error) {
	opts, err := n.channelOptions(channel)
	if err != nil {
		return opts, err
	}
	if !historyEnabled(opts) {
		return opts, ErrorNotAvailable
	}
	return opts, nil
}

// History returns a slice of the channel's history (Limit 0: only the
// stream position; -1: all) and the stream's position. A Since in another
// epoch gives 112.
func (n *Node) History(ctx context.Context, channel string, opts HistoryOptions) (HistoryResult, error) {
	chOpts, err := n.historyOptions(channel)
	if err != nil {
		return HistoryResult{}, err
	}
	opts.MetaTTL = n.historyMetaTTL(chOpts)
	return n.broker.History(ctx, channel, opts)
}

// RemoveHistory drops the channel's publications; its position stays.
func (n *Node) RemoveHistory(ctx context.Context, channel string) error {
	if _, err := n.historyOptions(channel); err != nil {
		return err
	}
	return n.broker.RemoveHistory(ctx, channel)
}

// RPC calls a server-side RPC method; there are none without an RPC proxy.
func (n *Node) RPC(ctx context.Context, method string, params []byte) ([]byte, error) {
	return nil, ErrorMethodNotFound
}
