package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is a registered user.
type User struct {
	ID        int64
	Email     string
	Name      string
	CreatedAt time.Time
}

// CreateUser adds a user; an e-mail address already registered gives
// ErrEmailTaken.
func (s *Store) CreateUser(ctx context.Context, email, name string, passwordHash []byte, now time.Time) (User, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO users (email, name, password_hash, created_at) VALUES (?, ?, ?, ?)`,
		email, name, passwordHash, ms(now))
	if isUniqueViolation(err) {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	return User{ID: id, Email: email, Name: name, CreatedAt: fromMS(ms(now))}, nil
}

// UserByEmail returns the user with the e-mail address and their password
// hash, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, []byte, error) {
	var (
		u       User
		hash    []byte
		created int64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT id, email, name, password_hash, created_at FROM users WHERE email = ?`, email).
		Scan(&u.ID, &u.Email, &u.Name, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, nil, ErrNotFound
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("store: user by e-mail: %w", err)
	}
	u.CreatedAt = fromMS(created)
	return u, hash, nil
}

// UserByID returns the user, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	var (
		u       User
		created int64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT id, email, name, created_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.Email, &u.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %d: %w", id, err)
	}
	u.CreatedAt = fromMS(created)
	return u, nil
}

// CreateSession stores a session of the user under the hash of its token.
// Only the hash is kept, so the database does not hold usable tokens.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, userID int64, now, expiresAt time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tokenHash, userID, ms(now), ms(expiresAt))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionUser returns the user of the session whose token has the hash, or
// ErrNotFound when there is none or it expired by now.
func (s *Store) SessionUser(ctx context.Context, tokenHash []byte, now time.Time) (User, error) {
	var (
		u       User
		created int64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT u.id, u.email, u.name, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, tokenHash, ms(now)).
		Scan(&u.ID, &u.Email, &u.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: session: %w", err)
	}
	u.CreatedAt = fromMS(created)
	return u, nil
}

// DeleteSession ends the session with the token hash; ending one that does
// not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that expired by now and returns
// how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
