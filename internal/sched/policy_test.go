package sched_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

// Hand-computed cases, one or more per policy.
func TestPoliciesTable(t *testing.T) {
	e := func(c string, g int, m string, v float64) sched.ThroughputEntry {
		return sched.ThroughputEntry{Class: c, Gang: g, Model: m, StepsPerSecond: v}
	}
	w := func(j sched.Job, weight float64) sched.Job { j.Weight = weight; return j }
	rem := func(j sched.Job, r float64) sched.Job { j.RemainingSteps, j.TotalSteps = r, r; return j }
	cases := []struct {
		name    string
		policy  string
		opt     sched.Options
		fleet   map[string]int
		tput    []sched.ThroughputEntry
		jobs    []sched.Job
		wantObj float64
		wantX   map[string]map[string]float64 // checked when set
		xTol    float64                       // tolerance on X (default 1e-9)
	}{
		{
			name: "las splits one device by weight", policy: sched.LAS,
			fleet: map[string]int{"m": 1}, tput: []sched.ThroughputEntry{e("c", 1, "m", 5)},
			jobs:    []sched.Job{w(job("a", "c", 1), 1), w(job("b", "c", 1), 3)},
			wantObj: 0.25, wantX: map[string]map[string]float64{"a": {"m": 0.25}, "b": {"m": 0.75}},
		},
		{
			name: "las gives a gang of 2 half the time of a single", policy: sched.LAS,
			fleet: map[string]int{"m": 2}, tput: []sched.ThroughputEntry{e("c", 1, "m", 5), e("c", 2, "m", 8)},
			// max t: 1·x_a ≥ t, 2·x_b ≥ t, x_a + 2 x_b ≤ 2, x ≤ 1 → x_a = 1, x_b = 1/2, t = 1.
			jobs:    []sched.Job{job("a", "c", 1), job("b", "c", 2)},
			wantObj: 1, wantX: map[string]map[string]float64{"a": {"m": 1}, "b": {"m": 0.5}},
		},
		{
			name: "las-hetero on one model is las", policy: sched.LASHetero,
			fleet: map[string]int{"m": 1}, tput: []sched.ThroughputEntry{e("c", 1, "m", 5), e("d", 1, "m", 50)},
			// prop = T, so a = 1 for both: x = 1/2 each, objective 1/2.
			jobs:    []sched.Job{job("a", "c", 1), job("b", "d", 1)},
			wantObj: 0.5, wantX: map[string]map[string]float64{"a": {"m": 0.5}, "b": {"m": 0.5}},
		},
		{
			name: "las-hetero sends each job where it is relatively fastest", policy: sched.LASHetero,
			fleet: map[string]int{"fast": 1, "slow": 1},
			tput:  []sched.ThroughputEntry{e("c", 1, "fast", 4), e("c", 1, "slow", 1), e("d", 1, "fast", 1), e("d", 1, "slow", 1)},
			// prop_c = 2.5, prop_d = 1; a_c = (1.6, 0.4), a_d = (1, 1).
			// Optimum: c all on fast (1.6), d all on slow (1) → min 1; moving
			// share of fast to d: c gets 1.6(1−y), d gets 1 + y (x_d ≤ 1 binds: y ≤ 0)
			// → objective 1.
			jobs:    []sched.Job{job("a", "c", 1), job("b", "d", 1)},
			wantObj: 1,
		},
		{
			name: "makespan-hetero finishes both at once", policy: sched.MakespanHetero,
			fleet: map[string]int{"m": 1}, tput: []sched.ThroughputEntry{e("c", 1, "m", 1)},
			jobs: []sched.Job{rem(job("a", "c", 1), 100), rem(job("b", "c", 1), 300)},
			// T* = 400 s at X = (0.25, 0.75); Gavel's bisection stops at
			// T ≤ 1.05·T*, whose centre gives both slack: a ∈ [100/420,
			// 1 − 300/420], b ∈ [300/420, 1 − 100/420].
			wantObj: 400, wantX: map[string]map[string]float64{"a": {"m": 0.25}, "b": {"m": 0.75}}, xTol: 0.02,
		},
		{
			name: "makespan (agnostic) believes every model is as fast as the reference", policy: sched.Makespan,
			opt:   sched.Options{Reference: "fast"},
			fleet: map[string]int{"fast": 1, "slow": 1}, tput: []sched.ThroughputEntry{e("c", 1, "fast", 2), e("c", 1, "slow", 1)},
			// believed 2 steps/s on both: 2 jobs of 400 steps, one device each → 200 s.
			jobs:    []sched.Job{rem(job("a", "c", 1), 400), rem(job("b", "c", 1), 400)},
			wantObj: 200,
		},
		{
			name: "max-throughput", policy: sched.MaxThroughput,
			fleet:   map[string]int{"fast": 1, "slow": 1},
			tput:    []sched.ThroughputEntry{e("c", 1, "fast", 10), e("c", 1, "slow", 1), e("d", 1, "fast", 2), e("d", 1, "slow", 1)},
			jobs:    []sched.Job{job("a", "c", 1), job("b", "d", 1)},
			wantObj: 11, wantX: map[string]map[string]float64{"a": {"fast": 1}, "b": {"slow": 1}},
		},
		{
			name: "max-throughput-per-cost", policy: sched.MaxThroughputPerCost,
			opt:   sched.Options{Cost: map[string]float64{"fast": 10, "slow": 1}},
			fleet: map[string]int{"fast": 1, "slow": 1},
			tput:  []sched.ThroughputEntry{e("c", 1, "fast", 10), e("c", 1, "slow", 1), e("d", 1, "fast", 2), e("d", 1, "slow", 1)},
			jobs:  []sched.Job{job("a", "c", 1), job("b", "d", 1)},
			// a: 1 vs 1 per $, b: 0.2 vs 1 per $ → a fast, b slow: 1 + 1.
			wantObj: 2, wantX: map[string]map[string]float64{"a": {"fast": 1}, "b": {"slow": 1}},
		},
		{
			name: "ftf-hetero: a lone job on its isolated share has ρ = 1", policy: sched.FTFHetero,
			fleet: map[string]int{"m": 1}, tput: []sched.ThroughputEntry{e("c", 1, "m", 2)},
			jobs:    []sched.Job{rem(job("a", "c", 1), 1000)},
			wantObj: 1, wantX: map[string]map[string]float64{"a": {"m": 1}},
		},
		{
			name: "fifo-hetero: arrival order, fastest model, no backfill", policy: sched.FIFOHetero,
			fleet: map[string]int{"fast": 2, "slow": 1},
			tput:  []sched.ThroughputEntry{e("c", 1, "fast", 2), e("c", 1, "slow", 1), e("c", 2, "fast", 3), e("c", 2, "slow", 2)},
			jobs: []sched.Job{
				func() sched.Job { j := job("first", "c", 1); j.Arrival = 1; return j }(),
				func() sched.Job { j := job("gang", "c", 2); j.Arrival = 2; return j }(),
				func() sched.Job { j := job("late", "c", 1); j.Arrival = 3; return j }(),
			},
			wantObj: math.NaN(),
			wantX:   map[string]map[string]float64{"first": {"fast": 1}, "gang": {}, "late": {}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp := table(t, c.tput...)
			p, err := sched.PolicyByName(c.policy, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			s := &sched.Snapshot{Fleet: c.fleet, Jobs: c.jobs}
			a, err := p.Allocate(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			if !(math.IsNaN(c.wantObj) && math.IsNaN(a.Objective)) && math.Abs(a.Objective-c.wantObj) > 1e-9*math.Max(1, c.wantObj) {
				t.Errorf("objective %v, want %v", a.Objective, c.wantObj)
			}
			for id, row := range c.wantX {
				for _, m := range a.Models {
					if got := a.Share(id, m); math.Abs(got-row[m]) > max(c.xTol, 1e-9) {
						t.Errorf("X[%s][%s] = %v, want %v", id, m, got, row[m])
					}
				}
			}
		})
	}
}

func TestPolicyByNameErrors(t *testing.T) {
	_, err := sched.PolicyByName("max_min_fairnes", sched.Options{})
	if !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "las-hetero") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := sched.PolicyByName("fifo", sched.Options{}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("fifo without Rand: %v", err)
	}
	if _, err := sched.PolicyByName("max-throughput-per-cost", sched.Options{}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("per-cost without costs: %v", err)
	}
	if _, err := sched.PolicyByName("max-throughput-per-cost", sched.Options{Cost: map[string]float64{"m": -1}}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("negative cost: %v", err)
	}
	for gavel, ours := range map[string]string{"max_min_fairness_perf": sched.LASHetero, "FINISH_TIME_FAIRNESS": sched.FTF, "min_total_duration_perf": sched.MakespanHetero} {
		p, err := sched.PolicyByName(gavel, sched.Options{})
		if err != nil || p.Name() != ours {
			t.Errorf("%s → %v, %v; want %s", gavel, p, err, ours)
		}
	}
	for _, n := range sched.PolicyNames() {
		if _, err := sched.PolicyByName(n, sched.Options{Rand: rand.New(rand.NewPCG(1, 1)), Cost: map[string]float64{"m": 1}}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestAllocateErrors(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	// No entry for the class on any model of the fleet.
	_, err := p.Allocate(&sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{job("a", "other", 1)}}, tp)
	if !errors.Is(err, fleet.ErrNotFound) || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("missing class: %v", err)
	}
	// Invalid snapshot.
	_, err = p.Allocate(&sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{job("a", "c", 0)}}, tp)
	if !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("gang 0: %v", err)
	}
	_, err = p.Allocate(&sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{job("a", "c", 1), job("a", "c", 1)}}, tp)
	if !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("duplicate id: %v", err)
	}
	// Bad table entries.
	for _, bad := range []sched.ThroughputEntry{{Class: "", Gang: 1, Model: "m"}, {Class: "c", Gang: 0, Model: "m"}, {Class: "c", Gang: 1, Model: "m", StepsPerSecond: math.NaN()}, {Class: "c", Gang: 1, Model: "m", StepsPerSecond: -1}} {
		if _, err := sched.NewThroughputs([]sched.ThroughputEntry{bad}); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("entry %+v accepted: %v", bad, err)
		}
	}
	if _, err := sched.NewThroughputs([]sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m"}, {Class: "c", Gang: 1, Model: "m"}}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("duplicate entry accepted: %v", err)
	}
}

// CanonicalPolicy agrees with PolicyByName on every name and alias (case
// and spaces folded), refuses what PolicyByName refuses as unknown, and a
// name ends in "-packed" exactly when its policy space-shares (IsPacked):
// the live loop refuses *-packed by name before it builds anything.
func TestCanonicalPolicy(t *testing.T) {
	opt := sched.Options{Source: rand.NewPCG(1, 2), Cost: map[string]float64{"v100": 1}}
	for _, name := range append(sched.PolicyNames(), " LAS-Hetero ", "max_min_fairness_packed", "finish_time_fairness_perf") {
		n, err := sched.CanonicalPolicy(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		p, err := sched.PolicyByName(name, opt)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if p.Name() != n {
			t.Errorf("%q: canonical %q, policy named %q", name, n, p.Name())
		}
		if strings.HasSuffix(n, "-packed") != sched.IsPacked(p) {
			t.Errorf("%q: name %q, IsPacked %v", name, n, sched.IsPacked(p))
		}
	}
	if _, err := sched.CanonicalPolicy("bogus"); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), sched.LASHetero) {
		t.Errorf("bogus: %v, want ErrInvalid listing the names", err)
	}
}
