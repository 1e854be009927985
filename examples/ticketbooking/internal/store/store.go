// Package store keeps the ticket-booking demo's data in SQLite: users and
// their sessions, screenings, reservations and the seats they hold.
//
// It uses modernc.org/sqlite, a SQLite compiled to Go, so the demo builds
// without cgo. The schema is created when the database is opened, and every
// change is made in a transaction that is committed before the call returns:
// a restart loses nothing.
//
// A seat is taken while a reservation of it is active (reserved or paid).
// A partial unique index on the active seats makes double booking impossible
// even if two writers raced past the checks.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors of the store. Callers match them with errors.Is (or errors.As for
// *SeatsTakenError).
var (
	// ErrNotFound: no such user, session, screening or reservation (or not
	// one the user owns).
	ErrNotFound = errors.New("store: not found")
	// ErrEmailTaken: a user with that e-mail address exists.
	ErrEmailTaken = errors.New("store: e-mail address already registered")
	// ErrNotReserved: the reservation is no longer pending (paid, canceled
	// or expired), so it can be neither paid nor canceled.
	ErrNotReserved = errors.New("store: reservation is not pending")
	// ErrExpired: the reservation's time ran out before it was paid.
	ErrExpired = errors.New("store: reservation expired")
)

// SeatsTakenError refuses a reservation of seats that are taken.
type SeatsTakenError struct {
	Seats []string
}

func (e *SeatsTakenError) Error() string {
	return "store: seats already taken: " + strings.Join(e.Seats, ", ")
}

// Reservation statuses.
const (
	StatusReserved = "reserved"
	StatusPaid     = "paid"
	StatusCanceled = "canceled"
	StatusExpired  = "expired"
)

// Store is the demo's database. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS users (
	id            INTEGER PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	token_hash BLOB PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS screenings (
	id            INTEGER PRIMARY KEY,
	movie         TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	starts_at     INTEGER NOT NULL,
	hall          TEXT NOT NULL,
	rows          INTEGER NOT NULL,
	seats_per_row INTEGER NOT NULL,
	price_cents   INTEGER NOT NULL,
	version       INTEGER NOT NULL DEFAULT 0,
	UNIQUE (hall, starts_at)
);
CREATE TABLE IF NOT EXISTS reservations (
	id           INTEGER PRIMARY KEY,
	screening_id INTEGER NOT NULL REFERENCES screenings(id),
	user_id      INTEGER NOT NULL REFERENCES users(id),
	status       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	paid_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reservations_user ON reservations(user_id, id);
CREATE INDEX IF NOT EXISTS reservations_pending ON reservations(expires_at) WHERE status = 'reserved';
CREATE TABLE IF NOT EXISTS reservation_seats (
	reservation_id INTEGER NOT NULL REFERENCES reservations(id),
	screening_id   INTEGER NOT NULL,
	seat           TEXT NOT NULL,
	active         INTEGER NOT NULL,
	PRIMARY KEY (reservation_id, seat)
);
CREATE UNIQUE INDEX IF NOT EXISTS seats_taken ON reservation_seats(screening_id, seat) WHERE active = 1;
`

// Open opens (creating if needed) the database at path and its schema.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	// Write transactions take the write lock when they begin (BEGIN
	// IMMEDIATE), so concurrent writers wait for each other (busy_timeout)
	// instead of failing when a read lock cannot be upgraded. WAL lets
	// readers run during a write.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: create schema in %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// ms and fromMS convert between times and the Unix milliseconds stored.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// tx runs fn in a write transaction and commits it when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isUniqueViolation tells a UNIQUE constraint failure, by its message: the
// driver's error codes are not part of database/sql.
func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
