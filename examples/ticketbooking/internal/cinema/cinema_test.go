package cinema_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

// recorder is an Events that keeps what was broadcast.
type recorder struct {
	mu   sync.Mutex
	sent []sent
	ch   chan sent
}

type sent struct {
	Event    string
	Data     json.RawMessage
	Channels []string
}

func newRecorder() *recorder { return &recorder{ch: make(chan sent, 100)} }

func (r *recorder) Broadcast(ctx context.Context, event string, data any, channels ...string) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	s := sent{Event: event, Data: b, Channels: channels}
	r.mu.Lock()
	r.sent = append(r.sent, s)
	r.mu.Unlock()
	r.ch <- s
	return nil
}

// next returns the next broadcast, failing after a while.
func (r *recorder) next(t *testing.T) sent {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case s := <-r.ch:
		return s
	case <-timer.C:
		t.Fatal("no broadcast within 5 s")
		return sent{}
	}
}

func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case s := <-r.ch:
		t.Fatalf("unexpected broadcast %+v", s)
	default:
	}
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration)    { c.ns.Add(int64(d)) }
func quiet() *slog.Logger                   { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func seatsOf(t *testing.T, s sent) []string { return decode[cinema.SeatsEvent](t, s).Seats }
func decode[T any](t *testing.T, s sent) (v T) {
	t.Helper()
	if err := json.Unmarshal(s.Data, &v); err != nil {
		t.Fatalf("%s data %s: %v", s.Event, s.Data, err)
	}
	return v
}

// morning is 09:00 local time on a fixed day: every screening of the day is
// to come.
var morning = time.Date(2030, 5, 1, 9, 0, 0, 0, time.Local)

type env struct {
	svc   *cinema.Service
	st    *store.Store
	ev    *recorder
	clock *clock
	path  string
}

func newEnv(t *testing.T, path string, clk *clock) *env {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "cinema.db")
	}
	if clk == nil {
		clk = newClock(morning)
	}
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ev := newRecorder()
	svc, err := cinema.New(st, ev, quiet(), cinema.Config{
		ReservationTTL: 3 * time.Minute, BcryptCost: bcrypt.MinCost, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureSchedule(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, st: st, ev: ev, clock: clk, path: path}
}

func (e *env) user(t *testing.T, email string) cinema.Session {
	t.Helper()
	s, err := e.svc.Register(t.Context(), email, "correct horse", "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) firstScreening(t *testing.T) cinema.Screening {
	t.Helper()
	list, err := e.svc.Schedule(t.Context())
	if err != nil || len(list) == 0 {
		t.Fatalf("Schedule = %v, %v", list, err)
	}
	return list[0]
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	ctx := t.Context()
	s, err := e.svc.Register(ctx, "  Ann@Example.com ", "correct horse", "")
	if err != nil {
		t.Fatal(err)
	}
	if s.User.Email != "ann@example.com" || s.User.Name != "ann" || len(s.Token) < 40 {
		t.Fatalf("Register = %+v", s)
	}
	for _, c := range []struct{ email, password, name string }{
		{"not an address", "correct horse", ""},
		{"ann2@example.com", "short", ""},
		{"Ann <ann3@example.com>", "correct horse", ""},
	} {
		if _, err := e.svc.Register(ctx, c.email, c.password, c.name); !errors.Is(err, cinema.ErrBadRequest) {
			t.Errorf("Register(%q, %q): err = %v, want ErrBadRequest", c.email, c.password, err)
		}
	}
	if _, err := e.svc.Register(ctx, "ann@example.com", "another password", ""); !errors.Is(err, cinema.ErrEmailTaken) {
		t.Fatalf("second Register: err = %v", err)
	}

	u, err := e.svc.Authenticate(ctx, s.Token)
	if err != nil || u.ID != s.User.ID {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	if _, err := e.svc.Login(ctx, "ann@example.com", "wrong password"); !errors.Is(err, cinema.ErrInvalidLogin) {
		t.Fatalf("wrong password: err = %v", err)
	}
	if _, err := e.svc.Login(ctx, "nobody@example.com", "correct horse"); !errors.Is(err, cinema.ErrInvalidLogin) {
		t.Fatalf("unknown user: err = %v", err)
	}
	s2, err := e.svc.Login(ctx, "ANN@example.com", "correct horse")
	if err != nil || s2.Token == s.Token || s2.User.ID != s.User.ID {
		t.Fatalf("Login = %+v, %v", s2, err)
	}
	if err := e.svc.Logout(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, s.Token); !errors.Is(err, cinema.ErrUnauthorized) {
		t.Fatalf("token after logout: err = %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, s2.Token); err != nil {
		t.Fatalf("the other session ended too: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, ""); !errors.Is(err, cinema.ErrUnauthorized) {
		t.Fatalf("empty token: err = %v", err)
	}
	// Sessions end after SessionTTL.
	e.clock.Advance(cinema.DefaultSessionTTL)
	if _, err := e.svc.Authenticate(ctx, s2.Token); !errors.Is(err, cinema.ErrUnauthorized) {
		t.Fatalf("token after its lifetime: err = %v", err)
	}
}

func TestScheduleAndProgramme(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	list, err := e.svc.Schedule(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// 2 halls × 2 slots × 3 days, all after 09:00 on the first day.
	if len(list) != 12 {
		t.Fatalf("schedule has %d screenings, want 12", len(list))
	}
	for i, s := range list {
		if *s.Free != s.Capacity || s.Capacity != s.Rows*s.SeatsPerRow || s.Movie == "" {
			t.Errorf("screening %d = %+v", i, s)
		}
		if i > 0 && s.StartsAt.Before(list[i-1].StartsAt) {
			t.Errorf("schedule not in order at %d", i)
		}
	}
	if !slices.EqualFunc(e.svc.Programme(morning), e.svc.Programme(morning.Add(5*time.Hour)), func(a, b store.Screening) bool {
		return a.Movie == b.Movie && a.StartsAt.Equal(b.StartsAt)
	}) {
		t.Fatal("the programme of a day changes with the time it is computed")
	}
	// Filling again adds nothing; a day later adds the new last day.
	if err := e.svc.EnsureSchedule(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)
	if err := e.svc.EnsureSchedule(t.Context()); err != nil {
		t.Fatal(err)
	}
	list, err = e.svc.Schedule(t.Context())
	if err != nil || len(list) != 12 {
		t.Fatalf("schedule a day later has %d screenings (%v), want 12", len(list), err)
	}
}

func TestParseSeats(t *testing.T) {
	t.Parallel()
	sc := store.Screening{Hall: "Hall 2", Rows: 5, SeatsPerRow: 8}
	for _, c := range []struct {
		in   []string
		want []string
	}{
		{[]string{"a1"}, []string{"A1"}},
		{[]string{"E8", " b2 ", "A1"}, []string{"A1", "B2", "E8"}},
	} {
		got, err := cinema.ParseSeats(sc, c.in, 6)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseSeats(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range [][]string{
		nil, {"F1"}, {"A9"}, {"A0"}, {"A01"}, {"A"}, {"1A"}, {"A1", "a1"}, {"A-1"}, {"A1", "A2", "A3", "A4", "A5", "A6", "A7"},
	} {
		if _, err := cinema.ParseSeats(sc, in, 6); !errors.Is(err, cinema.ErrBadRequest) {
			t.Errorf("ParseSeats(%q): err = %v, want ErrBadRequest", in, err)
		}
	}
}

func TestReservePurchaseCancelBroadcast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	ctx := t.Context()
	ann := e.user(t, "ann@example.com")
	bob := e.user(t, "bob@example.com")
	sc := e.firstScreening(t)
	screeningCh := cinema.ScreeningChannel(sc.ID)

	r, err := e.svc.Reserve(ctx, ann.User.ID, sc.ID, []string{"c4", "C3"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "reserved" || !slices.Equal(r.Seats, []string{"C3", "C4"}) ||
		!r.ExpiresAt.Equal(morning.Add(3*time.Minute)) || r.TotalCents != 2*sc.PriceCents {
		t.Fatalf("Reserve = %+v", r)
	}
	s := e.ev.next(t)
	if s.Event != cinema.EventTicketsReserved || !slices.Equal(s.Channels, []string{screeningCh, cinema.PublicChannel}) {
		t.Fatalf("broadcast = %+v", s)
	}
	if d := decode[cinema.SeatsEvent](t, s); d.ScreeningID != sc.ID || d.ReservationID != r.ID || d.Version != 1 ||
		!slices.Equal(d.Seats, []string{"C3", "C4"}) || d.ExpiresAt == nil {
		t.Fatalf("reserved data = %s", s.Data)
	}

	// Bob cannot have C4; his own seats are fine.
	var taken *cinema.SeatsTakenError
	if _, err := e.svc.Reserve(ctx, bob.User.ID, sc.ID, []string{"C4", "C5"}); !errors.As(err, &taken) || !slices.Equal(taken.Seats, []string{"C4"}) {
		t.Fatalf("Reserve of a taken seat: err = %v", err)
	}
	e.ev.none(t)
	rb, err := e.svc.Reserve(ctx, bob.User.ID, sc.ID, []string{"C5"})
	if err != nil {
		t.Fatal(err)
	}
	e.ev.next(t)

	m, err := e.svc.SeatMap(ctx, sc.ID, ann.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 2 || !slices.Equal(m.Taken, []string{"C3", "C4", "C5"}) || len(m.Mine) != 1 || m.Mine[0].ID != r.ID {
		t.Fatalf("SeatMap for ann = %+v", m)
	}
	if anon, err := e.svc.SeatMap(ctx, sc.ID, 0); err != nil || len(anon.Mine) != 0 || len(anon.Taken) != 3 {
		t.Fatalf("SeatMap for an anonymous visitor = %+v, %v", anon, err)
	}

	paid, err := e.svc.Purchase(ctx, ann.User.ID, r.ID)
	if err != nil || paid.Status != "paid" || paid.PaidAt == nil || paid.Screening == nil {
		t.Fatalf("Purchase = %+v, %v", paid, err)
	}
	s = e.ev.next(t)
	if s.Event != cinema.EventTicketsBought || !slices.Equal(s.Channels, []string{cinema.UserChannel(ann.User.ID)}) {
		t.Fatalf("broadcast = %+v", s)
	}
	if d := decode[cinema.BoughtEvent](t, s); d.ID != r.ID || d.Screening.ID != sc.ID || !slices.Equal(d.Seats, []string{"C3", "C4"}) {
		t.Fatalf("bought data = %s", s.Data)
	}
	if _, err := e.svc.Cancel(ctx, ann.User.ID, r.ID); !errors.Is(err, cinema.ErrNotReserved) {
		t.Fatalf("Cancel of a paid reservation: err = %v", err)
	}
	if _, err := e.svc.Cancel(ctx, ann.User.ID, rb.ID); !errors.Is(err, cinema.ErrNotFound) {
		t.Fatalf("Cancel of another's reservation: err = %v", err)
	}

	c, err := e.svc.Cancel(ctx, bob.User.ID, rb.ID)
	if err != nil || c.Status != "canceled" {
		t.Fatalf("Cancel = %+v, %v", c, err)
	}
	s = e.ev.next(t)
	if d := decode[cinema.SeatsEvent](t, s); s.Event != cinema.EventReservationCanceled || d.Reason != "canceled" ||
		d.Version != 3 || !slices.Equal(d.Seats, []string{"C5"}) || !slices.Equal(s.Channels, []string{screeningCh, cinema.PublicChannel}) {
		t.Fatalf("canceled broadcast = %+v", s)
	}

	tickets, err := e.svc.Tickets(ctx, ann.User.ID)
	if err != nil || len(tickets) != 1 || tickets[0].Status != "paid" || tickets[0].Screening.Movie != sc.Movie {
		t.Fatalf("Tickets = %+v, %v", tickets, err)
	}
	if tickets, err := e.svc.Tickets(ctx, bob.User.ID); err != nil || len(tickets) != 0 {
		t.Fatalf("Tickets of bob = %+v, %v (canceled ones are not listed)", tickets, err)
	}
}

func TestReserveRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	ann := e.user(t, "ann@example.com")
	sc := e.firstScreening(t)
	if _, err := e.svc.Reserve(t.Context(), ann.User.ID, 9999, []string{"A1"}); !errors.Is(err, cinema.ErrNotFound) {
		t.Fatalf("unknown screening: err = %v", err)
	}
	if _, err := e.svc.Reserve(t.Context(), ann.User.ID, sc.ID, []string{"Z1"}); !errors.Is(err, cinema.ErrBadRequest) {
		t.Fatalf("unknown seat: err = %v", err)
	}
	e.clock.ns.Store(sc.StartsAt.UnixNano())
	if _, err := e.svc.Reserve(t.Context(), ann.User.ID, sc.ID, []string{"A1"}); !errors.Is(err, cinema.ErrStarted) {
		t.Fatalf("screening started: err = %v", err)
	}
	e.ev.none(t)
}

func TestExpiryReleasesSeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	ctx := t.Context()
	ann := e.user(t, "ann@example.com")
	sc := e.firstScreening(t)
	r, err := e.svc.Reserve(ctx, ann.User.ID, sc.ID, []string{"A1", "A2"})
	if err != nil {
		t.Fatal(err)
	}
	e.ev.next(t)

	e.clock.Advance(3*time.Minute - time.Millisecond)
	if n, err := e.svc.ExpireDue(ctx); err != nil || n != 0 {
		t.Fatalf("ExpireDue before the time = %d, %v", n, err)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.svc.Purchase(ctx, ann.User.ID, r.ID); !errors.Is(err, cinema.ErrExpired) {
		t.Fatalf("Purchase when the time is up: err = %v", err)
	}
	if n, err := e.svc.ExpireDue(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	s := e.ev.next(t)
	d := decode[cinema.SeatsEvent](t, s)
	if s.Event != cinema.EventReservationCanceled || d.Reason != "expired" || d.ReservationID != r.ID ||
		!slices.Equal(seatsOf(t, s), []string{"A1", "A2"}) || d.Version != 2 {
		t.Fatalf("expiry broadcast = %+v", s)
	}
	m, err := e.svc.SeatMap(ctx, sc.ID, ann.User.ID)
	if err != nil || len(m.Taken) != 0 || len(m.Mine) != 0 {
		t.Fatalf("SeatMap after expiry = %+v, %v", m, err)
	}
}

// A reservation whose time ran out while the demo was stopped is released
// when it starts again; everything else is still there.
func TestRestartKeepsDataAndExpiresOverdue(t *testing.T) {
	t.Parallel()
	clk := newClock(morning)
	e := newEnv(t, "", clk)
	ann := e.user(t, "ann@example.com")
	sc := e.firstScreening(t)
	r, err := e.svc.Reserve(t.Context(), ann.User.ID, sc.ID, []string{"B2"})
	if err != nil {
		t.Fatal(err)
	}
	paid, err := e.svc.Reserve(t.Context(), ann.User.ID, sc.ID, []string{"B3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Purchase(t.Context(), ann.User.ID, paid.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}

	clk.Advance(10 * time.Minute)
	e2 := newEnv(t, e.path, clk)
	if u, err := e2.svc.Authenticate(t.Context(), ann.Token); err != nil || u.ID != ann.User.ID {
		t.Fatalf("session after restart: %+v, %v", u, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e2.svc.Run(ctx) }()
	s := e2.ev.next(t)
	if d := decode[cinema.SeatsEvent](t, s); s.Event != cinema.EventReservationCanceled || d.ReservationID != r.ID || d.Reason != "expired" {
		t.Fatalf("first broadcast after restart = %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tickets, err := e2.svc.Tickets(t.Context(), ann.User.ID)
	if err != nil || len(tickets) != 1 || tickets[0].ID != paid.ID || tickets[0].Status != "paid" {
		t.Fatalf("tickets after restart = %+v, %v", tickets, err)
	}
}

// Run expires reservations on time with the real clock: the reservation
// wakes it, the timer fires at the expiry.
func TestRunExpiresOnTime(t *testing.T) {
	t.Parallel()
	st, err := store.Open(filepath.Join(t.TempDir(), "run.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ev := newRecorder()
	const ttl = 300 * time.Millisecond
	svc, err := cinema.New(st, ev, quiet(), cinema.Config{ReservationTTL: ttl, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Run fills the schedule first; wait for it.
	var list []cinema.Screening
	for deadline := time.Now().Add(5 * time.Second); len(list) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		list, _ = svc.Schedule(t.Context())
	}
	if len(list) == 0 {
		t.Fatal("no screenings")
	}
	s, err := svc.Register(t.Context(), "ann@example.com", "correct horse", "Ann")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := svc.Reserve(t.Context(), s.User.ID, list[len(list)-1].ID, []string{"A1"}); err != nil {
		t.Fatal(err)
	}
	if got := ev.next(t); got.Event != cinema.EventTicketsReserved {
		t.Fatalf("first broadcast = %+v", got)
	}
	got := ev.next(t)
	took := time.Since(start)
	if got.Event != cinema.EventReservationCanceled || took < ttl || took > ttl+2*time.Second {
		t.Fatalf("broadcast %s after %v, want the expiry after %v", got.Event, took, ttl)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	st, err := store.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, cfg := range []cinema.Config{
		{ReservationTTL: -time.Second},
		{BcryptCost: 99},
		{MaxSeats: -1},
	} {
		if _, err := cinema.New(st, newRecorder(), nil, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := cinema.New(nil, newRecorder(), nil, cinema.Config{}); err == nil {
		t.Error("New without a store succeeded")
	}
}
