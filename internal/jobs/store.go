package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
)

// Store is what live scheduling needs from persistence. Every method is
// safe for concurrent use. internal/store/sqlite and internal/store/postgres
// implement it; MemStore is the in-memory fake; jobstest is the contract.
//
// Errors: a missing job or team wraps fleet.ErrNotFound; UpdateJob returns
// decide's error unchanged.
type Store interface {
	// CreateJob stores a new job and its history, assigning its ID
	// ("job-<n>", n increasing from 1), and returns it.
	CreateJob(ctx context.Context, j Job) (Job, error)
	// Job returns one job with its whole history.
	Job(ctx context.Context, id string) (Job, error)
	// Jobs returns the jobs matching f in ID order (descending with
	// f.Newest), without history.
	Jobs(ctx context.Context, f Filter) ([]Job, error)
	// CountJobs returns how many jobs match f, ignoring Limit, Offset and
	// Newest.
	CountJobs(ctx context.Context, f Filter) (int, error)
	// UpdateJob reads a job inside a transaction, calls decide, and writes
	// the job decide returns (row, placement) with the events appended,
	// atomically.
	UpdateJob(ctx context.Context, id string, decide func(Job) (Job, []Event, error)) (Job, error)
	// SaveRound writes one round atomically: the round record and every
	// update (row, placement, events). An update of a job that was
	// cancelled since it was read is skipped, so a cancel is never lost. A
	// device may hold at most one job: a placement naming a device another
	// job holds fails the whole round.
	SaveRound(ctx context.Context, r Round, us []Update) error
	// LastRound returns the latest round, or one with Seq 0 when none ran.
	LastRound(ctx context.Context) (Round, error)

	// TeamLoad returns, for every team named by an active job (pending,
	// running or preempted), what those jobs hold: one TeamLoad a team, in
	// no particular order. Counted by the store (GROUP BY in the SQL
	// stores), so the jobs themselves are not read.
	TeamLoad(ctx context.Context) ([]TeamLoad, error)

	// Teams returns every team ordered by name.
	Teams(ctx context.Context) ([]Team, error)
	// PutTeam creates or replaces a team after check accepts the whole
	// resulting configuration, in one transaction.
	PutTeam(ctx context.Context, t Team, check func([]Team) error) error
	// DeleteTeam removes a team, or wraps fleet.ErrNotFound.
	DeleteTeam(ctx context.Context, name string) error
}

// TeamLoad is what one team's active jobs hold now.
type TeamLoad struct {
	Team string
	// Running counts the jobs running with a placement; Waiting every
	// other active job (pending, preempted, running without a placement).
	Running, Waiting int
	// Use is devices per model of the running jobs' placements (a model
	// appears, maybe with 0, as soon as one of them names it); nil when
	// none runs.
	Use map[string]int
}

// TeamLoads folds grouped rows (team, running or not, model, jobs, devices)
// into TeamLoad values, in the order teams first appear: the SQL stores
// group in the database and fold here.
type TeamLoads struct {
	out []TeamLoad
	by  map[string]int
}

// Add counts count jobs of team: running on model holding devices devices
// in all, or waiting (model and devices ignored).
func (t *TeamLoads) Add(team string, running bool, model string, count, devices int) {
	if t.by == nil {
		t.by = map[string]int{}
	}
	k, ok := t.by[team]
	if !ok {
		k = len(t.out)
		t.by[team] = k
		t.out = append(t.out, TeamLoad{Team: team})
	}
	l := &t.out[k]
	if !running {
		l.Waiting += count
		return
	}
	l.Running += count
	if l.Use == nil {
		l.Use = map[string]int{}
	}
	l.Use[model] += devices
}

// Loads returns the folded values.
func (t *TeamLoads) Loads() []TeamLoad { return t.out }

// Filter selects jobs. Zero fields match everything.
type Filter struct {
	Team   string
	States []State
	Limit  int // 0 = no limit
	Offset int // skip this many matching jobs first (paging); 0 = none
	// Before keeps only jobs whose number (the n of job-n) is below it;
	// 0 = no bound. With Newest it is a keyset cursor: the next page's
	// Before is the number of the last job of this page.
	Before int64
	// Newest orders newest first (descending number) instead of oldest first.
	Newest bool
	// FinishedSince, when set, leaves out jobs that finished (FinishedAt
	// set: completed, failed or cancelled) before it; unfinished jobs pass.
	FinishedSince time.Time
	// Text keeps the jobs whose ID, name or class contains it, ignoring
	// case (both sides folded with strings.ToLower, so every store agrees
	// on any text: the SQL stores keep the folded name and class in
	// columns written from Go). "" = no text condition.
	Text string
	// Shared keeps only the jobs that ask for a share of a device
	// (Spec.DeviceMilli > 0; the SQL stores keep it in a column).
	Shared bool
}

// Folded is the text a Filter's Text is looked for in: a job's name and
// class folded with strings.ToLower (the ID is "job-<n>", lower case
// already). The SQL stores write these into their search columns.
func Folded(sp *Spec) (name, class string) {
	return strings.ToLower(sp.Name), strings.ToLower(sp.Class)
}

// Match reports whether j passes f (ignoring Limit, Offset and Newest).
func (f Filter) Match(j *Job) bool {
	if f.Team != "" && j.Team != f.Team {
		return false
	}
	if f.Shared && !j.Shared() {
		return false
	}
	if f.Before > 0 {
		if n, err := ParseID(j.ID); err != nil || n >= f.Before {
			return false
		}
	}
	if !f.FinishedSince.IsZero() && !j.FinishedAt.IsZero() && j.FinishedAt.Before(f.FinishedSince) {
		return false
	}
	if f.Text != "" {
		needle := strings.ToLower(f.Text)
		name, class := Folded(&j.Spec)
		if !strings.Contains(j.ID, needle) && !strings.Contains(name, needle) && !strings.Contains(class, needle) {
			return false
		}
	}
	if len(f.States) == 0 {
		return true
	}
	for _, s := range f.States {
		if j.State == s {
			return true
		}
	}
	return false
}

// Update is one job's change in a round.
type Update struct {
	Job    Job     // the new row (History ignored)
	Events []Event // appended to its history
	// Moved says the placement changed (devices re-written).
	Moved bool
	// Progress says only StepsDone, CheckpointSteps, AttainedSeconds and
	// Restarts changed, and the job is running: stores may write just
	// those (and must not write them if the job is no longer running).
	Progress bool
}

// Round is the record of one scheduling round.
type Round struct {
	Seq      int64         `json:"seq"`
	At       time.Time     `json:"at"`
	Policy   string        `json:"policy"`
	Duration time.Duration `json:"duration_ns"`
	Running  int           `json:"running"`
	Waiting  int           `json:"waiting"`
	// State is the scheduler's memory after the round (Planner.State):
	// attained service per job and model, deficits, the allocation in
	// force. Stores keep the latest one and return it with LastRound.
	State []byte `json:"-"`
}

// StateError is a change a job's state does not allow (cancelling a
// finished job). It wraps fleet.ErrConflict.
type StateError struct {
	ID    string
	State State
}

func (e *StateError) Error() string {
	return fmt.Sprintf("job %s is %s already; only pending, running or preempted jobs can be cancelled", e.ID, e.State)
}

// Unwrap returns fleet.ErrConflict.
func (e *StateError) Unwrap() error { return fleet.ErrConflict }

// FormatID and ParseID convert between a job's sequence number and its ID.
func FormatID(n int64) string { return fmt.Sprintf("job-%d", n) }

// ParseID returns the sequence number of an ID, or an error wrapping
// fleet.ErrNotFound.
func ParseID(id string) (int64, error) {
	var n int64
	if _, err := fmt.Sscanf(id, "job-%d", &n); err != nil || n <= 0 || FormatID(n) != id {
		return 0, fmt.Errorf("%w: no job %q (ids look like job-42)", fleet.ErrNotFound, id)
	}
	return n, nil
}
