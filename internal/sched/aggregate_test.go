package sched_test

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// distinct makes every job of s distinct for every policy: random weights
// (las), remaining work (makespan, ftf) and arrival times (ftf).
func distinct(r *rand.Rand, s *sched.Snapshot) {
	s.Now = 100000
	for i := range s.Jobs {
		j := &s.Jobs[i]
		j.Weight = 0.5 + 2*r.Float64()
		j.RemainingSteps = math.Max(1, j.TotalSteps*(0.05+0.95*r.Float64()))
		j.Arrival = s.Now * r.Float64()
	}
}

// scalePolicies are the policies built on the max-min LP, which aggregation
// solves beyond the exact size.
var scalePolicies = []string{sched.LAS, sched.LASHetero, sched.FTF, sched.FTFHetero, sched.Makespan, sched.MakespanHetero}

// TestAggregatedWithinOnePercent compares each max-min policy's objective
// on instances with every job distinct against the exact optimum (the
// dense simplex, forced by raising the exact size): within 1 %, and the
// allocation feasible. Seed 1 has Gavel's n/4 devices per model, seed 2
// n/16 (capacity binds). GRANARY_FIGURES=1 adds 1,024 jobs (the exact side
// takes minutes).
func TestAggregatedWithinOnePercent(t *testing.T) {
	sizes := []int{300, 512}
	if os.Getenv("GRANARY_FIGURES") == "1" {
		sizes = append(sizes, 1024)
	}
	for _, n := range sizes {
		for seed := uint64(1); seed <= 2; seed++ {
			r := rand.New(rand.NewPCG(seed, uint64(n)))
			s, tp := schedtest.GavelShape(r, n)
			distinct(r, s)
			if seed == 2 {
				// Loaded: n/16 devices per model, so capacity binds.
				for m := range s.Fleet {
					s.Fleet[m] = max(4, n/16)
				}
			}
			for _, name := range scalePolicies {
				got := allocate(t, name, s, tp, false)
				want := allocate(t, name, s, tp, true)
				gap := (got.Objective - want.Objective) / want.Objective
				if name != sched.Makespan && name != sched.MakespanHetero && name != sched.FTF && name != sched.FTFHetero {
					gap = -gap // maximised: aggregation can only be lower
				}
				t.Logf("n=%d seed=%d %-16s aggregated %.6g exact %.6g gap %+.4f%%", n, seed, name, got.Objective, want.Objective, 100*gap)
				if gap > 0.01 || gap < -1e-6 {
					t.Errorf("n=%d seed=%d %s: objective %v, exact %v: gap %.3f%% outside [0, 1%%]", n, seed, name, got.Objective, want.Objective, 100*gap)
				}
				// The reported bound brackets the exact optimum with the
				// objective (ftf reports none).
				lo, hi := got.Objective, got.Bound // maximised: objective ≤ exact ≤ bound
				if name == sched.Makespan || name == sched.MakespanHetero {
					lo, hi = hi, lo
				}
				if name != sched.FTF && name != sched.FTFHetero &&
					(want.Bound != want.Objective || lo > want.Objective*(1+1e-9) || hi < want.Objective*(1-1e-9)) {
					t.Errorf("n=%d seed=%d %s: objective %v, bound %v, exact %v (bound %v)", n, seed, name, got.Objective, got.Bound, want.Objective, want.Bound)
				}
				if err := schedtest.CheckAllocation(s, &got); err != nil {
					t.Errorf("n=%d %s: %v", n, name, err)
				}
			}
		}
	}
}

func allocate(t testing.TB, name string, s *sched.Snapshot, tp *sched.Throughputs, exact bool) sched.Allocation {
	if exact {
		defer sched.SetExactRows(math.MaxInt)()
	} else {
		defer sched.SetExactRows(0)() // aggregated, whatever the size
	}
	p, err := sched.PolicyByName(name, sched.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Allocate(s, tp)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

// TestAggregatedBound checks the aggregation's certificate on random
// max-min LPs whose rows are random multiples of a few type rows (scales
// over three decades, as remaining work is), from idle to heavily loaded
// fleets: the objective is attained by a feasible x, it is ≤ the exact
// optimum, the dual bound is ≥ it, and the gap is within aggregateGap.
func TestAggregatedBound(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 40; trial++ {
		nk, nt, n := 1+r.IntN(5), 1+r.IntN(8), 300+r.IntN(300)
		types := make([][]float64, nt)
		tgang := make([]float64, nt)
		for ty := range types {
			types[ty] = make([]float64, nk)
			for k := range types[ty] {
				if r.IntN(6) > 0 {
					types[ty][k] = 0.1 + 10*r.Float64()
				}
			}
			types[ty][r.IntN(nk)] = 1 + r.Float64() // every type runs somewhere
			tgang[ty] = float64(1 + r.IntN(4))
		}
		capacity := make([]float64, nk)
		load := math.Pow(10, -1.7+2*r.Float64()) // devices per job: 0.02 to 2
		spread := 0.2 + 1.3*r.Float64()          // scales over 10^spread
		for k := range capacity {
			capacity[k] = math.Max(4, math.Round(load*float64(n)/float64(nk)))
		}
		a := make([][]float64, n)
		gang := make([]float64, n)
		use := make([]bool, n)
		for i := range a {
			ty := r.IntN(nt)
			c := math.Pow(10, spread*r.Float64())
			a[i] = make([]float64, nk)
			for k, v := range types[ty] {
				a[i][k] = c * v
			}
			gang[i], use[i] = tgang[ty], r.IntN(20) > 0
		}
		got, bound, x, err := sched.AggregatedMaxMin(a, gang, capacity, use)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sched.ExactMaxMin(a, gang, capacity, use)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("trial %d: n=%d nk=%d types=%d load=%.2f: aggregated %.6g exact %.6g bound %.6g", trial, n, nk, nt, load, got, want, bound)
		tol := 1e-9 * want
		if got > want+tol || bound < want-tol || (bound-got) > 1.0001e-3*bound {
			t.Errorf("trial %d (%d jobs, %d models, %d types, load %.2f): objective %v, bound %v, exact %v", trial, n, nk, nt, load, got, bound, want)
		}
		used := make([]float64, nk)
		for i, row := range x {
			sum, thr := 0.0, 0.0
			for k, v := range row {
				sum += v
				thr += a[i][k] * v
				used[k] += gang[i] * v
			}
			if sum > 1+1e-9 || (use[i] && thr < got*(1-1e-9)) {
				t.Errorf("trial %d: job %d: share %v, throughput %v < objective %v", trial, i, sum, thr, got)
			}
		}
		for k, u := range used {
			if u > capacity[k]*(1+1e-9) {
				t.Errorf("trial %d: model %d: %v devices used of %v", trial, k, u, capacity[k])
			}
		}
	}
}
