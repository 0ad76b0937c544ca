package sched

import (
	"fmt"
	"math"
)

// ftfPolicy is Gavel's finish_time_fairness(_perf) (Themis-style finish-time
// fairness). For each job, ρ_i is its expected finish time under X relative
// to running on its isolated share:
//
//	ρ_i(X) = (tss_i + R_i / Σ_k T[i][k]·X[i][k]) / (cum_i + R_i / iso_i)
//
// tss_i = Now − Arrival, R_i = remaining steps, iso_i = Σ_k T[i][k]·x̂[i][k]
// with Gavel's IsolatedPolicy share x̂[i][k] = N_k / max(Σ N, n·s_i) (isoShare), and
// cum_i the isolated time the job has already "used up": summed over calls,
// (R_i at the previous call − R_i now) / iso_i at the previous call. The
// policy minimises max_i ρ_i. Agnostic: every model is as fast as the
// reference model (Gavel: v100). Weights are ignored, as in Gavel.
//
// Solution: ρ_i ≤ ρ ⇔ Σ_k T[i][k]·X[i][k] ≥ R_i / (ρ·D_i − tss_i) with
// D_i = cum_i + R_i/iso_i, so "ρ feasible" ⇔ the max-min LP with
// a[i][k] = T[i][k]·(ρ·D_i − tss_i)/R_i has optimum ≥ 1, monotone in ρ. We
// bracket ρ*, then descend from above with ρ ← max_i ρ_i(X(ρ)) (every X
// gives an upper bound; the fixed point is ρ*), guarded by bisection, to a
// relative gap of 1e-10; each step is one exact LP.
type ftfPolicy struct {
	hetero  bool
	ref     string
	cum     map[string]float64
	prevRem map[string]float64
	prevIso map[string]float64
}

func newFTF(hetero bool, ref string) *ftfPolicy {
	return &ftfPolicy{hetero: hetero, ref: ref, cum: map[string]float64{}, prevRem: map[string]float64{}, prevIso: map[string]float64{}}
}

func (f *ftfPolicy) Name() string {
	if f.hetero {
		return FTFHetero
	}
	return FTF
}

func (f *ftfPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	T := p.tput
	if !f.hetero {
		T = p.agnosticTput(p.reference(f.ref))
	}
	r, rhoLo := f.ratios(s, p, T)
	f.remember(s, r)
	al := p.emptyAllocation()
	anyUse := false
	for _, u := range r.use {
		anyUse = anyUse || u
	}
	if !anyUse {
		return al, nil
	}
	// Start above ρ* at Gavel's isolated allocation (feasible by
	// construction), below it at the pole max_i tss_i/D_i.
	xHi := r.isolated(p)
	hi := r.worst(xHi)
	if math.IsInf(hi, 1) {
		return Allocation{}, fmt.Errorf("%s: no finite finish-time ratio", f.Name())
	}
	hi, xHi, err = r.descend(rhoLo, hi, xHi)
	if err != nil {
		return Allocation{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	// Return the centre of the optimal set, as Gavel's interior-point
	// solver does, not the vertex the simplex ended on, under the barrier
	// ECOS puts on FTF's cone form of each ratio (see centreCone).
	if tc, xc, err := r.solve(hi); err == nil && tc > 0 {
		xHi = r.mm.centreCone(math.Min(tc, 1), xc)
	}
	al.X = xHi
	al.Objective = hi
	return al, nil
}

// ftfRatios holds one call's finish-time ratios: ρ_i(X) = (tss_i +
// R_i/Σ_k T[i][k]·X[i][k]) / D_i for the used jobs, and the max-min LP
// whose rows are rescaled for each ρ tried.
type ftfRatios struct {
	p              *problem
	T              [][]float64
	iso, D, tss, R []float64
	use            []bool
	a              [][]float64
	mm             *maxMin
}

// ratios computes each job's isolated throughput, remaining steps, time
// since arrival and D_i = cum_i + R_i/iso_i (charging cum_i with the steps
// done since the previous call), and the pole max_i tss_i/D_i, a lower
// bound on ρ*.
func (f *ftfPolicy) ratios(s *Snapshot, p *problem, T [][]float64) (*ftfRatios, float64) {
	n := len(T)
	r := &ftfRatios{p: p, T: T, iso: make([]float64, n), D: make([]float64, n), tss: make([]float64, n),
		R: make([]float64, n), use: make([]bool, n), a: zeros(n, len(p.models))}
	rhoLo := 0.0
	for i, row := range T {
		id := s.Jobs[i].ID
		for k, v := range row {
			r.iso[i] += v * p.isoShare(i, k, n)
		}
		if pr, ok := f.prevRem[id]; ok && f.prevIso[id] > 0 {
			f.cum[id] += (pr - s.Jobs[i].RemainingSteps) / f.prevIso[id]
		}
		r.R[i] = s.Jobs[i].RemainingSteps
		r.tss[i] = s.Now - s.Jobs[i].Arrival
		if !p.ok[i] || r.R[i] <= 0 || r.iso[i] <= 0 {
			continue
		}
		r.use[i] = true
		r.D[i] = f.cum[id] + r.R[i]/r.iso[i]
		rhoLo = math.Max(rhoLo, r.tss[i]/r.D[i])
	}
	return r, rhoLo
}

// remember keeps this call's view for the next one (Gavel keeps every job)
// and forgets the jobs that left.
func (f *ftfPolicy) remember(s *Snapshot, r *ftfRatios) {
	clear(f.prevRem)
	clear(f.prevIso)
	active := make(map[string]bool, len(r.T))
	for i := range r.T {
		id := s.Jobs[i].ID
		active[id] = true
		f.prevRem[id] = r.R[i]
		f.prevIso[id] = r.iso[i]
	}
	for id := range f.cum {
		if !active[id] {
			delete(f.cum, id)
		}
	}
}

// solve is the max-min LP of "ρ feasible": its optimum is ≥ 1 iff it is.
func (r *ftfRatios) solve(rho float64) (float64, [][]float64, error) {
	for i, row := range r.T {
		if !r.use[i] {
			continue
		}
		scale := (rho*r.D[i] - r.tss[i]) / r.R[i]
		for k, v := range row {
			r.a[i][k] = v * scale
		}
	}
	// Successive ρ only rescale rows of a: re-solve from the last basis.
	if r.mm == nil {
		r.mm = newMaxMin(r.a, r.p.gang, r.p.cap, r.use)
		return r.mm.solve(false)
	}
	return r.mm.solve(true)
}

// worst is max_i ρ_i(X), an upper bound on ρ* for any feasible X.
func (r *ftfRatios) worst(x [][]float64) float64 {
	w := 0.0
	for i, row := range r.T {
		if !r.use[i] {
			continue
		}
		thr := 0.0
		for k, v := range row {
			thr += v * x[i][k]
		}
		if thr <= 0 {
			return math.Inf(1)
		}
		w = math.Max(w, (r.tss[i]+r.R[i]/thr)/r.D[i])
	}
	return w
}

// isolated is Gavel's isolated allocation of the used jobs, scaled down
// until it fits: Gavel's isolated shares can oversubscribe a model (when
// Σ_i s_i > Σ N).
func (r *ftfRatios) isolated(p *problem) [][]float64 {
	n := len(r.T)
	x := zeros(n, len(p.models))
	for i := range x {
		if r.use[i] {
			for k := range x[i] {
				x[i][k] = p.isoShare(i, k, n)
			}
		}
	}
	over := 1.0
	for k := range p.models {
		u := 0.0
		for i := range x {
			u += p.gang[i] * x[i][k]
		}
		over = math.Max(over, u/p.cap[k])
	}
	for i := range x {
		for k := range x[i] {
			x[i][k] /= over
		}
	}
	return x
}

// descend finds ρ* from above, starting at hi = worst(xHi) with lo below
// ρ*: any X gives the upper bound max_i ρ_i(X), which is < ρ when X has
// t(ρ) > 1 and = ρ exactly at ρ* (t = 1); iterate ρ ← max_i ρ_i(X(ρ)) (a
// Dinkelbach-style step, superlinear when the bottleneck set settles).
// Guard with bisection on [lo, hi] when a step does not at least halve the
// distance to lo.
func (r *ftfRatios) descend(lo, hi float64, xHi [][]float64) (float64, [][]float64, error) {
	return ratioDescent(lo, hi, xHi, r.solve, r.worst)
}

// ratioDescent lowers hi, the worst finish-time ratio of the allocation
// xHi, to the least one: each step solves "every ratio ≤ hi" (solve's t ≥ 1
// when feasible) and takes the worst ratio of its answer as the next hi,
// probing the middle of [lo, hi] when a step is less than half the one
// before. FTF and its space-sharing variant share it.
func ratioDescent[S any](lo, hi float64, xHi S, solve func(float64) (float64, S, error), worst func(S) float64) (float64, S, error) {
	prevStep := math.Inf(1)
	for it := 0; it < 100; it++ {
		tm, xm, err := solve(hi)
		if err != nil {
			var none S
			return 0, none, err
		}
		if tm < 1 {
			break // numerically at ρ*: hi is achieved by xHi
		}
		next := worst(xm)
		step := hi - next
		if step <= 1e-10*hi {
			if next <= hi {
				hi, xHi = next, xm
			}
			break
		}
		if step > prevStep/2 {
			// Slow step: probe the middle of the bracket.
			mid := (lo + hi) / 2
			tb, xb, err := solve(mid)
			if err != nil {
				var none S
				return 0, none, err
			}
			if tb >= 1 {
				if w := worst(xb); w < next {
					next, xm = w, xb
				}
			} else {
				lo = mid
			}
		}
		prevStep = step
		hi, xHi = next, xm
	}
	return hi, xHi, nil
}

// isoShare is job i's isolated share of model k among n active jobs (Gavel's
// IsolatedPolicy): an equal 1/n split of every model, in gangs, so
// x̂[i][k] = N_k / (n·s_i), scaled down per job so that Σ_k x̂[i][k] ≤ 1:
// x̂[i][k] = N_k / max(Σ N, n·s_i).
func (p *problem) isoShare(i, k, n int) float64 {
	return p.cap[k] / math.Max(p.totalCap(), float64(n)*p.gang[i])
}
