package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Screening is one showing of a movie in a hall of Rows × SeatsPerRow
// seats, named "A1" (row A, seat 1) and so on.
type Screening struct {
	ID          int64
	Movie       string
	Description string
	StartsAt    time.Time
	Hall        string
	Rows        int
	SeatsPerRow int
	PriceCents  int
	// Version counts the changes of the screening's seat map; every
	// reservation, cancellation and expiry adds one.
	Version int64
	// Taken is the number of seats taken (filled in by Schedule).
	Taken int
}

// Capacity is the number of seats of the screening's hall.
func (s Screening) Capacity() int { return s.Rows * s.SeatsPerRow }

// TakenSeat is a seat held by an active reservation.
type TakenSeat struct {
	Seat          string
	ReservationID int64
	UserID        int64
	Status        string
	ExpiresAt     time.Time
}

// SeatMap is a screening with the seats taken, read at one version.
type SeatMap struct {
	Screening Screening
	Taken     []TakenSeat
}

// AddScreenings inserts the screenings that are not there yet (one hall
// shows one screening at a time: the pair of hall and start time is the
// key) and returns how many it added.
func (s *Store) AddScreenings(ctx context.Context, list []Screening) (int, error) {
	added := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, sc := range list {
			res, err := tx.ExecContext(ctx, `
				INSERT OR IGNORE INTO screenings (movie, description, starts_at, hall, rows, seats_per_row, price_cents)
				VALUES (?, ?, ?, ?, ?, ?, ?)`,
				sc.Movie, sc.Description, ms(sc.StartsAt), sc.Hall, sc.Rows, sc.SeatsPerRow, sc.PriceCents)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: add screenings: %w", err)
	}
	return added, nil
}

const screeningColumns = `sc.id, sc.movie, sc.description, sc.starts_at, sc.hall, sc.rows, sc.seats_per_row, sc.price_cents, sc.version`

type scanner interface{ Scan(dest ...any) error }

func scanScreening(row scanner, extra ...any) (Screening, error) {
	var (
		sc     Screening
		starts int64
	)
	dest := append([]any{&sc.ID, &sc.Movie, &sc.Description, &starts, &sc.Hall, &sc.Rows, &sc.SeatsPerRow, &sc.PriceCents, &sc.Version}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Screening{}, err
	}
	sc.StartsAt = fromMS(starts)
	return sc, nil
}

// Schedule returns the screenings that start in [from, to), earliest first,
// with the number of seats taken.
func (s *Store) Schedule(ctx context.Context, from, to time.Time) ([]Screening, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+screeningColumns+`,
			(SELECT count(*) FROM reservation_seats rs WHERE rs.screening_id = sc.id AND rs.active = 1)
		FROM screenings sc
		WHERE sc.starts_at >= ? AND sc.starts_at < ?
		ORDER BY sc.starts_at, sc.hall`, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("store: schedule: %w", err)
	}
	defer rows.Close()
	var list []Screening
	for rows.Next() {
		var taken int
		sc, err := scanScreening(rows, &taken)
		if err != nil {
			return nil, fmt.Errorf("store: schedule: %w", err)
		}
		sc.Taken = taken
		list = append(list, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: schedule: %w", err)
	}
	return list, nil
}

// Screening returns the screening, or ErrNotFound.
func (s *Store) Screening(ctx context.Context, id int64) (Screening, error) {
	sc, err := scanScreening(s.db.QueryRowContext(ctx,
		`SELECT `+screeningColumns+` FROM screenings sc WHERE sc.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Screening{}, ErrNotFound
	}
	if err != nil {
		return Screening{}, fmt.Errorf("store: screening %d: %w", id, err)
	}
	return sc, nil
}

// SeatMap returns the screening and its taken seats, read in one statement
// so that the seats match the version. ErrNotFound when there is no such
// screening.
func (s *Store) SeatMap(ctx context.Context, id int64) (SeatMap, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+screeningColumns+`, rs.seat, r.id, r.user_id, r.status, r.expires_at
		FROM screenings sc
		LEFT JOIN reservation_seats rs ON rs.screening_id = sc.id AND rs.active = 1
		LEFT JOIN reservations r ON r.id = rs.reservation_id
		WHERE sc.id = ?`, id)
	if err != nil {
		return SeatMap{}, fmt.Errorf("store: seat map %d: %w", id, err)
	}
	defer rows.Close()
	var (
		m     SeatMap
		found bool
	)
	for rows.Next() {
		var (
			seat, status  sql.NullString
			resID, userID sql.NullInt64
			expires       sql.NullInt64
		)
		screening, err := scanScreening(rows, &seat, &resID, &userID, &status, &expires)
		if err != nil {
			return SeatMap{}, fmt.Errorf("store: seat map %d: %w", id, err)
		}
		m.Screening, found = screening, true
		if seat.Valid {
			m.Taken = append(m.Taken, TakenSeat{
				Seat:          seat.String,
				ReservationID: resID.Int64,
				UserID:        userID.Int64,
				Status:        status.String,
				ExpiresAt:     fromMS(expires.Int64),
			})
		}
	}
	if err := rows.Err(); err != nil {
		return SeatMap{}, fmt.Errorf("store: seat map %d: %w", id, err)
	}
	if !found {
		return SeatMap{}, ErrNotFound
	}
	SortTaken(m.Taken)
	return m, nil
}
