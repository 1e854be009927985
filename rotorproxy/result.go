package rotorproxy

import (
	"encoding/json"
	"time"
)

// Result is the answer to a Request: *ConnectResult, *RefreshResult,
// *SubscribeResult, *PublishResult, *RPCResult or *SubRefreshResult, of the
// request's type. The set is closed.
type Result interface {
	// Type is the type of the request this result answers.
	Type() RequestType

	isResult()
}

// Payload fields (Data, Info) are sent as JSON to clients of the JSON
// protocol, so they must hold JSON then; binary payloads need a node that
// proxies with binary encoding. Meta is always a JSON object.

// ConnectResult accepts a connection.
type ConnectResult struct {
	// User is the connection's user; "" connects anonymously.
	User string
	// ExpireAt is when the connection expires and is refreshed; zero means
	// never.
	ExpireAt time.Time
	// Info is attached to the connection and shown to other clients in
	// presence, join and leave messages.
	Info []byte
	// Data is sent to the client in its connect reply.
	Data []byte
	// Channels are server-side subscriptions with default options.
	Channels []string
	// Subs are server-side subscriptions with options, by channel.
	Subs map[string]SubscribeOptions
	// Meta is a JSON object kept with the connection and sent to the
	// backend in later requests (when the node includes it), never to
	// clients.
	Meta json.RawMessage
	// Caps grant capabilities in channels.
	Caps []ChannelsCapability
}

// SubscribeOptions are the options of one server-side subscription.
type SubscribeOptions struct {
	// ExpireAt is when the subscription expires; zero means never.
	ExpireAt time.Time
	// Info is the channel info of the client in this channel.
	Info []byte
	// Data is sent to the client with the subscription.
	Data []byte
	// Override replaces channel options for this subscription.
	Override *SubscribeOverride
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

// ChannelsCapability grants the capabilities in Allow ("sub", "pub", "prs",
// "hst", ...) on the channels listed, or on those matching Match.
type ChannelsCapability struct {
	Channels []string
	Allow    []string
	Match    string
}

// Type returns TypeConnect.
func (*ConnectResult) Type() RequestType { return TypeConnect }
func (*ConnectResult) isResult()         {}

// RefreshResult either expires the connection now or moves its expiry.
type RefreshResult struct {
	// Expired ends the connection now.
	Expired bool
	// ExpireAt is the new expiry.
	ExpireAt time.Time
	// Info replaces the connection info when not empty.
	Info []byte
	// Meta replaces the connection meta when not empty.
	Meta json.RawMessage
	// Caps replace the connection's capabilities when not empty.
	Caps []ChannelsCapability
}

// Type returns TypeRefresh.
func (*RefreshResult) Type() RequestType { return TypeRefresh }
func (*RefreshResult) isResult()         {}

// SubscribeResult accepts a subscription.
type SubscribeResult struct {
	// ExpireAt is when the subscription expires and is refreshed; zero
	// means never.
	ExpireAt time.Time
	// Info is the client's info in this channel.
	Info []byte
	// Data is sent to the client in its subscribe reply.
	Data []byte
	// Override replaces channel options for this subscription.
	Override *SubscribeOverride
	// Allow grants more capabilities in the channel ("pub", "prs", "hst").
	Allow []string
}

// Type returns TypeSubscribe.
func (*SubscribeResult) Type() RequestType { return TypeSubscribe }
func (*SubscribeResult) isResult()         {}

// PublishResult accepts a publication.
type PublishResult struct {
	// Data replaces what the client published when not empty.
	Data []byte
	// SkipHistory keeps the publication out of the channel's history.
	SkipHistory bool
}

// Type returns TypePublish.
func (*PublishResult) Type() RequestType { return TypePublish }
func (*PublishResult) isResult()         {}

// RPCResult is the answer to an RPC.
type RPCResult struct {
	// Data is returned to the calling client.
	Data []byte
}

// Type returns TypeRPC.
func (*RPCResult) Type() RequestType { return TypeRPC }
func (*RPCResult) isResult()         {}

// SubRefreshResult either expires the subscription now or moves its expiry.
type SubRefreshResult struct {
	// Expired ends the subscription now.
	Expired bool
	// ExpireAt is the new expiry.
	ExpireAt time.Time
	// Info replaces the client's channel info when not empty.
	Info []byte
}

// Type returns TypeSubRefresh.
func (*SubRefreshResult) Type() RequestType { return TypeSubRefresh }
func (*SubRefreshResult) isResult()         {}
