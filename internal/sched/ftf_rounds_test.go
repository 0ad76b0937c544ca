package sched_test

import (
	"math"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

// equalize solves a0 + a1/x = b0 + b1/(1−x) for x in (0, 1): the share of
// one device that gives two jobs the same finish-time ratio when job a's ρ
// is a0 + a1/x and job b's is b0 + b1/(1−x). Multiplying by x(1−x) gives
// d·x² + (a1 + b1 − d)·x − a1 = 0 with d = a0 − b0.
func equalize(a0, a1, b0, b1 float64) float64 {
	d := a0 - b0
	if d == 0 {
		return a1 / (a1 + b1)
	}
	b := a1 + b1 - d
	return (-b + math.Sqrt(b*b+4*d*a1)) / (2 * d)
}

// TestFTFCumulativeIsolatedTime pins the cumulative isolated-time term of
// finish-time fairness over three calls of one policy instance, with ρ
// computed by hand from the definition (docs/scheduler.md, Gavel's
// finish_time_fairness):
//
//	ρ_i = (tss_i + R_i/(T_i·x_i)) / (cum_i + R_i/iso_i)
//
// One device, two jobs of one class at T = 2 steps/s, gang 1, both arrived at
// 0. Gavel's isolated share (IsolatedPolicy, c4fa400) splits every model
// equally among the n = 2 active jobs: half the device, iso = 1 step/s.
// cum_i adds, at every call, the steps done since the previous call divided
// by the previous iso.
//
//	call 1, now 0:   R = (100, 200), cum = (0, 0)
//	                 ρ_a = (100/2x)/100 = 1/2x, ρ_b = (200/2(1−x))/200 = 1/2(1−x)
//	                 → x = 1/2, ρ = 1
//	call 2, now 100: R = (100, 100) (a made no progress), cum = (0, 100/1 = 100)
//	                 ρ_a = (100 + 100/2x)/(0 + 100) = 1 + 0.5/x
//	                 ρ_b = (100 + 100/2(1−x))/(100 + 100) = 0.5 + 0.25/(1−x)
//	call 3, now 150: R = (70, 90), cum = (0 + 30/1, 100 + 10/1) = (30, 110)
//	                 ρ_a = (150 + 70/2x)/(30 + 70) = 1.5 + 0.35/x
//	                 ρ_b = (150 + 90/2(1−x))/(110 + 90) = 0.75 + 0.225/(1−x)
//
// Without the term (cum = 0), call 2 would give ρ_a = 1 + 0.5/x,
// ρ_b = 1 + 0.5/(1−x): x = 1/2, ρ = 2; keeping only the last call's progress
// would make call 3's cum_b 10 instead of 110.
func TestFTFCumulativeIsolatedTime(t *testing.T) {
	const model = "v100-sxm2-32gb" // also the agnostic policy's reference
	tp, err := sched.NewThroughputs([]sched.ThroughputEntry{{Class: "c", Gang: 1, Model: model, StepsPerSecond: 2}})
	if err != nil {
		t.Fatal(err)
	}
	x2 := equalize(1, 0.5, 0.5, 0.25)
	x3 := equalize(1.5, 0.35, 0.75, 0.225)
	calls := []struct {
		now, remA, remB float64
		x, rho          float64
	}{
		{0, 100, 200, 0.5, 1},
		{100, 100, 100, x2, 1 + 0.5/x2},
		{150, 70, 90, x3, 1.5 + 0.35/x3},
	}
	// The closed forms above, as numbers: a mistake in equalize would move them.
	if math.Abs(calls[1].rho-1.6403882) > 1e-6 || math.Abs(calls[2].rho-1.9322656) > 1e-6 {
		t.Fatalf("hand values: call 2 ρ %.7f (want 1.6403882), call 3 ρ %.7f (want 1.9322656)", calls[1].rho, calls[2].rho)
	}
	for _, name := range []string{sched.FTFHetero, sched.FTF} {
		p, err := sched.PolicyByName(name, sched.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for n, c := range calls {
			s := &sched.Snapshot{Now: c.now, Fleet: map[string]int{model: 1}, Jobs: []sched.Job{
				{ID: "a", Class: "c", Gang: 1, Weight: 1, TotalSteps: 100, RemainingSteps: c.remA},
				{ID: "b", Class: "c", Gang: 1, Weight: 1, TotalSteps: 200, RemainingSteps: c.remB},
			}}
			a, err := p.Allocate(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(a.Objective-c.rho) > 1e-6*c.rho {
				t.Errorf("%s call %d (now %v): ρ* = %.7f, by hand %.7f", name, n+1, c.now, a.Objective, c.rho)
			}
			if xa, xb := a.Share("a", model), a.Share("b", model); math.Abs(xa-c.x) > 1e-6 || math.Abs(xb-(1-c.x)) > 1e-6 {
				t.Errorf("%s call %d: shares a %.6f b %.6f, by hand %.6f and %.6f", name, n+1, xa, xb, c.x, 1-c.x)
			}
		}
	}
}
