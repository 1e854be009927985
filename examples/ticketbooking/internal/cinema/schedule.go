package cinema

import (
	"context"
	"time"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/store"
)

// film is a movie of the programme. They are all silent classics in the
// public domain.
type film struct {
	title, description string
}

var programme = []film{
	{"Metropolis", "Fritz Lang, 1927. A city of towers above, a city of machines below."},
	{"Nosferatu", "F. W. Murnau, 1922. A real-estate deal with a count who never sleeps at night."},
	{"The General", "Buster Keaton, 1926. One engineer, one stolen locomotive, one war."},
	{"Sherlock Jr.", "Buster Keaton, 1924. A projectionist dreams himself into the picture."},
	{"The Kid", "Charlie Chaplin, 1921. The Tramp finds a baby and cannot give him back."},
}

// hall is a room of the cinema and the times it shows films each day.
type hall struct {
	name        string
	rows, seats int
	priceCents  int
	slots       []time.Duration // after midnight
}

var halls = []hall{
	{"Hall 1", 6, 10, 900, []time.Duration{17 * time.Hour, 20*time.Hour + 15*time.Minute}},
	{"Hall 2", 5, 8, 750, []time.Duration{18*time.Hour + 30*time.Minute, 21*time.Hour + 30*time.Minute}},
}

// Programme returns the screenings of the ScheduleDays days from the day of
// now on: each hall shows a film at each of its slots, films taking turns.
func (s *Service) Programme(now time.Time) []store.Screening {
	now = now.In(s.cfg.Location)
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.cfg.Location)
	var list []store.Screening
	for d := range s.cfg.ScheduleDays {
		day := day0.AddDate(0, 0, d)
		// The day number since the epoch makes the rotation the same
		// whenever the programme is computed.
		n := int(day.Unix() / 86400)
		for hi, h := range halls {
			for si, slot := range h.slots {
				f := programme[(n*3+hi*2+si)%len(programme)]
				// Add the slot to the date, not to midnight, so that
				// daylight-saving days keep the wall-clock time.
				hh, mm := int(slot/time.Hour), int(slot%time.Hour/time.Minute)
				list = append(list, store.Screening{
					Movie: f.title, Description: f.description,
					StartsAt: time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, s.cfg.Location),
					Hall:     h.name, Rows: h.rows, SeatsPerRow: h.seats, PriceCents: h.priceCents,
				})
			}
		}
	}
	return list
}

// EnsureSchedule adds the screenings of the coming days that are not in the
// database yet.
func (s *Service) EnsureSchedule(ctx context.Context) error {
	n, err := s.st.AddScreenings(ctx, s.Programme(s.cfg.Now()))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("schedule filled", "screenings_added", n)
	}
	return nil
}
