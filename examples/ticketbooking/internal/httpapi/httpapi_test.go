package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/httpapi"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

type nopEvents struct{}

func (nopEvents) Broadcast(context.Context, string, any, ...string) error { return nil }

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := cinema.New(st, nopEvents{}, log, cinema.Config{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.EnsureSchedule(t.Context()); err != nil {
		t.Fatal(err)
	}
	static := fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>page</title>")}}
	srv := httptest.NewServer(httpapi.New(app, httpapi.Config{Static: static, Log: log}))
	t.Cleanup(srv.Close)
	return srv
}

// call makes a request and decodes the JSON answer into out (when not nil);
// it returns the status.
func call(t *testing.T, srv *httptest.Server, method, path, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

type apiError struct {
	Error string   `json:"error"`
	Code  int      `json:"code"`
	Seats []string `json:"seats"`
}

func TestBookingOverREST(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	var cfg map[string]any
	if st := call(t, srv, "GET", "/api/config", "", "", &cfg); st != 200 ||
		cfg["websocket_url"] != httpapi.DefaultWebSocketURL || cfg["reservation_ttl_seconds"] != 180.0 {
		t.Fatalf("config: %d %v", st, cfg)
	}

	var ann, bob cinema.Session
	if st := call(t, srv, "POST", "/api/register", "", `{"email":"ann@example.com","password":"correct horse","name":"Ann"}`, &ann); st != 201 || ann.Token == "" {
		t.Fatalf("register: %d %+v", st, ann)
	}
	var e apiError
	if st := call(t, srv, "POST", "/api/register", "", `{"email":"ann@example.com","password":"correct horse"}`, &e); st != 409 {
		t.Fatalf("register twice: %d %+v", st, e)
	}
	if st := call(t, srv, "POST", "/api/register", "", `{"email":"x@example.com","password":"short"}`, &e); st != 400 || !strings.Contains(e.Error, "8 to 72") {
		t.Fatalf("short password: %d %+v", st, e)
	}
	if st := call(t, srv, "POST", "/api/register", "", `{"email":1}`, &e); st != 400 {
		t.Fatalf("bad JSON: %d %+v", st, e)
	}
	if st := call(t, srv, "POST", "/api/login", "", `{"email":"ann@example.com","password":"wrong one"}`, &e); st != 401 {
		t.Fatalf("wrong password: %d %+v", st, e)
	}
	if st := call(t, srv, "POST", "/api/register", "", `{"email":"bob@example.com","password":"correct horse"}`, &bob); st != 201 {
		t.Fatalf("register bob: %d", st)
	}
	var me cinema.User
	if st := call(t, srv, "GET", "/api/me", ann.Token, "", &me); st != 200 || me.Name != "Ann" {
		t.Fatalf("me: %d %+v", st, me)
	}
	if st := call(t, srv, "GET", "/api/me", "", "", &e); st != 401 {
		t.Fatalf("me without a token: %d", st)
	}

	var sched []cinema.Screening
	if st := call(t, srv, "GET", "/api/schedule", "", "", &sched); st != 200 || len(sched) == 0 {
		t.Fatalf("schedule: %d %v", st, sched)
	}
	sc := sched[len(sched)-1]
	resPath := fmt.Sprintf("/api/screenings/%d/reservations", sc.ID)

	if st := call(t, srv, "POST", resPath, "", `{"seats":["A1"]}`, &e); st != 401 {
		t.Fatalf("reserve anonymously: %d", st)
	}
	var r cinema.Reservation
	if st := call(t, srv, "POST", resPath, ann.Token, `{"seats":["A1","A2"]}`, &r); st != 201 || r.Status != "reserved" {
		t.Fatalf("reserve: %d %+v", st, r)
	}
	if st := call(t, srv, "POST", resPath, bob.Token, `{"seats":["A2","A3"]}`, &e); st != 409 || len(e.Seats) != 1 || e.Seats[0] != "A2" {
		t.Fatalf("reserve a taken seat: %d %+v", st, e)
	}
	if st := call(t, srv, "POST", resPath, bob.Token, `{"seats":["Q1"]}`, &e); st != 400 {
		t.Fatalf("reserve an unknown seat: %d %+v", st, e)
	}
	if st := call(t, srv, "POST", "/api/screenings/999999/reservations", bob.Token, `{"seats":["A1"]}`, &e); st != 404 {
		t.Fatalf("reserve at an unknown screening: %d %+v", st, e)
	}

	var m cinema.SeatMap
	if st := call(t, srv, "GET", fmt.Sprintf("/api/screenings/%d", sc.ID), ann.Token, "", &m); st != 200 || len(m.Mine) != 1 || len(m.Taken) != 2 {
		t.Fatalf("seat map: %d %+v", st, m)
	}

	purchase := fmt.Sprintf("/api/reservations/%d/purchase", r.ID)
	cancel := fmt.Sprintf("/api/reservations/%d/cancel", r.ID)
	if st := call(t, srv, "POST", purchase, bob.Token, "", &e); st != 404 {
		t.Fatalf("pay another's reservation: %d", st)
	}
	var paid cinema.Reservation
	if st := call(t, srv, "POST", purchase, ann.Token, "", &paid); st != 200 || paid.Status != "paid" {
		t.Fatalf("purchase: %d %+v", st, paid)
	}
	if st := call(t, srv, "POST", cancel, ann.Token, "", &e); st != 409 {
		t.Fatalf("cancel a paid reservation: %d", st)
	}
	var tickets []cinema.Reservation
	if st := call(t, srv, "GET", "/api/tickets", ann.Token, "", &tickets); st != 200 || len(tickets) != 1 {
		t.Fatalf("tickets: %d %+v", st, tickets)
	}

	var rb cinema.Reservation
	if st := call(t, srv, "POST", resPath, bob.Token, `{"seats":["B1"]}`, &rb); st != 201 {
		t.Fatalf("reserve bob: %d", st)
	}
	var canceled cinema.Reservation
	if st := call(t, srv, "POST", fmt.Sprintf("/api/reservations/%d/cancel", rb.ID), bob.Token, "", &canceled); st != 200 || canceled.Status != "canceled" {
		t.Fatalf("cancel: %d %+v", st, canceled)
	}

	if st := call(t, srv, "POST", "/api/logout", ann.Token, "", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st := call(t, srv, "GET", "/api/me", ann.Token, "", &e); st != 401 {
		t.Fatalf("me after logout: %d", st)
	}
}

func TestPageAndErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>page</title>") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("page: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	var e apiError
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/nope", 404},
		{"POST", "/", 405},
		{"GET", "/missing.js", 404},
		{"GET", "/api/screenings/abc", 400},
		{"GET", "/api/screenings/999999", 404},
		{"POST", "/api/reservations/1/purchase", 401},
		{"GET", "/healthz", 200},
	} {
		if st := call(t, srv, c.method, c.path, "", "", nil); st != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, st, c.status)
		}
	}
	if st := call(t, srv, "GET", "/api/screenings/1", "forged", "", &e); st != 401 {
		t.Errorf("seat map with a forged token: %d", st)
	}
}

// With Config.Rotor, /connection/ requests, WebSocket upgrades included, go
// to Rotor: the page has one origin without nginx.
func TestConnectionPassedOnToRotor(t *testing.T) {
	t.Parallel()
	// A stand-in for Rotor's WebSocket endpoint: it switches protocols and
	// echoes what comes after.
	rotor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connection/websocket" || r.Header.Get("Upgrade") != "websocket" ||
			r.Header.Get("Origin") != "http://page.example" {
			http.Error(w, "unexpected "+r.URL.Path+" "+fmt.Sprint(r.Header), http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	}))
	t.Cleanup(rotor.Close)
	target, err := url.Parse(rotor.URL)
	if err != nil {
		t.Fatal(err)
	}
	demo := httptest.NewServer(httpapi.New(nil, httpapi.Config{Rotor: target, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(demo.Close)

	conn, err := net.Dial("tcp", strings.TrimPrefix(demo.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = fmt.Fprintf(conn, "GET /connection/websocket HTTP/1.1\r\nHost: page.example\r\nOrigin: http://page.example\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	if _, err := conn.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	got, err := br.ReadString('\n')
	if err != nil || got != "echo hello\n" {
		t.Fatalf("after the upgrade: %q, %v", got, err)
	}
}
