package sched_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// TestFTFAgainstOracle: ftf-hetero's ρ* equals the oracle's (bisection on ρ
// with gonum's simplex as the feasibility test), and X attains it.
func TestFTFAgainstOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	n := 40
	if testing.Short() {
		n = 10
	}
	for it := 0; it < n; it++ {
		s, tp := schedtest.Small(r, 6)
		in := newInst(s, tp)
		N := len(in.T)
		use := make([]bool, N)
		totalCap := 0.0
		for _, c := range in.cap {
			totalCap += c
		}
		D := make([]float64, N)
		tss := make([]float64, N)
		lo := 0.0
		for i := range in.T {
			iso := 0.0
			for k, v := range in.T[i] {
				// Gavel's IsolatedPolicy: 1/N of every model in gangs,
				// N_k/(N·s_i), capped so the job's shares sum to ≤ 1.
				iso += v * in.cap[k] / math.Max(totalCap, float64(N)*in.gang[i])
			}
			use[i] = positive(in.T[i]) && iso > 0
			if !use[i] {
				continue
			}
			D[i] = in.rem[i] / iso
			tss[i] = s.Now - s.Jobs[i].Arrival
			lo = math.Max(lo, tss[i]/D[i])
		}
		feasible := func(rho float64) bool {
			a := make([][]float64, N)
			for i := range a {
				a[i] = make([]float64, len(in.cap))
				if use[i] {
					for k, v := range in.T[i] {
						a[i][k] = v * (rho*D[i] - tss[i]) / in.rem[i]
					}
				}
			}
			return oracleMaxMin(t, a, in.gang, in.cap, use) >= 1
		}
		anyUse := false
		for _, u := range use {
			anyUse = anyUse || u
		}
		if !anyUse {
			continue
		}
		hi := math.Max(2*lo, 1)
		for !feasible(hi) {
			lo, hi = hi, 2*hi
		}
		for k := 0; k < 60; k++ {
			mid := (lo + hi) / 2
			if feasible(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		p, _ := sched.PolicyByName(sched.FTFHetero, sched.Options{})
		a, err := p.Allocate(s, tp)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("instance %d", it)
		if err := schedtest.CheckAllocation(s, &a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if math.Abs(a.Objective-hi) > 1e-6*hi {
			t.Fatalf("%s: ρ* = %.10g, oracle %.10g", name, a.Objective, hi)
		}
		worst := 0.0
		for i := range in.T {
			if !use[i] {
				continue
			}
			thr := 0.0
			for k, v := range in.T[i] {
				thr += v * a.X[i][k]
			}
			worst = math.Max(worst, (tss[i]+in.rem[i]/thr)/D[i])
		}
		if worst > hi*(1+sched.CentreTolerance) { // X is the central solution (see centre)
			t.Fatalf("%s: X gives max ρ %.10g > ρ* %.10g", name, worst, hi)
		}
	}
}
