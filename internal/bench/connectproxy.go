package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rotorhq/rotor/rotorproxy"
)

// Connect proxy schemes (Options.ConnectProxy).
const (
	proxySchemeGRPC = "grpc"
	proxySchemeHTTP = "http"
)

// proxyShutdownTimeout bounds the stop of the connect proxy at the end.
const proxyShutdownTimeout = 2 * time.Second

// checkConnectProxy validates Options.ConnectProxy and returns the address
// to listen on.
func checkConnectProxy(endpoint string) (scheme, addr string, err error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("connect proxy %q: %w", endpoint, err)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", "", fmt.Errorf("connect proxy %q: want grpc://host:port or http://host:port/…/connect", endpoint)
	}
	switch u.Scheme {
	case proxySchemeGRPC:
		if u.Path != "" && u.Path != "/" {
			return "", "", fmt.Errorf("connect proxy %q: a grpc:// endpoint has no path", endpoint)
		}
	case proxySchemeHTTP:
		if path.Base(u.Path) != "connect" {
			return "", "", fmt.Errorf("connect proxy %q: the path must end in /connect (the HTTP proxy tells the request type by it)", endpoint)
		}
	default:
		return "", "", fmt.Errorf("connect proxy %q: want grpc://host:port or http://host:port/…/connect", endpoint)
	}
	return u.Scheme, u.Host, nil
}

// connectProxy is the application backend of a run with
// Options.ConnectProxy: the server calls it for every connection, which
// sends no token, and it answers each call with a user of its own.
type connectProxy struct {
	srv   *rotorproxy.Server
	calls atomic.Int64
	stop  func()
}

// startConnectProxy serves the connect proxy of o (gRPC or HTTP) on ln, or
// on a listener of its own at the endpoint's address when ln is nil.
func startConnectProxy(o *Options, ln net.Listener, log *slog.Logger) (*connectProxy, error) {
	scheme, addr, err := checkConnectProxy(o.ConnectProxy)
	if err != nil {
		return nil, err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("bench: connect proxy: %w", err)
		}
	}
	p := &connectProxy{}
	opts := []rotorproxy.Option{rotorproxy.WithLogger(log), rotorproxy.WithShutdownTimeout(proxyShutdownTimeout)}
	if scheme == proxySchemeGRPC {
		opts = append(opts, rotorproxy.WithListener(ln))
	}
	if p.srv, err = rotorproxy.New(opts...); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("bench: connect proxy: %w", err)
	}
	p.srv.OnConnect(func(context.Context, *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		return &rotorproxy.ConnectResult{User: "bench-" + strconv.FormatInt(p.calls.Add(1)-1, 10)}, nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	switch scheme {
	case proxySchemeGRPC:
		go func() {
			defer close(done)
			if err := p.srv.Serve(ctx); err != nil {
				log.Warn("connect proxy stopped", "error", err)
			}
		}()
	default:
		hs := &http.Server{Handler: p.srv.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			defer close(done)
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("connect proxy stopped", "error", err)
			}
		}()
		go func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), proxyShutdownTimeout)
			defer scancel()
			_ = hs.Shutdown(sctx)
		}()
	}
	p.stop = func() {
		cancel()
		<-done
	}
	log.Info("serving the connect proxy", "endpoint", o.ConnectProxy, "addr", ln.Addr().String())
	return p, nil
}
