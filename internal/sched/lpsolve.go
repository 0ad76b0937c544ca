package sched

import (
	"encoding/binary"
	"math"
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
// exactly (simplex on the grouped LP). Rows with use[i] false get x = 0 and
// do not constrain t. A job with a[i] all zero must not be used (t would be 0).
func maxMinLP(a [][]float64, gang, capacity []float64, use []bool) (float64, [][]float64, error) {
	nk := len(capacity)
	x := zeros(len(a), nk)
	rep, of, count := groupRows(a, gang, use)
	G := len(rep)
	if G == 0 {
		return math.Inf(1), x, nil
	}
	// Columns: 0 = t, then one per (group, model) with a > 0.
	type col struct{ g, k int }
	cols := []col{{-1, -1}}
	for g, i := range rep {
		for k := 0; k < nk; k++ {
			if a[i][k] > 0 {
				cols = append(cols, col{g, k})
			}
		}
	}
	n := len(cols)
	m := 2*G + nk
	b := make([]float64, m)
	scale := make([]float64, G)
	colR := make([][]int32, n)
	colV := make([][]float64, n)
	rows := make([]int32, 0, m+3*n)
	vals := make([]float64, 0, m+3*n)
	// Column t: 1/mx in every min row (t/mx − Σ (a/mx) x ≤ 0).
	for g, i := range rep {
		mx := 0.0
		for _, v := range a[i] {
			mx = math.Max(mx, v)
		}
		scale[g] = mx
		rows = append(rows, int32(g))
		vals = append(vals, 1/mx)
		b[G+g] = 1
	}
	colR[0], colV[0] = rows[:G:G], vals[:G:G]
	for k := 0; k < nk; k++ {
		b[2*G+k] = 1
	}
	for c := 1; c < n; c++ {
		g, k := cols[c].g, cols[c].k
		i := rep[g]
		start := len(rows)
		rows = append(rows, int32(g), int32(G+g), int32(2*G+k))
		vals = append(vals, -a[i][k]/scale[g], 1, count[g]*gang[i]/capacity[k])
		colR[c], colV[c] = rows[start:start+3:start+3], vals[start:start+3:start+3]
	}
	obj := make([]float64, n)
	obj[0] = 1
	s := newRevisedCols(m, colR, colV, b, obj)
	if err := s.solve(); err != nil {
		return 0, nil, err
	}
	sol := s.x()
	y := zeros(G, nk)
	for c := 1; c < n; c++ {
		y[cols[c].g][cols[c].k] = math.Min(1, sol[c])
	}
	for i := range a {
		if of[i] >= 0 {
			copy(x[i], y[of[i]])
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
