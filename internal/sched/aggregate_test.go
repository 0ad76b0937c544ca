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
// allocation feasible. GRANARY_FIGURES=1 adds 1,024 jobs (the exact side
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
