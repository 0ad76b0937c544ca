package sched_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

// A packed policy's pairs are part of the saved state (issue 14, the live
// loop's restarts): two jobs on a one-device fleet, where the pair beats
// running alone, run rounds; the state is saved (through JSON, as the live
// loop stores it) and restored into a fresh RoundState, which then makes
// the same placements, pairs included, as the one that kept running —
// and the restored state saves the same pairs. A state without its pairs
// (as before they were saved) places differently.
func TestStateKeepsPairs(t *testing.T) {
	tp := pairTable(t, []sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 4}},
		[]sched.PairEntry{{Class: "c", Other: "c", Gang: 1, Model: "m", Steps: [2]float64{3, 3}}})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{job("a", "c", 1), job("b", "c", 1)}}
	for i := range s.Jobs {
		s.Jobs[i].RemainingSteps, s.Jobs[i].TotalSteps = 1e9, 1e9
	}
	pol, _ := sched.PolicyByName(sched.LASHeteroPacked, sched.Options{})
	cfg := sched.RoundConfig{ResetInterval: -1}
	live := sched.NewRoundState(pol, cfg)
	var p sched.Placement
	for r := range 3 {
		s.Now = float64(360 * r)
		p = next(t, live, s, tp)
		for _, run := range p.Runs {
			live.Charge(run.Job, run.Model, 360)
		}
	}
	if r, ok := p.RunOf("a"); !ok || r.With != "b" {
		t.Fatalf("a: %+v, want paired with b", r)
	}
	saved := live.State()
	if len(saved.Pairs) != 1 || saved.Pairs[0].A != "a" || saved.Pairs[0].B != "b" {
		t.Fatalf("saved pairs %+v, want (a, b)", saved.Pairs)
	}
	data, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	restore := func(drop bool) *sched.RoundState {
		var st sched.State
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		if drop {
			st.Pairs = nil
		}
		fresh := sched.NewRoundState(pol, cfg)
		if err := fresh.Restore(st); err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	back := restore(false)
	if got := back.State(); !reflect.DeepEqual(got.Pairs, saved.Pairs) {
		t.Errorf("restored pairs %+v, want %+v", got.Pairs, saved.Pairs)
	}
	s.Now = 360 * 3
	for i := range s.Jobs { // what they hold, as the live loop's store says
		s.Jobs[i].Held = &sched.Held{Model: "m", Devices: []int{0}, Since: 0}
	}
	want := next(t, live, s, tp)
	if got := next(t, back, s, tp); !reflect.DeepEqual(got, want) {
		t.Errorf("after restore: %+v, uninterrupted: %+v", got, want)
	}
	if got := next(t, restore(true), s, tp); reflect.DeepEqual(got, want) {
		t.Errorf("a state without its pairs placed as the uninterrupted one: %+v", got)
	}
}
