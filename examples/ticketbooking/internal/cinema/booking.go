package cinema

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

// Screening is a screening as the page shows it.
type Screening struct {
	ID          int64     `json:"id"`
	Movie       string    `json:"movie"`
	Description string    `json:"description"`
	StartsAt    time.Time `json:"starts_at"`
	Hall        string    `json:"hall"`
	Rows        int       `json:"rows"`
	SeatsPerRow int       `json:"seats_per_row"`
	PriceCents  int       `json:"price_cents"`
	Capacity    int       `json:"capacity"`
	// Free is the number of free seats, at Version of the seat map (in the
	// schedule only).
	Free    *int  `json:"free,omitempty"`
	Version int64 `json:"version,omitempty"`
}

func screeningOf(sc store.Screening) Screening {
	return Screening{
		ID: sc.ID, Movie: sc.Movie, Description: sc.Description, StartsAt: sc.StartsAt, Hall: sc.Hall,
		Rows: sc.Rows, SeatsPerRow: sc.SeatsPerRow, PriceCents: sc.PriceCents, Capacity: sc.Capacity(),
	}
}

// SeatMap is the state of a screening's seats at Version: the seats taken,
// and the reservations of the user asking.
type SeatMap struct {
	Screening Screening     `json:"screening"`
	Version   int64         `json:"version"`
	Taken     []string      `json:"taken"`
	Mine      []Reservation `json:"mine"`
}

// Reservation is a reservation (pending or paid) as its user sees it.
type Reservation struct {
	ID          int64      `json:"id"`
	ScreeningID int64      `json:"screening_id"`
	Status      string     `json:"status"`
	Seats       []string   `json:"seats"`
	ExpiresAt   time.Time  `json:"expires_at"`
	PaidAt      *time.Time `json:"paid_at,omitempty"`
	TotalCents  int        `json:"total_cents"`
	// Screening is set in the list of a user's tickets.
	Screening *Screening `json:"screening,omitempty"`
}

func reservationOf(r store.Reservation, priceCents int) Reservation {
	out := Reservation{
		ID: r.ID, ScreeningID: r.ScreeningID, Status: r.Status, Seats: r.Seats, ExpiresAt: r.ExpiresAt,
		TotalCents: priceCents * len(r.Seats),
	}
	if out.Seats == nil {
		out.Seats = []string{}
	}
	if !r.PaidAt.IsZero() {
		paid := r.PaidAt
		out.PaidAt = &paid
	}
	return out
}

// SeatsEvent is the data of cinema.tickets.reserved and
// cinema.reservation.canceled: the seats that were taken or freed, and the
// seat map's version after the change.
type SeatsEvent struct {
	ScreeningID   int64    `json:"screening_id"`
	ReservationID int64    `json:"reservation_id"`
	Seats         []string `json:"seats"`
	Version       int64    `json:"version"`
	// ExpiresAt is when a new reservation runs out (reserved only).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Reason is "canceled" or "expired" (canceled only).
	Reason string `json:"reason,omitempty"`
}

// BoughtEvent is the data of cinema.tickets.bought, sent to the buyer.
type BoughtEvent struct {
	ID        int64     `json:"id"`
	Screening Screening `json:"screening"`
	Seats     []string  `json:"seats"`
}

// Schedule returns the screenings that have not started, earliest first.
func (s *Service) Schedule(ctx context.Context) ([]Screening, error) {
	now := s.cfg.Now()
	list, err := s.st.Schedule(ctx, now, now.AddDate(0, 0, s.cfg.ScheduleDays+1))
	if err != nil {
		return nil, err
	}
	out := make([]Screening, 0, len(list))
	for _, sc := range list {
		v := screeningOf(sc)
		free := sc.Capacity() - sc.Taken
		v.Free, v.Version = &free, sc.Version
		out = append(out, v)
	}
	return out, nil
}

// SeatMap returns the seat map of a screening, with the reservations of
// userID (0 for an anonymous visitor) in it.
func (s *Service) SeatMap(ctx context.Context, screeningID, userID int64) (SeatMap, error) {
	m, err := s.st.SeatMap(ctx, screeningID)
	if err != nil {
		return SeatMap{}, err
	}
	out := SeatMap{Screening: screeningOf(m.Screening), Version: m.Screening.Version, Taken: []string{}, Mine: []Reservation{}}
	mine := map[int64]*Reservation{}
	for _, t := range m.Taken {
		out.Taken = append(out.Taken, t.Seat)
		if userID == 0 || t.UserID != userID {
			continue
		}
		r := mine[t.ReservationID]
		if r == nil {
			r = &Reservation{ID: t.ReservationID, ScreeningID: screeningID, Status: t.Status, ExpiresAt: t.ExpiresAt}
			mine[t.ReservationID] = r
		}
		r.Seats = append(r.Seats, t.Seat)
	}
	for _, r := range mine {
		r.TotalCents = m.Screening.PriceCents * len(r.Seats)
		out.Mine = append(out.Mine, *r)
	}
	slices.SortFunc(out.Mine, func(a, b Reservation) int { return int(a.ID - b.ID) })
	return out, nil
}

// ParseSeats checks seat names against a screening's hall: row letters
// from A, numbers from 1, each seat once, at most max of them. It returns
// them upper-cased and sorted.
func ParseSeats(sc store.Screening, seats []string, maxSeats int) ([]string, error) {
	if len(seats) == 0 {
		return nil, fmt.Errorf("%w: choose at least one seat", ErrBadRequest)
	}
	if len(seats) > maxSeats {
		return nil, fmt.Errorf("%w: at most %d seats per reservation", ErrBadRequest, maxSeats)
	}
	out := make([]string, 0, len(seats))
	seen := map[string]bool{}
	for _, raw := range seats {
		seat := strings.ToUpper(strings.TrimSpace(raw))
		if len(seat) < 2 || len(seat) > 4 {
			return nil, fmt.Errorf("%w: no seat %q in %s", ErrBadRequest, raw, sc.Hall)
		}
		row := int(seat[0]) - 'A'
		num, err := strconv.Atoi(seat[1:])
		if row < 0 || row >= sc.Rows || err != nil || num < 1 || num > sc.SeatsPerRow || strconv.Itoa(num) != seat[1:] {
			return nil, fmt.Errorf("%w: no seat %q in %s", ErrBadRequest, raw, sc.Hall)
		}
		if seen[seat] {
			return nil, fmt.Errorf("%w: seat %s is listed twice", ErrBadRequest, seat)
		}
		seen[seat] = true
		out = append(out, seat)
	}
	store.SortSeats(out)
	return out, nil
}

// Reserve holds seats of a screening for the user for ReservationTTL and
// tells every page showing the screening.
func (s *Service) Reserve(ctx context.Context, userID, screeningID int64, seats []string) (Reservation, error) {
	sc, err := s.st.Screening(ctx, screeningID)
	if err != nil {
		return Reservation{}, err
	}
	now := s.cfg.Now()
	if !now.Before(sc.StartsAt) {
		return Reservation{}, ErrStarted
	}
	seats, err = ParseSeats(sc, seats, s.cfg.MaxSeats)
	if err != nil {
		return Reservation{}, err
	}
	ch, err := s.st.Reserve(ctx, userID, screeningID, seats, now, now.Add(s.cfg.ReservationTTL))
	if err != nil {
		return Reservation{}, err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	expires := ch.Reservation.ExpiresAt
	s.broadcast(ctx, EventTicketsReserved, SeatsEvent{
		ScreeningID: screeningID, ReservationID: ch.Reservation.ID, Seats: ch.Reservation.Seats,
		Version: ch.Version, ExpiresAt: &expires,
	}, ScreeningChannel(screeningID), PublicChannel)
	s.log.Info("seats reserved", "user", userID, "screening", screeningID, "reservation", ch.Reservation.ID,
		"seats", ch.Reservation.Seats, "expires_at", expires)
	return reservationOf(ch.Reservation, sc.PriceCents), nil
}

// Purchase pays the user's pending reservation (the payment gateway of this
// demo accepts everything), mails the tickets (to the log) and tells the
// user's pages.
func (s *Service) Purchase(ctx context.Context, userID, reservationID int64) (Reservation, error) {
	r, err := s.st.Purchase(ctx, userID, reservationID, s.cfg.Now())
	if err != nil {
		return Reservation{}, err
	}
	sc, err := s.st.Screening(ctx, r.ScreeningID)
	if err != nil {
		return Reservation{}, err
	}
	s.broadcast(ctx, EventTicketsBought, BoughtEvent{ID: r.ID, Screening: screeningOf(sc), Seats: r.Seats},
		UserChannel(userID))
	s.log.Info("tickets bought; receipt mailed", "user", userID, "reservation", r.ID, "screening", sc.ID,
		"movie", sc.Movie, "seats", r.Seats, "total_cents", sc.PriceCents*len(r.Seats))
	out := reservationOf(r, sc.PriceCents)
	v := screeningOf(sc)
	out.Screening = &v
	return out, nil
}

// Cancel cancels the user's pending reservation, freeing its seats on every
// page.
func (s *Service) Cancel(ctx context.Context, userID, reservationID int64) (Reservation, error) {
	ch, err := s.st.Cancel(ctx, userID, reservationID)
	if err != nil {
		return Reservation{}, err
	}
	r := ch.Reservation
	s.broadcast(ctx, EventReservationCanceled, SeatsEvent{
		ScreeningID: r.ScreeningID, ReservationID: r.ID, Seats: r.Seats, Version: ch.Version, Reason: "canceled",
	}, ScreeningChannel(r.ScreeningID), PublicChannel)
	s.log.Info("reservation canceled", "user", userID, "reservation", r.ID, "seats", r.Seats)
	sc, err := s.st.Screening(ctx, r.ScreeningID)
	if err != nil {
		return Reservation{}, err
	}
	return reservationOf(r, sc.PriceCents), nil
}

// Tickets returns the user's pending reservations and paid tickets, newest
// first.
func (s *Service) Tickets(ctx context.Context, userID int64) ([]Reservation, error) {
	list, err := s.st.UserReservations(ctx, userID, 50, store.StatusReserved, store.StatusPaid)
	if err != nil {
		return nil, err
	}
	out := make([]Reservation, 0, len(list))
	for _, ur := range list {
		r := reservationOf(ur.Reservation, ur.Screening.PriceCents)
		sc := screeningOf(ur.Screening)
		r.Screening = &sc
		out = append(out, r)
	}
	return out, nil
}

// ExpireDue frees the seats of the reservations whose time is up and tells
// the pages of their screenings. It returns how many expired.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	changes, err := s.st.ExpireDue(ctx, s.cfg.Now())
	if err != nil {
		return 0, err
	}
	for _, ch := range changes {
		r := ch.Reservation
		s.log.Info("reservation expired", "user", r.UserID, "reservation", r.ID, "screening", r.ScreeningID, "seats", r.Seats)
		s.broadcast(ctx, EventReservationCanceled, SeatsEvent{
			ScreeningID: r.ScreeningID, ReservationID: r.ID, Seats: r.Seats, Version: ch.Version, Reason: "expired",
		}, ScreeningChannel(r.ScreeningID), PublicChannel)
	}
	return len(changes), nil
}

// broadcast publishes an event; a failure is logged, not returned: the
// change is committed, and pages catch up from the seat map's version when
// they resubscribe.
func (s *Service) broadcast(ctx context.Context, event string, data any, channels ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.BroadcastTimeout)
	defer cancel()
	start := time.Now()
	if err := s.events.Broadcast(ctx, event, data, channels...); err != nil {
		s.log.Warn("broadcast failed", "event", event, "channels", channels, "error", err)
		return
	}
	s.log.Debug("broadcast", "event", event, "channels", channels, "took", time.Since(start))
}

// Run expires reservations when their time is up, keeps the schedule filled
// and removes old sessions, until ctx ends. Reservations that expired while
// the demo was stopped are expired at once.
func (s *Service) Run(ctx context.Context) error {
	if err := s.EnsureSchedule(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	housekeeping := time.NewTicker(time.Hour)
	defer housekeeping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.wake:
		case <-housekeeping.C:
			if err := s.EnsureSchedule(ctx); err != nil {
				s.log.Error("filling the schedule", "error", err)
			}
			if n, err := s.st.DeleteExpiredSessions(ctx, s.cfg.Now()); err != nil {
				s.log.Error("removing expired sessions", "error", err)
			} else if n > 0 {
				s.log.Info("expired sessions removed", "count", n)
			}
		}
		if _, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("expiring reservations", "error", err)
		}
		wait := time.Minute
		next, ok, err := s.st.NextExpiry(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("next expiry", "error", err)
			wait = time.Second
		}
		if ok {
			wait = min(wait, max(next.Sub(s.cfg.Now()), 0))
		}
		timer.Reset(wait) // since Go 1.23, Reset leaves no stale tick behind
	}
}
