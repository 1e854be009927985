package rotorproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// RequestType names one kind of proxy request. The values are the names
// interceptors are registered under (see Server.Use).
type RequestType string

// The six request types of the proxy protocol.
const (
	TypeConnect    RequestType = "connect"
	TypeRefresh    RequestType = "refresh"
	TypeSubscribe  RequestType = "subscribe"
	TypePublish    RequestType = "publish"
	TypeRPC        RequestType = "rpc"
	TypeSubRefresh RequestType = "sub_refresh"
)

// AllTypes is the name that registers an interceptor for every request type.
const AllTypes = "*"

// typeIndex numbers the request types for the tables of a Server.
type typeIndex int

const (
	idxConnect typeIndex = iota
	idxRefresh
	idxSubscribe
	idxPublish
	idxRPC
	idxSubRefresh
	numTypes
)

var typeNames = [numTypes]RequestType{TypeConnect, TypeRefresh, TypeSubscribe, TypePublish, TypeRPC, TypeSubRefresh}

// parseType resolves an interceptor registration name. "subrefresh" is the
// RoadRunner plugin's name for sub_refresh and is accepted too.
func parseType(name string) (typeIndex, bool) {
	if name == "subrefresh" {
		return idxSubRefresh, true
	}
	for i, t := range typeNames {
		if string(t) == name {
			return typeIndex(i), true
		}
	}
	return 0, false
}

// Request is one proxy request: *ConnectRequest, *RefreshRequest,
// *SubscribeRequest, *PublishRequest, *RPCRequest or *SubRefreshRequest.
// Interceptors receive it as a Request and switch on its type when they need
// more than the methods below. The set is closed: other types cannot
// implement Request.
//
// Requests are values shared along the chain: change them only through
// WithAttribute, which copies.
type Request interface {
	// Type is the request type.
	Type() RequestType
	// Base returns the fields every request has.
	Base() *Common
	// Attribute returns the value stored under key by WithAttribute, or
	// nil.
	Attribute(key string) any
	// WithAttribute returns a copy of the request (of the same concrete
	// type) with key set to val; the receiver is not changed.
	WithAttribute(key string, val any) Request
	// Bind decodes the request's JSON data into v (see ConnectRequest.Bind).
	// Refresh and sub_refresh requests carry no data: Bind leaves v as it is
	// and returns nil.
	Bind(v any) error

	isRequest()
}

// Common holds what every request carries: where it comes from, and the
// attributes interceptors attached to it.
type Common struct {
	// Client is the id the node gave the client connection.
	Client string
	// Transport is the client's transport: "websocket", "sse", ...
	Transport string
	// Protocol is the client protocol: "json" or "protobuf".
	Protocol string
	// Encoding is how payloads travel to the backend: "json", or "binary"
	// when the node sends them base64-encoded (proxy_binary_encoding). The
	// SDK decodes them either way; it also answers in the same encoding.
	Encoding string
	// Headers are the client's HTTP headers the node forwards
	// (proxy_http_headers), with canonical names: from the gRPC metadata of
	// the call, or from the HTTP proxy request. Never nil.
	Headers http.Header

	attrs *attr
}

// Base returns c. It lets interceptors reach the common fields through the
// Request interface.
func (c *Common) Base() *Common { return c }

// Attribute returns the value stored under key by WithAttribute, or nil.
func (c *Common) Attribute(key string) any {
	for a := c.attrs; a != nil; a = a.next {
		if a.key == key {
			return a.val
		}
	}
	return nil
}

// Attributes returns a new map of every attribute of the request.
func (c *Common) Attributes() map[string]any {
	m := make(map[string]any)
	for a := c.attrs; a != nil; a = a.next {
		if _, ok := m[a.key]; !ok {
			m[a.key] = a.val
		}
	}
	return m
}

// with returns c's attributes with key set to val. Attributes are an
// immutable list shared between copies, newest first, so copying a request
// never copies them.
func (c *Common) with(key string, val any) *attr {
	return &attr{key: key, val: val, next: c.attrs}
}

type attr struct {
	key  string
	val  any
	next *attr
}

// bindJSON decodes data into v. Empty data leaves v as it is; data that is
// not the JSON v expects gives an error wrapping ErrBadRequest, so a handler
// that returns it answers the client with 107 bad request.
func bindJSON(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: data: %w", ErrBadRequest, err)
	}
	return nil
}

// ConnectRequest asks whether a client that connected without a token may
// stay, and as whom.
type ConnectRequest struct {
	Common
	// Data is what the client sent with its connect command (JSON unless
	// Encoding is "binary").
	Data []byte
	// Name and Version identify the client SDK.
	Name    string
	Version string
	// Channels are the channels the client asks to be subscribed to on the
	// server side.
	Channels []string
}

// Type returns TypeConnect.
func (*ConnectRequest) Type() RequestType { return TypeConnect }

// WithAttribute returns a copy of r with the attribute key set to val.
func (r *ConnectRequest) WithAttribute(key string, val any) Request {
	c := *r
	c.attrs = r.with(key, val)
	return &c
}

// Bind decodes Data into v with encoding/json. Empty data leaves v as it is
// and returns nil; data that does not decode gives an error wrapping
// ErrBadRequest (107), which a handler can return as it is.
func (r *ConnectRequest) Bind(v any) error { return bindJSON(r.Data, v) }

func (*ConnectRequest) isRequest() {}

// RefreshRequest asks whether a connection whose expiry came may live on.
type RefreshRequest struct {
	Common
	// User is the connection's user ("" for anonymous).
	User string
	// Meta is the connection's meta (JSON), when the node includes it.
	Meta json.RawMessage
}

// Type returns TypeRefresh.
func (*RefreshRequest) Type() RequestType { return TypeRefresh }

// WithAttribute returns a copy of r with the attribute key set to val.
func (r *RefreshRequest) WithAttribute(key string, val any) Request {
	c := *r
	c.attrs = r.with(key, val)
	return &c
}

// Bind leaves v as it is and returns nil: refresh requests carry no data.
func (*RefreshRequest) Bind(any) error { return nil }

func (*RefreshRequest) isRequest() {}

// SubscribeRequest asks whether a client may subscribe to a channel.
type SubscribeRequest struct {
	Common
	User    string
	Channel string
	// Token is the subscription token the client sent, if any.
	Token string
	// Meta is the connection's meta (JSON), when the node includes it.
	Meta json.RawMessage
	// Data is what the client sent with its subscribe command.
	Data []byte
}

// Type returns TypeSubscribe.
func (*SubscribeRequest) Type() RequestType { return TypeSubscribe }

// WithAttribute returns a copy of r with the attribute key set to val.
func (r *SubscribeRequest) WithAttribute(key string, val any) Request {
	c := *r
	c.attrs = r.with(key, val)
	return &c
}

// Bind decodes Data into v, as ConnectRequest.Bind does.
func (r *SubscribeRequest) Bind(v any) error { return bindJSON(r.Data, v) }

func (*SubscribeRequest) isRequest() {}

// PublishRequest asks whether a client may publish Data to a channel.
type PublishRequest struct {
	Common
	User    string
	Channel string
	// Data is the publication the client sent.
	Data []byte
	// Meta is the connection's meta (JSON), when the node includes it.
	Meta json.RawMessage
}

// Type returns TypePublish.
func (*PublishRequest) Type() RequestType { return TypePublish }

// WithAttribute returns a copy of r with the attribute key set to val.
func (r *PublishRequest) WithAttribute(key string, val any) Request {
	c := *r
	c.attrs = r.with(key, val)
	return &c
}

// Bind decodes Data into v, as ConnectRequest.Bind does.
func (r *PublishRequest) Bind(v any) error { return bindJSON(r.Data, v) }

func (*PublishRequest) isRequest() {}

// RPCRequest is a call of Method by a client over its connection.
type RPCRequest struct {
	Common
	User   string
	Method string
	// Data holds the call's parameters.
	Data []byte
	// Meta is the connection's meta (JSON), when the node includes it.
	Meta json.RawMessage
}

// Type returns TypeRPC.
func (*RPCRequest) Type() RequestType { return TypeRPC }

// WithAttribute returns a copy of r with the attribute key set to val.
func (r *RPCRequest) WithAttribute(key string, val any) Request {
	c := *r
	c.attrs = r.with(key, val)
	return &c
}

// Bind decodes Data into v, as ConnectRequest.Bind does.
func (r *RPCRequest) Bind(v any) error { return bindJSON(r.Data, v) }

func (*RPCRequest) isRequest() {}

// SubRefreshRequest asks whether a subscription whose expiry came may live
// on.
type SubRefreshRequest struct {
	Common
	User    string
	Channel string
	// Meta is the connection's meta (JSON), when the node includes it.
	Meta json.RawMessage
}

// Type returns TypeSubRefresh.
func (*SubRefreshRequest) Type() RequestType { return TypeSubRefresh }

// WithAttribute returns a copy of r with the attribute key set to val.
func (r *SubRefreshRequest) WithAttribute(key string, val any) Request {
	c := *r
	c.attrs = r.with(key, val)
	return &c
}

// Bind leaves v as it is and returns nil: sub_refresh requests carry no data.
func (*SubRefreshRequest) Bind(any) error { return nil }

func (*SubRefreshRequest) isRequest() {}
