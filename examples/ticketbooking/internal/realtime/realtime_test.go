package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/rotorhq/rotor/rotorproxy"
	"github.com/rotorhq/rotor/rotorproxy/proxytest"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/realtime"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

type nopEvents struct{}

func (nopEvents) Broadcast(context.Context, string, any, ...string) error { return nil }

// syncBuffer is a log destination safe for the handlers' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	srv  *rotorproxy.Server
	app  *cinema.Service
	logs *syncBuffer
	ann  cinema.Session
	bob  cinema.Session
	sc   cinema.Screening
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "rt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	app, err := cinema.New(st, nopEvents{}, log, cinema.Config{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.EnsureSchedule(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv, err := realtime.NewServer(app, log)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, app: app, logs: logs}
	if f.ann, err = app.Register(t.Context(), "ann@example.com", "correct horse", "Ann"); err != nil {
		t.Fatal(err)
	}
	if f.bob, err = app.Register(t.Context(), "bob@example.com", "correct horse", "Bob"); err != nil {
		t.Fatal(err)
	}
	list, err := app.Schedule(t.Context())
	if err != nil || len(list) == 0 {
		t.Fatalf("schedule: %v, %v", list, err)
	}
	f.sc = list[len(list)-1]
	return f
}

func id(v int64) string { return strconv.FormatInt(v, 10) }

func code(err error) uint32 {
	var e *rotorproxy.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestConnect(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	for _, c := range []struct {
		name     string
		data     string
		wantUser string
		wantCode uint32
	}{
		{"no data", ``, "", 0},
		{"no token", `{}`, "", 0},
		{"empty token", `{"authToken":""}`, "", 0},
		{"token", `{"authToken":"` + f.ann.Token + `"}`, id(f.ann.User.ID), 0},
		{"unknown token", `{"authToken":"forged"}`, "", 101},
		{"not JSON", `authToken`, "", 107},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := proxytest.Connect(ctx, f.srv, &rotorproxy.ConnectRequest{Data: []byte(c.data)})
			if c.wantCode != 0 {
				if code(err) != c.wantCode {
					t.Fatalf("err = %v, want code %d", err, c.wantCode)
				}
				return
			}
			if err != nil || res.User != c.wantUser {
				t.Fatalf("Connect = %+v, %v; want user %q", res, err, c.wantUser)
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ann, bob := id(f.ann.User.ID), id(f.bob.User.ID)
	for _, c := range []struct {
		user, channel string
		allowed       bool
	}{
		{"", "public", true},
		{ann, "public", true},
		{"", "screening.7", true},
		{bob, "screening.7", true},
		{"", "screening.x", false},
		{"", "screening.07", false},
		{"", "screening.", false},
		{ann, "user#" + ann, true},
		{bob, "user#" + ann, false},
		{"", "user#" + ann, false},
		{ann, "user#" + ann + "x", false},
		{ann, "news", false},
		{ann, "user#", false},
		{"not-a-number", "public", false}, // a user this backend never connected
	} {
		_, err := proxytest.Subscribe(t.Context(), f.srv, &rotorproxy.SubscribeRequest{User: c.user, Channel: c.channel})
		if c.allowed && err != nil {
			t.Errorf("user %q, channel %q: refused: %v", c.user, c.channel, err)
		}
		if !c.allowed && code(err) != 103 {
			t.Errorf("user %q, channel %q: err = %v, want 103 permission denied", c.user, c.channel, err)
		}
	}
}

func rpc(t *testing.T, f *fixture, user, method, data string) map[string]any {
	t.Helper()
	res, err := proxytest.RPC(t.Context(), f.srv, &rotorproxy.RPCRequest{User: user, Method: method, Data: []byte(data)})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	var v any
	if err := json.Unmarshal(res.Data, &v); err != nil {
		t.Fatalf("%s: %s: %v", method, res.Data, err)
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"list": v}
}

func TestRPCs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	ann := id(f.ann.User.ID)
	r, err := f.app.Reserve(ctx, f.ann.User.ID, f.sc.ID, []string{"A1"})
	if err != nil {
		t.Fatal(err)
	}

	sched := rpc(t, f, "", "cinema.schedule", ``)["list"].([]any)
	if len(sched) == 0 {
		t.Fatal("cinema.schedule: empty")
	}

	m := rpc(t, f, ann, "cinema.screening", `{"id":`+id(f.sc.ID)+`}`)
	if m["version"].(float64) != 1 || len(m["taken"].([]any)) != 1 || len(m["mine"].([]any)) != 1 {
		t.Fatalf("cinema.screening for ann = %v", m)
	}
	if mine := m["mine"].([]any)[0].(map[string]any); mine["id"].(float64) != float64(r.ID) {
		t.Fatalf("cinema.screening: mine = %v", mine)
	}
	anon := rpc(t, f, "", "cinema.screening", `{"id":`+id(f.sc.ID)+`}`)
	if len(anon["mine"].([]any)) != 0 || len(anon["taken"].([]any)) != 1 {
		t.Fatalf("cinema.screening anonymous = %v", anon)
	}
	// Application-level errors travel in the data.
	for _, c := range []struct {
		user, method, data string
		code               float64
	}{
		{"", "cinema.screening", `{"id":999999}`, 404},
		{"", "cinema.screening", `{}`, 400},
		{"", "user.tickets", ``, 401},
		{ann, "cinema.nope", ``, 404},
	} {
		got := rpc(t, f, c.user, c.method, c.data)
		if got["code"] != c.code || got["error"] == "" {
			t.Errorf("%s %s as %q = %v, want {error, code: %v}", c.method, c.data, c.user, got, c.code)
		}
	}
	if got := rpc(t, f, "", "user.tickets", ``); got["error"] != "Unauthorized" {
		t.Errorf("user.tickets anonymous = %v", got)
	}
	tickets := rpc(t, f, ann, "user.tickets", ``)["list"].([]any)
	if len(tickets) != 1 || tickets[0].(map[string]any)["status"] != "reserved" {
		t.Fatalf("user.tickets = %v", tickets)
	}
	// Data that is not JSON is a protocol error, not an application one.
	if _, err := proxytest.RPC(ctx, f.srv, &rotorproxy.RPCRequest{Method: "cinema.screening", Data: []byte(`{`)}); code(err) != 107 {
		t.Fatalf("bad JSON: err = %v, want 107", err)
	}
}

// The "*" interceptor logs every call with its type, user and outcome.
func TestTelemetryLogsEveryCall(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	ann := id(f.ann.User.ID)
	_, _ = proxytest.Connect(ctx, f.srv, &rotorproxy.ConnectRequest{Data: []byte(`{"authToken":"` + f.ann.Token + `"}`)})
	_, _ = proxytest.Connect(ctx, f.srv, &rotorproxy.ConnectRequest{Data: []byte(`{"authToken":"forged"}`)})
	_, _ = proxytest.Subscribe(ctx, f.srv, &rotorproxy.SubscribeRequest{User: "", Channel: "user#" + ann})
	_, _ = proxytest.RPC(ctx, f.srv, &rotorproxy.RPCRequest{User: ann, Method: "user.tickets"})
	logs := f.logs.String()
	for _, want := range []string{
		`msg="proxy call" type=connect wire=grpc client=proxytest-client user=` + ann + ` took=`,
		`msg="proxy call" type=connect wire=grpc client=proxytest-client took=`,
		`outcome=error code=101 error=unauthorized`,
		`msg="proxy call" type=subscribe wire=grpc client=proxytest-client channel=user#` + ann,
		`outcome=error code=103`,
		`msg="proxy call" type=rpc wire=grpc client=proxytest-client method=user.tickets user=` + ann,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, `msg="proxy call"`); n != 4 {
		t.Errorf("%d calls logged, want 4:\n%s", n, logs)
	}
}
