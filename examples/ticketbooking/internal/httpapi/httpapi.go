// Package httpapi serves the demo's page and its REST API:
//
//	GET    /api/config                         where the page connects, reservation lifetime
//	POST   /api/register                       {email, password, name} → {token, user}
//	POST   /api/login                          {email, password} → {token, user}
//	POST   /api/logout                         ends the session of the bearer token
//	GET    /api/me                             the signed-in user
//	GET    /api/schedule                       the screenings to come
//	GET    /api/screenings/{id}                a seat map
//	POST   /api/screenings/{id}/reservations   {seats: ["C4", ...]} → a reservation
//	POST   /api/reservations/{id}/purchase     pays a reservation
//	POST   /api/reservations/{id}/cancel       cancels a reservation
//	GET    /api/tickets                        the user's reservations and tickets
//	GET    /healthz                            200 when the database answers
//	       /connection/...                     passed on to Rotor (with Config.Rotor)
//
// Requests that need a user carry "Authorization: Bearer <token>". Errors
// are {"error": "...", "code": <status>} (and "seats" for seats taken).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
)

// Config configures the handler.
type Config struct {
	// WebSocketURL is where the page connects to Rotor: an absolute
	// ws(s):// URL, or a path ("/connection/websocket") on the page's own
	// origin, as behind nginx. Zero value: "/connection/websocket".
	WebSocketURL string
	// Static holds the page (index.html and its assets).
	Static fs.FS
	// Rotor, when set, is Rotor's HTTP address (http://127.0.0.1:8000):
	// requests to /connection/ (the page's WebSocket) are passed on to it,
	// so that the page opened on the demo itself has the one origin it has
	// behind nginx. Behind nginx this is not needed: nginx sends
	// /connection to Rotor itself.
	Rotor *url.URL
	// Log receives request errors. Zero value: slog.Default().
	Log *slog.Logger
}

// DefaultWebSocketURL is the page's WebSocket endpoint when none is set:
// the page's own origin, where nginx sends /connection to Rotor.
const DefaultWebSocketURL = "/connection/websocket"

// maxBody bounds request bodies.
const maxBody = 64 << 10

type api struct {
	app *cinema.Service
	cfg Config
	log *slog.Logger
}

// New returns the handler of the page and the API.
func New(app *cinema.Service, cfg Config) http.Handler {
	if cfg.WebSocketURL == "" {
		cfg.WebSocketURL = DefaultWebSocketURL
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &api{app: app, cfg: cfg, log: cfg.Log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/config", a.config)
	mux.HandleFunc("POST /api/register", a.register)
	mux.HandleFunc("POST /api/login", a.login)
	mux.HandleFunc("POST /api/logout", a.logout)
	mux.HandleFunc("GET /api/me", a.authed(a.me))
	mux.HandleFunc("GET /api/schedule", a.schedule)
	mux.HandleFunc("GET /api/screenings/{id}", a.screening)
	mux.HandleFunc("POST /api/screenings/{id}/reservations", a.authed(a.reserve))
	mux.HandleFunc("POST /api/reservations/{id}/purchase", a.authed(a.purchase))
	mux.HandleFunc("POST /api/reservations/{id}/cancel", a.authed(a.cancel))
	mux.HandleFunc("GET /api/tickets", a.authed(a.tickets))
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint")
	})
	if cfg.Rotor != nil {
		// ReverseProxy passes WebSocket upgrades through; the Origin header
		// goes along, so Rotor still checks it against allowed_origins.
		rp := httputil.NewSingleHostReverseProxy(cfg.Rotor)
		rp.ErrorLog = slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn)
		mux.Handle("/connection/", rp)
	}
	if cfg.Static != nil {
		mux.Handle("/", staticHandler(cfg.Static))
	}
	return securityHeaders(mux)
}

// securityHeaders sets headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func staticHandler(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		// The page is small and changes with each build: let browsers
		// revalidate instead of caching it blindly.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string   `json:"error"`
	Code  int      `json:"code"`
	Seats []string `json:"seats,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: status})
}

// fail answers err with its status and a message fit for the page; errors
// it does not know are logged and answered 500 without their text.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var taken *cinema.SeatsTakenError
	switch {
	case errors.As(err, &taken):
		writeJSON(w, http.StatusConflict, errorBody{
			Error: "seats already taken: " + strings.Join(taken.Seats, ", "), Code: http.StatusConflict, Seats: taken.Seats,
		})
	case errors.Is(err, cinema.ErrBadRequest):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), cinema.ErrBadRequest.Error()+": "))
	case errors.Is(err, cinema.ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "sign in first")
	case errors.Is(err, cinema.ErrInvalidLogin):
		writeError(w, http.StatusUnauthorized, cinema.ErrInvalidLogin.Error())
	case errors.Is(err, cinema.ErrEmailTaken):
		writeError(w, http.StatusConflict, "this e-mail address is registered already")
	case errors.Is(err, cinema.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, cinema.ErrExpired):
		writeError(w, http.StatusGone, "the reservation expired")
	case errors.Is(err, cinema.ErrNotReserved):
		writeError(w, http.StatusConflict, "the reservation is no longer pending")
	case errors.Is(err, cinema.ErrStarted):
		writeError(w, http.StatusConflict, cinema.ErrStarted.Error())
	case errors.Is(err, context.Canceled):
		// the client went away; nobody is left to answer
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the body is not the JSON expected", cinema.ErrBadRequest)
	}
	return nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	return ""
}

// authed runs h with the user of the request's bearer token, or answers 401.
func (a *api) authed(h func(http.ResponseWriter, *http.Request, cinema.User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := a.app.Authenticate(r.Context(), bearer(r))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, u)
	}
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: the id is not a positive number", cinema.ErrBadRequest)
	}
	return id, nil
}

func (a *api) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"websocket_url":           a.cfg.WebSocketURL,
		"reservation_ttl_seconds": a.app.ReservationTTL().Seconds(),
	})
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
}

func (a *api) register(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.app.Register(r.Context(), in.Email, in.Password, in.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.app.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *api) logout(w http.ResponseWriter, r *http.Request) {
	if tok := bearer(r); tok != "" {
		if err := a.app.Logout(r.Context(), tok); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) me(w http.ResponseWriter, r *http.Request, u cinema.User) {
	writeJSON(w, http.StatusOK, u)
}

func (a *api) schedule(w http.ResponseWriter, r *http.Request) {
	list, err := a.app.Schedule(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) screening(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var uid int64
	if tok := bearer(r); tok != "" {
		u, err := a.app.Authenticate(r.Context(), tok)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		uid = u.ID
	}
	m, err := a.app.SeatMap(r.Context(), id, uid)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *api) reserve(w http.ResponseWriter, r *http.Request, u cinema.User) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in struct {
		Seats []string `json:"seats"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.app.Reserve(r.Context(), u.ID, id, in.Seats)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (a *api) purchase(w http.ResponseWriter, r *http.Request, u cinema.User) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.app.Purchase(r.Context(), u.ID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request, u cinema.User) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.app.Cancel(r.Context(), u.ID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) tickets(w http.ResponseWriter, r *http.Request, u cinema.User) {
	list, err := a.app.Tickets(r.Context(), u.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := a.app.Schedule(ctx); err != nil {
		a.log.Error("health check failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
