package sched

import (
	"math/rand/v2"
	"testing"
)

// The Newton steps reach the maximiser of the barrier, with either row
// term: no feasible point nearby (random moves of x, slacks recomputed)
// has a higher barrier value. Checked at τ = t/2 on a small LP with
// distinct rows and a binding capacity.
func TestCentreNewtonMaximisesBarrier(t *testing.T) {
	a := [][]float64{{3, 1, 0.5}, {2, 2, 1}, {1, 0.8, 0.7}, {4, 0, 1}}
	gang := []float64{1, 2, 1, 1}
	capacity := []float64{2, 2, 3}
	use := []bool{true, true, true, true}
	tOpt, xv, err := newMaxMin(a, gang, capacity, use).solve(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, cone := range []bool{false, true} {
		c, rep, _ := newBarrier(a, gang, capacity, use)
		c.cone = cone
		p := c.point(c.start(c.rows(xv, rep), tOpt))
		c.newton(p)
		if !p.positive() {
			t.Fatalf("cone %v: Newton left the interior", cone)
		}
		best := c.value(c.point(p.x))
		rng := rand.New(rand.NewPCG(1, 2))
		for n := 0; n < 2000; n++ {
			y := copyRows(p.x)
			for g := range y {
				for k := range y[g] {
					y[g][k] *= 1 + 1e-3*(2*rng.Float64()-1)
				}
			}
			if v := c.value(c.point(y)); v < best-1e-12 {
				t.Fatalf("cone %v: a nearby point has barrier %.12g < %.12g at Newton's point", cone, v, best)
			}
		}
	}
	// The two barriers weigh rows differently, so their centres differ.
	x0 := centre(a, gang, capacity, use, tOpt, xv)
	x1 := centreCone(a, gang, capacity, use, tOpt, xv)
	diff := 0.0
	for i := range x0 {
		for k := range x0[i] {
			diff += abs(x0[i][k] - x1[i][k])
		}
		if r := dot(a[i], x1[i]); r < (1-CentreTolerance)*tOpt {
			t.Errorf("centreCone: row %d attains %.4g, optimum %.4g", i, r, tOpt)
		}
	}
	if diff < 1e-4 {
		t.Errorf("centre and centreCone agree (Σ|Δx| = %.2g): the cone term has no effect", diff)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
