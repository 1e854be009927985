package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/proxyproto"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/app"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
)

// fakeAPI is Rotor's gRPC server API as far as the demo uses it: it keeps
// the broadcasts.
type fakeAPI struct {
	apiproto.UnimplementedCentrifugoApiServer
	got chan *apiproto.BroadcastRequest
}

func (f *fakeAPI) Broadcast(ctx context.Context, req *apiproto.BroadcastRequest) (*apiproto.BroadcastResponse, error) {
	f.got <- req
	res := &apiproto.BroadcastResult{}
	for range req.Channels {
		res.Responses = append(res.Responses, &apiproto.PublishResponse{Result: &apiproto.PublishResult{}})
	}
	return &apiproto.BroadcastResponse{Result: res}, nil
}

func startAPI(t *testing.T) (*fakeAPI, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{got: make(chan *apiproto.BroadcastRequest, 100)}
	srv := grpc.NewServer()
	apiproto.RegisterCentrifugoApiServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return f, ln.Addr().String()
}

func (f *fakeAPI) next(t *testing.T) (*apiproto.BroadcastRequest, string, json.RawMessage) {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case req := <-f.got:
		var env struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(req.Data, &env); err != nil {
			t.Fatalf("broadcast data %s: %v", req.Data, err)
		}
		return req, env.Event, env.Data
	case <-timer.C:
		t.Fatal("no broadcast within 5 s")
		return nil, "", nil
	}
}

type running struct {
	http, proxy string
	stop        func()
}

// start runs the demo on free ports until stop.
func start(t *testing.T, db, api string, ttl time.Duration) running {
	t.Helper()
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Config{
			HTTPListener: httpLn, ProxyListener: proxyLn, APIAddress: api, Database: db,
			Cinema: cinema.Config{ReservationTTL: ttl, BcryptCost: bcrypt.MinCost},
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return running{http: "http://" + httpLn.Addr().String(), proxy: proxyLn.Addr().String(), stop: stop}
}

func post(t *testing.T, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req, token, out)
}

func get(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req, token, out)
}

func do(t *testing.T, req *http.Request, token string, out any) int {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
	}
	return resp.StatusCode
}

// The demo end to end without Rotor: a reservation over REST is broadcast
// through the server API; the proxy answers over gRPC; after a restart on
// the same database the session, the ticket and the pending reservation
// are all there, and the reservation still expires.
func TestRunBroadcastsAndSurvivesRestart(t *testing.T) {
	t.Parallel()
	api, apiAddr := startAPI(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	const ttl = 2 * time.Second

	d := start(t, db, apiAddr, ttl)
	var s cinema.Session
	if st := post(t, d.http+"/api/register", "", `{"email":"ann@example.com","password":"correct horse"}`, &s); st != 201 {
		t.Fatalf("register: %d", st)
	}
	var sched []cinema.Screening
	if st := get(t, d.http+"/api/schedule", "", &sched); st != 200 || len(sched) == 0 {
		t.Fatalf("schedule: %d", st)
	}
	sc := sched[len(sched)-1]
	var paid, pending cinema.Reservation
	if st := post(t, fmt.Sprintf("%s/api/screenings/%d/reservations", d.http, sc.ID), s.Token, `{"seats":["A1"]}`, &paid); st != 201 {
		t.Fatalf("reserve: %d", st)
	}
	req, event, data := api.next(t)
	if event != cinema.EventTicketsReserved || !slices.Equal(req.Channels, []string{cinema.ScreeningChannel(sc.ID), cinema.PublicChannel}) ||
		!strings.Contains(string(data), `"seats":["A1"]`) {
		t.Fatalf("broadcast %s to %v: %s", event, req.Channels, data)
	}
	if st := post(t, fmt.Sprintf("%s/api/reservations/%d/purchase", d.http, paid.ID), s.Token, "", nil); st != 200 {
		t.Fatalf("purchase: %d", st)
	}
	req, event, _ = api.next(t)
	if event != cinema.EventTicketsBought || !slices.Equal(req.Channels, []string{cinema.UserChannel(s.User.ID)}) {
		t.Fatalf("broadcast %s to %v", event, req.Channels)
	}
	if st := post(t, fmt.Sprintf("%s/api/screenings/%d/reservations", d.http, sc.ID), s.Token, `{"seats":["B2"]}`, &pending); st != 201 {
		t.Fatalf("reserve: %d", st)
	}
	api.next(t)

	// The proxy answers Rotor's gRPC calls: the token connects as the user.
	conn, err := grpc.NewClient(d.proxy, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := proxyproto.NewCentrifugoProxyClient(conn).Connect(ctx, &proxyproto.ConnectRequest{
		Client: "c1", Transport: "websocket", Protocol: "json", Encoding: "json",
		Data: []byte(`{"authToken":"` + s.Token + `"}`),
	})
	if err != nil || res.GetResult().GetUser() != fmt.Sprint(s.User.ID) {
		t.Fatalf("proxy Connect = %v, %v", res, err)
	}

	d.stop()
	d2 := start(t, db, apiAddr, ttl)
	var me cinema.User
	if st := get(t, d2.http+"/api/me", s.Token, &me); st != 200 || me.ID != s.User.ID {
		t.Fatalf("me after restart: %d %+v", st, me)
	}
	var tickets []cinema.Reservation
	if st := get(t, d2.http+"/api/tickets", s.Token, &tickets); st != 200 || len(tickets) != 2 {
		t.Fatalf("tickets after restart: %d %+v", st, tickets)
	}
	var m cinema.SeatMap
	if st := get(t, fmt.Sprintf("%s/api/screenings/%d", d2.http, sc.ID), s.Token, &m); st != 200 || !slices.Equal(m.Taken, []string{"A1", "B2"}) {
		t.Fatalf("seat map after restart: %d %+v", st, m)
	}
	// The pending reservation expires under the restarted demo.
	req, event, data = api.next(t)
	if event != cinema.EventReservationCanceled || !strings.Contains(string(data), `"reason":"expired"`) ||
		!strings.Contains(string(data), `"seats":["B2"]`) {
		t.Fatalf("broadcast %s to %v: %s", event, req.Channels, data)
	}
	if st := get(t, fmt.Sprintf("%s/api/screenings/%d", d2.http, sc.ID), "", &m); st != 200 || !slices.Equal(m.Taken, []string{"A1"}) {
		t.Fatalf("seat map after the expiry: %d %+v", st, m)
	}
}

func TestRunRejectsBadRotorURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://127.0.0.1:8000", "127.0.0.1:8000", "http://"} {
		err := app.Run(t.Context(), app.Config{
			HTTPAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Database: filepath.Join(t.TempDir(), "x.db"),
			RotorURL: u, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err == nil || !strings.Contains(err.Error(), "rotor URL") {
			t.Errorf("Run with rotor URL %q: err = %v", u, err)
		}
	}
}
