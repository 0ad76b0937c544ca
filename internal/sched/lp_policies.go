package sched

import (
	"fmt"
	"math"

	"github.com/granaryhq/granary/internal/fleet"
)

// fastest returns the column with the largest total throughput over the
// usable jobs (ties: lowest index), or the column named ref when set.
func (p *problem) reference(ref string) int {
	if ref != "" {
		for k, m := range p.models {
			if m == ref {
				return k
			}
		}
	}
	best, bestSum := 0, -1.0
	for k := range p.models {
		sum := 0.0
		for i, row := range p.tput {
			if p.ok[i] {
				sum += row[k]
			}
		}
		if sum > bestSum {
			best, bestSum = k, sum
		}
	}
	return best
}

// agnosticTput is the throughput matrix an agnostic policy believes in:
// every model where the job can run is as fast as the reference model (or,
// when the job cannot run on the reference, as its fastest model).
func (p *problem) agnosticTput(ref int) [][]float64 {
	out := zeros(len(p.tput), len(p.models))
	for i, row := range p.tput {
		v := row[ref]
		if v == 0 {
			for _, w := range row {
				v = math.Max(v, w)
			}
		}
		for k, w := range row {
			if w > 0 {
				out[i][k] = v
			}
		}
	}
	return out
}

// spread re-spreads an agnostic policy's solution. An agnostic LP sees every
// model as equally fast for a job, so only each job's total share
// τ_i = Σ_k X[i][k] matters and its optimal X form a large face; a simplex
// vertex pins each job to arbitrary models, while Gavel's interior-point
// solver (ECOS) returns the centre of that face, X[i][k] = τ_i·N_k/ΣN (the
// policy_allocations.json anchors show exactly this). When every used job can
// run on every model we return that centre; it is feasible because
// Σ_i s_i·τ_i ≤ ΣN follows from the capacity rows. Otherwise X is kept.
func (p *problem) spread(x [][]float64, use []bool) {
	total := p.totalCap()
	for i, row := range x {
		if !use[i] {
			continue
		}
		tau := 0.0
		for _, v := range row {
			tau += v
		}
		for k := range row {
			row[k] = tau * p.cap[k] / total
		}
	}
}

func (p *problem) totalCap() float64 {
	sum := 0.0
	for _, c := range p.cap {
		sum += c
	}
	return sum
}

// lasPolicy is Gavel's max_min_fairness (agnostic) and
// max_min_fairness_perf (hetero):
//
//	max min_i  (s_i / (w_i · prop_i)) · Σ_k T[i][k]·X[i][k]
//
// with the base constraints. Hetero: prop_i = Σ_k T[i][k]·N_k / Σ_k N_k, the
// throughput job i would get from an equal split of every model (Gavel's
// ProportionalPolicy). Agnostic: T = 1 wherever the job can run, prop = 1,
// so the objective is min_i s_i·Σ_k X[i][k] / w_i.
type lasPolicy struct{ hetero bool }

func (l *lasPolicy) Name() string {
	if l.hetero {
		return LASHetero
	}
	return LAS
}

func (l *lasPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	a := zeros(len(p.tput), len(p.models))
	total := p.totalCap()
	for i, row := range p.tput {
		if !p.ok[i] {
			continue
		}
		if !l.hetero {
			for k := range row {
				if p.gang[i] <= p.cap[k] {
					a[i][k] = p.gang[i] / p.weight[i]
				}
			}
			continue
		}
		prop := 0.0
		for k, v := range row {
			prop += v * p.cap[k] / total
		}
		c := p.gang[i] / (p.weight[i] * prop)
		for k, v := range row {
			a[i][k] = c * v
		}
	}
	mm := newMaxMin(a, p.gang, p.cap, p.ok)
	t, x, err := mm.solve(false)
	if err != nil {
		return Allocation{}, fmt.Errorf("%s: %w", l.Name(), err)
	}
	x = mm.centre(t, x)
	al := p.emptyAllocation()
	al.X = x
	al.Objective, al.Bound = t, mm.bound(t)
	return al, nil
}

// makespanPolicy is Gavel's min_total_duration(_perf): the smallest T such
// that every job can finish its remaining steps R_i within T,
//
//	min T  s.t.  Σ_k T[i][k]·X[i][k] ≥ R_i / T  and the base constraints.
//
// We solve it exactly as the max-min LP  max t s.t. Σ_k (T[i][k]/R_i)·X[i][k]
// ≥ t,  T* = 1/t (Objective reports T* in seconds). Gavel instead bisects on
// T with a 5% stopping gap and returns what ECOS finds for "is T feasible?"
// at the last feasible T; X is therefore the point ECOS's iterations stop
// at on that feasibility LP (gavelBisection, ecosFeasible), not a vertex of
// the optimum: every job gets slack, and the share of the jobs that do not
// bound the makespan is what average JCT depends on. Agnostic: every model
// is as fast as the reference model (Gavel: v100), and X is ECOS's on those
// throughputs, as Gavel's min_total_duration hands them to its _perf
// variant (not re-spread: see spread).
type makespanPolicy struct {
	hetero bool
	ref    string
}

func (mp *makespanPolicy) Name() string {
	if mp.hetero {
		return MakespanHetero
	}
	return Makespan
}

func (mp *makespanPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	T := p.tput
	if !mp.hetero {
		T = p.agnosticTput(p.reference(mp.ref))
	}
	a := zeros(len(T), len(p.models))
	use := make([]bool, len(T))
	for i, row := range T {
		r := s.Jobs[i].RemainingSteps
		if !p.ok[i] || r <= 0 {
			continue
		}
		use[i] = true
		for k, v := range row {
			a[i][k] = v / r
		}
	}
	mm := newMaxMin(a, p.gang, p.cap, use)
	t, x, err := mm.solve(false)
	if err != nil {
		return Allocation{}, fmt.Errorf("%s: %w", mp.Name(), err)
	}
	x, replayed := mp.gavelX(s, p, T, use, mm, t, x)
	if !mp.hetero && !replayed {
		p.spread(x, use)
	}
	al := p.emptyAllocation()
	al.X = x
	al.Objective, al.Bound = 1/t, 1/mm.bound(t)
	if math.IsInf(t, 1) {
		al.Objective, al.Bound = 0, 0
	}
	return al, nil
}

// gavelX returns the X Gavel's min_total_duration ends on: its bisection
// stops at a T within 5 % above the optimum 1/t, and X is what ECOS
// returns for "can every job finish by T?" there (ecosFeasible, replayed =
// true). Like Gavel's, it may give a job a share on a model where its
// throughput is 0 (unused: the round never places a job there). The replay
// costs O(jobs × models³) per iteration, so beyond exactRows jobs (where
// the LP itself is aggregated), or should the replay not reach ECOS's
// stopping rule, X is the analytic centre of that polytope
// (feasibleCentre), the limit an interior-point method approaches from a
// feasible start; when T is the optimum itself, the vertex x is kept.
func (mp *makespanPolicy) gavelX(s *Snapshot, p *problem, T [][]float64, use []bool, mm *maxMin, t float64, x [][]float64) ([][]float64, bool) {
	tg := gavelBisection(1 / t)
	if !(tg > 1/t) {
		return x, false
	}
	rem := make([]float64, len(T))
	n := 0
	for i := range rem {
		rem[i] = s.Jobs[i].RemainingSteps
		if use[i] {
			n++
		}
	}
	if mm.big || n > exactRows {
		return mm.feasibleCentre(t, 1/tg, x), false
	}
	xe, ok := ecosFeasible(T, rem, p.gang, p.cap, use, tg)
	if !ok {
		return mm.feasibleCentre(t, 1/tg, x), false
	}
	return xe, true
}

// maxThroughputPolicy is Gavel's max_sum_throughput_perf and, with costs,
// ThroughputNormalizedByCostSum_Perf:  max Σ_i Σ_k T[i][k]·X[i][k] / cost_k.
// Objective reports Σ T·X (steps/s; divided by cost when costs are set).
type maxThroughputPolicy struct{ cost map[string]float64 }

func (mt *maxThroughputPolicy) Name() string {
	if mt.cost != nil {
		return MaxThroughputPerCost
	}
	return MaxThroughput
}

func (mt *maxThroughputPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	v := p.tput
	if mt.cost != nil {
		v = zeros(len(p.tput), len(p.models))
		for k, m := range p.models {
			c, ok := mt.cost[m]
			if !ok {
				return Allocation{}, fmt.Errorf("%w: %s: no cost for model %s", fleet.ErrInvalid, mt.Name(), m)
			}
			for i := range v {
				v[i][k] = p.tput[i][k] / c
			}
		}
	}
	obj, x, err := maxSumLP(v, p.gang, p.cap, p.ok)
	if err != nil {
		return Allocation{}, fmt.Errorf("%s: %w", mt.Name(), err)
	}
	al := p.emptyAllocation()
	al.X = x
	al.Objective, al.Bound = obj, obj
	return al, nil
}

// gavelBisection returns the T at which Gavel's min_total_duration stops:
// it bisects on T from [100 s, 10⁶ s] (then [10⁶, 10⁷], …) while the
// bracket is wider than 5 %, asking the solver "can every job finish by
// T?", and keeps the last T that was feasible. Feasible means T ≥ opt, the
// exact optimum. The result is within 5 % above opt.
func gavelBisection(opt float64) float64 {
	if !(opt > 0) || math.IsInf(opt, 0) {
		return opt
	}
	lo, hi, last := 100.0, 1e6, 1e6
	for {
		found := false
		for 1.05*lo < hi {
			mid := (lo + hi) / 2
			if mid >= opt {
				hi, found = mid, true
			} else {
				lo = mid
			}
		}
		if found {
			return hi
		}
		lo, hi, last = last, last*10, last*10
	}
}
