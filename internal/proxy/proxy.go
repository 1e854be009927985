package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// rpcNamespaceBoundary separates the namespace of an RPC method ("ns:method")
// from the rest; rpc_namespaces items are matched against the namespace.
const rpcNamespaceBoundary = ":"

// Proxy calls the application backend for the events the configuration
// proxies. It is safe for concurrent use; its routes are fixed by New.
type Proxy struct {
	log   *slog.Logger
	http  *http.Client
	conns map[string]*grpc.ClientConn // by endpoint; one per distinct gRPC endpoint

	// Global proxies, nil when off.
	connect, refresh, rpc *target
	// Named proxies by name.
	named map[string]*target
	// Channel proxies by namespace name ("" = channels without namespace).
	channels map[string]channelTargets
	// RPC routes by rpc namespace name; a nil target means the namespace is
	// listed but not proxied.
	rpcNamespaces map[string]*target

	namespaceOf func(channel string) string
}

// channelTargets are the proxies of one namespace's channels, nil when off.
type channelTargets struct {
	subscribe, publish, subRefresh *target
}

var _ node.Proxy = (*Proxy)(nil)

// target is one place calls go to: a global proxy_<event>_endpoint or a named
// proxy, with the options that apply to its calls.
type target struct {
	p *Proxy
	// key is the config key of the endpoint ("proxy_connect_endpoint",
	// "proxies[0].endpoint"), named in logs and errors.
	key string
	// name is the name of a named proxy, "" for the global ones.
	name     string
	endpoint string
	timeout  time.Duration

	grpc     proxyproto.CentrifugoProxyClient // nil for HTTP endpoints
	callOpts []grpc.CallOption
	url      string // HTTP endpoints

	// forward lists the client headers passed on: proxy_http_headers and
	// proxy_grpc_metadata.
	forward     []string
	static      map[string]string // HTTP only
	binary      bool
	includeMeta bool
	credKey     string // gRPC only
	credValue   string
	compression bool // gRPC only
}

// settings are the options of a target as the configuration gives them.
type settings struct {
	key, name, endpoint string
	timeout             time.Duration
	forward             []string
	static              map[string]string
	binary, includeMeta bool
	credKey, credValue  string
	compression         bool
}

// New builds the proxy the configuration describes. Endpoint hosts are not
// resolved here: gRPC connections are made on first use and resolved at
// each (re)connect, HTTP hosts at each request, so a host that appears later
// is used then; calls to an unreachable one fail and are logged.
//
// New fails when the configuration points at a named proxy that does not
// exist, enables a proxy without an endpoint, has a malformed endpoint or
// unreadable proxy_grpc_tls files; config.Validate reports all of these
// first. A nil log discards.
func New(cfg *config.Config, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		log:           log,
		http:          newHTTPClient(),
		conns:         make(map[string]*grpc.ClientConn),
		named:         make(map[string]*target),
		channels:      make(map[string]channelTargets),
		rpcNamespaces: make(map[string]*target),
		namespaceOf:   cfg.NamespaceName,
	}
	var errs []error

	// Describe every target first: each gRPC connection needs the longest
	// timeout of the calls that share it.
	var all []settings
	global := make(map[string]int) // event → index in all
	for _, ev := range []string{config.ProxyEventConnect, config.ProxyEventRefresh, config.ProxyEventRPC,
		config.ProxyEventSubscribe, config.ProxyEventPublish, config.ProxyEventSubRefresh} {
		if ep := cfg.ProxyEndpoint(ev); ep != "" {
			global[ev] = len(all)
			all = append(all, globalSettings(cfg, ev, ep))
		}
	}
	named := make(map[string]int) // name → index in all
	for i, np := range cfg.Proxies {
		named[np.Name] = len(all)
		all = append(all, namedSettings(np, i))
	}

	longest := make(map[string]time.Duration)
	for _, s := range all {
		longest[s.endpoint] = max(longest[s.endpoint], s.timeout)
	}
	var creds credentials.TransportCredentials
	targets := make([]*target, len(all))
	for i, s := range all {
		t, err := p.newTarget(s, cfg, &creds, longest[s.endpoint])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		targets[i] = t
	}
	if len(errs) > 0 {
		_ = p.Close()
		return nil, errors.Join(errs...)
	}

	pick := func(ev string) *target {
		if i, ok := global[ev]; ok {
			return targets[i]
		}
		return nil
	}
	p.connect, p.refresh, p.rpc = pick(config.ProxyEventConnect), pick(config.ProxyEventRefresh), pick(config.ProxyEventRPC)
	for name, i := range named {
		p.named[name] = targets[i]
	}

	// route finds the target of an event enabled by flag, named by name.
	route := func(where, flag, nameKey, ev string, on bool, name string) *target {
		switch {
		case !on:
			return nil
		case name != "":
			if t := p.named[name]; t != nil {
				return t
			}
			errs = append(errs, fmt.Errorf("proxy: %s%s is %q, which is not the name of any item in proxies", where, nameKey, name))
		case pick(ev) == nil:
			errs = append(errs, fmt.Errorf("proxy: %s%s is true but proxy_%s_endpoint is not set (or is turned off)", where, flag, ev))
		default:
			return pick(ev)
		}
		return nil
	}
	addNamespace := func(where, ns string, o *config.ChannelOptions) {
		p.channels[ns] = channelTargets{
			subscribe:  route(where, "proxy_subscribe", "subscribe_proxy_name", config.ProxyEventSubscribe, o.ProxySubscribe, o.SubscribeProxyName),
			publish:    route(where, "proxy_publish", "publish_proxy_name", config.ProxyEventPublish, o.ProxyPublish, o.PublishProxyName),
			subRefresh: route(where, "proxy_sub_refresh", "sub_refresh_proxy_name", config.ProxyEventSubRefresh, o.ProxySubRefresh, o.SubRefreshProxyName),
		}
	}
	addNamespace("", "", &cfg.ChannelOptions)
	for i := range cfg.Namespaces {
		ns := &cfg.Namespaces[i]
		addNamespace(fmt.Sprintf("namespaces[%d].", i), ns.Name, &ns.ChannelOptions)
	}
	for i, r := range cfg.RPCNamespaces {
		p.rpcNamespaces[r.Name] = route(fmt.Sprintf("rpc_namespaces[%d].", i), "proxy_rpc", "rpc_proxy_name", config.ProxyEventRPC, r.ProxyRPC, r.RPCProxyName)
	}
	if len(errs) > 0 {
		_ = p.Close()
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func globalSettings(cfg *config.Config, ev, endpoint string) settings {
	return settings{
		key:         "proxy_" + ev + "_endpoint",
		endpoint:    endpoint,
		timeout:     cfg.ProxyTimeout(ev),
		forward:     append(append([]string(nil), cfg.ProxyHTTPHeaders...), cfg.ProxyGRPCMetadata...),
		static:      cfg.ProxyStaticHTTPHeaders,
		binary:      cfg.ProxyBinaryEncoding,
		includeMeta: cfg.ProxyIncludeConnectionMeta,
		credKey:     cfg.ProxyGRPCCredentialsKey,
		credValue:   cfg.ProxyGRPCCredentialsValue,
		compression: cfg.ProxyGRPCCompression,
	}
}

func namedSettings(np config.Proxy, i int) settings {
	timeout := np.Timeout
	if timeout <= 0 {
		timeout = config.DefaultProxyTimeout
	}
	return settings{
		key:         fmt.Sprintf("proxies[%d].endpoint", i),
		name:        np.Name,
		endpoint:    np.Endpoint,
		timeout:     timeout,
		forward:     append(append([]string(nil), np.HTTPHeaders...), np.GRPCMetadata...),
		static:      np.StaticHTTPHeaders,
		binary:      np.BinaryEncoding,
		includeMeta: np.IncludeConnectionMeta,
		credKey:     np.GRPCCredentialsKey,
		credValue:   np.GRPCCredentialsValue,
		compression: np.GRPCCompression,
	}
}

// newTarget makes the target s describes, reusing the gRPC connection of its
// endpoint when one exists.
func (p *Proxy) newTarget(s settings, cfg *config.Config, creds *credentials.TransportCredentials, connectTimeout time.Duration) (*target, error) {
	t := &target{
		p:           p,
		key:         s.key,
		name:        s.name,
		endpoint:    s.endpoint,
		timeout:     s.timeout,
		forward:     s.forward,
		static:      s.static,
		binary:      s.binary,
		includeMeta: s.includeMeta,
		credKey:     strings.ToLower(s.credKey),
		credValue:   s.credValue,
		compression: s.compression,
	}
	if t.timeout <= 0 {
		return nil, fmt.Errorf("proxy: %s: timeout %s must be greater than 0", t.key, t.timeout)
	}
	u, err := url.Parse(s.endpoint)
	if err != nil {
		return nil, fmt.Errorf("proxy: %s: %q is not a URL: %w", t.key, s.endpoint, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("proxy: %s: %q has no host", t.key, s.endpoint)
		}
		t.url = s.endpoint
	case "grpc":
		conn := p.conns[s.endpoint]
		if conn == nil {
			if *creds == nil {
				if *creds, err = transportCredentials(cfg); err != nil {
					return nil, err
				}
			}
			if conn, err = dial(u, *creds, connectTimeout); err != nil {
				return nil, fmt.Errorf("proxy: %s: %q: %w", t.key, s.endpoint, err)
			}
			p.conns[s.endpoint] = conn
		}
		t.grpc = proxyproto.NewCentrifugoProxyClient(conn)
		t.callOpts = callOptions(t)
	default:
		return nil, fmt.Errorf("proxy: %s: %q must start with grpc://, http:// or https://", t.key, s.endpoint)
	}
	return t, nil
}

// Close closes the gRPC connections and the idle HTTP connections. Calls
// made after Close fail.
func (p *Proxy) Close() error {
	var errs []error
	for ep, conn := range p.conns {
		if err := conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("proxy: close %s: %w", ep, err))
		}
	}
	p.http.CloseIdleConnections()
	return errors.Join(errs...)
}

// ConnectEnabled reports whether connects without a token are proxied.
func (p *Proxy) ConnectEnabled() bool { return p.connect != nil }

// RefreshEnabled reports whether connection refreshes are proxied.
func (p *Proxy) RefreshEnabled() bool { return p.refresh != nil }

// RPCEnabled reports whether RPC method is proxied.
func (p *Proxy) RPCEnabled(method string) bool { return p.rpcTarget(method) != nil }

// SubscribeEnabled reports whether subscribing to channel is proxied.
func (p *Proxy) SubscribeEnabled(channel string) bool { return p.channel(channel).subscribe != nil }

// PublishEnabled reports whether publishing to channel is proxied.
func (p *Proxy) PublishEnabled(channel string) bool { return p.channel(channel).publish != nil }

// SubRefreshEnabled reports whether subscription refreshes in channel are
// proxied.
func (p *Proxy) SubRefreshEnabled(channel string) bool {
	return p.channel(channel).subRefresh != nil
}

// channel returns the proxies of channel's namespace; none for a namespace
// that is not configured.
func (p *Proxy) channel(channel string) channelTargets {
	return p.channels[p.namespaceOf(channel)]
}

// rpcTarget routes method: a method "ns:rest" whose namespace is listed in
// rpc_namespaces goes where that item says (nowhere without proxy_rpc);
// any other method goes to proxy_rpc_endpoint.
func (p *Proxy) rpcTarget(method string) *target {
	if ns, _, ok := strings.Cut(method, rpcNamespaceBoundary); ok {
		if t, listed := p.rpcNamespaces[ns]; listed {
			return t
		}
	}
	return p.rpc
}

// notEnabled is the error of a call no proxy is configured for.
func notEnabled(what string) error {
	return fmt.Errorf("%w for %s", ErrNotEnabled, what)
}
