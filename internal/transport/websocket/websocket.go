// Package websocket serves the client protocol over WebSocket at
// /connection/websocket: JSON by default, Protobuf when the client asks for
// the "centrifuge-protobuf" subprotocol (or ?format=protobuf, or
// ?cf_protocol=protobuf).
//
// Two engines serve the connections, chosen by websocket_engine. The epoll
// engine upgrades with github.com/gobwas/ws and, on Linux, waits for client
// data in a few epoll loops shared by all connections: an idle connection
// holds no goroutine and no buffer. The gorilla engine reads each connection
// on a goroutine of its own with github.com/gorilla/websocket; it also serves
// websocket_compression. Both behave the same on the wire.
package websocket

import (
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/glob"
	"github.com/rotorhq/rotor/internal/node"
)

// Subprotocols the handler speaks.
const (
	SubprotocolProtobuf = "centrifuge-protobuf"
	SubprotocolJSON     = "centrifuge-json"
)

// Engine names, the values of websocket_engine.
const (
	EngineEpoll   = "epoll"
	EngineGorilla = "gorilla"
)

// closeWait bounds how long a server-initiated close waits for the peer's
// close frame before the socket is dropped. It is also the deadline of
// control frame writes.
const closeWait = time.Second

// engine serves upgrade requests that passed the origin check.
type engine interface {
	serve(w http.ResponseWriter, r *http.Request)
}

// Handler upgrades HTTP requests to WebSocket client connections. It is safe
// for concurrent use.
type Handler struct {
	n       *node.Node
	origins []string
	limit   int64
	timeout time.Duration
	name    string
	engine  engine
}

// NewHandler builds a handler from the node's configuration
// (allowed_origins, websocket_* keys) and logs which engine serves.
func NewHandler(n *node.Node) *Handler {
	cfg := n.Config()
	h := &Handler{
		n:       n,
		limit:   int64(cfg.WebsocketMessageSizeLimit),
		timeout: cfg.WebsocketWriteTimeout,
	}
	for _, o := range cfg.AllowedOrigins {
		h.origins = append(h.origins, strings.ToLower(o))
	}
	switch {
	case cfg.WebsocketEngine == EngineGorilla:
		h.name, h.engine = EngineGorilla, newGorillaEngine(h)
		n.Log().Info("websocket engine", "engine", h.name)
	case cfg.WebsocketCompression:
		h.name, h.engine = EngineGorilla, newGorillaEngine(h)
		n.Log().Info("websocket engine", "engine", h.name,
			"note", "websocket_compression is on and only the gorilla engine compresses")
	default:
		e := newEpollEngine(h)
		h.name, h.engine = EngineEpoll, e
		n.Log().Info("websocket engine", "engine", h.name, "readers", e.describe(),
			"os", runtime.GOOS)
	}
	return h
}

// Engine returns the name of the engine that serves the connections:
// EngineEpoll or EngineGorilla.
func (h *Handler) Engine() string { return h.name }

// checkOrigin allows requests without an Origin header, and requests whose
// Origin matches one of allowed_origins ("*" allows all).
func (h *Handler) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	origin = strings.ToLower(origin)
	for _, p := range h.origins {
		if glob.Match(p, origin) {
			return true
		}
	}
	h.n.Log().Info("request origin not allowed", "origin", origin, "remote", r.RemoteAddr)
	return false
}

// protocolOf is the encoding a client asked for: Protobuf with the
// "centrifuge-protobuf" subprotocol or with format=protobuf or
// cf_protocol=protobuf in the query, JSON otherwise.
func protocolOf(subprotocol string, r *http.Request) protocol.Type {
	if subprotocol == SubprotocolProtobuf {
		return protocol.TypeProtobuf
	}
	q := r.URL.Query()
	if q.Get("format") == "protobuf" || q.Get("cf_protocol") == "protobuf" {
		return protocol.TypeProtobuf
	}
	return protocol.TypeJSON
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.checkOrigin(r) {
		http.Error(w, "request origin not allowed", http.StatusForbidden)
		return
	}
	// After the origin check, so that refused origins do not use up the
	// budget of new connections.
	if !h.n.AllowConnection() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many new connections (client_connection_rate_limit); retry later", http.StatusServiceUnavailable)
		return
	}
	h.engine.serve(w, r)
}
