package sched

import (
	"encoding/binary"
	"math"
	"sort"
)

// Aggregation: the max-min LP (maxMinLP) for many distinct jobs.
//
// The dense simplex is O(m³) in the m = 2·groups + models rows, so it is
// only used up to exactRows distinct rows. Beyond, we use that in every
// policy built on the max-min LP a job's row is a multiple of its type's
// row: a[i] = c_i·T[type(i)] with type = (class, gang) and a per-job scale
// c_i (las: s_i/(w_i·prop_i); makespan: 1/R_i; ftf: (ρ·D_i − tss_i)/R_i).
//
// Restriction. Take a set S of jobs of one type, c_min its smallest scale,
// and give every member the share x_i = v·c_min/c_i for one common vector v
// (so Σ_k a_ik·x_ik = c_min·T·v, the same for all of S). The members' share
// rows Σ_k x_ik ≤ 1 all hold once the hardest member's (c_min) does, and the
// capacity they use is gang·n_S·v with n_S = Σ_{i∈S} c_min/c_i ≤ |S|: S is
// one job with row c_min·T counting n_S times. Solving the LP over such
// groups (exactly, by the simplex, via newMaxMinGroups) gives a feasible X
// for the original LP, hence a lower bound t on its optimum t*.
//
// Bound. With the grouped LP's duals — π_k ≥ 0 on model k's capacity row,
// ν_g ≥ 0 on group g's share row, μ_g on its min row — the original LP has
// the dual solution μ_i = μ_g·(c_min/c_i)/n_S, ν_i = ν_g/n_S for i ∈ S
// (feasible: μ_i·a_ik = μ_g·a_gk/n_S ≤ ν_g/n_S + gang·π_k/N_k), so
//
//	t ≤ t* ≤ U = Σ_k π_k + Σ_g ν_g·|S_g|/n_g .
//
// Refinement. U − t = Σ_g ν_g·(|S_g|/n_g − 1): only groups whose share row
// binds (their hardest job runs all the time, ν_g > 0) and whose members
// differ (n_g < |S_g|) lose anything. We start with one group per type,
// split the groups with the largest terms at the geometric middle of their
// scales, and re-solve until (U − t) ≤ aggregateGap·U or the LP reaches
// aggregateMaxGroups groups. When every binding group is one job (or one
// scale) the result is exact. Jobs whose share row does not bind — all of
// them, when capacity is what limits t — stay merged however different
// their scales, which is what keeps the LP small.
// exactRows is the largest number of distinct rows the max-min LP is
// solved for exactly by the dense simplex (a variable so that tests can
// move it: raised, the exact optimum is their oracle; at 0 every LP is
// aggregated). It is aggregateMaxGroups, the size the aggregated LP may
// grow to anyway: below it, solving exactly costs no more than the worst
// aggregation, and the aggregation, though within aggregateGap on the
// objective (the bottleneck jobs' share), hands out the capacity above the
// bottleneck differently from the exact centre — every member of a merged
// group sits at the group's level. That cost average JCT: 100,000 jobs of
// four teams on 10,000 devices under las-hetero (257 to 512 distinct rows:
// class × gang × team weight) ran avg JCT 43.21 h aggregated against 32.99 h
// exact (docs/simulator.md, "Scale").
var exactRows = aggregateMaxGroups

const (
	// aggregateGap is the relative gap (U − t)/U at which refinement stops.
	aggregateGap = 1e-3
	// aggregateMaxGroups caps the groups of the aggregated LP.
	aggregateMaxGroups = 512
)

// aggResult is the aggregated solution: x feasible with objective t
// (min over used jobs of Σ_k a_ik·x_ik), bound ≥ the exact optimum.
type aggResult struct {
	t, bound       float64
	x              [][]float64
	groups, solves int
	// The last grouped LP: its groups' representatives, each job's group
	// (−1: unused) and the groups' counts; nil when it had no groups.
	ag      *aggregation
	rep, of []int
	count   []float64
}

// aggregation is the state of the refinement: jobs by type and scale, and
// the groups as ranges of that order.
type aggregation struct {
	a              [][]float64
	gang, capacity []float64
	scale          []float64 // c_i = max_k a_ik
	order          []int     // used jobs, by type then ascending scale
	groups         []aggRange
	zero           bool // a used job has an all-zero row
}

// aggRange is a group: order[lo:hi], all of one type.
type aggRange struct{ lo, hi int }

// solveAggregated solves the max-min LP of maxMinLP by aggregation and
// refinement (see above).
func solveAggregated(a [][]float64, gang, capacity []float64, use []bool) (aggResult, error) {
	ag := newAggregation(a, gang, capacity, use)
	res := aggResult{t: math.Inf(1), bound: math.Inf(1), x: zeros(len(a), len(capacity))}
	if len(ag.groups) == 0 {
		return res, nil
	}
	if ag.zero {
		// A used job that can run nowhere: t* = 0, x = 0 is optimal.
		res.t, res.bound = 0, 0
		return res, nil
	}
	for {
		rep, of, count := ag.build()
		mm := newMaxMinGroups(a, gang, capacity, rep, of, count)
		_, x, err := mm.solve(false)
		if err != nil {
			return aggResult{}, err
		}
		res.solves++
		res.groups = len(rep)
		res.x = x
		res.ag, res.rep, res.of, res.count = ag, rep, of, count
		contrib, bound := ag.bound(mm, count)
		res.bound = bound
		res.t = ag.expand(x, of, rep)
		if bound-res.t <= aggregateGap*bound || !ag.split(contrib, bound) {
			return res, nil
		}
	}
}

func newAggregation(a [][]float64, gang, capacity []float64, use []bool) *aggregation {
	ag := &aggregation{a: a, gang: gang, capacity: capacity, scale: make([]float64, len(a))}
	idx := map[string]int{}
	var types [][]int
	var buf []byte
	for i, row := range a {
		if !use[i] {
			continue
		}
		c := 0.0
		for _, v := range row {
			c = math.Max(c, v)
		}
		ag.scale[i] = c
		ag.zero = ag.zero || c == 0
		buf = binary.LittleEndian.AppendUint64(buf[:0], math.Float64bits(gang[i]))
		for _, v := range row {
			q := uint64(0)
			if c > 0 {
				// Normalised row, to ~1e-11: rows of one type computed as
				// c·T differ from T in the last bits.
				q = uint64(math.Round(v / c * (1 << 36)))
			}
			buf = binary.LittleEndian.AppendUint64(buf, q)
		}
		t, ok := idx[string(buf)]
		if !ok {
			t = len(types)
			idx[string(buf)] = t
			types = append(types, nil)
		}
		types[t] = append(types[t], i)
	}
	for _, members := range types {
		sort.SliceStable(members, func(p, q int) bool { return ag.scale[members[p]] < ag.scale[members[q]] })
		lo := len(ag.order)
		ag.order = append(ag.order, members...)
		ag.groups = append(ag.groups, aggRange{lo, len(ag.order)})
	}
	return ag
}

// build returns the grouped LP's groups: representative (smallest scale),
// each job's group, and the fractional counts n_g = Σ c_min/c_i.
func (ag *aggregation) build() (rep, of []int, count []float64) {
	of = make([]int, len(ag.a))
	for i := range of {
		of[i] = -1
	}
	rep = make([]int, len(ag.groups))
	count = make([]float64, len(ag.groups))
	for g, r := range ag.groups {
		rep[g] = ag.order[r.lo]
		cmin := ag.scale[rep[g]]
		for _, i := range ag.order[r.lo:r.hi] {
			of[i] = g
			count[g] += cmin / ag.scale[i]
		}
	}
	return rep, of, count
}

// bound returns each group's term ν_g·(|S_g|/n_g − 1) and the bound U.
func (ag *aggregation) bound(mm *maxMin, count []float64) ([]float64, float64) {
	G := len(ag.groups)
	pi := mm.s.duals()
	u := 0.0
	for k := range ag.capacity {
		u += math.Max(0, pi[2*G+k])
	}
	contrib := make([]float64, G)
	for g, r := range ag.groups {
		nu := math.Max(0, pi[G+g])
		contrib[g] = nu * (float64(r.hi-r.lo)/count[g] - 1)
		u += nu + contrib[g]
	}
	return contrib, u
}

// expand turns the groups' rows (copied to every member by the solve) into
// each member's share, x_i = v·c_min/c_i, and returns the objective
// min_i Σ_k a_ik·x_ik.
func (ag *aggregation) expand(x [][]float64, of, rep []int) float64 {
	t := math.Inf(1)
	for _, i := range ag.order {
		f := ag.scale[rep[of[i]]] / ag.scale[i]
		thr := 0.0
		for k := range x[i] {
			x[i][k] *= f
			thr += ag.a[i][k] * x[i][k]
		}
		t = math.Min(t, thr)
	}
	return t
}

// split halves the groups with the largest terms until the terms left
// would be below half the target gap, or the groups reach
// aggregateMaxGroups. It returns false when nothing can be split.
func (ag *aggregation) split(contrib []float64, bound float64) bool {
	byTerm := make([]int, len(contrib))
	left := 0.0
	for g := range byTerm {
		byTerm[g] = g
		left += contrib[g]
	}
	sort.SliceStable(byTerm, func(p, q int) bool { return contrib[byTerm[p]] > contrib[byTerm[q]] })
	target := aggregateGap * bound / 2
	added := false
	for _, g := range byTerm {
		if left <= target || contrib[g] <= 0 || len(ag.groups) >= aggregateMaxGroups {
			break
		}
		r := ag.groups[g]
		m := ag.middle(r)
		if m <= r.lo || m >= r.hi {
			continue
		}
		ag.groups[g] = aggRange{r.lo, m}
		ag.groups = append(ag.groups, aggRange{m, r.hi})
		left -= contrib[g]
		added = true
	}
	return added
}

// middle is where to split r: the first member whose scale is at least the
// geometric mean of the range's extremes (so both halves span at most the
// square root of its ratio), kept inside the range.
func (ag *aggregation) middle(r aggRange) int {
	lo, hi := ag.scale[ag.order[r.lo]], ag.scale[ag.order[r.hi-1]]
	if !(hi > lo) {
		return r.lo // one scale: identical jobs, nothing to gain
	}
	mid := math.Sqrt(lo * hi)
	m := r.lo + sort.Search(r.hi-r.lo, func(j int) bool { return ag.scale[ag.order[r.lo+j]] >= mid })
	return min(max(m, r.lo+1), r.hi-1)
}

// duals returns the simplex multipliers π = c_B·B⁻¹, one per row: at an
// optimal basis, an optimal solution of the dual LP.
func (s *revised) duals() []float64 {
	m := s.m
	pi := make([]float64, m)
	for i, j := range s.basis {
		if j < s.n && s.c[j] != 0 {
			s.rowAxpy(pi, i, s.c[j])
		}
	}
	return pi
}

// centre returns the central optimal solution of the last solve, as the
// package's centre does, given its optimum t and vertex x. An aggregated
// LP is centred over its groups (with their fractional counts) and each
// member gets its group's row times c_min/c_i, so every job's row still
// attains the group's.
func (mm *maxMin) centre(t float64, x [][]float64) [][]float64 {
	if !mm.big {
		return centre(mm.a, mm.gang, mm.capacity, mm.used(), t, x)
	}
	return mm.centreGroups(t, x, func(c *barrier, vert [][]float64) [][]float64 { return c.centreRows(vert, t) })
}

// feasibleCentre is the package's feasibleCentre for the last solve, over
// the groups when it was aggregated (see centre).
func (mm *maxMin) feasibleCentre(t, tau float64, x [][]float64) [][]float64 {
	if !mm.big {
		return feasibleCentre(mm.a, mm.gang, mm.capacity, mm.used(), t, tau, x)
	}
	if !(tau > 0) || tau >= t {
		return copyRows(x)
	}
	return mm.centreGroups(t, x, func(c *barrier, vert [][]float64) [][]float64 { return c.feasibleRows(vert, t, tau) })
}

// centreGroups runs rows (a barrier method on the groups' rows) on the
// last aggregated LP and expands its result to the jobs.
func (mm *maxMin) centreGroups(t float64, x [][]float64, rows func(c *barrier, vert [][]float64) [][]float64) [][]float64 {
	r := mm.last
	if r == nil || r.ag == nil || !(t > 0) || math.IsInf(t, 0) {
		return copyRows(x)
	}
	G, nk := len(r.rep), len(mm.capacity)
	c := &barrier{nk: nk, G: G, count: r.count, capacity: mm.capacity, a: make([][]float64, G), s: make([]float64, G)}
	vert := zeros(G, nk)
	for g, i := range r.rep {
		c.a[g], c.s[g] = mm.a[i], mm.gang[i]
		copy(vert[g], x[i]) // the representative's factor c_min/c_i is 1
	}
	y := rows(c, vert)
	out := zeros(len(mm.a), nk)
	for _, i := range r.ag.order {
		g := r.of[i]
		f := r.ag.scale[r.rep[g]] / r.ag.scale[i]
		for k := range out[i] {
			if mm.a[i][k] > 0 {
				out[i][k] = math.Min(1, y[g][k]*f)
			}
		}
	}
	return out
}

// bound returns the last solve's bound on the exact optimum: t itself when
// the LP was solved exactly.
func (mm *maxMin) bound(t float64) float64 {
	if mm.big && mm.last != nil {
		return mm.last.bound
	}
	return t
}
