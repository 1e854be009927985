// Package cinema is the ticket-booking demo's application: accounts and
// sessions, the schedule, seat maps, and reservations that are paid,
// canceled or expire. Every change of a seat map is broadcast as an
// {event, data} envelope to the screening's channel (the seat map pages)
// and to the public channel (the schedule's free-seat counts), and a
// purchase to the buyer's personal channel, so that every open page
// updates without a reload.
package cinema

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

// Event names, as the page filters them.
const (
	EventTicketsReserved     = "cinema.tickets.reserved"
	EventReservationCanceled = "cinema.reservation.canceled"
	EventTicketsBought       = "cinema.tickets.bought"
)

// Channels of the demo.
const (
	// PublicChannel is the channel every page subscribes to; seat map
	// changes of every screening go there too, for the schedule's counts.
	PublicChannel = "public"
	// ScreeningChannelPrefix + id is the channel of a screening's seat map.
	ScreeningChannelPrefix = "screening."
	// UserChannelPrefix + id is a user's personal channel ("#" is the user
	// boundary of Centrifugo channel names).
	UserChannelPrefix = "user#"
)

// ScreeningChannel is the channel of a screening's seat map changes.
func ScreeningChannel(id int64) string { return ScreeningChannelPrefix + strconv.FormatInt(id, 10) }

// UserChannel is the personal channel of a user.
func UserChannel(id int64) string { return UserChannelPrefix + strconv.FormatInt(id, 10) }

// Defaults of Config.
const (
	DefaultReservationTTL = 3 * time.Minute
	DefaultSessionTTL     = 30 * 24 * time.Hour
	DefaultMaxSeats       = 6
	DefaultScheduleDays   = 3
)

// Config configures a Service. Zero values mean the defaults.
type Config struct {
	// ReservationTTL is how long a reservation holds its seats unpaid.
	// Zero value: DefaultReservationTTL (3 minutes).
	ReservationTTL time.Duration
	// SessionTTL is how long a login lasts. Zero value: DefaultSessionTTL.
	SessionTTL time.Duration
	// BcryptCost is the cost of password hashes. Zero value:
	// bcrypt.DefaultCost; tests use bcrypt.MinCost.
	BcryptCost int
	// MaxSeats is the most seats one reservation may hold. Zero value:
	// DefaultMaxSeats.
	MaxSeats int
	// ScheduleDays is how many days of screenings (today included) the
	// schedule has. Zero value: DefaultScheduleDays.
	ScheduleDays int
	// Location is the time zone of the screening times. Zero value:
	// time.Local.
	Location *time.Location
	// Now is the clock. Zero value: time.Now.
	Now func() time.Time
	// BroadcastTimeout bounds each broadcast. Zero value: 5 s.
	BroadcastTimeout time.Duration
}

// Events publishes an application event to channels, as an {event, data}
// envelope; *rotorapi.Broadcaster is one.
type Events interface {
	Broadcast(ctx context.Context, event string, data any, channels ...string) error
}

// Errors of the service, matched with errors.Is (or errors.As for
// *SeatsTakenError). Those wrapping ErrBadRequest say what is wrong.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrUnauthorized = errors.New("not signed in")
	ErrInvalidLogin = errors.New("wrong e-mail address or password")
	ErrEmailTaken   = store.ErrEmailTaken
	ErrNotFound     = store.ErrNotFound
	ErrNotReserved  = store.ErrNotReserved
	ErrExpired      = store.ErrExpired
	ErrStarted      = errors.New("the screening has started")
)

// SeatsTakenError refuses a reservation of seats someone holds.
type SeatsTakenError = store.SeatsTakenError

// Service is the application. It is safe for concurrent use.
type Service struct {
	st     *store.Store
	events Events
	log    *slog.Logger
	cfg    Config
	// wake nudges the expiry loop when a reservation is made.
	wake chan struct{}
	// dummyHash is compared against when a login names no user, so that
	// a wrong address takes as long as a wrong password.
	dummyHash []byte
}

// New returns the service over st, publishing through events.
func New(st *store.Store, events Events, log *slog.Logger, cfg Config) (*Service, error) {
	if st == nil || events == nil {
		return nil, errors.New("cinema: a store and events are required")
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.ReservationTTL < 0 || cfg.SessionTTL < 0 || cfg.MaxSeats < 0 || cfg.ScheduleDays < 0 {
		return nil, errors.New("cinema: negative durations and counts are invalid")
	}
	if cfg.ReservationTTL == 0 {
		cfg.ReservationTTL = DefaultReservationTTL
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.DefaultCost
	}
	if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("cinema: bcrypt cost %d is out of range", cfg.BcryptCost)
	}
	if cfg.MaxSeats == 0 {
		cfg.MaxSeats = DefaultMaxSeats
	}
	if cfg.ScheduleDays == 0 {
		cfg.ScheduleDays = DefaultScheduleDays
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BroadcastTimeout == 0 {
		cfg.BroadcastTimeout = 5 * time.Second
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password anyone has"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("cinema: %w", err)
	}
	return &Service{st: st, events: events, log: log, cfg: cfg, wake: make(chan struct{}, 1), dummyHash: dummy}, nil
}

// ReservationTTL is how long reservations hold their seats.
func (s *Service) ReservationTTL() time.Duration { return s.cfg.ReservationTTL }

// User is a signed-in user, as the page sees them.
type User struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Session is what registering or logging in gives: a token for the
// Authorization header and the connect data of the page.
type Session struct {
	Token string `json:"token"`
	User  User   `json:"user"`
}

func userOf(u store.User) User { return User{ID: u.ID, Email: u.Email, Name: u.Name} }

// Register creates an account and signs it in.
func (s *Service) Register(ctx context.Context, email, password, name string) (Session, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	name = strings.TrimSpace(name)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return Session{}, fmt.Errorf("%w: %q is not an e-mail address", ErrBadRequest, email)
	}
	if n := utf8.RuneCountInString(password); n < 8 || len(password) > 72 {
		return Session{}, fmt.Errorf("%w: the password needs 8 to 72 characters", ErrBadRequest)
	}
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	if utf8.RuneCountInString(name) > 64 {
		return Session{}, fmt.Errorf("%w: the name is longer than 64 characters", ErrBadRequest)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return Session{}, fmt.Errorf("cinema: hash password: %w", err)
	}
	u, err := s.st.CreateUser(ctx, email, name, hash, s.cfg.Now())
	if err != nil {
		return Session{}, err
	}
	s.log.Info("user registered", "user", u.ID)
	return s.newSession(ctx, u)
}

// Login signs a user in with their e-mail address and password.
func (s *Service) Login(ctx context.Context, email, password string) (Session, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, hash, err := s.st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return Session{}, ErrInvalidLogin
	}
	if err != nil {
		return Session{}, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return Session{}, ErrInvalidLogin
	}
	return s.newSession(ctx, u)
}

func (s *Service) newSession(ctx context.Context, u store.User) (Session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, fmt.Errorf("cinema: session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := s.cfg.Now()
	if err := s.st.CreateSession(ctx, tokenHash(token), u.ID, now, now.Add(s.cfg.SessionTTL)); err != nil {
		return Session{}, err
	}
	return Session{Token: token, User: userOf(u)}, nil
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.st.DeleteSession(ctx, tokenHash(token))
}

// Authenticate returns the user whose session token is token, or
// ErrUnauthorized.
func (s *Service) Authenticate(ctx context.Context, token string) (User, error) {
	if token == "" || len(token) > 128 {
		return User{}, ErrUnauthorized
	}
	u, err := s.st.SessionUser(ctx, tokenHash(token), s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return User{}, ErrUnauthorized
	}
	if err != nil {
		return User{}, err
	}
	return userOf(u), nil
}
