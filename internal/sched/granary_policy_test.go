package sched

import (
	"errors"
	"slices"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
)

// On one device with two jobs, granary gives it to the job with the smaller
// estimated remaining time (SRPT), whatever the arrival order; once the long
// job has waited long enough relative to its remaining time (response-ratio
// aging), it wins.
func TestGranaryShortestRemainingFirstWithAging(t *testing.T) {
	tp, err := NewThroughputs([]ThroughputEntry{
		{Class: "a", Gang: 1, Model: "v100", StepsPerSecond: 1},
		{Class: "a", Gang: 1, Model: "k80", StepsPerSecond: 0.25},
		{Class: "b", Gang: 1, Model: "v100", StepsPerSecond: 1},
		{Class: "b", Gang: 1, Model: "k80", StepsPerSecond: 0.9},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := PolicyByName(Granary, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Now: 0, Fleet: map[string]int{"v100": 1}, Jobs: []Job{
		{ID: "long", Class: "a", Gang: 1, TotalSteps: 36000, RemainingSteps: 36000},
		{ID: "short", Class: "a", Gang: 1, Arrival: 0, TotalSteps: 3600, RemainingSteps: 3600},
	}}
	a, err := p.Allocate(s, tp)
	if err != nil {
		t.Fatal(err)
	}
	if a.Share("short", "v100") != 1 || a.Share("long", "v100") != 0 {
		t.Errorf("t=0: X %v, want short on the device", a.X)
	}
	// long: r = 36000, score = r²/(age+r); short (just arrived at Now): 3600.
	// score(long) < 3600 once age > 9·36000.
	s.Now, s.Jobs[1].Arrival = 400000, 400000
	if a, _ = p.Allocate(s, tp); a.Share("long", "v100") != 1 {
		t.Errorf("long job waited 400,000 s: X %v, want it on the device", a.X)
	}
	// Heterogeneity: two jobs, one V100 and one K80. b loses 10 % on a K80,
	// a loses 75 %: a gets the V100 even though b is shorter.
	s = &Snapshot{Fleet: map[string]int{"v100": 1, "k80": 1}, Jobs: []Job{
		{ID: "a", Class: "a", Gang: 1, TotalSteps: 7200, RemainingSteps: 7200},
		{ID: "b", Class: "b", Gang: 1, TotalSteps: 3600, RemainingSteps: 3600},
	}}
	if a, _ = p.Allocate(s, tp); a.Share("a", "v100") != 1 || a.Share("b", "k80") != 1 {
		t.Errorf("X %v (models %v), want a on v100 and b on k80", a.X, a.Models)
	}
}

// granary-packed: a job that would wait shares the running job's device
// when the pair makes more progress than the running job alone (8 + 8
// steps/s of 10 each: 1.6 > 1), not when it makes less (3 + 3: 0.6); the
// running job's partner is refused when sharing would push it past its
// fair deadline (projected ρ > 1). Without pair throughputs it refuses.
func TestGranaryPackedPairsWhenWorthIt(t *testing.T) {
	table := func(u float64) *Throughputs {
		tp, err := NewThroughputs([]ThroughputEntry{{Class: "a", Gang: 1, Model: "m", StepsPerSecond: 10}, {Class: "b", Gang: 1, Model: "m", StepsPerSecond: 10}})
		if err != nil {
			t.Fatal(err)
		}
		if u == 0 {
			return tp
		}
		if tp, err = tp.WithPairs([]PairEntry{{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{u, u}}}); err != nil {
			t.Fatal(err)
		}
		return tp
	}
	p, err := PolicyByName(GranaryPacked, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// i: 3,600 s left at 10 steps/s; j: 7,200 s. With n = 2 on one
	// device a job's fair rate is 5 steps/s: i's fair length is 7,200 s.
	s := &Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []Job{
		{ID: "j", Class: "b", Gang: 1, TotalSteps: 72000, RemainingSteps: 72000},
		{ID: "i", Class: "a", Gang: 1, TotalSteps: 36000, RemainingSteps: 36000},
	}}
	a, err := p.Allocate(s, table(8))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Pairs) != 1 || a.Pairs[0].X[0] != 1 || a.Share("i", "m") != 0 || a.Share("j", "m") != 0 {
		t.Errorf("pair 8+8 at t=0: X %v, pairs %v; want i and j sharing the device", a.X, a.Pairs)
	}
	if a, _ = p.Allocate(s, table(3)); len(a.Pairs) != 0 || a.Share("i", "m") != 1 {
		t.Errorf("pair 3+3: X %v, pairs %v; want i alone, j waiting", a.X, a.Pairs)
	}
	// At t = 3,000 s, i alone ends at ρ = (3000+3600)/7200 = 0.92; shared
	// at 8 steps/s, (3000+4500)/7200 = 1.04: i keeps the device alone.
	s.Now = 3000
	if a, _ = p.Allocate(s, table(8)); len(a.Pairs) != 0 || a.Share("i", "m") != 1 {
		t.Errorf("t=3000: X %v, pairs %v; want i alone (sharing would make it late)", a.X, a.Pairs)
	}
	if _, err := p.Allocate(s, table(0)); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("no pairs: %v, want ErrNotFound", err)
	}
}

// A job is placed alone on the model where it is relatively fastest only
// while that keeps it within its fair deadline; otherwise on its fastest.
func TestGranaryPackedFairnessFloorPicksFasterModel(t *testing.T) {
	tp, err := NewThroughputs([]ThroughputEntry{
		{Class: "a", Gang: 1, Model: "fast", StepsPerSecond: 10}, {Class: "a", Gang: 1, Model: "slow", StepsPerSecond: 8},
		{Class: "b", Gang: 1, Model: "fast", StepsPerSecond: 10}, {Class: "b", Gang: 1, Model: "slow", StepsPerSecond: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tp, err = tp.WithPairs([]PairEntry{{Class: "a", Other: "b", Gang: 1, Model: "fast", Steps: [2]float64{0, 0}}}); err != nil {
		t.Fatal(err)
	}
	p, _ := PolicyByName(GranaryPacked, Options{})
	// One job, two devices: its fair rate is (10 + 8)/2 = 9 steps/s, so
	// alone on "slow" (relatively fastest: 8 against the mean 5) it is
	// fair only while age + rem/8 ≤ total/9.
	s := &Snapshot{Fleet: map[string]int{"fast": 1, "slow": 1}, Jobs: []Job{
		{ID: "a", Class: "a", Gang: 1, TotalSteps: 90000, RemainingSteps: 72000},
		{ID: "b", Class: "b", Gang: 1, TotalSteps: 1e6, RemainingSteps: 1e6},
	}}
	// n = 2: fair rate of a = (10·½ + 8·½) = 9; fair length 10,000 s.
	// At t = 0: slow gives 9,000 s ≤ 10,000 (fair): a takes slow.
	if a, _ := p.Allocate(s, tp); a.Share("a", "slow") != 1 || a.Share("b", "fast") != 1 {
		t.Errorf("t=0: X %v (models %v), want a on slow, b on fast", a.X, a.Models)
	}
	// At t = 2,000 s: slow gives 11,000 s (late), fast 9,200 s: a takes fast.
	s.Now = 2000
	if a, _ := p.Allocate(s, tp); a.Share("a", "fast") != 1 {
		t.Errorf("t=2000: X %v (models %v), want a on fast", a.X, a.Models)
	}
}

// TestGranaryPackedPairsWithinFreeDeviceValue: a waiting job j can run
// alone on a free slow model (k: half its best speed, f = 0.5) or share
// the device of i, placed first on m. Sharing at 5.2 + 9.5 steps/s adds
// 0.52 − 0.05 = 0.47 of j's and i's best: less than alone, but more than
// freeDeviceValue × 0.5, so j shares and k stays free for a later job; at
// 4 + 9.5 (0.35) j runs alone on k.
func TestGranaryPackedPairsWithinFreeDeviceValue(t *testing.T) {
	table := func(uj float64) *Throughputs {
		tp, err := NewThroughputs([]ThroughputEntry{
			{Class: "a", Gang: 1, Model: "m", StepsPerSecond: 10}, {Class: "a", Gang: 1, Model: "k", StepsPerSecond: 2},
			{Class: "b", Gang: 1, Model: "m", StepsPerSecond: 10}, {Class: "b", Gang: 1, Model: "k", StepsPerSecond: 5},
		})
		if err != nil {
			t.Fatal(err)
		}
		if tp, err = tp.WithPairs([]PairEntry{
			{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{9.5, uj}},
			{Class: "a", Other: "b", Gang: 1, Model: "k", Steps: [2]float64{1, 2}},
		}); err != nil {
			t.Fatal(err)
		}
		return tp
	}
	p, err := PolicyByName(GranaryPacked, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Fleet: map[string]int{"m": 1, "k": 1}, Jobs: []Job{
		{ID: "j", Class: "b", Gang: 1, TotalSteps: 72000, RemainingSteps: 72000},
		{ID: "i", Class: "a", Gang: 1, TotalSteps: 36000, RemainingSteps: 36000},
	}}
	a, err := p.Allocate(s, table(5.2))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Pairs) != 1 || a.Pairs[0].X[slices.Index(a.Models, "m")] != 1 || a.Share("i", "m") != 0 || a.Share("j", "k") != 0 {
		t.Errorf("pair 9.5+5.2: X %v, pairs %v; want i and j sharing m, k free", a.X, a.Pairs)
	}
	if a, _ = p.Allocate(s, table(4)); len(a.Pairs) != 0 || a.Share("i", "m") != 1 || a.Share("j", "k") != 1 {
		t.Errorf("pair 9.5+4: X %v, pairs %v; want i alone on m, j alone on k", a.X, a.Pairs)
	}
}
