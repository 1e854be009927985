package node

import (
	"context"
	"regexp"
	"sync"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/glob"
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
	Limit   int
	Since   *StreamPosition
	Reverse bool
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
func (n *Node) Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (PublishResult, error) {
	if err := n.checkChannel(channel); err != nil {
		return PublishResult{}, err
	}
	sp, err := n.broker.Publish(channel, data, opts)
	if err != nil {
		return PublishResult{}, err
	}
	return PublishResult{Offset: sp.Offset, Epoch: sp.Epoch}, nil
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
// channel; each gets a subscribe push.
func (n *Node) Subscribe(ctx context.Context, user, channel string, opts ServerSubscribeOptions) error {
	if err := n.checkChannel(channel); err != nil {
		return err
	}
	for _, c := range n.selectConns(user, opts.Client, opts.Session) {
		if err := c.addSub(channel, &clientSub{info: opts.Info, expireAt: opts.ExpireAt}); err != nil {
			if err == ErrorAlreadySubscribed {
				continue
			}
			if _, ok := err.(Disconnect); ok {
				continue
			}
			return err
		}
		push := &protocol.Push{Channel: channel, Subscribe: &protocol.Subscribe{Data: opts.Data}}
		n.hub.setSubReady(channel, c, func() bool { return c.writePush(push) })
	}
	return nil
}

// Unsubscribe unsubscribes the user's connections (or one connection) from
// channel; each gets an unsubscribe push with code 2000.
func (n *Node) Unsubscribe(ctx context.Context, user, channel, client, session string) error {
	if channel == "" {
		return ErrorBadRequest
	}
	for _, c := range n.selectConns(user, client, session) {
		if c.removeSub(channel) {
			c.writePush(&protocol.Push{Channel: channel, Unsubscribe: &protocol.Unsubscribe{
				Code: UnsubscribeCodeServer, Reason: "server unsubscribe",
			}})
		}
	}
	return nil
}

// Disconnect closes the user's connections with d.
func (n *Node) Disconnect(ctx context.Context, user string, d Disconnect, opts DisconnectOptions) error {
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
	return nil
}

// Refresh updates the expiry (or expires) the user's connections.
func (n *Node) Refresh(ctx context.Context, user string, opts RefreshOptions) error {
	for _, c := range n.selectConns(user, opts.Client, opts.Session) {
		if opts.Expired {
			c.Disconnect(DisconnectExpired)
			continue
		}
		c.mu.Lock()
		c.expireAt = opts.ExpireAt
		if opts.Info != nil {
			c.info = opts.Info
		}
		c.mu.Unlock()
		c.scheduleExpiry(opts.ExpireAt)
		push := &protocol.Refresh{}
		if opts.ExpireAt > 0 {
			push.Expires = true
			if ttl := opts.ExpireAt - time.Now().Unix(); ttl > 0 {
				push.Ttl = uint32(ttl)
			}
		}
		c.writePush(&protocol.Push{Refresh: push})
	}
	return nil
}

// Channels lists active channels matching a glob pattern ("" = all; "*"
// matches any run of characters, "?" one character).
func (n *Node) Channels(ctx context.Context, pattern string) (map[string]ChannelInfo, error) {
	out := make(map[string]ChannelInfo)
	n.hub.channels(func(ch string, num int) {
		if pattern == "" || glob.Match(pattern, ch) {
			out[ch] = ChannelInfo{NumClients: uint32(num)}
		}
	})
	return out, nil
}

// Info describes every live node.
func (n *Node) Info(ctx context.Context) ([]NodeInfo, error) {
	clients, users := n.hub.counts()
	var channels, subs int
	n.hub.channels(func(_ string, num int) {
		channels++
		subs += num
	})
	return []NodeInfo{{
		UID:         n.uid,
		Name:        n.name,
		Version:     Version,
		NumClients:  uint32(clients),
		NumUsers:    uint32(users),
		NumChannels: uint32(channels),
		NumSubs:     uint32(subs),
		Uptime:      uint32(time.Since(n.startedAt) / time.Second),
	}}, nil
}

// Presence returns the clients subscribed to channel, keyed by client id.
func (n *Node) Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error) {
	if err := n.checkChannel(channel); err != nil {
		return nil, err
	}
	return nil, ErrorNotAvailable
}

// PresenceStats counts clients and unique users in channel.
func (n *Node) PresenceStats(ctx context.Context, channel string) (numClients, numUsers uint32, err error) {
	if err := n.checkChannel(channel); err != nil {
		return 0, 0, err
	}
	return 0, 0, ErrorNotAvailable
}

// History returns a slice of the channel's history.
func (n *Node) History(ctx context.Context, channel string, opts HistoryOptions) (HistoryResult, error) {
	if err := n.checkChannel(channel); err != nil {
		return HistoryResult{}, err
	}
	return HistoryResult{}, ErrorNotAvailable
}

// RemoveHistory drops the channel's history.
func (n *Node) RemoveHistory(ctx context.Context, channel string) error {
	if err := n.checkChannel(channel); err != nil {
		return err
	}
	return ErrorNotAvailable
}

// RPC calls a server-side RPC method; there are none without an RPC proxy.
func (n *Node) RPC(ctx context.Context, method string, params []byte) ([]byte, error) {
	return nil, ErrorMethodNotFound
}
