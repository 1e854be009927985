package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc"

	"github.com/rotorhq/rotor/internal/api"
	"github.com/rotorhq/rotor/internal/config"
)

// mountAPI serves the HTTP server API on mux under api_handler_prefix.
func mountAPI(mux *http.ServeMux, a *App) error {
	exec, err := api.NewExecutor(a.n, api.ExecutorConfig{Logger: a.log})
	if err != nil {
		return fmt.Errorf("app: http api: %w", err)
	}
	prefix := a.apiPrefix()
	h := api.NewHTTPHandler(exec, api.HTTPOptions{
		Prefix:    prefix,
		Key:       a.cfg.APIKey,
		Insecure:  a.cfg.APIInsecure,
		ErrorMode: a.cfg.APIErrorMode,
		Logger:    a.log,
	})
	mux.Handle(prefix, h)
	mux.Handle(prefix+"/", h)
	if a.cfg.APIKey == "" && !a.cfg.APIInsecure {
		a.log.Warn("http api: api_key is empty and api_insecure is off, every API call will be refused")
	}
	return nil
}

// apiPrefix is the path of the HTTP API (api_handler_prefix), "/api" by
// default.
func (a *App) apiPrefix() string {
	return "/" + strings.Trim(a.cfg.APIHandlerPrefix, "/")
}

// grpcTLSFiles returns the certificate and key files of the gRPC API:
// those of grpc_api_tls_cert and grpc_api_tls_key when grpc_api_tls is
// on, none (plaintext) when it is off, whatever the two files say.
func grpcTLSFiles(cfg *config.Config) (cert, key string) {
	if !cfg.GRPCAPITLS {
		return "", ""
	}
	return cfg.GRPCAPITLSCert, cfg.GRPCAPITLSKey
}

// startGRPC serves the gRPC server API on grpc_api_address:grpc_api_port.
func (a *App) startGRPC() error {
	exec, err := api.NewExecutor(a.n, api.ExecutorConfig{Logger: a.log})
	if err != nil {
		return fmt.Errorf("app: grpc api: %w", err)
	}
	cert, key := grpcTLSFiles(&a.cfg)
	srv, err := api.NewGRPCServer(exec, api.GRPCOptions{
		Key:        a.cfg.GRPCAPIKey,
		TLSCert:    cert,
		TLSKey:     key,
		Reflection: a.cfg.GRPCAPIReflection,
		ErrorMode:  a.cfg.GRPCAPIErrorMode,
		Logger:     a.log,
	})
	if err != nil {
		return fmt.Errorf("app: grpc api: %w", err)
	}
	addr := net.JoinHostPort(a.cfg.GRPCAPIAddress, strconv.Itoa(a.cfg.GRPCAPIPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("app: grpc api: listen on %s (grpc_api_address, grpc_api_port): %w", addr, err)
	}
	a.grpcServer = srv
	a.grpcAddr = ln.Addr().String()
	if a.cfg.GRPCAPIKey == "" && !isLoopback(a.cfg.GRPCAPIAddress) {
		a.log.Warn("grpc api listens on a non-loopback address without grpc_api_key: anyone who can reach it can publish and disconnect users", "addr", a.grpcAddr)
	}
	go func() {
		if err := srv.Serve(ln); err != nil {
			a.log.Error("grpc api stopped", "addr", a.grpcAddr, "error", err)
		}
	}()
	return nil
}

// isLoopback reports whether a bind address only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// stopGRPC stops srv gracefully, or at once when ctx ends first.
func stopGRPC(ctx context.Context, srv *grpc.Server) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		srv.Stop()
	}
}
