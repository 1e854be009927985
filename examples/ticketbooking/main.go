// Command ticketbooking is the ticket-booking demo of Rotor: a cinema whose
// seat maps update live on every open page.
//
// It serves the page and its REST API, answers Rotor's proxy calls
// (connect, subscribe, rpc) with rotorproxy, and publishes every change
// through Rotor's gRPC server API with rotorapi. Run it next to Rotor
// configured as in dev/ticketbooking.json (make run starts both).
//
// Every flag can also be set from the environment as TICKETBOOKING_<FLAG>,
// upper-cased with dashes as underscores (TICKETBOOKING_RESERVATION_TTL=30s);
// flags win.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/app"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
	"github.com/rotorhq/rotor/examples/ticketbooking/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ticketbooking:", err)
		os.Exit(1)
	}
}

// envPrefix prefixes the environment variables that set flags.
const envPrefix = "TICKETBOOKING_"

// parseConfig reads the flags (and the environment) into a config.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (app.Config, slog.Level, error) {
	var (
		cfg   app.Config
		level slog.Level
	)
	fs := flag.NewFlagSet("ticketbooking", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.HTTPAddress, "http", app.DefaultHTTPAddress, "address of the page and the REST API")
	fs.StringVar(&cfg.ProxyAddress, "proxy", app.DefaultProxyAddress, "address of the gRPC proxy server Rotor calls (proxy_*_endpoint: grpc://ADDRESS)")
	fs.StringVar(&cfg.APIAddress, "api", app.DefaultAPIAddress, "Rotor's server API: host:port of the gRPC API, or an http(s):// URL")
	fs.StringVar(&cfg.APIKey, "api-key", "", "API key of Rotor's server API (grpc_api_key, or api_key over HTTP)")
	fs.StringVar(&cfg.WebSocketURL, "ws-url", "/connection/websocket",
		"where the page connects to Rotor: a path on the page's origin (behind nginx) or a ws(s):// URL")
	fs.StringVar(&cfg.RotorURL, "rotor", "",
		"Rotor's HTTP address (http://127.0.0.1:8000): pass the page's /connection/ requests on to it, for use without nginx")
	fs.StringVar(&cfg.Database, "db", app.DefaultDatabase, "SQLite database file")
	fs.DurationVar(&cfg.Cinema.ReservationTTL, "reservation-ttl", cinema.DefaultReservationTTL, "how long a reservation holds its seats unpaid")
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return app.Config{}, 0, envErr
	}
	if err := fs.Parse(args); err != nil {
		return app.Config{}, 0, err
	}
	if fs.NArg() > 0 {
		return app.Config{}, 0, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.Cinema.ReservationTTL <= 0 {
		return app.Config{}, 0, fmt.Errorf("-reservation-ttl must be positive, not %v", cfg.Cinema.ReservationTTL)
	}
	return cfg, level, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, level, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Static = web.Static()
	cfg.Ready = func(httpAddr, proxyAddr net.Addr) {
		cfg.Log.Info("open the page", "url", pageURL(httpAddr))
	}
	return app.Run(ctx, cfg)
}

// pageURL is the URL to open for a listener's address: localhost for the
// unspecified and loopback addresses.
func pageURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() || tcp.IP.IsLoopback() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(tcp.Port)))
}
