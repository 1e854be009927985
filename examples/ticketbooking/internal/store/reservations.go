package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reservation holds seats of a screening for a user: pending (reserved)
// until it is paid, canceled or expires.
type Reservation struct {
	ID          int64
	ScreeningID int64
	UserID      int64
	Status      string
	Seats       []string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	PaidAt      time.Time
}

// Change is a change of a screening's seat map: the reservation that made
// it and the screening's version after it.
type Change struct {
	Reservation Reservation
	Version     int64
}

// UserReservation is a reservation with its screening, as listed for its
// user.
type UserReservation struct {
	Reservation
	Screening Screening
}

// Reserve holds seats of a screening for the user until expiresAt. Seats
// that are taken fail it with a *SeatsTakenError listing them; an unknown
// screening with ErrNotFound. The caller validates the seat names.
func (s *Store) Reserve(ctx context.Context, userID, screeningID int64, seats []string, now, expiresAt time.Time) (Change, error) {
	if len(seats) == 0 {
		return Change{}, errors.New("store: reserve: no seats")
	}
	var ch Change
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM screenings WHERE id = ?`, screeningID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		args := []any{screeningID}
		for _, seat := range seats {
			args = append(args, seat)
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT seat FROM reservation_seats
			WHERE screening_id = ? AND active = 1 AND seat IN (?`+strings.Repeat(", ?", len(seats)-1)+`)`, args...)
		if err != nil {
			return err
		}
		var taken []string
		for rows.Next() {
			var seat string
			if err := rows.Scan(&seat); err != nil {
				_ = rows.Close()
				return err
			}
			taken = append(taken, seat)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(taken) > 0 {
			SortSeats(taken)
			return &SeatsTakenError{Seats: taken}
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO reservations (screening_id, user_id, status, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, screeningID, userID, StatusReserved, ms(now), ms(expiresAt))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, seat := range seats {
			_, err := tx.ExecContext(ctx, `
				INSERT INTO reservation_seats (reservation_id, screening_id, seat, active) VALUES (?, ?, ?, 1)`,
				id, screeningID, seat)
			if isUniqueViolation(err) {
				return &SeatsTakenError{Seats: []string{seat}}
			}
			if err != nil {
				return err
			}
		}
		version, err := bumpVersion(ctx, tx, screeningID)
		if err != nil {
			return err
		}
		ch = Change{
			Reservation: Reservation{
				ID:          id,
				ScreeningID: screeningID,
				UserID:      userID,
				Status:      StatusReserved,
				Seats:       slices.Clone(seats),
				CreatedAt:   fromMS(ms(now)),
				ExpiresAt:   fromMS(ms(expiresAt)),
			},
			Version: version,
		}
		return nil
	})
	if err != nil {
		var taken *SeatsTakenError
		if errors.Is(err, ErrNotFound) || errors.As(err, &taken) {
			return Change{}, err
		}
		return Change{}, fmt.Errorf("store: reserve: %w", err)
	}
	return ch, nil
}

func bumpVersion(ctx context.Context, tx *sql.Tx, screeningID int64) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx,
		`UPDATE screenings SET version = version + 1 WHERE id = ? RETURNING version`, screeningID).Scan(&v)
	return v, err
}

// reservationTx reads a reservation of the user in tx (any user's when
// userID is 0).
func reservationTx(ctx context.Context, tx *sql.Tx, userID, id int64) (Reservation, error) {
	var (
		r                      Reservation
		created, expires, paid int64
	)
	err := tx.QueryRowContext(ctx, `
		SELECT id, screening_id, user_id, status, created_at, expires_at, paid_at
		FROM reservations WHERE id = ? AND (? = 0 OR user_id = ?)`, id, userID, userID).
		Scan(&r.ID, &r.ScreeningID, &r.UserID, &r.Status, &created, &expires, &paid)
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, ErrNotFound
	}
	if err != nil {
		return Reservation{}, err
	}
	r.CreatedAt, r.ExpiresAt, r.PaidAt = fromMS(created), fromMS(expires), fromMS(paid)
	rows, err := tx.QueryContext(ctx, `SELECT seat FROM reservation_seats WHERE reservation_id = ?`, id)
	if err != nil {
		return Reservation{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var seat string
		if err := rows.Scan(&seat); err != nil {
			return Reservation{}, err
		}
		r.Seats = append(r.Seats, seat)
	}
	if err := rows.Err(); err != nil {
		return Reservation{}, err
	}
	SortSeats(r.Seats)
	return r, nil
}

// Purchase marks the user's pending reservation paid: its seats become
// tickets. A reservation that is not the user's gives ErrNotFound, one that
// is not pending ErrNotReserved, one whose time ran out ErrExpired.
func (s *Store) Purchase(ctx context.Context, userID, id int64, now time.Time) (Reservation, error) {
	var r Reservation
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = reservationTx(ctx, tx, userID, id)
		if err != nil {
			return err
		}
		switch {
		case r.Status == StatusExpired:
			return ErrExpired
		case r.Status != StatusReserved:
			return ErrNotReserved
		case !now.Before(r.ExpiresAt):
			return ErrExpired // the expiry has not run yet, but its time is up
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE reservations SET status = ?, paid_at = ? WHERE id = ?`, StatusPaid, ms(now), id); err != nil {
			return err
		}
		r.Status, r.PaidAt = StatusPaid, fromMS(ms(now))
		return nil
	})
	if err != nil {
		if isStoreErr(err) {
			return Reservation{}, err
		}
		return Reservation{}, fmt.Errorf("store: purchase %d: %w", id, err)
	}
	return r, nil
}

// Cancel cancels the user's pending reservation and frees its seats.
// Errors as for Purchase.
func (s *Store) Cancel(ctx context.Context, userID, id int64) (Change, error) {
	var ch Change
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := reservationTx(ctx, tx, userID, id)
		if err != nil {
			return err
		}
		switch r.Status {
		case StatusReserved:
		case StatusExpired:
			return ErrExpired
		default:
			return ErrNotReserved
		}
		ch, err = release(ctx, tx, r, StatusCanceled)
		return err
	})
	if err != nil {
		if isStoreErr(err) {
			return Change{}, err
		}
		return Change{}, fmt.Errorf("store: cancel %d: %w", id, err)
	}
	return ch, nil
}

// release ends a pending reservation with status and frees its seats.
func release(ctx context.Context, tx *sql.Tx, r Reservation, status string) (Change, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE reservations SET status = ? WHERE id = ?`, status, r.ID); err != nil {
		return Change{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reservation_seats SET active = 0 WHERE reservation_id = ?`, r.ID); err != nil {
		return Change{}, err
	}
	v, err := bumpVersion(ctx, tx, r.ScreeningID)
	if err != nil {
		return Change{}, err
	}
	r.Status = status
	return Change{Reservation: r, Version: v}, nil
}

// ExpireDue ends the pending reservations whose time is up by now, frees
// their seats and returns the changes, in the order they expired.
func (s *Store) ExpireDue(ctx context.Context, now time.Time) ([]Change, error) {
	var changes []Change
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT id FROM reservations WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id`,
			StatusReserved, ms(now))
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range ids {
			r, err := reservationTx(ctx, tx, 0, id)
			if err != nil {
				return err
			}
			ch, err := release(ctx, tx, r, StatusExpired)
			if err != nil {
				return err
			}
			changes = append(changes, ch)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: expire reservations: %w", err)
	}
	return changes, nil
}

// NextExpiry returns when the earliest pending reservation expires; false
// when none is pending.
func (s *Store) NextExpiry(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx,
		`SELECT min(expires_at) FROM reservations WHERE status = ?`, StatusReserved).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next expiry: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(next.Int64), true, nil
}

// Reservation returns the user's reservation, or ErrNotFound.
func (s *Store) Reservation(ctx context.Context, userID, id int64) (Reservation, error) {
	var r Reservation
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = reservationTx(ctx, tx, userID, id)
		return err
	})
	if err != nil {
		if isStoreErr(err) {
			return Reservation{}, err
		}
		return Reservation{}, fmt.Errorf("store: reservation %d: %w", id, err)
	}
	return r, nil
}

// UserReservations returns the user's reservations in the given statuses
// (all when none are given), newest first, at most limit of them.
func (s *Store) UserReservations(ctx context.Context, userID int64, limit int, statuses ...string) ([]UserReservation, error) {
	q := `
		SELECT r.id, r.screening_id, r.user_id, r.status, r.created_at, r.expires_at, r.paid_at,
			(SELECT group_concat(rs.seat, ',') FROM reservation_seats rs WHERE rs.reservation_id = r.id),
			` + screeningColumns + `
		FROM reservations r JOIN screenings sc ON sc.id = r.screening_id
		WHERE r.user_id = ?`
	args := []any{userID}
	if len(statuses) > 0 {
		q += ` AND r.status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	q += ` ORDER BY r.id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: reservations of user %d: %w", userID, err)
	}
	defer rows.Close()
	var list []UserReservation
	for rows.Next() {
		var (
			ur                     UserReservation
			created, expires, paid int64
			seats                  sql.NullString
		)
		sc, err := scanScreeningAfter(rows,
			&ur.ID, &ur.ScreeningID, &ur.UserID, &ur.Status, &created, &expires, &paid, &seats)
		if err != nil {
			return nil, fmt.Errorf("store: reservations of user %d: %w", userID, err)
		}
		ur.CreatedAt, ur.ExpiresAt, ur.PaidAt = fromMS(created), fromMS(expires), fromMS(paid)
		if seats.Valid && seats.String != "" {
			ur.Seats = strings.Split(seats.String, ",")
			SortSeats(ur.Seats)
		}
		ur.Screening = sc
		list = append(list, ur)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reservations of user %d: %w", userID, err)
	}
	return list, nil
}

// scanScreeningAfter scans the columns in before, then a screening.
func scanScreeningAfter(row scanner, before ...any) (Screening, error) {
	var (
		sc     Screening
		starts int64
	)
	dest := append(before, &sc.ID, &sc.Movie, &sc.Description, &starts, &sc.Hall, &sc.Rows, &sc.SeatsPerRow, &sc.PriceCents, &sc.Version)
	if err := row.Scan(dest...); err != nil {
		return Screening{}, err
	}
	sc.StartsAt = fromMS(starts)
	return sc, nil
}

func isStoreErr(err error) bool {
	var taken *SeatsTakenError
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotReserved) || errors.Is(err, ErrExpired) ||
		errors.As(err, &taken)
}

// SortSeats sorts seat names by row, then by number ("A2" before "A10").
func SortSeats(seats []string) {
	slices.SortFunc(seats, CompareSeats)
}

// SortTaken sorts taken seats by seat name.
func SortTaken(list []TakenSeat) {
	slices.SortFunc(list, func(a, b TakenSeat) int { return CompareSeats(a.Seat, b.Seat) })
}

// CompareSeats orders seat names by row letters, then by number.
func CompareSeats(a, b string) int {
	ra, na := splitSeat(a)
	rb, nb := splitSeat(b)
	if c := strings.Compare(ra, rb); c != 0 {
		return c
	}
	if na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func splitSeat(s string) (string, int) {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' })
	if i < 0 {
		return s, 0
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n
}
