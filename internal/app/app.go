// Package app is the composition root: it builds a node, its broker and
// proxies from a Config, and serves the client transports and the server APIs.
package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/internal/proxy"
	"github.com/rotorhq/rotor/internal/transport/websocket"
)

// App is a Rotor server: a node plus the listeners that serve it.
type App struct {
	cfg config.Config
	log *slog.Logger
	n   *node.Node

	servers   []*http.Server
	listeners []net.Listener
	// ws serves /connection/websocket; nil when websocket_disable is set.
	ws      *websocket.Handler
	addr    string
	started bool
	// tls is the HTTP listeners' TLS configuration; nil without tls.
	tls *tls.Config

	grpcServer *grpc.Server
	grpcAddr   string
	proxy      *proxy.Proxy
	engine     *engine
}

// New builds an App from a validated config. It binds nothing until Start.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &App{cfg: cfg, log: log}
	p, err := proxy.New(&a.cfg, log)
	if err != nil {
		return nil, err
	}
	a.proxy = p
	eng, err := buildEngine(&a.cfg, log)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	a.engine = eng
	n, err := node.New(&a.cfg, node.Options{Logger: log, Broker: eng.broker, PresenceManager: eng.presence, Proxy: p})
	if err != nil {
		_ = p.Close()
		_ = eng.broker.Close()
		_ = eng.close()
		return nil, err
	}
	a.n = n
	return a, nil
}

// Node returns the app's node.
func (a *App) Node() *node.Node { return a.n }

// Addr is the host:port the main HTTP server (client transports, and the
// APIs unless internal_port is set) listens on.
func (a *App) Addr() string { return a.addr }

// GRPCAddr is the host:port of the gRPC API, "" when it is off.
func (a *App) GRPCAddr() string { return a.grpcAddr }

func (a *App) handlers() (public, internal *http.ServeMux, err error) {
	public = http.NewServeMux()
	internal = public
	if a.cfg.InternalPort != 0 {
		internal = http.NewServeMux()
	}
	if !a.cfg.WebsocketDisable {
		a.ws = websocket.NewHandler(a.n)
		public.Handle("/connection/websocket", a.ws)
	}
	internal.HandleFunc("GET /health", a.serveHealth)
	if a.cfg.Debug {
		mountPprof(internal)
	}
	if a.cfg.Prometheus {
		if err := mountMetrics(internal, a.n); err != nil {
			return nil, nil, err
		}
	}
	if !a.cfg.APIDisable {
		if err := mountAPI(internal, a); err != nil {
			return nil, nil, err
		}
	}
	return public, internal, nil
}

// httpIdleTimeout closes an HTTP keep-alive connection idle this long.
const httpIdleTimeout = 2 * time.Minute

// readHeaderTimeout bounds how long a client may take to send a request's
// headers, WebSocket handshakes included.
const readHeaderTimeout = 10 * time.Second

// directOptions are the options of a DirectListener; APIPrefix is set
// when withAPI and the HTTP API is on (a prefix of "/" would take every
// POST, so it is served by the HTTP server alone).
func (a *App) directOptions(withAPI bool) websocket.DirectOptions {
	o := websocket.DirectOptions{HeaderTimeout: readHeaderTimeout, IdleTimeout: httpIdleTimeout}
	if withAPI && !a.cfg.APIDisable && a.apiPrefix() != "/" {
		o.APIPrefix = a.apiPrefix()
	}
	return o
}

// httpTLS is the TLS configuration of the HTTP listeners: nil unless tls
// is on. The certificate is read once, at start.
func (a *App) httpTLS() (*tls.Config, error) {
	if !a.cfg.TLS {
		return nil, nil
	}
	cert, err := config.LoadKeyPair("tls_cert", a.cfg.TLSCert, "tls_key", a.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// WebSocket handshakes need HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}, nil
}

func (a *App) listen(address string, port int, h http.Handler) (string, error) {
	// No TCP keep-alive probes: WebSocket connections have the server's
	// pings and pong timeouts, and idle HTTP connections IdleTimeout. It
	// saves four setsockopt calls per accepted connection.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("app: listen on %s:%d: %w", address, port, err)
	}
	if a.tls != nil {
		ln = tls.NewListener(ln, a.tls)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.servers = append(a.servers, srv)
	a.listeners = append(a.listeners, ln)
	return ln.Addr().String(), nil
}

// Start binds the listeners (port 0 picks a free port) and starts serving.
func (a *App) Start() error {
	if a.started {
		return errors.New("app: already started")
	}
	a.started = true
	if err := a.n.Run(); err != nil {
		return err
	}
	public, internal, err := a.handlers()
	if err != nil {
		return err
	}
	if a.tls, err = a.httpTLS(); err != nil {
		return err
	}
	addr, err := a.listen(a.cfg.Address, a.cfg.Port, public)
	if err != nil {
		return err
	}
	if a.ws != nil {
		// WebSocket handshakes, and API requests where the API is, are
		// taken from the accepted connections before the HTTP server sees
		// them (epoll engine); the HTTP server gets the rest.
		o := a.directOptions(internal == public)
		o.Path = "/connection/websocket"
		o.API = public
		a.listeners[0] = a.ws.DirectListener(a.listeners[0], o)
	}
	a.addr = addr
	internalAddr := addr
	if internal != public {
		if internalAddr, err = a.listen(a.cfg.InternalAddress, a.cfg.InternalPort, internal); err != nil {
			a.closeListeners()
			return err
		}
		if a.ws != nil {
			o := a.directOptions(true)
			o.API = internal
			a.listeners[1] = a.ws.DirectListener(a.listeners[1], o)
		}
	}
	if a.cfg.GRPCAPI {
		if err := a.startGRPC(); err != nil {
			a.closeListeners()
			return err
		}
	}
	for i, srv := range a.servers {
		ln := a.listeners[i]
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server stopped", "addr", ln.Addr().String(), "error", err)
			}
		}()
	}
	ws, web := "ws://", "http://"
	if a.tls != nil {
		ws, web = "wss://", "https://"
	}
	a.log.Info("rotor is serving",
		"version", node.Version,
		"engine", a.engine.name,
		"websocket", ws+displayAddr(addr)+"/connection/websocket",
		"http_api", web+displayAddr(internalAddr)+a.cfg.APIHandlerPrefix,
		"health", web+displayAddr(internalAddr)+"/health",
		"grpc_api", a.grpcAddr,
	)
	return nil
}

// displayAddr turns a wildcard listen address into one a person can open.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func (a *App) closeListeners() {
	for _, ln := range a.listeners {
		_ = ln.Close()
	}
}

// Shutdown disconnects every client with 3001 and stops serving.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range a.servers {
		srv.SetKeepAlivesEnabled(false)
	}
	if a.grpcServer != nil {
		stopGRPC(ctx, a.grpcServer)
	}
	if err := a.n.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, srv := range a.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.proxy.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := a.engine.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run starts the app and serves until ctx is done, then shuts down within
// 10 seconds.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := New(cfg, log)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Shutdown(sctx)
}

// serveHealth answers 200 {} when the engine's servers answer, and 503 with
// the failure otherwise.
func (a *App) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.engine.health(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		_, _ = w.Write(b)
		return
	}
	_, _ = w.Write([]byte("{}"))
}
