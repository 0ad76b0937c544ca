package sched

import (
	"fmt"
	"math"

	"github.com/granaryhq/granary/internal/fleet"
)

// FTFHeteroPacked is ftf-hetero with space sharing (Gavel's
// finish_time_fairness_packed).
const FTFHeteroPacked = "ftf-hetero-packed"

// ftfPackedPolicy is Gavel's FinishTimeFairnessPolicyWithPacking: ftf-hetero's
// min-max of the finish-time ratio
//
//	ρ_i = (tss_i + R_i / thr_i) / (cum_i + R_i / iso_i)
//
// where a job's throughput also counts the time it shares devices,
// thr_i = Σ_k T[i][k]·X[i][k] + Σ_j Σ_k T[i|j][k]·Y[ij][k], under the
// packed LP's constraints (Σ_k X[i][k] + Σ_j Σ_k Y[ij][k] ≤ 1 per job,
// Σ_i s_i·X[i][k] + Σ_{i<j} s_i·Y[ij][k] ≤ N_k per model; a pair only for
// equal gangs on a model where the table has it with both throughputs > 0).
// iso_i and cum_i are ftf-hetero's (Gavel's IsolatedPolicy share, and the
// isolated time already used, kept between calls).
//
// Solution: as ftf-hetero, ρ is feasible iff the max-min LP with rows
// scaled by (ρ·D_i − tss_i)/R_i reaches 1; here that LP is las-hetero-packed's
// (waterFill's first round) with every job its own group — each job has its
// own ratio, so jobs cannot be merged, and the LP has O(n²) pair columns per
// model, as Gavel's has. ρ descends from the isolated allocation's
// max_i ρ_i by ρ ← max_i ρ_i(X(ρ)), with a bisection step when a step does
// not halve the last.
type ftfPackedPolicy struct {
	mem *ftfPolicy // cum, prevRem, prevIso: ftf-hetero's memory
}

func newFTFPacked() *ftfPackedPolicy { return &ftfPackedPolicy{mem: newFTF(true, "")} }

func (f *ftfPackedPolicy) Name() string { return FTFHeteroPacked }
func (f *ftfPackedPolicy) packs() bool  { return true }

func (f *ftfPackedPolicy) memory() *PolicyState {
	ps := f.mem.memory()
	ps.Policy = f.Name()
	return ps
}

func (f *ftfPackedPolicy) restore(ps *PolicyState) error { return f.mem.restore(ps) }

func (f *ftfPackedPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	if !tp.HasPairs() {
		return Allocation{}, fmt.Errorf("%w: %s: the throughput table has no pair throughputs (space sharing needs them)", fleet.ErrNotFound, f.Name())
	}
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	n := len(s.Jobs)
	m := f.mem
	iso, D, tss, R := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	var rows []int // the jobs in the LP
	lo := 0.0
	for i := range s.Jobs {
		id := s.Jobs[i].ID
		for k, v := range p.tput[i] {
			iso[i] += v * p.isoShare(i, k, n)
		}
		if pr, ok := m.prevRem[id]; ok && m.prevIso[id] > 0 {
			m.cum[id] += (pr - s.Jobs[i].RemainingSteps) / m.prevIso[id]
		}
		R[i] = s.Jobs[i].RemainingSteps
		tss[i] = s.Now - s.Jobs[i].Arrival
		if !p.ok[i] || R[i] <= 0 || iso[i] <= 0 {
			continue
		}
		rows = append(rows, i)
		D[i] = m.cum[id] + R[i]/iso[i]
		lo = math.Max(lo, tss[i]/D[i])
	}
	clear(m.prevRem)
	clear(m.prevIso)
	active := make(map[string]bool, n)
	for i := range s.Jobs {
		id := s.Jobs[i].ID
		active[id] = true
		m.prevRem[id], m.prevIso[id] = R[i], iso[i]
	}
	for id := range m.cum {
		if !active[id] {
			delete(m.cum, id)
		}
	}
	al := p.emptyAllocation()
	if len(rows) == 0 {
		return al, nil
	}
	groups := make([]packGroup, len(rows))
	for g, i := range rows {
		groups[g] = packGroup{members: []int{i}, n: 1, gang: s.Jobs[i].Gang, class: s.Jobs[i].Class}
	}
	cols := packColumns(s, p, tp, groups)
	solve := func(rho float64) (float64, []float64, error) {
		for g, i := range rows {
			groups[g].norm = (rho*D[i] - tss[i]) / R[i]
		}
		return waterFill(groups, cols, p.cap, 1)
	}
	// worst is max_i ρ_i of a solution (column values).
	worst := func(sol []float64) float64 {
		thr := make([]float64, len(groups))
		for c, pc := range cols {
			v := math.Max(0, sol[c])
			thr[pc.g] += v * pc.u
			if pc.h >= 0 {
				thr[pc.h] += v * pc.v
			}
		}
		w := 0.0
		for g, i := range rows {
			if thr[g] <= 0 {
				return math.Inf(1)
			}
			w = math.Max(w, (tss[i]+R[i]/thr[g])/D[i])
		}
		return w
	}
	// Start above ρ* at the isolated shares (alone, scaled to fit).
	iso0 := make([]float64, len(cols))
	over := 1.0
	use := make([]float64, len(p.models))
	for c, pc := range cols {
		if pc.h < 0 {
			iso0[c] = p.isoShare(rows[pc.g], pc.k, n)
			use[pc.k] += float64(groups[pc.g].gang) * iso0[c]
		}
	}
	for k := range use {
		over = math.Max(over, use[k]/p.cap[k])
	}
	for c := range iso0 {
		iso0[c] /= over
	}
	hi, best := worst(iso0), iso0
	if math.IsInf(hi, 1) {
		return Allocation{}, fmt.Errorf("%s: no finite finish-time ratio", f.Name())
	}
	hi, best, err = ratioDescent(lo, hi, best, solve, worst)
	if err != nil {
		return Allocation{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	al.Pairs = spreadPairs(groups, cols, best, len(p.models), al.X)
	al.Objective = hi
	return al, nil
}
