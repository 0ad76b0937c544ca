package sched

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// PolicyState is a policy's own memory, the part of State that lives in the
// Policy value rather than in the round mechanism: ftf's cumulative
// isolated time and its view of the previous call, the agnostic fifo's
// model per job and its random stream. Policies without memory (las,
// makespan, max-throughput, granary, fifo-hetero) have none.
type PolicyState struct {
	// Policy is the name of the policy that saved it; Restore refuses a
	// memory of another policy.
	Policy string `json:"policy"`
	// FTF lists, for every job of ftf's previous call, its remaining steps
	// and isolated throughput then, and the isolated time it has used up
	// (Gavel's cumulative isolated time), by job id.
	FTF []FTFJob `json:"ftf,omitempty"`
	// Where is the agnostic fifo's model per job (kept until it finishes).
	Where []JobModel `json:"where,omitempty"`
	// Rand is the state of the random source given as Options.Source
	// (rand.PCG's MarshalBinary), so the draws after a restore are the
	// draws an uninterrupted policy would have made.
	Rand []byte `json:"rand,omitempty"`
}

// FTFJob is one job's ftf memory.
type FTFJob struct {
	ID      string  `json:"id"`
	Cum     float64 `json:"cum,omitempty"`
	PrevRem float64 `json:"prev_rem"`
	PrevIso float64 `json:"prev_iso"`
}

// JobModel is a job and the model the agnostic fifo gave it.
type JobModel struct {
	ID    string `json:"id"`
	Model string `json:"model"`
}

// memory is implemented by the policies that keep state between calls.
type memory interface {
	memory() *PolicyState
	restore(*PolicyState) error
}

func (f *ftfPolicy) memory() *PolicyState {
	ps := &PolicyState{Policy: f.Name()}
	// cum's jobs are a subset of the previous call's (it is pruned to the
	// active jobs of every call, which become the previous call's).
	for id, rem := range f.prevRem {
		ps.FTF = append(ps.FTF, FTFJob{ID: id, Cum: f.cum[id], PrevRem: rem, PrevIso: f.prevIso[id]})
	}
	sort.Slice(ps.FTF, func(a, b int) bool { return ps.FTF[a].ID < ps.FTF[b].ID })
	return ps
}

func (f *ftfPolicy) restore(ps *PolicyState) error {
	cum, rem, iso := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, j := range ps.FTF {
		if _, dup := rem[j.ID]; dup || j.ID == "" {
			return fmt.Errorf("%w: scheduler state: ftf job %q twice or unnamed", fleet.ErrInvalid, j.ID)
		}
		if !finite(j.Cum) || !finite(j.PrevRem) || !finite(j.PrevIso) {
			return fmt.Errorf("%w: scheduler state: ftf job %q: cum %v, remaining %v, isolated %v", fleet.ErrInvalid, j.ID, j.Cum, j.PrevRem, j.PrevIso)
		}
		rem[j.ID], iso[j.ID] = j.PrevRem, j.PrevIso
		if j.Cum != 0 {
			cum[j.ID] = j.Cum
		}
	}
	f.cum, f.prevRem, f.prevIso = cum, rem, iso
	return nil
}

func (f *fifoPolicy) memory() *PolicyState {
	if f.hetero {
		return nil // recomputed every call
	}
	ps := &PolicyState{Policy: f.Name()}
	for id, m := range f.where {
		ps.Where = append(ps.Where, JobModel{ID: id, Model: m})
	}
	sort.Slice(ps.Where, func(a, b int) bool { return ps.Where[a].ID < ps.Where[b].ID })
	if f.src != nil {
		b, err := f.src.MarshalBinary()
		if err != nil {
			// rand.PCG's MarshalBinary cannot fail (it appends two words).
			panic(fmt.Sprintf("sched: random source state: %v", err))
		}
		ps.Rand = b
	}
	return ps
}

func (f *fifoPolicy) restore(ps *PolicyState) error {
	where := make(map[string]string, len(ps.Where))
	for _, w := range ps.Where {
		if _, dup := where[w.ID]; dup || w.ID == "" || w.Model == "" {
			return fmt.Errorf("%w: scheduler state: fifo job %q twice, unnamed or without model", fleet.ErrInvalid, w.ID)
		}
		where[w.ID] = w.Model
	}
	if ps.Rand != nil {
		if f.src == nil {
			return fmt.Errorf("%w: scheduler state: a saved random stream, but the policy was not given Options.Source", fleet.ErrInvalid)
		}
		var src rand.PCG
		if err := src.UnmarshalBinary(ps.Rand); err != nil {
			return fmt.Errorf("%w: scheduler state: random source: %v", fleet.ErrInvalid, err)
		}
		*f.src = src
	}
	f.where = where
	return nil
}

// policyMemory returns the policy's memory (nil when it keeps none).
func policyMemory(p Policy) *PolicyState {
	if m, ok := p.(memory); ok {
		return m.memory()
	}
	return nil
}

// restorePolicy loads ps into p; nil ps (a state saved without the
// policy's memory) leaves p as it is.
func restorePolicy(p Policy, ps *PolicyState) error {
	if ps == nil {
		return nil
	}
	if ps.Policy != p.Name() {
		return fmt.Errorf("%w: scheduler state: memory of policy %q, not %q", fleet.ErrInvalid, ps.Policy, p.Name())
	}
	m, ok := p.(memory)
	if !ok {
		return fmt.Errorf("%w: scheduler state: policy %q keeps no memory", fleet.ErrInvalid, p.Name())
	}
	return m.restore(ps)
}
