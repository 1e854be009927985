package node

import (
	"context"
	"time"
)

// This file holds the plug-in points of the engines: a Broker carries
// publications, join/leave events and control messages between nodes and
// keeps channel history; a PresenceManager keeps who is in which channel.
// The memory engine implements both in one process; Redis and NATS
// implementations plug in here. internal/broker/brokertest is the contract
// suite every implementation must pass.

// IdempotentResultTTL is how long a publish result is kept for its
// idempotency key when PublishOptions.IdempotentResultTTL is zero.
const IdempotentResultTTL = 5 * time.Minute

// BrokerEventHandler receives what a broker delivers to this node. A broker
// calls HandlePublication for one channel one call at a time, in offset
// order: the hub relies on it for delta compression and position tracking.
type BrokerEventHandler interface {
	// HandlePublication delivers a publication in channel to the node's
	// subscribers of it. sp is the stream position after the publication
	// (zero when it was not added to history); delta tells that the
	// publication may be sent as a delta to subscribers that negotiated one.
	HandlePublication(channel string, pub *Publication, sp StreamPosition, delta bool) error
	// HandleJoin delivers a join event of channel.
	HandleJoin(channel string, info *ClientInfo) error
	// HandleLeave delivers a leave event of channel.
	HandleLeave(channel string, info *ClientInfo) error
	// HandleControl delivers a control message sent by PublishControl (by
	// any node, this one included).
	HandleControl(data []byte) error
}

// CallerDelivery is implemented by a Broker whose Publish hands this
// node's publications to the BrokerEventHandler on the publishing
// goroutine, before it returns (the memory engine). The node then has
// that goroutine write small fan-outs itself (see flushJob.startOnCaller);
// brokers that deliver from a loop of their own (Redis, NATS) must not
// say so, or every channel's writes would queue on that loop.
type CallerDelivery interface {
	DeliversOnCaller() bool
}

// Broker carries publications between nodes and keeps channel history.
// Subscribe and Unsubscribe tell it which channels this node has
// subscribers in; Publish sends a publication to every node subscribed to
// its channel (this one included). All methods are safe for concurrent use.
type Broker interface {
	// Run starts the broker; events go to h from then on.
	Run(h BrokerEventHandler) error
	// Subscribe starts delivering channel's publications to this node.
	Subscribe(channel string) error
	// Unsubscribe stops delivering channel's publications to this node.
	Unsubscribe(channel string) error
	// Publish sends a publication to every node subscribed to channel. With
	// opts.HistorySize and opts.HistoryTTL both positive (and not
	// opts.SkipHistory) the publication is first added to the channel's
	// history stream and gets the next offset; the returned position is the
	// stream's after it (zero without history). With opts.IdempotencyKey, a
	// second publish with the same key within opts.IdempotentResultTTL
	// publishes nothing and returns the first result.
	Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (StreamPosition, error)
	// PublishJoin sends a join event to every node subscribed to channel.
	PublishJoin(ctx context.Context, channel string, info *ClientInfo) error
	// PublishLeave sends a leave event to every node subscribed to channel.
	PublishLeave(ctx context.Context, channel string, info *ClientInfo) error
	// PublishControl sends a control message to every node.
	PublishControl(ctx context.Context, data []byte) error
	// History returns a slice of channel's history and the stream's current
	// position, creating the stream (with a new epoch) when there is none. A
	// Since whose epoch is not "" and differs from the stream's gives
	// ErrorUnrecoverablePosition.
	History(ctx context.Context, channel string, opts HistoryOptions) (HistoryResult, error)
	// RemoveHistory drops channel's publications; the stream position stays.
	RemoveHistory(ctx context.Context, channel string) error
	// Close releases the broker's resources.
	Close() error
}

// PresenceStats counts the clients and unique users present in a channel.
type PresenceStats struct {
	NumClients int
	NumUsers   int
}

// PresenceManager keeps channel presence: which clients are subscribed to a
// channel on any node. Entries expire ttl after they were last added, so a
// node that dies leaves no ghosts; the node re-adds its clients every
// client_presence_update_interval. All methods are safe for concurrent use.
type PresenceManager interface {
	// AddPresence adds or refreshes client's entry in channel.
	AddPresence(ctx context.Context, channel, client string, info *ClientInfo, ttl time.Duration) error
	// RemovePresence removes client's entry (of user) from channel.
	RemovePresence(ctx context.Context, channel, client, user string) error
	// Presence returns the live entries of channel keyed by client id.
	Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error)
	// PresenceStats counts the live entries of channel.
	PresenceStats(ctx context.Context, channel string) (PresenceStats, error)
}
