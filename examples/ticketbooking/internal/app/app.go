// Package app puts the ticket-booking demo together: the SQLite store, the
// cinema service and its expiry loop, the proxy server Rotor calls, the
// server API client the events go out through, and the HTTP server of the
// page and its REST API.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rotorhq/rotor/rotorapi"
	"github.com/rotorhq/rotor/rotorproxy"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/httpapi"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/realtime"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

// Defaults of Config: Rotor's and the RoadRunner plugin's usual ports.
const (
	DefaultHTTPAddress  = "127.0.0.1:8080"
	DefaultProxyAddress = "127.0.0.1:10001"
	DefaultAPIAddress   = "127.0.0.1:10000"
	DefaultDatabase     = "ticketbooking.db"
)

// Config configures the demo. Zero values mean the defaults.
type Config struct {
	// HTTPAddress is where the page and the REST API are served. Zero
	// value: DefaultHTTPAddress.
	HTTPAddress string
	// HTTPListener, when set, is served instead of listening on
	// HTTPAddress.
	HTTPListener net.Listener
	// ProxyAddress is where Rotor's proxy calls arrive (the gRPC proxy
	// endpoint of Rotor's config). Zero value: DefaultProxyAddress.
	ProxyAddress string
	// ProxyListener, when set, is served instead of listening on
	// ProxyAddress.
	ProxyListener net.Listener
	// APIAddress is Rotor's server API: host:port of the gRPC API, or an
	// http(s):// URL of the HTTP API. Zero value: DefaultAPIAddress.
	APIAddress string
	// APIKey is sent with every server API call when set.
	APIKey string
	// WebSocketURL is where the page connects (see httpapi.Config). Zero
	// value: the page's own origin, as behind nginx.
	WebSocketURL string
	// RotorURL, when set, is Rotor's HTTP address: the demo passes the
	// page's /connection/ requests on to it (see httpapi.Config.Rotor).
	RotorURL string
	// Database is the SQLite file. Zero value: DefaultDatabase.
	Database string
	// Static is the page. Zero value: no page, only the API.
	Static fs.FS
	// Cinema configures the service (reservation lifetime and so on).
	Cinema cinema.Config
	// Log is the logger. Zero value: slog.Default().
	Log *slog.Logger
	// Ready, when set, is called with the addresses served once every
	// listener is open.
	Ready func(http, proxy net.Addr)
}

// Run serves the demo until ctx ends, then stops gracefully.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.HTTPAddress == "" {
		cfg.HTTPAddress = DefaultHTTPAddress
	}
	if cfg.ProxyAddress == "" {
		cfg.ProxyAddress = DefaultProxyAddress
	}
	if cfg.APIAddress == "" {
		cfg.APIAddress = DefaultAPIAddress
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	// Listeners handed to Run are Run's to close, whatever happens.
	defer func() {
		if err != nil {
			for _, ln := range []net.Listener{cfg.HTTPListener, cfg.ProxyListener} {
				if ln != nil {
					_ = ln.Close()
				}
			}
		}
	}()

	var rotorURL *url.URL
	if cfg.RotorURL != "" {
		if rotorURL, err = url.Parse(cfg.RotorURL); err != nil || rotorURL.Host == "" ||
			(rotorURL.Scheme != "http" && rotorURL.Scheme != "https") {
			return fmt.Errorf("rotor URL %q: want http(s)://host:port", cfg.RotorURL)
		}
	}

	st, err := store.Open(cfg.Database)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	var apiOpts []rotorapi.Option
	if cfg.APIKey != "" {
		apiOpts = append(apiOpts, rotorapi.WithAPIKey(cfg.APIKey))
	}
	api, err := rotorapi.New(cfg.APIAddress, apiOpts...)
	if err != nil {
		return fmt.Errorf("server API client: %w", err)
	}
	defer func() { err = errors.Join(err, api.Close()) }()

	svc, err := cinema.New(st, rotorapi.NewBroadcaster(api), log, cfg.Cinema)
	if err != nil {
		return err
	}
	if err := svc.EnsureSchedule(ctx); err != nil {
		return err
	}

	httpLn := cfg.HTTPListener
	if httpLn == nil {
		if httpLn, err = net.Listen("tcp", cfg.HTTPAddress); err != nil {
			return fmt.Errorf("http: %w", err)
		}
		cfg.HTTPListener = httpLn
	}
	proxyLn := cfg.ProxyListener
	if proxyLn == nil {
		if proxyLn, err = net.Listen("tcp", cfg.ProxyAddress); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		cfg.ProxyListener = proxyLn
	}
	proxy, err := realtime.NewServer(svc, log, rotorproxy.WithListener(proxyLn))
	if err != nil {
		return err
	}
	web := &http.Server{
		Handler: httpapi.New(svc, httpapi.Config{
			WebSocketURL: cfg.WebSocketURL, Static: cfg.Static, Log: log, Rotor: rotorURL,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.Ready != nil {
		cfg.Ready(httpLn.Addr(), proxyLn.Addr())
	}
	log.Info("ticket booking is serving", "http", httpLn.Addr().String(), "proxy", proxyLn.Addr().String(),
		"api", cfg.APIAddress, "database", cfg.Database, "reservation_ttl", svc.ReservationTTL())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 3)
	go func() { errs <- named("expiry", svc.Run(ctx)) }()
	go func() { errs <- named("proxy", proxy.Serve(ctx)) }()
	go func() {
		err := web.Serve(httpLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errs <- named("http", err)
	}()

	// The first to return (or ctx) ends them all.
	remaining := 3
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		remaining--
		if first == nil {
			first = errors.New("a server stopped on its own")
		}
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	all := []error{first, named("http shutdown", web.Shutdown(shutdownCtx))}
	for ; remaining > 0; remaining-- {
		all = append(all, <-errs)
	}
	log.Info("ticket booking stopped")
	return errors.Join(all...)
}

func named(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
