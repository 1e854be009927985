package rotorproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rotorhq/rotor/proxyproto"
)

// ErrServerClosed is returned by Serve once the server has been shut down.
var ErrServerClosed = errors.New("rotorproxy: server closed")

// Server answers the proxy requests of a Rotor or Centrifugo node: over gRPC
// (it implements proxyproto.CentrifugoProxyServer and serves it with Serve)
// and over HTTP (HTTPHandler). Both paths run the same services and
// interceptors.
//
// Services, routes and interceptors may be registered at any time, also while
// serving; each call uses what was registered when it began. All methods are
// safe for concurrent use.
type Server struct {
	proxyproto.UnimplementedCentrifugoProxyServer

	opts options

	regMu sync.Mutex            // serialises registrations
	table atomic.Pointer[table] // what calls use; replaced, never changed
	warn  [numTypes]atomic.Bool // "no service" logged for the type
	calls tracker               // running handler goroutines

	grpc   *grpc.Server
	health *health.Server

	mu      sync.Mutex
	ln      net.Listener
	serving bool
	closed  bool
}

// New returns a server with the given options; nothing listens until Serve.
// It fails on an invalid option (an address it cannot listen on, a negative
// timeout), listing every problem.
func New(opts ...Option) (*Server, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o}
	s.table.Store(&table{})
	s.grpc = grpc.NewServer(o.grpcOptions...)
	proxyproto.RegisterCentrifugoProxyServer(s.grpc, s)
	s.health = health.NewServer()
	s.health.SetServingStatus(proxyproto.CentrifugoProxy_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	return s, nil
}

// GRPCServer returns the underlying gRPC server, on which more services may
// be registered before Serve. The proxy service and the standard health
// service (grpc.health.v1.Health, SERVING until shutdown) are registered on
// it already.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Serve listens (unless WithListener gave a listener) and serves gRPC until
// ctx ends or Shutdown is called. When ctx ends, it stops gracefully within
// the shutdown timeout (WithShutdownTimeout) and returns the error of that
// stop. It returns nil after a shutdown, and ErrServerClosed when called
// after one.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrServerClosed
	case s.serving:
		s.mu.Unlock()
		return errors.New("rotorproxy: Serve called twice")
	}
	ln := s.opts.listener
	if ln == nil {
		network, address, _ := parseAddress(s.opts.address) // checked by New
		var err error
		if ln, err = net.Listen(network, address); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("rotorproxy: listen: %w", err)
		}
	}
	s.ln = ln
	s.serving = true
	s.mu.Unlock()

	s.opts.log.Info("rotorproxy: serving gRPC", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(ln) }()
	select {
	case err := <-errc:
		if err == nil || errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("rotorproxy: serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.shutdownTimeout)
		defer cancel()
		err := s.Shutdown(sctx)
		if serr := <-errc; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
			err = errors.Join(err, fmt.Errorf("rotorproxy: serve: %w", serr))
		}
		return err
	}
}

// Addr returns the address Serve listens on, nil before it listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server gracefully: the health service turns to
// NOT_SERVING, no new gRPC calls are accepted, and Shutdown waits for the
// running ones to be answered (each is answered by its deadline at the
// latest) and for their handlers to return. When ctx ends first, gRPC
// connections are closed and Shutdown returns ctx's error; handlers that
// never return are left running. It does not stop http.Servers serving
// HTTPHandler: shut those down too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.health.Shutdown()

	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
		return fmt.Errorf("rotorproxy: shutdown: %w", ctx.Err())
	}

	if err := s.calls.wait(ctx); err != nil {
		return fmt.Errorf("rotorproxy: shutdown: handlers still running: %w", err)
	}
	return nil
}
