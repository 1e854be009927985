package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rotorhq/rotor/internal/broker/memory"
	natsbroker "github.com/rotorhq/rotor/internal/broker/nats"
	redisengine "github.com/rotorhq/rotor/internal/broker/redis"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// engine is what carries publications (broker) and keeps presence for a
// node, as chosen by the engine and broker keys.
type engine struct {
	name     string
	broker   node.Broker
	presence node.PresenceManager
	// pingers report whether external servers (Redis, NATS) answer.
	pingers map[string]func(context.Context) error
	// extra are closed on shutdown besides the broker (which the node
	// closes): a Redis engine used only for presence.
	extra []func() error
}

// buildEngine builds the broker and presence manager from engine / broker.
// With broker "nats", publications go through NATS and presence stays in
// the engine (memory or Redis); NATS keeps no history.
func buildEngine(cfg *config.Config, log *slog.Logger) (*engine, error) {
	e := &engine{name: cfg.Engine, pingers: map[string]func(context.Context) error{}}
	switch cfg.Engine {
	case "", "memory":
		e.name = "memory"
		m := memory.New()
		e.broker, e.presence = m, m
	case "redis":
		rcfg, err := redisengine.FromConfig(cfg, log)
		if err != nil {
			return nil, fmt.Errorf("app: engine redis: %w", err)
		}
		r, err := redisengine.New(rcfg)
		if err != nil {
			return nil, fmt.Errorf("app: engine redis: %w", err)
		}
		e.broker, e.presence = r, r
		e.pingers["redis"] = r.Ping
	default:
		return nil, fmt.Errorf("app: engine %q is not known (use memory or redis)", cfg.Engine)
	}
	switch cfg.Broker {
	case "":
	case "nats":
		b, err := natsbroker.New(natsbroker.FromConfig(cfg, log))
		if err != nil {
			_ = e.broker.Close()
			return nil, fmt.Errorf("app: broker nats: %w", err)
		}
		// The engine's own broker side is unused; it still keeps presence.
		if e.name == "redis" {
			e.extra = append(e.extra, e.broker.Close)
		}
		e.broker = b
		e.name += "+nats"
		e.pingers["nats"] = b.Ping
	default:
		_ = e.broker.Close()
		return nil, fmt.Errorf("app: broker %q is not known (leave it empty or use nats)", cfg.Broker)
	}
	return e, nil
}

// health pings every external server the engine uses.
func (e *engine) health(ctx context.Context) error {
	var errs []error
	for name, ping := range e.pingers {
		if err := ping(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (e *engine) close() error {
	var errs []error
	for _, c := range e.extra {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}
