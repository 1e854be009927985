package node

import (
	"context"
	"net/http"
	"slices"

	"github.com/rotorhq/rotor/internal/config"
)

// Proxy asks the application backend to decide about client actions. Each
// method returns either a result, an *Error from the backend (sent to the
// client as is), a Disconnect from the backend (closes the connection), or
// another error (a transport failure, timeout or bad answer), which the
// client sees as 100 "internal server error", temporary.
//
// The *Enabled methods tell which events and channels are proxied.
type Proxy interface {
	ConnectEnabled() bool
	RefreshEnabled() bool
	RPCEnabled(method string) bool
	SubscribeEnabled(channel string) bool
	PublishEnabled(channel string) bool
	SubRefreshEnabled(channel string) bool

	Connect(ctx context.Context, req *ProxyConnectRequest) (*ProxyConnectResult, error)
	Refresh(ctx context.Context, req *ProxyRefreshRequest) (*ProxyRefreshResult, error)
	Subscribe(ctx context.Context, req *ProxySubscribeRequest) (*ProxySubscribeResult, error)
	Publish(ctx context.Context, req *ProxyPublishRequest) (*ProxyPublishResult, error)
	RPC(ctx context.Context, req *ProxyRPCRequest) (*ProxyRPCResult, error)
	SubRefresh(ctx context.Context, req *ProxySubRefreshRequest) (*ProxySubRefreshResult, error)
}

// ProxyClientInfo is what every proxy request carries about the connection.
type ProxyClientInfo struct {
	Client    string
	Transport string // "websocket"
	Protocol  string // "json" | "protobuf"
	// User is "" for connect requests.
	User string
	// Meta is the connection meta (JSON object) set by the connect result or
	// token; sent only with proxy_include_connection_meta.
	Meta []byte
	// Headers are the HTTP headers of the connection's upgrade request; the
	// proxy forwards only those listed in proxy_http_headers.
	Headers http.Header
}

// ProxyConnectRequest asks whether a client without a token may connect.
type ProxyConnectRequest struct {
	ProxyClientInfo
	Data     []byte // connect command data (raw JSON for JSON clients)
	Name     string
	Version  string
	Channels []string
}

// ProxySubscribeOptions are the options of a server-side subscription given
// by a connect result.
type ProxySubscribeOptions struct {
	ExpireAt int64
	Info     []byte
	Data     []byte
}

// ProxyConnectResult is the backend's answer to a connect.
type ProxyConnectResult struct {
	User     string
	ExpireAt int64
	Info     []byte
	Data     []byte
	Channels []string
	Subs     map[string]ProxySubscribeOptions
	Meta     []byte
}

// ProxyRefreshRequest asks to extend a connection about to expire.
type ProxyRefreshRequest struct {
	ProxyClientInfo
}

// ProxyRefreshResult is the backend's answer to a refresh.
type ProxyRefreshResult struct {
	Expired  bool
	ExpireAt int64
	Info     []byte
}

// ProxySubscribeRequest asks whether the client may subscribe to Channel.
type ProxySubscribeRequest struct {
	ProxyClientInfo
	Channel string
	Token   string
	Data    []byte
}

// ProxySubscribeResult is the backend's answer to a subscribe.
type ProxySubscribeResult struct {
	ExpireAt int64
	Info     []byte
	Data     []byte
}

// ProxyPublishRequest asks whether the client may publish Data to Channel.
type ProxyPublishRequest struct {
	ProxyClientInfo
	Channel string
	Data    []byte
}

// ProxyPublishResult is the backend's answer to a publish: Data, when set,
// replaces what the client sent.
type ProxyPublishResult struct {
	Data        []byte
	SkipHistory bool
}

// ProxyRPCRequest carries a client RPC call to the backend.
type ProxyRPCRequest struct {
	ProxyClientInfo
	Method string
	Data   []byte
}

// ProxyRPCResult is the backend's answer to an RPC.
type ProxyRPCResult struct {
	Data []byte
}

// ProxySubRefreshRequest asks to extend a subscription about to expire.
type ProxySubRefreshRequest struct {
	ProxyClientInfo
	Channel string
}

// ProxySubRefreshResult is the backend's answer to a sub_refresh.
type ProxySubRefreshResult struct {
	Expired  bool
	ExpireAt int64
	Info     []byte
}

// forwardedHeaders lists, canonicalised, the request headers some proxy
// forwards: proxy_http_headers and proxy_grpc_metadata, and the
// http_headers and grpc_metadata of the named proxies.
func forwardedHeaders(cfg *config.Config) []string {
	var names []string
	add := func(list []string) {
		for _, name := range list {
			name = http.CanonicalHeaderKey(name)
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	add(cfg.ProxyHTTPHeaders)
	add(cfg.ProxyGRPCMetadata)
	for _, p := range cfg.Proxies {
		add(p.HTTPHeaders)
		add(p.GRPCMetadata)
	}
	return names
}

// keptHeaders returns the part of a connection's request headers that a
// proxy may forward, nil when none: a client keeps no more (the whole
// header of a browser's request is about half a kilobyte per connection).
func (n *Node) keptHeaders(h http.Header) http.Header {
	var kept http.Header
	for _, name := range n.fwdHeaders {
		if vs := h[name]; len(vs) > 0 {
			if kept == nil {
				kept = make(http.Header, len(n.fwdHeaders))
			}
			kept[name] = vs
		}
	}
	return kept
}
