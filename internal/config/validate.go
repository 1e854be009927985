package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with a configuration. It names the key (with
// the list item path, "namespaces[0].history_ttl"), and its message names
// the bad value and says what to do.
type Problem struct {
	Key     string
	Message string
}

// Error formats the problem as "key: message".
func (p Problem) Error() string { return p.Key + ": " + p.Message }

// namePattern is what namespace, rpc namespace and proxy names must match.
var namePattern = regexp.MustCompile(`^[-a-zA-Z0-9_.]{2,}$`)

// Validate checks the configuration and returns every problem at once,
// joined with errors.Join; each joined error is a Problem. nil means the
// configuration is usable. Validate does no I/O (see CheckEndpoints).
func (c *Config) Validate() error {
	ps := c.Problems()
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i := range ps {
		errs[i] = ps[i]
	}
	return errors.Join(errs...)
}

// Problems returns every problem of the configuration, in a stable order;
// Validate is the same list as one error.
func (c *Config) Problems() []Problem {
	v := &validator{}
	v.node(c)
	v.clients(c)
	v.tokens(c)
	v.channelsTop(c)
	v.api(c)
	v.proxies(c)
	v.engine(c)
	v.websocket(c)
	return v.ps
}

// ProblemsOf splits an error returned by Validate back into its Problems.
// Any error in the tree that is not a Problem becomes one with an empty Key.
func ProblemsOf(err error) []Problem {
	if err == nil {
		return nil
	}
	var out []Problem
	var walk func(error)
	walk = func(e error) {
		if p, ok := e.(Problem); ok {
			out = append(out, p)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, Problem{Message: e.Error()})
	}
	walk(err)
	return out
}

type validator struct{ ps []Problem }

func (v *validator) add(key, format string, args ...any) {
	v.ps = append(v.ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	v.add(key, "%q is not allowed; use one of %s", val, strings.Join(quoted, ", "))
}

func (v *validator) port(key string, p int) {
	if p < 0 || p > 65535 {
		v.add(key, "%d is out of range; use a port from 1 to 65535 (0 picks a free port)", p)
	}
}

// nonNegative reports every negative integer and duration field of a
// struct of schema s (ports are checked by range elsewhere).
func (v *validator) nonNegative(prefix string, val reflect.Value, s *schema, skip ...string) {
outer:
	for _, f := range s.fields {
		for _, k := range skip {
			if f.key == k {
				continue outer
			}
		}
		fv := val.FieldByIndex(f.index)
		switch {
		case f.typ == durationType:
			if d := time.Duration(fv.Int()); d < 0 {
				v.add(prefix+f.key, "%s is negative; use 0 or a positive duration", d)
			}
		case f.typ.Kind() == reflect.Int:
			if n := fv.Int(); n < 0 {
				v.add(prefix+f.key, "%d is negative; use 0 or a positive number", n)
			}
		}
	}
}

func (v *validator) regex(key, expr string) {
	if expr == "" {
		return
	}
	if _, err := regexp.Compile(expr); err != nil {
		v.add(key, "%q is not a valid regular expression: %v", expr, err)
	}
}

func (v *validator) node(c *Config) {
	v.oneOf("engine", c.Engine, "memory", "redis")
	v.oneOf("broker", c.Broker, "", "nats")
	switch strings.ToLower(c.LogLevel) {
	case "trace", "debug", "info", "warn", "warning", "error", "none":
	default:
		v.add("log_level", "%q is not a log level; use one of \"debug\", \"info\", \"warn\", \"error\", \"none\"", c.LogLevel)
	}
	v.port("port", c.Port)
	v.port("internal_port", c.InternalPort)
	if c.TLS {
		if c.TLSCert == "" {
			v.add("tls_cert", "tls is true but tls_cert is empty; set tls_cert to the certificate file or set tls to false")
		}
		if c.TLSKey == "" {
			v.add("tls_key", "tls is true but tls_key is empty; set tls_key to the private key file or set tls to false")
		}
	}
	if c.Admin && !c.AdminInsecure {
		if c.AdminPassword == "" {
			v.add("admin_password", "admin is true but admin_password is empty; set it, or set admin_insecure to true")
		}
		if c.AdminSecret == "" {
			v.add("admin_secret", "admin is true but admin_secret is empty; set it, or set admin_insecure to true")
		}
	}
	// Keys with a stronger check of their own are skipped, so that one bad
	// value is one problem.
	skip := []string{"port", "internal_port", "grpc_api_port", "ping_interval",
		"client_queue_max_size", "client_max_messages_in_frame", "websocket_message_size_limit",
		"channel_max_length"}
	for _, ev := range proxyEvents {
		skip = append(skip, "proxy_"+ev+"_timeout")
	}
	v.nonNegative("", reflect.ValueOf(c).Elem(), configSchema, skip...)
}

// MaxMessagesInFrame and MaxWriteDelay bound client_max_messages_in_frame
// and client_write_delay.
const (
	MaxMessagesInFrame = 1024
	MaxWriteDelay      = time.Second
)

func (v *validator) clients(c *Config) {
	if c.ClientQueueMaxSize <= 0 {
		v.add("client_queue_max_size", "%d must be greater than 0; it is the most bytes queued for one client (default 1048576)", c.ClientQueueMaxSize)
	}
	if c.ClientMaxMessagesInFrame < 1 || c.ClientMaxMessagesInFrame > MaxMessagesInFrame {
		v.add("client_max_messages_in_frame", "%d must be between 1 and %d; it is the most messages one frame to a client carries (default 64)", c.ClientMaxMessagesInFrame, MaxMessagesInFrame)
	}
	if c.ClientWriteDelay > MaxWriteDelay {
		v.add("client_write_delay", "%s is above %s; it delays every message to every client, so keep it to tens of milliseconds (0, the default, writes at once)", c.ClientWriteDelay, MaxWriteDelay)
	}
	if c.PingInterval <= 0 {
		v.add("ping_interval", "%s must be greater than 0 (default 25s)", c.PingInterval)
	} else if c.PingInterval <= c.PongTimeout {
		v.add("ping_interval", "%s must be greater than pong_timeout (%s); raise ping_interval or lower pong_timeout", c.PingInterval, c.PongTimeout)
	}
	if c.ChannelMaxLength <= 0 {
		v.add("channel_max_length", "%d must be greater than 0 (default 255)", c.ChannelMaxLength)
	}
	if c.UserSubscribeToPersonal && c.UserPersonalChannelNamespace != "" && !c.hasNamespace(c.UserPersonalChannelNamespace) {
		v.add("user_personal_channel_namespace", "namespace %q is not in namespaces; add it or clear the key", c.UserPersonalChannelNamespace)
	}
	for _, o := range c.AllowedOrigins {
		if strings.TrimSpace(o) == "" {
			v.add("allowed_origins", `contains an empty pattern; remove it (use "*" to allow every origin)`)
			break
		}
	}
}

func (c *Config) hasNamespace(name string) bool {
	for i := range c.Namespaces {
		if c.Namespaces[i].Name == name {
			return true
		}
	}
	return false
}

func (v *validator) tokens(c *Config) {
	for _, p := range []struct {
		prefix                          string
		rsa, ecdsa, jwks                string
		aud, audRegex, issuer, issRegex string
	}{
		{"token_", c.TokenRSAPublicKey, c.TokenECDSAPublicKey, c.TokenJWKSPublicEndpoint,
			c.TokenAudience, c.TokenAudienceRegex, c.TokenIssuer, c.TokenIssuerRegex},
		{"subscription_token_", c.SubscriptionTokenRSAPublicKey, c.SubscriptionTokenECDSAPublicKey, c.SubscriptionTokenJWKSPublicEndpoint,
			c.SubscriptionTokenAudience, c.SubscriptionTokenAudienceRegex, c.SubscriptionTokenIssuer, c.SubscriptionTokenIssuerRegex},
	} {
		if p.rsa != "" {
			if err := checkPublicKeyPEM(p.rsa, "RSA"); err != nil {
				v.add(p.prefix+"rsa_public_key", "%v; paste the PEM block (-----BEGIN PUBLIC KEY-----) of an RSA public key", err)
			}
		}
		if p.ecdsa != "" {
			if err := checkPublicKeyPEM(p.ecdsa, "ECDSA"); err != nil {
				v.add(p.prefix+"ecdsa_public_key", "%v; paste the PEM block (-----BEGIN PUBLIC KEY-----) of an ECDSA P-256, P-384 or P-521 public key", err)
			}
		}
		if p.jwks != "" {
			u, err := url.Parse(p.jwks)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(p.prefix+"jwks_public_endpoint", "%q is not an http:// or https:// URL", p.jwks)
			}
		}
		if p.aud != "" && p.audRegex != "" {
			v.add(p.prefix+"audience_regex", "is set together with %saudience (%q); use only one", p.prefix, p.aud)
		}
		if p.issuer != "" && p.issRegex != "" {
			v.add(p.prefix+"issuer_regex", "is set together with %sissuer (%q); use only one", p.prefix, p.issuer)
		}
		v.regex(p.prefix+"audience_regex", p.audRegex)
		v.regex(p.prefix+"issuer_regex", p.issRegex)
	}
}

// checkPublicKeyPEM checks that s is a PEM public key (PKIX, PKCS#1 for RSA,
// or a certificate) of the given kind.
func checkPublicKeyPEM(s, kind string) error {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return errors.New("not a PEM block")
	}
	var pub any
	var err error
	switch block.Type {
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return fmt.Errorf("PEM block %q does not hold a public key: %v", block.Type, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if kind != "RSA" {
			return fmt.Errorf("holds an RSA key, not an %s key", kind)
		}
	case *ecdsa.PublicKey:
		if kind != "ECDSA" {
			return fmt.Errorf("holds an ECDSA key, not an %s key", kind)
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("uses curve %s", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("holds a %T, not an %s public key", pub, kind)
	}
	return nil
}

func (v *validator) channelsTop(c *Config) {
	v.channelOptions("", &c.ChannelOptions, c)
	seen := make(map[string]int)
	for i := range c.Namespaces {
		ns := &c.Namespaces[i]
		prefix := fmt.Sprintf("namespaces[%d].", i)
		if !namePattern.MatchString(ns.Name) {
			v.add(prefix+"name", "%q is not a valid namespace name; use at least 2 characters of a-z, A-Z, 0-9, '-', '_' and '.'", ns.Name)
		} else if j, dup := seen[ns.Name]; dup {
			v.add(prefix+"name", "%q is also the name of namespaces[%d]; namespace names must be unique", ns.Name, j)
		} else {
			seen[ns.Name] = i
		}
		v.channelOptions(prefix, &ns.ChannelOptions, c)
		v.nonNegative(prefix, reflect.ValueOf(ns).Elem(), namespaceSchema)
	}
	seen = make(map[string]int)
	for i, r := range c.RPCNamespaces {
		prefix := fmt.Sprintf("rpc_namespaces[%d].", i)
		if !namePattern.MatchString(r.Name) {
			v.add(prefix+"name", "%q is not a valid rpc namespace name; use at least 2 characters of a-z, A-Z, 0-9, '-', '_' and '.'", r.Name)
		} else if j, dup := seen[r.Name]; dup {
			v.add(prefix+"name", "%q is also the name of rpc_namespaces[%d]; rpc namespace names must be unique", r.Name, j)
		} else {
			seen[r.Name] = i
		}
		if r.RPCProxyName != "" && !c.hasProxy(r.RPCProxyName) {
			v.add(prefix+"rpc_proxy_name", "%q is not the name of any item in proxies; add it there or fix the name", r.RPCProxyName)
		}
		if r.ProxyRPC && r.RPCProxyName == "" && c.ProxyEndpoint("rpc") == "" {
			v.add(prefix+"proxy_rpc", "is true but neither rpc_proxy_name nor proxy_rpc_endpoint is set; set one of them")
		}
	}
}

func (c *Config) hasProxy(name string) bool {
	for i := range c.Proxies {
		if c.Proxies[i].Name == name {
			return true
		}
	}
	return false
}

func (v *validator) channelOptions(prefix string, o *ChannelOptions, c *Config) {
	if (o.HistorySize > 0) != (o.HistoryTTL > 0) {
		v.add(prefix+"history_size", "history_size (%d) and history_ttl (%s) must be set together; set both to keep history, or neither", o.HistorySize, o.HistoryTTL)
	}
	history := o.HistorySize > 0 && o.HistoryTTL > 0
	for _, x := range []struct {
		key string
		on  bool
	}{
		{"force_recovery", o.ForceRecovery},
		{"allow_recovery", o.AllowRecovery},
		{"force_positioning", o.ForcePositioning},
		{"allow_positioning", o.AllowPositioning},
	} {
		if x.on && !history {
			v.add(prefix+x.key, "is true but the channels keep no history; set history_size and history_ttl too")
		}
	}
	v.oneOf(prefix+"force_recovery_mode", o.ForceRecoveryMode, "", "stream", "cache")
	for _, t := range o.AllowedDeltaTypes {
		if t != "fossil" {
			v.add(prefix+"allowed_delta_types", `%q is not a delta type; the only one is "fossil"`, t)
		}
	}
	v.regex(prefix+"channel_regex", o.ChannelRegex)
	for _, x := range []struct {
		event, flag, nameKey, name string
		on                         bool
	}{
		{"subscribe", "proxy_subscribe", "subscribe_proxy_name", o.SubscribeProxyName, o.ProxySubscribe},
		{"publish", "proxy_publish", "publish_proxy_name", o.PublishProxyName, o.ProxyPublish},
		{"sub_refresh", "proxy_sub_refresh", "sub_refresh_proxy_name", o.SubRefreshProxyName, o.ProxySubRefresh},
	} {
		if x.name != "" && !c.hasProxy(x.name) {
			v.add(prefix+x.nameKey, "%q is not the name of any item in proxies; add it there or fix the name", x.name)
		}
		if x.on && x.name == "" && c.ProxyEndpoint(x.event) == "" {
			v.add(prefix+x.flag, "is true but proxy_%s_endpoint is empty; set proxy_%s_endpoint (grpc://host:port or http(s)://host/path) or %s, or set %s to false",
				x.event, x.event, x.nameKey, x.flag)
		}
	}
}

func (v *validator) api(c *Config) {
	v.oneOf("api_error_mode", c.APIErrorMode, "", "transport")
	v.oneOf("grpc_api_error_mode", c.GRPCAPIErrorMode, "", "transport")
	if c.APIHandlerPrefix != "" && !strings.HasPrefix(c.APIHandlerPrefix, "/") {
		v.add("api_handler_prefix", "%q must start with \"/\"", c.APIHandlerPrefix)
	}
	v.port("grpc_api_port", c.GRPCAPIPort)
	if c.GRPCAPI && c.GRPCAPIPort != 0 && c.GRPCAPIPort == c.Port && c.GRPCAPIAddress == c.Address {
		v.add("grpc_api_port", "%d is also the HTTP port (port); use another port", c.GRPCAPIPort)
	}
	if c.GRPCAPITLS {
		if c.GRPCAPITLSCert == "" || c.GRPCAPITLSKey == "" {
			v.add("grpc_api_tls", "is true but grpc_api_tls_cert or grpc_api_tls_key is empty; set both, or set grpc_api_tls to false")
		}
	}
}

// proxyEvents are the proxy events, in the order keys are reported.
var proxyEvents = []string{"connect", "refresh", "rpc", "subscribe", "publish", "sub_refresh"}

func (v *validator) proxies(c *Config) {
	for _, ev := range proxyEvents {
		key := "proxy_" + ev + "_endpoint"
		ep := c.rawProxyEndpoint(ev)
		if flag := c.proxyFlag(ev); flag != nil && *flag && ep == "" {
			v.add("proxy_"+ev, "is true but %s is empty; set %s (grpc://host:port or http(s)://host/path), or remove proxy_%s", key, key, ev)
		}
		if ep != "" {
			if err := checkEndpointURL(ep); err != nil {
				v.add(key, "%q %v", ep, err)
			}
		}
		if t := c.ProxyTimeout(ev); t <= 0 {
			v.add("proxy_"+ev+"_timeout", "%s must be greater than 0 (default 1s)", t)
		}
	}
	seen := make(map[string]int)
	for i, p := range c.Proxies {
		prefix := fmt.Sprintf("proxies[%d].", i)
		if !namePattern.MatchString(p.Name) {
			v.add(prefix+"name", "%q is not a valid proxy name; use at least 2 characters of a-z, A-Z, 0-9, '-', '_' and '.'", p.Name)
		} else if j, dup := seen[p.Name]; dup {
			v.add(prefix+"name", "%q is also the name of proxies[%d]; proxy names must be unique", p.Name, j)
		} else {
			seen[p.Name] = i
		}
		if p.Endpoint == "" {
			v.add(prefix+"endpoint", "is empty; set it to grpc://host:port or http(s)://host/path")
		} else if err := checkEndpointURL(p.Endpoint); err != nil {
			v.add(prefix+"endpoint", "%q %v", p.Endpoint, err)
		}
		if p.Timeout <= 0 {
			v.add(prefix+"timeout", "%s must be greater than 0 (default 1s)", p.Timeout)
		}
	}
	if c.ProxyGRPCTLS && (c.ProxyGRPCTLSCert == "") != (c.ProxyGRPCTLSKey == "") {
		v.add("proxy_grpc_tls_cert", "proxy_grpc_tls_cert and proxy_grpc_tls_key must be set together (client certificate) or both left empty")
	}
}

// checkEndpointURL checks a proxy endpoint: grpc://host:port, or
// http(s)://host[:port][/path].
func checkEndpointURL(ep string) error {
	if !strings.Contains(ep, "://") {
		return errors.New("must start with grpc://, http:// or https://")
	}
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", err)
	}
	switch u.Scheme {
	case "grpc":
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" || port == "" {
			return errors.New("must be grpc://host:port (host and port are required)")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("has port %q; use a port from 1 to 65535", port)
		}
	case "http", "https":
		if u.Hostname() == "" {
			return fmt.Errorf("has no host; use %s://host:port/path", u.Scheme)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("has port %q; use a port from 1 to 65535", p)
			}
		}
	default:
		return errors.New("must start with grpc://, http:// or https://")
	}
	return nil
}

func (v *validator) engine(c *Config) {
	if c.Engine == "redis" {
		if len(c.RedisAddress) == 0 && len(c.RedisClusterAddress) == 0 && len(c.RedisSentinelAddress) == 0 {
			v.add("redis_address", "is empty while engine is \"redis\"; set redis_address (or redis_cluster_address, or redis_sentinel_address)")
		}
		for _, a := range c.RedisAddress {
			if err := checkRedisAddress(a); err != nil {
				v.add("redis_address", "%q %v", a, err)
			}
		}
		for _, a := range c.RedisClusterAddress {
			if err := checkRedisAddress(a); err != nil {
				v.add("redis_cluster_address", "%q %v", a, err)
			}
		}
		for _, a := range c.RedisSentinelAddress {
			if err := checkRedisAddress(a); err != nil {
				v.add("redis_sentinel_address", "%q %v", a, err)
			}
		}
		if len(c.RedisSentinelAddress) > 0 && c.RedisSentinelMasterName == "" {
			v.add("redis_sentinel_master_name", "is empty while redis_sentinel_address is set; set it to the name of the monitored master")
		}
	}
	if c.Broker == "nats" && strings.TrimSpace(c.NATSURL) == "" {
		v.add("nats_url", "is empty while broker is \"nats\"; set it, e.g. nats://127.0.0.1:4222")
	}
}

// checkRedisAddress accepts host:port, redis://, rediss:// and unix:// URLs.
func checkRedisAddress(a string) error {
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil {
			return fmt.Errorf("is not a URL: %v", err)
		}
		switch u.Scheme {
		case "redis", "rediss":
			if u.Host == "" {
				return fmt.Errorf("has no host; use %s://host:port", u.Scheme)
			}
		case "unix":
			if u.Path == "" {
				return errors.New("has no socket path; use unix:///path/to/redis.sock")
			}
		default:
			return errors.New("must be host:port or a redis://, rediss:// or unix:// URL")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		return errors.New("must be host:port or a redis://, rediss:// or unix:// URL")
	}
	return nil
}

func (v *validator) websocket(c *Config) {
	if c.WebsocketMessageSizeLimit <= 0 {
		v.add("websocket_message_size_limit", "%d must be greater than 0 (default 65536 bytes)", c.WebsocketMessageSizeLimit)
	}
	v.oneOf("websocket_engine", c.WebsocketEngine, "epoll", "gorilla")
}
