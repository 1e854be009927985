// Package app is the composition root: it builds a node, its broker and
// proxies from a Config, and serves the client transports and the server APIs.
package app

import (
	"context"
	"log/slog"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// App is a running Rotor server.
type App struct {
	cfg config.Config
	log *slog.Logger
	n   *node.Node
}

// New builds an App from a validated config. It binds nothing until Start.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	panic("todo")
}

// Start binds the listeners (port 0 picks a free port) and starts serving.
func (a *App) Start() error { panic("todo") }

// Addr is the host:port the HTTP server (client transports, HTTP API) listens on.
func (a *App) Addr() string { panic("todo") }

// GRPCAddr is the host:port of the gRPC API, "" when it is off.
func (a *App) GRPCAddr() string { panic("todo") }

// Node returns the app's node.
func (a *App) Node() *node.Node { return a.n }

// Shutdown disconnects every client with 3001 and stops serving.
func (a *App) Shutdown(ctx context.Context) error { panic("todo") }

// Run starts the app and serves until ctx is done, then shuts down.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error { panic("todo") }
