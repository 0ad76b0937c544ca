package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
)

// Fleet lists the devices in service (the ledger).
type Fleet interface {
	InService(ctx context.Context) ([]Device, error)
}

// ServiceConfig configures a Service. Store, Fleet and Workloads are
// required.
type ServiceConfig struct {
	Store     Store
	Fleet     Fleet
	Workloads *Workloads
	Resolve   Resolver // accelerator names → catalog ids; nil: ids only
	Names     Names
	Now       func() time.Time // nil: time.Now
	// DeviceMemoryMiB gives a model's device memory in MiB (0: not known);
	// nil: no share is refused for its device memory.
	DeviceMemoryMiB func(model string) int64
}

// Service holds the use-cases the API and CLI call: submit, cancel, read
// jobs; manage teams.
type Service struct{ c ServiceConfig }

// NewService checks the config.
func NewService(c ServiceConfig) (*Service, error) {
	if c.Store == nil || c.Fleet == nil || c.Workloads == nil {
		return nil, errors.New("jobs: ServiceConfig needs a Store, a Fleet and Workloads")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{c: c}, nil
}

// Workloads returns the loaded throughput table.
func (s *Service) Workloads() *Workloads { return s.c.Workloads }

// Names returns the model namer.
func (s *Service) Names() Names { return s.c.Names }

func (s *Service) now() time.Time { return s.c.Now().UTC().Truncate(time.Microsecond) }

// Now is the service's clock (UTC, to the microsecond the stores keep).
func (s *Service) Now() time.Time { return s.now() }

// Submit validates a spec against the workloads and today's fleet and
// stores the job as pending. A job that can never run is rejected with an
// error wrapping fleet.ErrInvalid that says why.
func (s *Service) Submit(ctx context.Context, sp Spec, actor string) (Job, error) {
	js, err := s.SubmitAll(ctx, []Spec{sp}, actor)
	if err != nil {
		var ies fleet.InputErrors
		if errors.As(err, &ies) {
			for _, ie := range ies {
				ie.Pos.Entry = "" // one job: no "jobs[0]"
				ie.Pos.Field = strings.TrimPrefix(ie.Pos.Field, "jobs[0].")
			}
		}
		return Job{}, err
	}
	return js[0], nil
}

// MaxBatch bounds the jobs of one SubmitAll.
const MaxBatch = 1000

// SubmitAll validates every spec before creating any (issue 16: a file of
// jobs "a" and "b" left "a" queued when "b" was refused): the errors of all
// refused specs come back together, each naming its entry jobs[i] (name)
// and field, and nothing is stored. Only a store failure between two
// creations (I/O, not input) can leave the first jobs of the batch.
func (s *Service) SubmitAll(ctx context.Context, specs []Spec, actor string) ([]Job, error) {
	if len(specs) == 0 || len(specs) > MaxBatch {
		return nil, &fleet.InputError{Pos: fleet.Position{Field: "jobs"}, Msg: fmt.Sprintf("give 1 to %d jobs, got %d", MaxBatch, len(specs))}
	}
	devs, err := s.c.Fleet.InService(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: reading the fleet: %w", err)
	}
	capa := CapacityOf(devs)
	if f := s.c.DeviceMemoryMiB; f != nil {
		capa.DeviceMemMiB = map[string]int64{}
		for m := range capa.Devices {
			capa.DeviceMemMiB[m] = f(m)
		}
	}
	if f := s.c.DeviceMemoryMiB; f != nil {
		capa.DeviceMemMiB = map[string]int64{}
		for m := range capa.Devices {
			capa.DeviceMemMiB[m] = f(m)
		}
	}
	var errs fleet.InputErrors
	checked := make([]Spec, len(specs))
	for i, sp := range specs {
		at := fmt.Sprintf("jobs[%d]", i)
		entry := at
		if n := strings.TrimSpace(sp.Name); n != "" && len(n) <= 64 {
			entry += " (" + n + ")"
		}
		sp, err := s.c.Workloads.ResolveFit(sp, sortedKeys(capa.Devices))
		if err == nil {
			sp, err = Check(sp, s.c.Workloads, capa, s.c.Resolve, s.c.Names)
		}
		if err != nil {
			var ies fleet.InputErrors
			var ie *fleet.InputError
			switch {
			case errors.As(err, &ies):
				for _, e := range ies {
					e.Pos.Entry, e.Pos.Field = entry, joinField(at, e.Pos.Field)
					errs = append(errs, e)
				}
			case errors.As(err, &ie):
				ie.Pos.Entry, ie.Pos.Field = entry, joinField(at, ie.Pos.Field)
				errs = append(errs, ie)
			default:
				return nil, err
			}
			continue
		}
		checked[i] = sp
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	out := make([]Job, 0, len(checked))
	for _, sp := range checked {
		j, err := s.create(ctx, sp, actor)
		if err != nil {
			return out, err
		}
		out = append(out, j)
	}
	return out, nil
}

func joinField(at, field string) string {
	if field == "" {
		return at
	}
	return at + "." + field
}

func (s *Service) create(ctx context.Context, sp Spec, actor string) (Job, error) {
	now := s.now()
	by := ""
	if actor != "" {
		by = " by " + actor
	}
	j := Job{
		Spec: sp, State: Pending, SubmittedAt: now,
		Why:     Explanation{CodeSubmitted, "submitted; waiting for the next scheduling round"},
		History: []Event{{At: now, Kind: "submitted", Message: fmt.Sprintf("submitted%s: %s × %d, %.0f steps", by, sp.Class, sp.Gang, sp.TotalSteps)}},
	}
	return s.c.Store.CreateJob(ctx, j)
}

// Get returns one job with its history.
func (s *Service) Get(ctx context.Context, id string) (Job, error) { return s.c.Store.Job(ctx, id) }

// List returns jobs matching f.
func (s *Service) List(ctx context.Context, f Filter) ([]Job, error) { return s.c.Store.Jobs(ctx, f) }

// Count returns how many jobs match f (Limit and Offset ignored).
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	return s.c.Store.CountJobs(ctx, f)
}

// Cancel cancels an active job; a finished one is an error wrapping
// fleet.ErrConflict. The devices are free for the next round.
func (s *Service) Cancel(ctx context.Context, id, actor string) (Job, error) {
	now := s.now()
	return s.c.Store.UpdateJob(ctx, id, func(j Job) (Job, []Event, error) {
		evs, err := Cancel(&j, now, actor)
		return j, evs, err
	})
}

// TeamStatus is a team with what it uses now: share vs guarantee.
type TeamStatus struct {
	Team
	Recorded bool           `json:"recorded"` // false: a team only named by jobs (weight 1, no guarantees)
	Running  int            `json:"running"`  // jobs
	Waiting  int            `json:"waiting"`  // pending + preempted jobs
	Use      map[string]int `json:"use"`      // devices per model now
	// Borrowed is devices per model above the guarantee (lent by others);
	// Lent is guaranteed devices it does not use now (lent to others or idle).
	Borrowed map[string]int `json:"borrowed,omitempty"`
	Lent     map[string]int `json:"lent,omitempty"`
}

// Teams returns every recorded team and every team named by an active job,
// by name, with its current use.
func (s *Service) Teams(ctx context.Context) ([]TeamStatus, error) {
	ts, err := s.c.Store.Teams(ctx)
	if err != nil {
		return nil, err
	}
	ls, err := s.c.Store.TeamLoad(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string]*TeamStatus{}
	for _, t := range ts {
		by[t.Name] = &TeamStatus{Team: t, Recorded: true, Use: map[string]int{}}
	}
	for _, l := range ls {
		st := by[l.Team]
		if st == nil {
			st = &TeamStatus{Team: DefaultTeam(l.Team), Use: map[string]int{}}
			by[l.Team] = st
		}
		st.Running += l.Running
		st.Waiting += l.Waiting
		for m, n := range l.Use {
			st.Use[m] += n
		}
	}
	out := make([]TeamStatus, 0, len(by))
	for _, n := range sortedKeys(by) {
		st := by[n]
		for m, u := range st.Use {
			if d := u - st.Guarantees[m]; d > 0 {
				if st.Borrowed == nil {
					st.Borrowed = map[string]int{}
				}
				st.Borrowed[m] = d
			}
		}
		for m, g := range st.Guarantees {
			if d := g - st.Use[m]; d > 0 {
				if st.Lent == nil {
					st.Lent = map[string]int{}
				}
				st.Lent[m] = d
			}
		}
		out = append(out, *st)
	}
	return out, nil
}

// PutTeam creates or replaces a team. Guarantee names are resolved to
// catalog ids; the whole configuration is checked against today's fleet
// (guarantees may not exceed a model's in-service devices). The weight is
// taken as given: 0 is refused like any weight outside (0, MaxWeight]
// (the API fills in DefaultWeight when a body has none).
func (s *Service) PutTeam(ctx context.Context, t Team) (Team, error) {
	if len(t.Guarantees) > 0 {
		g := map[string]int{}
		var errs fleet.InputErrors
		for name, n := range t.Guarantees {
			id := name
			if s.c.Resolve != nil {
				var err error
				if id, err = s.c.Resolve(name); err != nil {
					errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: "guarantees." + name}, Msg: err.Error()})
					continue
				}
			}
			g[id] += n
		}
		if err := errs.Err(); err != nil {
			return Team{}, err
		}
		t.Guarantees = g
	}
	devs, err := s.c.Fleet.InService(ctx)
	if err != nil {
		return Team{}, fmt.Errorf("jobs: reading the fleet: %w", err)
	}
	capa := CapacityOf(devs)
	if err := s.c.Store.PutTeam(ctx, t, func(all []Team) error { return CheckTeams(all, capa, s.c.Names) }); err != nil {
		return Team{}, err
	}
	return t, nil
}

// DeleteTeam removes a team record (its jobs keep running with weight 1).
func (s *Service) DeleteTeam(ctx context.Context, name string) error {
	return s.c.Store.DeleteTeam(ctx, name)
}
