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
	n := len(T)
	iso := make([]float64, n)
	D := make([]float64, n)
	tss := make([]float64, n)
	R := make([]float64, n)
	use := make([]bool, n)
	rhoLo := 0.0
	for i, row := range T {
		id := s.Jobs[i].ID
		for k, v := range row {
			iso[i] += v * p.isoShare(i, k, n)
		}
		if pr, ok := f.prevRem[id]; ok && f.prevIso[id] > 0 {
			f.cum[id] += (pr - s.Jobs[i].RemainingSteps) / f.prevIso[id]
		}
		R[i] = s.Jobs[i].RemainingSteps
		tss[i] = s.Now - s.Jobs[i].Arrival
		if !p.ok[i] || R[i] <= 0 || iso[i] <= 0 {
			continue
		}
		use[i] = true
		D[i] = f.cum[id] + R[i]/iso[i]
		rhoLo = math.Max(rhoLo, tss[i]/D[i])
	}
	// Remember this call's view for the next one (Gavel keeps every job).
	clear(f.prevRem)
	clear(f.prevIso)
	active := make(map[string]bool, n)
	for i := range T {
		id := s.Jobs[i].ID
		active[id] = true
		f.prevRem[id] = R[i]
		f.prevIso[id] = iso[i]
	}
	for id := range f.cum {
		if !active[id] {
			delete(f.cum, id)
		}
	}

	a := zeros(n, len(p.models))
	var mm *maxMin
	solve := func(rho float64) (float64, [][]float64, error) {
		for i, row := range T {
			if !use[i] {
				continue
			}
			scale := (rho*D[i] - tss[i]) / R[i]
			for k, v := range row {
				a[i][k] = v * scale
			}
		}
		// Successive ρ only rescale rows of a: re-solve from the last basis.
		if mm == nil {
			mm = newMaxMin(a, p.gang, p.cap, use)
			return mm.solve(false)
		}
		return mm.solve(true)
	}
	al := p.emptyAllocation()
	anyUse := false
	for _, u := range use {
		anyUse = anyUse || u
	}
	if !anyUse {
		return al, nil
	}
	// Descend from above: any X gives the upper bound max_i ρ_i(X), which
	// is < ρ when X has t(ρ) > 1 and = ρ exactly at ρ* (t = 1); iterate
	// ρ ← max_i ρ_i(X(ρ)) (a Dinkelbach-style step, superlinear when the
	// bottleneck set settles). Guard with bisection on [lo, hi] when a step
	// does not at least halve the distance to lo.
	worst := func(x [][]float64) float64 {
		w := 0.0
		for i, row := range T {
			if !use[i] {
				continue
			}
			thr := 0.0
			for k, v := range row {
				thr += v * x[i][k]
			}
			if thr <= 0 {
				return math.Inf(1)
			}
			w = math.Max(w, (tss[i]+R[i]/thr)/D[i])
		}
		return w
	}
	// Start above ρ* at Gavel's isolated allocation (feasible by
	// construction), below it at the pole max_i tss_i/D_i.
	lo := rhoLo
	xHi := zeros(n, len(p.models))
	for i := range xHi {
		if use[i] {
			for k := range xHi[i] {
				xHi[i][k] = p.isoShare(i, k, n)
			}
		}
	}
	// Gavel's isolated shares can oversubscribe a model (when
	// Σ_i s_i > Σ N); scale them down until they fit.
	over := 1.0
	for k := range p.models {
		u := 0.0
		for i := range xHi {
			u += p.gang[i] * xHi[i][k]
		}
		over = math.Max(over, u/p.cap[k])
	}
	for i := range xHi {
		for k := range xHi[i] {
			xHi[i][k] /= over
		}
	}
	hi := worst(xHi)
	if math.IsInf(hi, 1) {
		return Allocation{}, fmt.Errorf("%s: no finite finish-time ratio", f.Name())
	}
	prevStep := math.Inf(1)
	for it := 0; it < 100; it++ {
		tm, xm, err := solve(hi)
		if err != nil {
			return Allocation{}, fmt.Errorf("%s: %w", f.Name(), err)
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
				return Allocation{}, fmt.Errorf("%s: %w", f.Name(), err)
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
	// Return the centre of the optimal set, as Gavel's interior-point
	// solver does, not the vertex the simplex ended on, under the barrier
	// ECOS puts on FTF's cone form of each ratio (see centreCone).
	if tc, xc, err := solve(hi); err == nil && tc > 0 {
		xHi = mm.centreCone(math.Min(tc, 1), xc)
	}
	al.X = xHi
	al.Objective = hi
	return al, nil
}

// isoShare is job i's isolated share of model k among n active jobs (Gavel's
// IsolatedPolicy): an equal 1/n split of every model, in gangs, so
// x̂[i][k] = N_k / (n·s_i), scaled down per job so that Σ_k x̂[i][k] ≤ 1:
// x̂[i][k] = N_k / max(Σ N, n·s_i).
func (p *problem) isoShare(i, k, n int) float64 {
	return p.cap[k] / math.Max(p.totalCap(), float64(n)*p.gang[i])
}
