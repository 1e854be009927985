package rotorapi

import (
	"encoding/json"
	"time"
)

// Requests and results of the server API methods. Payloads (Data, Info,
// Params, ConnInfo, ChanInfo) are bytes: JSON for channels of JSON clients.
// Over HTTP a payload that is not valid JSON is sent base64-encoded in the
// method's b64 field (b64data, b64info), which the server decodes.
// Timestamps are time.Time; the zero time means "not set".

// PublishRequest publishes Data to one channel.
type PublishRequest struct {
	Channel string
	Data    []byte
	// SkipHistory keeps the publication out of the channel's history.
	SkipHistory bool
	// Tags are delivered with the publication.
	Tags map[string]string
	// IdempotencyKey makes the server drop a repeated publication with the
	// same key for a while.
	IdempotencyKey string
	// Delta asks for delta compression where subscribers negotiated it.
	Delta bool
}

// PublishResult is where the publication landed in the channel's history
// (zero without history).
type PublishResult struct {
	Offset uint64
	Epoch  string
}

// BroadcastRequest publishes the same Data to several channels.
type BroadcastRequest struct {
	Channels       []string
	Data           []byte
	SkipHistory    bool
	Tags           map[string]string
	IdempotencyKey string
	Delta          bool
}

// BroadcastResult has one entry per channel of the request, in its order.
type BroadcastResult struct {
	Publications []BroadcastPublication
}

// Err returns the errors of the channels that failed, joined (each wrapped
// with its channel name and usable with errors.As), or nil.
func (r *BroadcastResult) Err() error {
	var errs []error
	for _, p := range r.Publications {
		if p.Err != nil {
			errs = append(errs, &channelError{channel: p.Channel, err: p.Err})
		}
	}
	return joinErrors(errs)
}

// BroadcastPublication is the outcome of a broadcast in one channel: Err is
// an *Error when that channel failed.
type BroadcastPublication struct {
	Channel string
	PublishResult
	Err error
}

// StreamPosition is a position in a channel's history stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// SubscribeOverride replaces channel options for one subscription; nil
// fields keep the configured value. Bool makes the pointers.
type SubscribeOverride struct {
	Presence           *bool
	JoinLeave          *bool
	ForceRecovery      *bool
	ForcePositioning   *bool
	ForcePushJoinLeave *bool
}

// Bool returns a pointer to v, for SubscribeOverride.
func Bool(v bool) *bool { return &v }

// SubscribeRequest subscribes the connections of User (or only Client, or
// only Session) to Channel on the server side.
type SubscribeRequest struct {
	Channel  string
	User     string
	ExpireAt time.Time
	Info     []byte
	Client   string
	Data     []byte
	// RecoverSince makes the subscription recover from this position.
	RecoverSince *StreamPosition
	Override     *SubscribeOverride
	Session      string
}

// UnsubscribeRequest unsubscribes the connections of User (or only Client,
// or only Session) from Channel.
type UnsubscribeRequest struct {
	Channel string
	User    string
	Client  string
	Session string
}

// DisconnectRequest disconnects the connections of User (or only Client, or
// only Session), except the clients in Whitelist.
type DisconnectRequest struct {
	User string
	// Code and Reason of the disconnect; with a zero Code none is sent and
	// the server uses its default (3503 force disconnect in Centrifugo).
	Code      uint32
	Reason    string
	Client    string
	Whitelist []string
	Session   string
}

// ClientInfo describes one connection in a channel.
type ClientInfo struct {
	User     string
	Client   string
	ConnInfo []byte
	ChanInfo []byte
}

// PresenceResult holds the connections in a channel by client id.
type PresenceResult struct {
	Clients map[string]ClientInfo
}

// PresenceStatsResult counts the connections and distinct users in a
// channel.
type PresenceStatsResult struct {
	NumClients int
	NumUsers   int
}

// HistoryRequest reads a channel's history. Limit 0 returns no publications
// but the stream's current position; -1 returns all of them.
type HistoryRequest struct {
	Channel string
	Limit   int
	Since   *StreamPosition
	Reverse bool
}

// Publication is one publication of a channel's history.
type Publication struct {
	Data   []byte
	Info   *ClientInfo
	Offset uint64
	Tags   map[string]string
}

// HistoryResult holds publications and the stream's current position.
type HistoryResult struct {
	Publications []Publication
	Epoch        string
	Offset       uint64
}

// InfoResult describes the nodes of the cluster.
type InfoResult struct {
	Nodes []NodeInfo
}

// NodeInfo describes one node.
type NodeInfo struct {
	UID         string
	Name        string
	Version     string
	NumClients  int
	NumUsers    int
	NumSubs     int
	NumChannels int
	Uptime      time.Duration
	Metrics     *NodeMetrics
	Process     *NodeProcess
}

// NodeMetrics are a node's metrics, when it sends them.
type NodeMetrics struct {
	Interval float64
	Items    map[string]float64
}

// NodeProcess describes a node's process, when it sends it.
type NodeProcess struct {
	CPU float64
	RSS int64
}

// RPCRequest calls a server-side RPC method (Centrifugo PRO has some; the
// open-source servers answer 104 method not found).
type RPCRequest struct {
	Method string
	Params json.RawMessage
}

// RPCResult is what the method returned.
type RPCResult struct {
	Data []byte
}

// RefreshRequest refreshes the connections of User (or only Client, or only
// Session): Expired disconnects them, else ExpireAt is their new expiry.
type RefreshRequest struct {
	User     string
	Client   string
	Expired  bool
	ExpireAt time.Time
	Info     []byte
	Session  string
}

// ChannelsResult holds the active channels by name.
type ChannelsResult struct {
	Channels map[string]ChannelInfo
}

// ChannelInfo describes an active channel.
type ChannelInfo struct {
	NumClients int
}
