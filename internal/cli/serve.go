package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// defaultConfigFile is read when -c is not given; it may be missing.
const defaultConfigFile = "config.json"

// addServeFlags adds the server flags. Each flag but --config is named after
// the config key it sets, so it overrides that key.
func addServeFlags(cmd *cobra.Command) {
	d := config.Defaults()
	f := cmd.Flags()
	f.StringP("config", "c", defaultConfigFile, "config file: .json, .yaml, .yml or .toml")
	f.IntP("port", "p", d.Port, "port of the HTTP server (client transports, API); 0 picks a free port")
	f.StringP("address", "a", d.Address, "address to listen on; empty means all interfaces")
	f.Int("internal_port", d.InternalPort, "port of the internal endpoints (API, health, metrics); 0 means the main port")
	f.String("internal_address", d.InternalAddress, "address of the internal endpoints")
	f.String("log_level", d.LogLevel, "log level: debug, info, warn, error or none")
	f.Bool("client_insecure", d.ClientInsecure, "accept client connections without a token (development only)")
	f.Bool("api_insecure", d.APIInsecure, "serve the HTTP API without an API key (development only)")
	f.String("engine", d.Engine, "engine: memory or redis")
	f.String("broker", d.Broker, `broker: "" (the engine's) or nats`)
	f.Bool("grpc_api", d.GRPCAPI, "serve the gRPC server API")
	f.Int("grpc_api_port", d.GRPCAPIPort, "port of the gRPC server API")
	f.StringSlice("redis_address", nil, "Redis address (repeat or comma-separate for shards)")
	f.String("nats_url", d.NATSURL, "NATS server URL, when broker is nats")
	f.Bool("health", d.Health, "serve the /health endpoint")
	f.Bool("prometheus", d.Prometheus, "serve Prometheus metrics at /metrics")
	f.String("name", d.Name, "node name; empty means hostname_port")
}

// configPath returns the -c value and whether it was given.
func configPath(fs *pflag.FlagSet) (string, bool) {
	f := fs.Lookup("config")
	if f == nil {
		return defaultConfigFile, false
	}
	return f.Value.String(), f.Changed
}

// loadConfig builds the configuration the way serve and the token commands
// do: defaults, the config file, the environment, then flags (nil for
// none). A missing file is an error only when -c named it.
func (e *env) loadConfig(flags *pflag.FlagSet, path string, explicit bool) (config.Config, []config.Warning, error) {
	opts := config.LoadOptions{File: path, Environ: e.environ, Flags: flags}
	var missing []config.Warning
	if path == "" {
		opts.File = ""
	} else if _, err := os.Stat(path); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return config.Config{}, nil, fmt.Errorf("config: %w", err)
		}
		opts.File = ""
		missing = append(missing, config.Warning{Source: path, Key: "config",
			Message: "file not found; using defaults, environment and flags"})
	}
	cfg, warnings, err := config.Load(opts)
	return cfg, append(missing, warnings...), err
}

// printLoadError prints a Load error one problem per line.
func (e *env) printLoadError(err error) {
	var le *config.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			if p.Key != "" {
				e.errorf("%s: %s: %s\n", le.Source, p.Key, p.Message)
			} else {
				e.errorf("%s: %s\n", le.Source, p.Message)
			}
		}
		return
	}
	e.errorf("%v\n", err)
}

func (e *env) serve(cmd *cobra.Command) error {
	path, explicit := configPath(cmd.Flags())
	cfg, warnings, err := e.loadConfig(cmd.Flags(), path, explicit)
	if err != nil {
		e.printLoadError(err)
		return failed
	}
	if ps := cfg.Problems(); len(ps) > 0 {
		// Warnings first: an unknown key is often why a value is wrong.
		for _, w := range warnings {
			e.errorf("warning: %s\n", w)
		}
		for _, p := range ps {
			e.errorf("%s: %s\n", path, p.Error())
		}
		e.errorf("the configuration has %d problem(s); fix them or run \"rotor checkconfig -c %s\"\n", len(ps), path)
		return failed
	}

	log, closeLog, err := newLogger(cfg, e.stderr)
	if err != nil {
		e.errorf("log_file: %v\n", err)
		return failed
	}
	defer closeLog()
	for _, w := range warnings {
		log.Warn(w.Message, "key", w.Key, "source", w.Source)
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, p := range cfg.CheckEndpoints(ctx) {
		log.Warn("proxy endpoint does not resolve; calls to it fail until it does", "key", p.Key, "problem", p.Message)
	}

	log.Info("starting Rotor", "version", node.Version, "engine", cfg.Engine, "config", path)
	if err := e.run(ctx, cfg, log); err != nil {
		log.Error("server stopped", "error", err)
		return failed
	}
	return nil
}

// newLogger builds the text logger of log_level writing to log_file, or to
// stderr when log_file is empty. The returned func closes the file.
func newLogger(cfg config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	if strings.EqualFold(cfg.LogLevel, "none") {
		return slog.New(slog.DiscardHandler), func() {}, nil
	}
	var level slog.Level
	switch strings.ToLower(cfg.LogLevel) {
	case "trace":
		level = slog.LevelDebug - 4
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	w, closer := stderr, func() {}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, err
		}
		w, closer = f, func() { _ = f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closer, nil
}

// checkContext is the context of a command that only checks.
func checkContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
