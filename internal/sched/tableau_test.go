package sched

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The first LP engine of the LP policies, kept as a second reference next to
// the revised simplex (revised.go) that replaced it: a dense-tableau primal
// simplex for   max c·x  s.t.  A x ≤ b, x ≥ 0,  with b ≥ 0, so the all-slack
// basis is feasible and no phase 1 is needed.
//
// Pricing is Dantzig's rule (largest reduced cost); after a run of degenerate
// pivots it switches to Bland's rule (smallest index, ties in the ratio test
// broken by smallest basic index), which cannot cycle, and switches back
// after the objective moves. Pivots only touch the non-zeros of the pivot row,
// which keeps the structured, sparse Gavel LPs cheap.

type simplex struct {
	m, n  int       // rows, structural columns
	w     int       // row width: n structural + m slack columns
	tab   []float64 // m×w, B⁻¹[A I]
	rhs   []float64 // B⁻¹ b
	d     []float64 // reduced costs c_j − z_j (maximisation: enter when > 0)
	basis []int     // basic column of each row
	obj   float64
	nz    []int // scratch: non-zeros of the pivot row
}

// newSimplex copies A (m rows of n) into a tableau with slack columns.
func newSimplex(a [][]float64, b, c []float64) *simplex {
	m, n := len(a), len(c)
	s := &simplex{m: m, n: n, w: n + m}
	s.tab = make([]float64, m*s.w)
	s.rhs = make([]float64, m)
	s.d = make([]float64, s.w)
	s.basis = make([]int, m)
	for i := 0; i < m; i++ {
		copy(s.tab[i*s.w:i*s.w+n], a[i])
		s.tab[i*s.w+n+i] = 1
		s.rhs[i] = b[i]
		s.basis[i] = n + i
	}
	copy(s.d, c)
	s.nz = make([]int, 0, s.w)
	return s
}

func (s *simplex) pivot(r, j int) {
	w := s.w
	row := s.tab[r*w : (r+1)*w]
	inv := 1 / row[j]
	s.nz = s.nz[:0]
	for k, v := range row {
		if v != 0 {
			row[k] = v * inv
			s.nz = append(s.nz, k)
		}
	}
	row[j] = 1
	s.rhs[r] *= inv
	br := s.rhs[r]
	dense := 3*len(s.nz) > w
	for i := 0; i < s.m; i++ {
		if i == r {
			continue
		}
		ri := s.tab[i*w : (i+1)*w]
		f := ri[j]
		if f == 0 {
			continue
		}
		if dense {
			axpy(ri[:len(row)], row, -f)
		} else {
			for _, k := range s.nz {
				ri[k] -= f * row[k]
			}
		}
		ri[j] = 0
		s.rhs[i] -= f * br
		if s.rhs[i] < 0 && s.rhs[i] > -1e-12 {
			s.rhs[i] = 0
		}
	}
	if f := s.d[j]; f != 0 {
		for _, k := range s.nz {
			s.d[k] -= f * row[k]
		}
		s.d[j] = 0
		s.obj += f * br
	}
	s.basis[r] = j
}

// solve runs the simplex to optimality.
func (s *simplex) solve() error {
	limit := 50 * (s.m + s.w)
	degenerate := 0
	for it := 0; it < limit; it++ {
		bland := degenerate > 20
		j := -1
		best := tolCost
		for k, v := range s.d {
			if v > best {
				j, best = k, v
				if bland {
					break
				}
			}
		}
		if j < 0 {
			return nil
		}
		r := -1
		var ratio float64
		var piv float64
		w := s.w
		for i := 0; i < s.m; i++ {
			a := s.tab[i*w+j]
			if a <= tolPivot {
				continue
			}
			q := s.rhs[i] / a
			switch {
			case r < 0 || q < ratio-1e-12*math.Max(1, ratio):
				r, ratio, piv = i, q, a
			case q <= ratio+1e-12*math.Max(1, ratio):
				if bland {
					if s.basis[i] < s.basis[r] {
						r, ratio, piv = i, q, a
					}
				} else if a > piv {
					r, ratio, piv = i, q, a
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
		s.pivot(r, j)
	}
	return errIterLimit
}

// TestRevisedMatchesTableau: on random LPs of the policies' form (A ≥ 0
// mixed with negative min-row coefficients, b ≥ 0), the revised simplex and
// the tableau simplex reach the same optimum.
func TestRevisedMatchesTableau(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for it := 0; it < 300; it++ {
		m, n := 1+r.IntN(12), 1+r.IntN(15)
		a := make([][]float64, m)
		b := make([]float64, m)
		for i := range a {
			a[i] = make([]float64, n)
			for j := range a[i] {
				switch r.IntN(4) {
				case 0:
					a[i][j] = -float64(r.IntN(5))
				case 1, 2:
					a[i][j] = float64(r.IntN(6))
				}
			}
			if r.IntN(3) > 0 {
				b[i] = float64(r.IntN(10))
			}
		}
		// Bound every variable so the LP is bounded.
		for j := 0; j < n; j++ {
			row := make([]float64, n)
			row[j] = 1
			a = append(a, row)
			b = append(b, float64(1+r.IntN(5)))
		}
		c := make([]float64, n)
		for j := range c {
			c[j] = float64(r.IntN(7) - 2)
		}
		tab := newSimplex(a, b, c)
		if err := tab.solve(); err != nil {
			t.Fatalf("instance %d: tableau: %v", it, err)
		}
		rev := newRevised(a, b, c)
		if err := rev.solve(); err != nil {
			t.Fatalf("instance %d: revised: %v", it, err)
		}
		x := rev.x()
		obj := 0.0
		for j := range x {
			obj += c[j] * x[j]
		}
		if math.Abs(obj-tab.obj) > 1e-9*math.Max(1, math.Abs(obj)) {
			t.Fatalf("instance %d: revised %v, tableau %v", it, obj, tab.obj)
		}
		for i := range a {
			lhs := 0.0
			for j := range x {
				lhs += a[i][j] * x[j]
			}
			if lhs > b[i]+1e-9 {
				t.Fatalf("instance %d: row %d: %v > %v", it, i, lhs, b[i])
			}
		}
	}
}
