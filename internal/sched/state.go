package sched

import (
	"fmt"
	"math"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// State is a RoundState's memory in a form a caller can persist: what the
// next round's priorities depend on. Save it after every round and Restore
// it into a fresh RoundState after a restart; the next round is then the
// one an uninterrupted RoundState would have made. The policy's own memory
// (ftf's cumulative isolated time, the agnostic fifo's models and random
// stream when given as Options.Source) is part of it: Policy.
type State struct {
	// LastReset is when the time counters were last reset (Snapshot.Now's
	// clock); Allocations counts recomputations of X.
	LastReset   float64 `json:"last_reset"`
	Allocations int     `json:"allocations"`
	Dirty       bool    `json:"dirty,omitempty"`
	// Models are the models the counters are kept for; ModelTime[k] is the
	// time model Models[k] has run jobs since the reset.
	Models    []string  `json:"models"`
	ModelTime []float64 `json:"model_time"`
	// Jobs is each active job's attained service per model since the reset
	// (Gavel's time received, starting at half a round) and its deficits.
	Jobs []JobState `json:"jobs"`
	// The allocation in force: row i is AllocJobs[i]'s shares on
	// AllocModels, sparse.
	AllocModels []string  `json:"alloc_models,omitempty"`
	AllocJobs   []string  `json:"alloc_jobs,omitempty"`
	X           [][]Entry `json:"x,omitempty"`
	// Pairs are the job pairs of the allocation in force (space sharing,
	// the *-packed policies): each pair's shares on AllocModels, and its
	// time received and deficits by Models, as JobState's.
	Pairs []PairState `json:"pairs,omitempty"`
	// Fill is the default model fill order (model ids).
	Fill []string `json:"fill,omitempty"`
	// Policy is the policy's own memory; nil for a policy without one (and
	// in states saved before it was kept, which Restore accepts, leaving
	// the policy's memory as it is).
	Policy *PolicyState `json:"policy,omitempty"`
	// Shares is the device-time team weights need for shares (jobs, teams
	// per model; sharefair.go); nil until a round asked for a share.
	Shares *ShareState `json:"shares,omitempty"`
}

// JobState is one job's attained service and deficits by State.Models,
// sparse: Time lists the models where it differs from half a round (a new
// job's value), Deficit those where it is not 0.
type JobState struct {
	ID      string  `json:"id"`
	Time    []Entry `json:"time,omitempty"`
	Deficit []Entry `json:"deficit,omitempty"`
}

// PairState is one pair of the allocation in force: jobs A and B (rows
// of AllocJobs, A's first), their shares X together (sparse, by
// AllocModels), and the pair's time received and deficits (by Models).
type PairState struct {
	A       string  `json:"a"`
	B       string  `json:"b"`
	X       []Entry `json:"x,omitempty"`
	Time    []Entry `json:"time,omitempty"`
	Deficit []Entry `json:"deficit,omitempty"`
}

// Entry is one value of a sparse row: V at index K.
type Entry struct {
	K int     `json:"k"`
	V float64 `json:"v"`
}

func sparse(row []float64, def float64) []Entry {
	var out []Entry
	for k, v := range row {
		if v != def {
			out = append(out, Entry{k, v})
		}
	}
	return out
}

// State returns the state's memory (a copy).
func (st *RoundState) State() State {
	s := State{LastReset: st.lastReset, Allocations: st.Allocations, Dirty: st.dirty,
		Models: append([]string(nil), st.models...), ModelTime: append([]float64(nil), st.modelTime...)}
	ids := make([]string, 0, len(st.jobs))
	for id := range st.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := st.jobs[id]
		s.Jobs = append(s.Jobs, JobState{ID: id, Time: sparse(rec.time, st.cfg.RoundSeconds/2), Deficit: sparse(rec.deficit, 0)})
	}
	if a := st.alloc; a != nil {
		s.AllocModels = append([]string(nil), a.Models...)
		s.AllocJobs = append([]string(nil), a.Jobs...)
		for _, row := range a.X {
			s.X = append(s.X, sparse(row, 0))
		}
		for _, ps := range a.Pairs {
			p := PairState{A: a.Jobs[ps.A], B: a.Jobs[ps.B], X: sparse(ps.X, 0)}
			if rec := st.pairs.byKey[[2]string{p.A, p.B}]; rec != nil {
				p.Time, p.Deficit = sparse(rec.time, st.cfg.RoundSeconds/2), sparse(rec.deficit, 0)
			}
			s.Pairs = append(s.Pairs, p)
		}
	}
	for _, k := range st.fill {
		s.Fill = append(s.Fill, st.models[k])
	}
	s.Policy = policyMemory(st.policy)
	s.Shares = st.fair.state()
	return s
}

// Restore replaces the state's memory with s (from State, possibly after a
// restart). Times must be on the same clock as the snapshots to come. It
// rejects an inconsistent s with an error wrapping fleet.ErrInvalid.
func (st *RoundState) Restore(s State) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: scheduler state: "+format, append([]any{fleet.ErrInvalid}, args...)...)
	}
	nm := len(s.Models)
	if len(s.ModelTime) != nm || !finite(s.LastReset) {
		return bad("%d models but %d model times (last reset %v)", nm, len(s.ModelTime), s.LastReset)
	}
	for _, v := range s.ModelTime {
		if !finite(v) {
			return bad("model time %v", v)
		}
	}
	if len(s.AllocJobs) != len(s.X) {
		return bad("allocation has %d jobs and %d rows", len(s.AllocJobs), len(s.X))
	}
	dense := func(es []Entry, n int, def float64) ([]float64, error) {
		row := make([]float64, n)
		for k := range row {
			row[k] = def
		}
		for _, e := range es {
			if e.K < 0 || e.K >= n || !finite(e.V) {
				return nil, bad("entry %d = %v outside %d columns or not finite", e.K, e.V, n)
			}
			row[e.K] = e.V
		}
		return row, nil
	}
	x := make([][]float64, len(s.X))
	for i, es := range s.X {
		row, err := dense(es, len(s.AllocModels), 0)
		if err != nil {
			return err
		}
		x[i] = row
	}
	fresh := NewRoundState(st.policy, st.cfg)
	fresh.lastReset, fresh.Allocations, fresh.dirty = s.LastReset, s.Allocations, s.Dirty
	for k, m := range s.Models {
		if _, dup := fresh.modelIdx[m]; dup {
			return bad("model %q twice", m)
		}
		fresh.model(m)
		fresh.modelTime[k] = s.ModelTime[k]
	}
	for _, j := range s.Jobs {
		if _, dup := fresh.jobs[j.ID]; dup || j.ID == "" {
			return bad("job %q twice or unnamed", j.ID)
		}
		tm, err := dense(j.Time, nm, fresh.cfg.RoundSeconds/2)
		if err != nil {
			return err
		}
		def, err := dense(j.Deficit, nm, 0)
		if err != nil {
			return err
		}
		fresh.jobs[j.ID] = &jobRec{id: j.ID, row: -1, prevK: -1, tpGen: -1, whyGen: -1, time: tm, deficit: def}
	}
	if s.X != nil {
		a := &Allocation{Models: s.AllocModels, Jobs: s.AllocJobs, X: x, Reasons: make([]Reason, len(s.AllocJobs)), Objective: math.NaN(), Bound: math.NaN()}
		row := make(map[string]int, len(s.AllocJobs))
		for i, id := range s.AllocJobs {
			row[id] = i
		}
		for _, p := range s.Pairs {
			ia, okA := row[p.A]
			ib, okB := row[p.B]
			if !okA || !okB || ia == ib {
				return bad("pair (%q, %q) of jobs not in the allocation", p.A, p.B)
			}
			px, err := dense(p.X, len(s.AllocModels), 0)
			if err != nil {
				return err
			}
			a.Pairs = append(a.Pairs, PairShare{A: ia, B: ib, X: px})
		}
		fresh.setAllocation(a)
		var err error
		for _, p := range s.Pairs {
			rec := fresh.pairs.byKey[[2]string{p.A, p.B}]
			if rec.time, err = dense(p.Time, nm, fresh.cfg.RoundSeconds/2); err != nil {
				return err
			}
			if rec.deficit, err = dense(p.Deficit, nm, 0); err != nil {
				return err
			}
		}
	}
	for _, m := range s.Fill {
		k, ok := fresh.modelIdx[m]
		if !ok {
			return bad("fill order names unknown model %q", m)
		}
		fresh.fill = append(fresh.fill, k)
	}
	fair, err := restoreFair(s.Shares)
	if err != nil {
		return bad("%v", err)
	}
	fresh.fair = fair
	if err := restorePolicy(st.policy, s.Policy); err != nil {
		return err
	}
	*st = *fresh
	return nil
}
