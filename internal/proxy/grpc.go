package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// Reconnect backoff of gRPC backend connections. gRPC's default grows to
// 120 s, so a backend restarted during a deploy would be ignored for up to two
// minutes; capped at 1 s, it is used again within a second of coming back.
// Calls made while the connection is down fail at once (the channel is in
// TRANSIENT_FAILURE), they do not wait for the next attempt.
var reconnectBackoff = backoff.Config{
	BaseDelay:  100 * time.Millisecond,
	Multiplier: 1.6,
	Jitter:     0.2,
	MaxDelay:   time.Second,
}

// keepaliveParams: a ping after 30 s without reads while a call is in flight.
// Setting them also sets TCP_USER_TIMEOUT to Timeout, so a backend host that
// vanished without closing its connections is noticed 10 s after the first
// unanswered write instead of after the kernel's retransmissions (~15 min).
// No pings on idle connections: gRPC servers with default settings (the
// RoadRunner plugin's) answer those with GOAWAY "too_many_pings".
var keepaliveParams = keepalive.ClientParameters{
	Time:    30 * time.Second,
	Timeout: 10 * time.Second,
}

// dial makes the client connection of a grpc://host:port endpoint. It does
// not connect: grpc.NewClient connects on the first call. The passthrough
// resolver hands host:port to the dialer, so the host is looked up at each
// connection attempt: an unresolvable host fails the call (and is logged
// then) and is used as soon as it resolves. connectTimeout bounds each
// connection attempt; it is the longest timeout of the calls sharing the
// connection.
func dial(u *url.URL, creds credentials.TransportCredentials, connectTimeout time.Duration) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+u.Host,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepaliveParams),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: connectTimeout}),
	)
}

// transportCredentials are insecure unless proxy_grpc_tls is on; then TLS
// with the optional client certificate, root CA, server name and
// verification switch of the proxy_grpc_tls_* keys. They apply to every gRPC
// endpoint, named proxies included.
func transportCredentials(cfg *config.Config) (credentials.TransportCredentials, error) {
	if !cfg.ProxyGRPCTLS {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cfg.ProxyGRPCTLSServerName,
		InsecureSkipVerify: cfg.ProxyGRPCTLSInsecureSkipVer, //nolint:gosec // the operator's explicit choice (proxy_grpc_tls_insecure_skip_verify)
	}
	if cfg.ProxyGRPCTLSCert != "" || cfg.ProxyGRPCTLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ProxyGRPCTLSCert, cfg.ProxyGRPCTLSKey)
		if err != nil {
			return nil, fmt.Errorf("proxy: proxy_grpc_tls_cert/proxy_grpc_tls_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.ProxyGRPCTLSRootCA != "" {
		pem, err := os.ReadFile(cfg.ProxyGRPCTLSRootCA)
		if err != nil {
			return nil, fmt.Errorf("proxy: proxy_grpc_tls_root_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("proxy: proxy_grpc_tls_root_ca: %s holds no PEM certificate", cfg.ProxyGRPCTLSRootCA)
		}
		tc.RootCAs = pool
	}
	return credentials.NewTLS(tc), nil
}

func callOptions(t *target) []grpc.CallOption {
	if t.compression {
		return []grpc.CallOption{grpc.UseCompressor(gzip.Name)}
	}
	return nil
}

// outgoing adds the call's metadata to ctx: the client headers named in
// proxy_http_headers and proxy_grpc_metadata under lower-case keys, and
// proxy_grpc_credentials_key with its value.
func (t *target) outgoing(ctx context.Context, info *node.ProxyClientInfo) context.Context {
	var md metadata.MD
	for _, name := range t.forward {
		key := strings.ToLower(name)
		if !forwardableMetadata(key) {
			continue
		}
		for _, v := range info.Headers.Values(name) {
			if printableASCII(v) {
				if md == nil {
					md = metadata.MD{}
				}
				md.Append(key, v)
			}
		}
	}
	if t.credKey != "" {
		if md == nil {
			md = metadata.MD{}
		}
		md.Set(t.credKey, t.credValue)
	}
	if md == nil {
		return ctx
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// forwardableMetadata reports whether a header may travel as gRPC metadata:
// HTTP/2 forbids connection-specific headers, and gRPC owns its own and
// the pseudo-headers.
func forwardableMetadata(key string) bool {
	switch key {
	case "", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host", "content-type", "content-length":
		return false
	}
	return !strings.HasPrefix(key, "grpc-") && !strings.HasPrefix(key, ":")
}

// printableASCII reports whether v is a valid value of a text metadata key;
// gRPC refuses the whole call otherwise.
func printableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}
