package sched

import (
	"testing"
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
