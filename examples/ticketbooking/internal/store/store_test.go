package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

var t0 = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	return open(t, path), path
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// seed adds a user and a screening of 3 rows × 4 seats starting at
// t0+24h.
func seed(t *testing.T, st *store.Store, email string) (store.User, store.Screening) {
	t.Helper()
	u, err := st.CreateUser(ctx(t), email, "Ann", []byte("hash"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddScreenings(ctx(t), []store.Screening{{
		Movie: "Metropolis", StartsAt: t0.Add(24 * time.Hour), Hall: "Hall 1", Rows: 3, SeatsPerRow: 4, PriceCents: 900,
	}}); err != nil {
		t.Fatal(err)
	}
	list, err := st.Schedule(ctx(t), t0, t0.Add(48*time.Hour))
	if err != nil || len(list) != 1 {
		t.Fatalf("schedule = %v, %v", list, err)
	}
	return u, list[0]
}

func TestUsersAndSessions(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	u, err := st.CreateUser(ctx(t), "ann@example.com", "Ann", []byte("h1"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx(t), "ann@example.com", "Other", []byte("h2"), t0); !errors.Is(err, store.ErrEmailTaken) {
		t.Fatalf("duplicate e-mail: err = %v, want ErrEmailTaken", err)
	}
	got, hash, err := st.UserByEmail(ctx(t), "ann@example.com")
	if err != nil || got.ID != u.ID || string(hash) != "h1" || got.Name != "Ann" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("UserByEmail = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := st.UserByEmail(ctx(t), "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown e-mail: err = %v", err)
	}
	if got, err := st.UserByID(ctx(t), u.ID); err != nil || got.Email != "ann@example.com" {
		t.Fatalf("UserByID = %+v, %v", got, err)
	}

	tok := []byte("token-hash")
	if err := st.CreateSession(ctx(t), tok, u.ID, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := st.SessionUser(ctx(t), tok, t0.Add(time.Minute)); err != nil || got.ID != u.ID {
		t.Fatalf("SessionUser = %+v, %v", got, err)
	}
	if _, err := st.SessionUser(ctx(t), tok, t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: err = %v, want ErrNotFound", err)
	}
	if _, err := st.SessionUser(ctx(t), []byte("other"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown session: err = %v", err)
	}
	if n, err := st.DeleteExpiredSessions(ctx(t), t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if err := st.CreateSession(ctx(t), tok, u.ID, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSession(ctx(t), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionUser(ctx(t), tok, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session: err = %v", err)
	}
}

func TestAddScreeningsIsIdempotent(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	list := []store.Screening{
		{Movie: "A", StartsAt: t0.Add(time.Hour), Hall: "H1", Rows: 2, SeatsPerRow: 2, PriceCents: 1},
		{Movie: "B", StartsAt: t0.Add(2 * time.Hour), Hall: "H1", Rows: 2, SeatsPerRow: 2, PriceCents: 1},
		{Movie: "C", StartsAt: t0.Add(-time.Hour), Hall: "H2", Rows: 2, SeatsPerRow: 2, PriceCents: 1},
	}
	if n, err := st.AddScreenings(ctx(t), list); err != nil || n != 3 {
		t.Fatalf("AddScreenings = %d, %v; want 3", n, err)
	}
	if n, err := st.AddScreenings(ctx(t), list); err != nil || n != 0 {
		t.Fatalf("AddScreenings again = %d, %v; want 0", n, err)
	}
	got, err := st.Schedule(ctx(t), t0, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Movie != "A" || got[1].Movie != "B" || got[0].Capacity() != 4 {
		t.Fatalf("Schedule = %+v, want A then B (C started already)", got)
	}
	if _, err := st.Screening(ctx(t), 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown screening: err = %v", err)
	}
}

func TestReservationLifecycle(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ann, sc := seed(t, st, "ann@example.com")
	bob, err := st.CreateUser(ctx(t), "bob@example.com", "Bob", []byte("h"), t0)
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(3 * time.Minute)

	c1, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"A1", "A2"}, t0, exp)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Version != 1 || c1.Reservation.Status != store.StatusReserved || !slices.Equal(c1.Reservation.Seats, []string{"A1", "A2"}) {
		t.Fatalf("Reserve = %+v", c1)
	}

	// Taken seats are refused, all of them named.
	_, err = st.Reserve(ctx(t), bob.ID, sc.ID, []string{"A3", "A2", "A1"}, t0, exp)
	var taken *store.SeatsTakenError
	if !errors.As(err, &taken) || !slices.Equal(taken.Seats, []string{"A1", "A2"}) {
		t.Fatalf("Reserve of taken seats: err = %v, want seats A1, A2 taken", err)
	}
	if _, err := st.Reserve(ctx(t), bob.ID, 999, []string{"A1"}, t0, exp); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown screening: err = %v", err)
	}

	c2, err := st.Reserve(ctx(t), bob.ID, sc.ID, []string{"B1"}, t0, exp)
	if err != nil || c2.Version != 2 {
		t.Fatalf("Reserve B1 = %+v, %v", c2, err)
	}
	m, err := st.SeatMap(ctx(t), sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Screening.Version != 2 || len(m.Taken) != 3 || m.Taken[0].Seat != "A1" || m.Taken[2].Seat != "B1" ||
		m.Taken[2].UserID != bob.ID || m.Taken[0].ReservationID != c1.Reservation.ID {
		t.Fatalf("SeatMap = %+v", m)
	}

	// Only the owner may pay or cancel.
	if _, err := st.Purchase(ctx(t), bob.ID, c1.Reservation.ID, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Purchase of another's reservation: err = %v", err)
	}
	if _, err := st.Cancel(ctx(t), bob.ID, c1.Reservation.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Cancel of another's reservation: err = %v", err)
	}

	paid, err := st.Purchase(ctx(t), ann.ID, c1.Reservation.ID, t0.Add(time.Minute))
	if err != nil || paid.Status != store.StatusPaid || !paid.PaidAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Purchase = %+v, %v", paid, err)
	}
	if _, err := st.Purchase(ctx(t), ann.ID, c1.Reservation.ID, t0); !errors.Is(err, store.ErrNotReserved) {
		t.Fatalf("paying twice: err = %v", err)
	}
	if _, err := st.Cancel(ctx(t), ann.ID, c1.Reservation.ID); !errors.Is(err, store.ErrNotReserved) {
		t.Fatalf("canceling a paid reservation: err = %v", err)
	}

	c3, err := st.Cancel(ctx(t), bob.ID, c2.Reservation.ID)
	if err != nil || c3.Version != 3 || c3.Reservation.Status != store.StatusCanceled || !slices.Equal(c3.Reservation.Seats, []string{"B1"}) {
		t.Fatalf("Cancel = %+v, %v", c3, err)
	}
	// B1 is free again; A1 and A2 stay sold.
	if _, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"B1"}, t0, exp); err != nil {
		t.Fatalf("B1 after cancel: %v", err)
	}

	list, err := st.UserReservations(ctx(t), ann.ID, 10, store.StatusReserved, store.StatusPaid)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Status != store.StatusReserved || list[1].Status != store.StatusPaid ||
		!slices.Equal(list[1].Seats, []string{"A1", "A2"}) || list[1].Screening.Movie != "Metropolis" {
		t.Fatalf("UserReservations = %+v", list)
	}
	all, err := st.UserReservations(ctx(t), bob.ID, 10)
	if err != nil || len(all) != 1 || all[0].Status != store.StatusCanceled {
		t.Fatalf("UserReservations(all) of bob = %+v, %v", all, err)
	}
}

func TestExpireDue(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ann, sc := seed(t, st, "ann@example.com")
	if _, ok, err := st.NextExpiry(ctx(t)); err != nil || ok {
		t.Fatalf("NextExpiry with none pending = %v, %v", ok, err)
	}
	early, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"A1"}, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	late, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"A2", "A3"}, t0, t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	paid, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"C4"}, t0, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Purchase(ctx(t), ann.ID, paid.Reservation.ID, t0); err != nil {
		t.Fatal(err)
	}
	if next, ok, err := st.NextExpiry(ctx(t)); err != nil || !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NextExpiry = %v, %v, %v; want t0+1m (paid reservations do not expire)", next, ok, err)
	}
	// Paying at the expiry moment is too late, even before the expiry ran.
	if _, err := st.Purchase(ctx(t), ann.ID, early.Reservation.ID, t0.Add(time.Minute)); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("paying when the time is up: err = %v, want ErrExpired", err)
	}

	changes, err := st.ExpireDue(ctx(t), t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Reservation.ID != early.Reservation.ID ||
		changes[0].Reservation.Status != store.StatusExpired || changes[0].Version != 4 ||
		!slices.Equal(changes[0].Reservation.Seats, []string{"A1"}) {
		t.Fatalf("ExpireDue = %+v", changes)
	}
	if _, err := st.Cancel(ctx(t), ann.ID, early.Reservation.ID); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("canceling an expired reservation: err = %v", err)
	}
	changes, err = st.ExpireDue(ctx(t), t0.Add(10*time.Minute))
	if err != nil || len(changes) != 1 || changes[0].Reservation.ID != late.Reservation.ID {
		t.Fatalf("ExpireDue later = %+v, %v", changes, err)
	}
	m, err := st.SeatMap(ctx(t), sc.ID)
	if err != nil || len(m.Taken) != 1 || m.Taken[0].Seat != "C4" || m.Taken[0].Status != store.StatusPaid {
		t.Fatalf("SeatMap after expiry = %+v, %v; want only the paid C4", m, err)
	}
	if _, ok, _ := st.NextExpiry(ctx(t)); ok {
		t.Fatal("NextExpiry: reservations still pending")
	}
}

// Many users racing for one seat: exactly one gets it.
func TestConcurrentReservationsNeverDoubleBook(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	_, sc := seed(t, st, "ann@example.com")
	const n = 16
	users := make([]store.User, n)
	for i := range users {
		u, err := st.CreateUser(ctx(t), fmt.Sprintf("u%d@example.com", i), "U", []byte("h"), t0)
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		won, taken int
		other      []error
	)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Reserve(ctx(t), u.ID, sc.ID, []string{"B2", "B3"}, t0, t0.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			var te *store.SeatsTakenError
			switch {
			case err == nil:
				won++
			case errors.As(err, &te):
				taken++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || taken != n-1 || len(other) > 0 {
		t.Fatalf("won %d, refused %d, other errors %v; want 1 and %d", won, taken, other, n-1)
	}
}

// Nothing is lost when the database is closed and opened again.
func TestPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	st, path := newStore(t)
	ann, sc := seed(t, st, "ann@example.com")
	if err := st.CreateSession(ctx(t), []byte("tok"), ann.ID, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	paid, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"A1"}, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Purchase(ctx(t), ann.ID, paid.Reservation.ID, t0); err != nil {
		t.Fatal(err)
	}
	pending, err := st.Reserve(ctx(t), ann.ID, sc.ID, []string{"C3"}, t0, t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := open(t, path)
	if u, err := st2.SessionUser(ctx(t), []byte("tok"), t0); err != nil || u.ID != ann.ID {
		t.Fatalf("session after reopen: %+v, %v", u, err)
	}
	if _, hash, err := st2.UserByEmail(ctx(t), "ann@example.com"); err != nil || string(hash) != "hash" {
		t.Fatalf("user after reopen: %q, %v", hash, err)
	}
	m, err := st2.SeatMap(ctx(t), sc.ID)
	if err != nil || m.Screening.Version != 2 || len(m.Taken) != 2 {
		t.Fatalf("seat map after reopen = %+v, %v", m, err)
	}
	if next, ok, err := st2.NextExpiry(ctx(t)); err != nil || !ok || !next.Equal(pending.Reservation.ExpiresAt) {
		t.Fatalf("pending reservation after reopen: %v, %v, %v", next, ok, err)
	}
	if _, err := st2.Reserve(ctx(t), ann.ID, sc.ID, []string{"A1"}, t0, t0.Add(time.Minute)); err == nil {
		t.Fatal("a sold seat was reserved again after reopen")
	}
}

func TestCompareSeats(t *testing.T) {
	t.Parallel()
	seats := []string{"B1", "A10", "A2", "C3", "A1", "B10", "B2"}
	store.SortSeats(seats)
	want := []string{"A1", "A2", "A10", "B1", "B2", "B10", "C3"}
	if !slices.Equal(seats, want) {
		t.Fatalf("SortSeats = %v, want %v", seats, want)
	}
}

func TestOpenRejectsEmptyPath(t *testing.T) {
	t.Parallel()
	if _, err := store.Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}
