package sched

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/floats"
)

// revised is the production LP engine: a revised primal simplex with an
// explicit dense basis inverse, for the same problems as the tableau
// simplex (max c·x, A x ≤ b, x ≥ 0, b ≥ 0; slack basis feasible). Gavel's
// LPs have three non-zeros per structural column (its job's min row, its
// job's share row, its model's capacity row), so working on B⁻¹ (m×m) and
// the sparse columns instead of the whole tableau m×(n+m) cuts each pivot to
// O(m·nnz(pivot row of B⁻¹) + nnz(A)). B⁻¹ is stored by columns, so the
// update touches only its columns where the pivot row is non-zero (about
// half of them in the simulator's LPs), each a contiguous run. Pricing and
// anti-cycling are the tableau's (Dantzig, Bland after 20 degenerate
// pivots); reduced costs are updated from the pivot row and recomputed from
// scratch before optimality is declared, and the primal values are
// recomputed from B⁻¹b at the end.
type revised struct {
	m, n  int
	colR  [][]int32   // structural column j: row indices
	colV  [][]float64 // and values
	c     []float64   // structural costs
	b     []float64
	binv  []float64 // m×m, column-major: (B⁻¹)ᵢₖ is binv[k·m+i]
	xb    []float64 // basic values
	d     []float64 // reduced costs, n structural + m slack
	basis []int     // column of each row (≥ n: slack n+i)
	inB   []bool    // column is basic
	alpha []float64 // scratch: B⁻¹ a_q
	rho   []float64 // scratch: pivot row of B⁻¹
	nz    []int     // scratch: non-zeros of the pivot row of B⁻¹
	pv    []float64 // scratch: their values
}

// newRevised takes A as dense rows.
func newRevised(a [][]float64, b, c []float64) *revised {
	n := len(c)
	colR := make([][]int32, n)
	colV := make([][]float64, n)
	for i, row := range a {
		for j, v := range row {
			if v != 0 {
				colR[j] = append(colR[j], int32(i))
				colV[j] = append(colV[j], v)
			}
		}
	}
	return newRevisedCols(len(a), colR, colV, b, c)
}

// newRevisedCols takes A as m rows and sparse columns (row indices, values).
func newRevisedCols(m int, colR [][]int32, colV [][]float64, b, c []float64) *revised {
	n := len(c)
	s := &revised{m: m, n: n, c: c, b: b, colR: colR, colV: colV}
	s.binv = make([]float64, m*m)
	for i := 0; i < m; i++ {
		s.binv[i*m+i] = 1
	}
	s.xb = append([]float64(nil), b...)
	s.d = make([]float64, n+m)
	copy(s.d, c)
	s.basis = make([]int, m)
	s.inB = make([]bool, n+m)
	for i := range s.basis {
		s.basis[i] = n + i
		s.inB[n+i] = true
	}
	s.alpha = make([]float64, m)
	s.rho = make([]float64, m)
	return s
}

// column computes alpha = B⁻¹ a_q.
func (s *revised) column(q int) {
	m := s.m
	if q >= s.n {
		k := q - s.n
		copy(s.alpha, s.binv[k*m:(k+1)*m])
		return
	}
	clear(s.alpha)
	for t, r := range s.colR[q] {
		axpy(s.alpha, s.binv[int(r)*m:(int(r)+1)*m], s.colV[q][t])
	}
}

// pricesFresh recomputes every reduced cost from π = c_B B⁻¹.
func (s *revised) pricesFresh() {
	m := s.m
	pi := make([]float64, m)
	for i, j := range s.basis {
		cb := 0.0
		if j < s.n {
			cb = s.c[j]
		}
		if cb == 0 {
			continue
		}
		s.rowAxpy(pi, i, cb)
	}
	for j := 0; j < s.n; j++ {
		if s.inB[j] {
			s.d[j] = 0
			continue
		}
		z := 0.0
		for t, r := range s.colR[j] {
			z += pi[r] * s.colV[j][t]
		}
		s.d[j] = s.c[j] - z
	}
	for i := 0; i < m; i++ {
		if s.inB[s.n+i] {
			s.d[s.n+i] = 0
		} else {
			s.d[s.n+i] = -pi[i]
		}
	}
}

func (s *revised) solve() error {
	m, n := s.m, s.n
	limit := 50 * (m + n + m)
	degenerate, fresh := 0, false
	for it := 0; it < limit; it++ {
		bland := degenerate > 20
		q := -1
		best := tolCost
		for j, v := range s.d {
			if v > best && !s.inB[j] {
				q, best = j, v
				if bland {
					break
				}
			}
		}
		if q < 0 {
			if fresh {
				break
			}
			s.pricesFresh() // confirm optimality with exact prices
			fresh = true
			continue
		}
		fresh = false
		s.column(q)
		r := -1
		var ratio, piv float64
		for i := 0; i < m; i++ {
			a := s.alpha[i]
			if a <= tolPivot {
				continue
			}
			qv := s.xb[i] / a
			switch {
			case r < 0 || qv < ratio-1e-12*math.Max(1, ratio):
				r, ratio, piv = i, qv, a
			case qv <= ratio+1e-12*math.Max(1, ratio):
				if bland {
					if s.basis[i] < s.basis[r] {
						r, ratio, piv = i, qv, a
					}
				} else if a > piv {
					r, ratio, piv = i, qv, a
				}
			}
		}
		if r < 0 {
			return errUnbounded
		}
		if ratio <= 0 {
			degenerate++
		} else {
			degenerate = 0
		}
		// Reduced costs from the pivot row of B⁻¹A.
		s.row(s.rho, r)
		dq := s.d[q] / piv
		if dq != 0 {
			for j := 0; j < n; j++ {
				if s.inB[j] {
					continue
				}
				ar := 0.0
				for t, row := range s.colR[j] {
					ar += s.rho[row] * s.colV[j][t]
				}
				if ar != 0 {
					s.d[j] -= dq * ar
				}
			}
			for i := 0; i < m; i++ {
				if !s.inB[n+i] && s.rho[i] != 0 {
					s.d[n+i] -= dq * s.rho[i]
				}
			}
		}
		// Primal step.
		theta := s.xb[r] / piv
		for i := 0; i < m; i++ {
			if i != r && s.alpha[i] != 0 {
				s.xb[i] -= theta * s.alpha[i]
				if s.xb[i] < 0 && s.xb[i] > -1e-12 {
					s.xb[i] = 0
				}
			}
		}
		s.xb[r] = theta
		// B⁻¹ update.
		inv := 1 / piv
		nz, pv := s.nz[:0], s.pv[:0]
		for k, v := range s.rho[:m] { // row r of B⁻¹, read above
			if v != 0 {
				v *= inv
				s.binv[k*m+r] = v
				nz = append(nz, k)
				pv = append(pv, v)
			}
		}
		s.nz, s.pv = nz, pv
		// B⁻¹ −= α·(pivot row)ᵀ off row r, one column of B⁻¹ at a time and
		// only where the pivot row is non-zero (the other columns do not
		// change: B⁻¹ holds no −0, so y − α·0 = y bit for bit). Each
		// element gets the same y + (−p)·α as a row-wise update would.
		ar := s.alpha[r]
		s.alpha[r] = 0
		for t, k := range nz {
			col := s.binv[k*m : (k+1)*m]
			axpy(col, s.alpha, -pv[t])
		}
		s.alpha[r] = ar
		leave := s.basis[r]
		s.inB[leave] = false
		s.d[leave] = -dq // leaving column's reduced cost: −d_q/α_rq
		s.inB[q] = true
		s.d[q] = 0
		s.basis[r] = q
	}
	if !fresh {
		return errIterLimit
	}
	// Recompute the primal values from B⁻¹ b.
	s.primal()
	return nil
}

// primal sets xb = B⁻¹ b.
func (s *revised) primal() {
	m := s.m
	clear(s.xb)
	for k, bk := range s.b {
		if bk != 0 {
			axpy(s.xb, s.binv[k*m:(k+1)*m], bk)
		}
	}
}

// row copies row i of B⁻¹ into dst.
func (s *revised) row(dst []float64, i int) {
	m := s.m
	for k := range dst[:m] {
		dst[k] = s.binv[k*m+i]
	}
}

// rowAxpy computes y += a·(row i of B⁻¹).
func (s *revised) rowAxpy(y []float64, i int, a float64) {
	m := s.m
	for k := range y[:m] {
		y[k] += a * s.binv[k*m+i]
	}
}

// replaceColumn keeps the basis after column j's values changed (the new
// values are already in s.colV[j]; old holds the previous ones, same rows):
// when j is basic, B⁻¹ gets the Sherman–Morrison update for the changed
// column. It returns false when the basis turns singular or primal
// infeasible; the caller then starts again from the slack basis.
func (s *revised) replaceColumn(j int, old []float64) bool {
	m := s.m
	p := -1
	for i, bj := range s.basis {
		if bj == j {
			p = i
			break
		}
	}
	if p >= 0 {
		w := s.alpha
		clear(w)
		for t, r := range s.colR[j] {
			u := s.colV[j][t] - old[t]
			if u == 0 {
				continue
			}
			col := s.binv[int(r)*m : (int(r)+1)*m]
			for i, b := range col {
				w[i] += b * u
			}
		}
		den := 1 + w[p]
		if math.Abs(den) < 1e-9 {
			return false
		}
		rowp := s.rho
		s.row(rowp, p)
		for i := range w {
			w[i] /= den
		}
		for k, v := range rowp {
			if v != 0 {
				axpy(s.binv[k*m:(k+1)*m], w, -v)
			}
		}
	}
	s.primal()
	for i, v := range s.xb {
		if v < -1e-9 {
			return false
		}
		s.xb[i] = math.Max(0, v)
	}
	s.pricesFresh()
	return true
}

func (s *revised) x() []float64 {
	x := make([]float64, s.n)
	for i, j := range s.basis {
		if j < s.n {
			x[j] = math.Max(0, s.xb[i])
		}
	}
	return x
}

var (
	errUnbounded = errors.New("sched: LP unbounded")
	errIterLimit = errors.New("sched: LP iteration limit")
)

const (
	tolCost  = 1e-10 // reduced cost considered positive
	tolPivot = 1e-11 // smallest usable pivot element
)

// axpy computes y += a·x (len(y) ≥ len(x)) with gonum's packed SSE2 loop:
// each element is the same a·x + y, rounded twice, as a scalar loop (no
// fused multiply-add), so the LP's results are the same bits, two elements
// per instruction.
func axpy(y, x []float64, a float64) {
	floats.AddScaled(y[:len(x)], a, x)
}
