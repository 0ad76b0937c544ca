package sched

import (
	"math/rand/v2"
	"testing"
)

func smallTable(t *testing.T) *Throughputs {
	t.Helper()
	tp, err := NewThroughputs([]ThroughputEntry{
		{"a", 1, "k80", 1}, {"a", 1, "v100", 4},
		{"b", 1, "k80", 2}, {"b", 1, "v100", 3},
		{"b", 2, "k80", 3}, {"b", 2, "v100", 5},
		{"z", 1, "k80", 0}, {"z", 1, "v100", 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestFIFOHeteroSmoke(t *testing.T) {
	tp := smallTable(t)
	s := &Snapshot{Fleet: map[string]int{"k80": 2, "v100": 1}, Jobs: []Job{
		{ID: "0", Class: "a", Gang: 1, Arrival: 0},
		{ID: "1", Class: "b", Gang: 2, Arrival: 1},
		{ID: "2", Class: "z", Gang: 1, Arrival: 2},
		{ID: "3", Class: "b", Gang: 1, Arrival: 3},
	}}
	p, err := PolicyByName("fifo-hetero", Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := NewRoundState(p, RoundConfig{Rand: rand.New(rand.NewPCG(1, 2))})
	pl, err := st.Next(s, tp)
	if err != nil {
		t.Fatal(err)
	}
	r0, ok0 := pl.RunOf("0")
	r1, ok1 := pl.RunOf("1")
	if !ok0 || r0.Model != "v100" || !ok1 || r1.Model != "k80" || len(r1.Devices) != 2 {
		t.Fatalf("placement %+v", pl)
	}
	for _, w := range pl.Waiting {
		if w.Job == "2" && w.Reason != ReasonNoThroughput {
			t.Errorf("job 2 reason %q", w.Reason)
		}
	}
}
