package inventory

import (
	"context"
	"slices"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
)

// Cohort counts the devices of one model that entered the fleet in one
// month — their acquisition month, or the month of their first ledger event
// (first seen: imported, created or discovered by an agent) when the ledger
// has no acquisition day. The runway counts useful life from it.
type Cohort struct {
	Model     string `json:"model"`
	Month     string `json:"month"`  // YYYY-MM
	Source    string `json:"source"` // "acquired" or "first-seen"
	InService int    `json:"in_service"`
	Reserve   int    `json:"reserve"`
}

// ComputeCohorts groups the devices in service or in reserve by model and
// entry month. events must hold at least each device's first event (Seq
// order); a device without acquisition day or events is left out. Cohorts
// are ordered by model, month, then source.
func ComputeCohorts(devs []Device, events []Event) []Cohort {
	first := map[string]Event{}
	for _, e := range events {
		if _, ok := first[e.Serial]; !ok {
			first[e.Serial] = e
		}
	}
	type key struct{ model, month, source string }
	acc := map[key]*Cohort{}
	for _, d := range devs {
		if d.State != fleet.InService && d.State != fleet.Reserve {
			continue
		}
		born, src := d.Acquired, "acquired"
		if born.IsZero() {
			e, ok := first[d.Serial]
			if !ok {
				continue
			}
			born, src = e.At, "first-seen"
		}
		k := key{d.Model, born.UTC().Format("2006-01"), src}
		c := acc[k]
		if c == nil {
			c = &Cohort{Model: k.model, Month: k.month, Source: k.source}
			acc[k] = c
		}
		if d.State == fleet.InService {
			c.InService++
		} else {
			c.Reserve++
		}
	}
	out := make([]Cohort, 0, len(acc))
	for _, c := range acc {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Cohort) int {
		return strings.Compare(a.Model+"\x00"+a.Month+"\x00"+a.Source, b.Model+"\x00"+b.Month+"\x00"+b.Source)
	})
	return out
}

// Cohorts returns the fleet in service and in reserve by model and entry
// month (see Cohort).
func (s *Service) Cohorts(ctx context.Context) ([]Cohort, error) {
	devs, err := s.store.Devices(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	evs, err := s.store.Events(ctx, EventFilter{})
	if err != nil {
		return nil, err
	}
	return ComputeCohorts(devs, evs), nil
}
