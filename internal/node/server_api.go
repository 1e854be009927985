package node

import (
	"context"
	"time"

	"github.com/rotorhq/rotor/internal/auth"
)

// This file holds what the server API (HTTP and gRPC) asks of a node. Each
// method returns an *Error for failures the caller should see (unknown
// channel, not available, ...); any other error is internal.

// PublishOptions are the options of a publication.
type PublishOptions struct {
	// ClientInfo of the publisher, nil for server publications.
	ClientInfo *ClientInfo
	// Tags are attached to the publication.
	Tags map[string]string
	// SkipHistory keeps the publication out of the channel history.
	SkipHistory bool
	// IdempotencyKey makes repeated publishes with the same key within 5
	// minutes return the first result without publishing again.
	IdempotencyKey string
	// Delta asks to send the publication as a delta where subscribers
	// negotiated it. Node.Publish also sets it for channels with
	// delta_publish.
	Delta bool

	// The fields below are for brokers: Node.Publish sets them from the
	// channel's options, callers of Node.Publish leave them zero.

	// HistorySize and HistoryTTL keep the publication in the channel's
	// history stream (both must be positive): the stream holds at most
	// HistorySize publications, dropped HistoryTTL after the last publish.
	HistorySize int
	HistoryTTL  time.Duration
	// HistoryMetaTTL is how long the stream's position (offset and epoch)
	// outlives its last publish; 0 means forever.
	HistoryMetaTTL time.Duration
	// IdempotentResultTTL is how long the result of a publish with an
	// IdempotencyKey is kept; 0 means IdempotentResultTTL (5 minutes).
	IdempotentResultTTL time.Duration
}

// PublishResult is the stream position given to a publication (zero when the
// channel keeps no history).
type PublishResult struct {
	Offset uint64
	Epoch  string
}

// ClientInfo describes a connection: used in publications from clients,
// presence and join/leave.
type ClientInfo struct {
	User     string
	Client   string
	ConnInfo []byte
	ChanInfo []byte
}

// ServerSubscribeOptions are the options of a server-side subscription made
// through the API.
type ServerSubscribeOptions struct {
	ExpireAt int64
	Info     []byte
	Data     []byte
	// Client and Session restrict the subscription to one connection.
	Client  string
	Session string
	// RecoverSince, in a channel with recovery, sends the publications
	// after this position after the subscribe push.
	RecoverSince *StreamPosition
	// Override replaces channel options for this subscription.
	Override *auth.SubscribeOverride
}

// ChannelInfo is what the channels API reports per channel.
type ChannelInfo struct {
	NumClients uint32
}

// NodeInfo describes one node for the info API.
type NodeInfo struct {
	UID         string
	Name        string
	Version     string
	NumClients  uint32
	NumUsers    uint32
	NumChannels uint32
	NumSubs     uint32
	Uptime      uint32
}

// RefreshOptions are the options of a server-side refresh.
type RefreshOptions struct {
	Client   string
	Session  string
	Expired  bool
	ExpireAt int64
	Info     []byte
}

// DisconnectOptions select which connections of a user to close.
type DisconnectOptions struct {
	Client    string
	Session   string
	Whitelist []string
}

var _ = context.Background
