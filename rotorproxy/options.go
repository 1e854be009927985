package rotorproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// Defaults of the options.
const (
	// DefaultAddress is where Serve listens without WithAddress or
	// WithListener.
	DefaultAddress = "tcp://127.0.0.1:10001"
	// DefaultHandlerTimeout bounds every call whose caller set no shorter
	// deadline. Centrifugo's proxy timeouts are 1 s by default and rarely
	// above 10 s, so it only matters for callers that set none.
	DefaultHandlerTimeout = 30 * time.Second
	// DefaultShutdownTimeout bounds the graceful stop that Serve makes when
	// its context ends.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxBodySize limits the bodies of HTTP proxy requests.
	DefaultMaxBodySize = 4 << 20
)

// Option configures a Server built by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	address         string
	listener        net.Listener
	log             *slog.Logger
	handlerTimeout  time.Duration
	shutdownTimeout time.Duration
	maxBodySize     int64
	grpcOptions     []grpc.ServerOption
}

// WithAddress sets where Serve listens for gRPC: "host:port", optionally
// prefixed with "tcp://" as in the RoadRunner configuration
// ("tcp://0.0.0.0:10001"), or "unix:///path/to/socket". Port 0 picks a free
// port (see Server.Addr). Zero value: DefaultAddress.
func WithAddress(addr string) Option {
	return optionFunc(func(o *options) { o.address = addr })
}

// WithListener makes Serve accept gRPC connections from ln instead of
// listening itself; WithAddress is then ignored. The server closes ln when it
// stops.
func WithListener(ln net.Listener) Option {
	return optionFunc(func(o *options) { o.listener = ln })
}

// WithLogger sets the logger of failures: handler errors that are answered
// as internal errors, panics, handlers that overran their deadline, requests
// that could not be decoded. Zero value: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.log = l })
}

// WithHandlerTimeout bounds each call, interceptors included: when d passes
// before the chain answers, the call is answered with ErrInternal. The
// caller's deadline (the proxy timeout Centrifugo and Rotor send with every
// gRPC call) applies too, the shorter one winning. Zero disables the bound,
// leaving only the caller's deadline. Zero value (option not given):
// DefaultHandlerTimeout.
func WithHandlerTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.handlerTimeout = d })
}

// WithShutdownTimeout bounds the graceful stop Serve makes when its context
// ends; past it, connections are closed. Zero value: DefaultShutdownTimeout.
func WithShutdownTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.shutdownTimeout = d })
}

// WithMaxBodySize limits the size of HTTP proxy request bodies; bigger ones
// are answered 413. Zero value: DefaultMaxBodySize.
func WithMaxBodySize(n int64) Option {
	return optionFunc(func(o *options) { o.maxBodySize = n })
}

// WithGRPCServerOptions adds options to the gRPC server, such as
// grpc.Creds for TLS or interceptors of gRPC's own.
func WithGRPCServerOptions(opts ...grpc.ServerOption) Option {
	return optionFunc(func(o *options) { o.grpcOptions = append(o.grpcOptions, opts...) })
}

func buildOptions(opts []Option) (options, error) {
	o := options{
		address:         DefaultAddress,
		handlerTimeout:  DefaultHandlerTimeout,
		shutdownTimeout: DefaultShutdownTimeout,
		maxBodySize:     DefaultMaxBodySize,
	}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	var errs []error
	if o.listener == nil {
		if _, _, err := parseAddress(o.address); err != nil {
			errs = append(errs, err)
		}
	}
	if o.handlerTimeout < 0 {
		errs = append(errs, fmt.Errorf("rotorproxy: handler timeout %v is negative", o.handlerTimeout))
	}
	if o.shutdownTimeout <= 0 {
		o.shutdownTimeout = DefaultShutdownTimeout
	}
	if o.maxBodySize <= 0 {
		o.maxBodySize = DefaultMaxBodySize
	}
	return o, errors.Join(errs...)
}

// parseAddress splits a listen address of WithAddress into the network and
// address of net.Listen.
func parseAddress(s string) (network, address string, err error) {
	if rest, ok := strings.CutPrefix(s, "unix://"); ok {
		if rest == "" {
			return "", "", fmt.Errorf("rotorproxy: address %q: no socket path", s)
		}
		return "unix", rest, nil
	}
	rest, _ := strings.CutPrefix(s, "tcp://")
	if i := strings.Index(rest, "://"); i >= 0 {
		return "", "", fmt.Errorf("rotorproxy: address %q: scheme %q is not supported (use tcp:// or unix://)", s, rest[:i])
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		return "", "", fmt.Errorf("rotorproxy: address %q: %w", s, err)
	}
	return "tcp", rest, nil
}
