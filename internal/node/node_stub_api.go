package node

import "context"

// StreamPosition is a position in a channel's history stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// Publication is a message in a channel as kept in history.
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

// Publish publishes data to channel: every subscriber on every node gets it.
func (n *Node) Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (PublishResult, error) {
	panic("todo")
}

// Subscribe subscribes the user's connections (or one connection of it) to channel.
func (n *Node) Subscribe(ctx context.Context, user, channel string, opts ServerSubscribeOptions) error {
	panic("todo")
}

// Unsubscribe unsubscribes the user's connections (or one connection) from channel.
func (n *Node) Unsubscribe(ctx context.Context, user, channel, client, session string) error {
	panic("todo")
}

// Disconnect closes the user's connections with d.
func (n *Node) Disconnect(ctx context.Context, user string, d Disconnect, opts DisconnectOptions) error {
	panic("todo")
}

// Refresh updates the expiry (or expires) the user's connections.
func (n *Node) Refresh(ctx context.Context, user string, opts RefreshOptions) error {
	panic("todo")
}

// Channels lists active channels matching a glob pattern ("" = all).
func (n *Node) Channels(ctx context.Context, pattern string) (map[string]ChannelInfo, error) {
	panic("todo")
}

// Info describes every live node.
func (n *Node) Info(ctx context.Context) ([]NodeInfo, error) {
	panic("todo")
}

// Presence returns the clients subscribed to channel, keyed by client id.
func (n *Node) Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error) {
	panic("todo")
}

// PresenceStats counts clients and unique users in channel.
func (n *Node) PresenceStats(ctx context.Context, channel string) (numClients, numUsers uint32, err error) {
	panic("todo")
}

// History returns a slice of the channel's history.
func (n *Node) History(ctx context.Context, channel string, opts HistoryOptions) (HistoryResult, error) {
	panic("todo")
}

// RemoveHistory drops the channel's history.
func (n *Node) RemoveHistory(ctx context.Context, channel string) error {
	panic("todo")
}

// RPC calls a server-side RPC method (none without an RPC proxy: 104).
func (n *Node) RPC(ctx context.Context, method string, params []byte) ([]byte, error) {
	panic("todo")
}
