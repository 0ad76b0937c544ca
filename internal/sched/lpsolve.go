package sched

import (
	"encoding/binary"
	"math"
	"slices"
)

// groupRows merges identical jobs: same gang and bit-identical coefficient
// row. By symmetry and convexity an LP whose jobs are interchangeable has an
// optimal solution giving identical jobs identical rows of X, so solving the
// grouped LP (capacity use multiplied by the group size) is exact. Jobs of the
// same class, gang and weight are identical for las/las-hetero and
// max-throughput, which keeps those LPs at most (#classes × #gangs) rows
// however many jobs are active.
func groupRows(coef [][]float64, gang []float64, use []bool) (rep []int, of []int, count []float64) {
	of = make([]int, len(coef))
	if len(coef) == 0 {
		return nil, of, nil
	}
	idx := map[string]int{}
	buf := make([]byte, 0, 8*(len(coef[0])+1))
	for i, row := range coef {
		if !use[i] {
			of[i] = -1
			continue
		}
		buf = buf[:0]
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(gang[i]))
		for _, v := range row {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
		g, ok := idx[string(buf)]
		if !ok {
			g = len(rep)
			idx[string(buf)] = g
			rep = append(rep, i)
			count = append(count, 0)
		}
		of[i] = g
		count[g]++
	}
	return rep, of, count
}

// maxMinLP solves Gavel's max-min LP
//
//	max t  s.t.  Σ_k a[i][k]·x[i][k] ≥ t      for every job i with use[i]
//	             Σ_k x[i][k] ≤ 1
//	             Σ_i gang[i]·x[i][k] ≤ capacity[k]
//	             x ≥ 0
//
// exactly (simplex on the grouped LP) when it has at most exactRows distinct
// rows, else by aggregation to within aggregateGap (aggregate.go). Rows with
// use[i] false get x = 0 and do not constrain t. A job with a[i] all zero must not be used (t would be 0).
func maxMinLP(a [][]float64, gang, capacity []float64, use []bool) (float64, [][]float64, error) {
	return newMaxMin(a, gang, capacity, use).solve(false)
}

// maxMin is a max-min LP that can be re-solved after every row of a has
// been multiplied by its own positive factor (what ftf does for each trial
// ρ). After row scaling and normalisation by the row maximum only the t
// column changes, so the previous optimal basis is kept and its inverse
// updated (Sherman–Morrison) instead of starting again from the slack basis.
type maxMin struct {
	a              [][]float64
	gang, capacity []float64
	rep, of        []int
	count          []float64
	cols           []mmCol
	m, n           int
	colR           [][]int32
	colV           [][]float64
	b, obj         []float64
	s              *revised
	big            bool       // more than exactRows groups: solved by aggregation
	last           *aggResult // big: the last solve's aggregation
}

type mmCol struct{ g, k int }

func newMaxMin(a [][]float64, gang, capacity []float64, use []bool) *maxMin {
	rep, of, count := groupRows(a, gang, use)
	if len(rep) > exactRows {
		// Too many distinct rows for the dense simplex: solve by
		// aggregation (aggregate.go) on every call.
		return &maxMin{a: a, gang: gang, capacity: capacity, rep: rep, of: of, count: count, big: true}
	}
	return newMaxMinGroups(a, gang, capacity, rep, of, count)
}

// newMaxMinGroups builds the grouped LP for given groups: group g stands
// for count[g] jobs with row a[rep[g]] (count may be fractional: see
// aggregate.go); of maps each job to its group (−1: unused).
func newMaxMinGroups(a [][]float64, gang, capacity []float64, rep, of []int, count []float64) *maxMin {
	mm := &maxMin{a: a, gang: gang, capacity: capacity, rep: rep, of: of, count: count}
	G, nk := len(mm.rep), len(capacity)
	mm.cols = []mmCol{{-1, -1}}
	for g, i := range mm.rep {
		for k := 0; k < nk; k++ {
			if a[i][k] > 0 {
				mm.cols = append(mm.cols, mmCol{g, k})
			}
		}
	}
	mm.n = len(mm.cols)
	mm.m = 2*G + nk
	mm.b = make([]float64, mm.m)
	for g := 0; g < G; g++ {
		mm.b[G+g] = 1
	}
	for k := 0; k < nk; k++ {
		mm.b[2*G+k] = 1
	}
	mm.obj = make([]float64, mm.n)
	if mm.n > 0 {
		mm.obj[0] = 1
	}
	mm.colR = make([][]int32, mm.n)
	mm.colV = make([][]float64, mm.n)
	rows := make([]int32, 0, G+3*mm.n)
	vals := make([]float64, G+3*mm.n)
	for g := 0; g < G; g++ {
		rows = append(rows, int32(g))
	}
	mm.colR[0], mm.colV[0] = rows[:G:G], vals[:G:G]
	for c := 1; c < mm.n; c++ {
		g, k := mm.cols[c].g, mm.cols[c].k
		start := len(rows)
		rows = append(rows, int32(g), int32(G+g), int32(2*G+k))
		mm.colR[c], mm.colV[c] = rows[start:start+3:start+3], vals[start:start+3:start+3]
	}
	mm.fill(true)
	return mm
}

func (mm *maxMin) used() []bool {
	u := make([]bool, len(mm.of))
	for i, g := range mm.of {
		u[i] = g >= 0
	}
	return u
}

// fill computes the column values from a: t's column (1/row maximum, so
// that t/mx − Σ (a/mx) x ≤ 0) and, when all is set, the others.
func (mm *maxMin) fill(all bool) {
	for g, i := range mm.rep {
		mx := 0.0
		for _, v := range mm.a[i] {
			mx = math.Max(mx, v)
		}
		mm.colV[0][g] = 1 / mx
	}
	if !all {
		return
	}
	for c := 1; c < mm.n; c++ {
		g, k := mm.cols[c].g, mm.cols[c].k
		i := mm.rep[g]
		mx := 1 / mm.colV[0][g]
		mm.colV[c][0] = -mm.a[i][k] / mx
		mm.colV[c][1] = 1
		mm.colV[c][2] = mm.count[g] * mm.gang[i] / mm.capacity[k]
	}
}

// solve solves the LP for the current a. warm re-uses the previous basis
// (only valid when a's rows were rescaled since the last solve).
func (mm *maxMin) solve(warm bool) (float64, [][]float64, error) {
	nk := len(mm.capacity)
	if mm.big {
		ag, err := solveAggregated(mm.a, mm.gang, mm.capacity, mm.used())
		mm.last = &ag
		return ag.t, ag.x, err
	}
	x := zeros(len(mm.a), nk)
	if len(mm.rep) == 0 {
		return math.Inf(1), x, nil
	}
	if warm {
		// The grouping must still hold: identical rows stay identical.
		for i, g := range mm.of {
			if g >= 0 && !slices.Equal(mm.a[i], mm.a[mm.rep[g]]) {
				*mm = *newMaxMin(mm.a, mm.gang, mm.capacity, mm.used())
				warm = false
				break
			}
		}
	}
	ok := false
	if warm && mm.s != nil {
		old := append([]float64(nil), mm.colV[0]...)
		mm.fill(false)
		ok = mm.s.replaceColumn(0, old)
	} else {
		mm.fill(true)
	}
	if !ok {
		mm.s = newRevisedCols(mm.m, mm.colR, mm.colV, mm.b, mm.obj)
	}
	if err := mm.s.solve(); err != nil {
		return 0, nil, err
	}
	sol := mm.s.x()
	y := zeros(len(mm.rep), nk)
	for c := 1; c < mm.n; c++ {
		y[mm.cols[c].g][mm.cols[c].k] = math.Min(1, sol[c])
	}
	for i := range mm.a {
		if mm.of[i] >= 0 {
			copy(x[i], y[mm.of[i]])
		}
	}
	return sol[0], x, nil
}

// maxSumLP solves   max Σ v[i][k]·x[i][k]  s.t.  Σ_k x[i][k] ≤ 1,
// Σ_i gang[i]·x[i][k] ≤ capacity[k], x ≥ 0   exactly (grouped simplex).
func maxSumLP(v [][]float64, gang, capacity []float64, use []bool) (float64, [][]float64, error) {
	nk := len(capacity)
	x := zeros(len(v), nk)
	rep, of, count := groupRows(v, gang, use)
	G := len(rep)
	if G == 0 {
		return 0, x, nil
	}
	type col struct{ g, k int }
	var cols []col
	for g, i := range rep {
		for k := 0; k < nk; k++ {
			if v[i][k] > 0 {
				cols = append(cols, col{g, k})
			}
		}
	}
	n := len(cols)
	m := G + nk
	A := make([][]float64, m)
	flat := make([]float64, m*n)
	for r := range A {
		A[r] = flat[r*n : (r+1)*n]
	}
	b := make([]float64, m)
	obj := make([]float64, n)
	for g := 0; g < G; g++ {
		b[g] = count[g] // Σ_k z_gk ≤ n_g, z = n_g·x
	}
	for k := 0; k < nk; k++ {
		b[G+k] = 1
	}
	for c, cl := range cols {
		i := rep[cl.g]
		A[cl.g][c] = 1
		A[G+cl.k][c] = gang[i] / capacity[cl.k]
		obj[c] = v[i][cl.k]
	}
	s := newRevised(A, b, obj)
	if err := s.solve(); err != nil {
		return 0, nil, err
	}
	sol := s.x()
	y := zeros(G, nk)
	for c, cl := range cols {
		y[cl.g][cl.k] = math.Min(1, sol[c]/count[cl.g])
	}
	total := 0.0
	for i := range v {
		if of[i] >= 0 {
			copy(x[i], y[of[i]])
			for k := range x[i] {
				total += v[i][k] * x[i][k]
			}
		}
	}
	return total, x, nil
}

func zeros(n, m int) [][]float64 {
	flat := make([]float64, n*m)
	x := make([][]float64, n)
	for i := range x {
		x[i] = flat[i*m : (i+1)*m : (i+1)*m]
	}
	return x
}
