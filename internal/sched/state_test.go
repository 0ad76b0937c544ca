package sched_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// After N rounds, a fresh RoundState restored from the saved State makes
// the same next placement as the one that kept running (the restart test
// of the pipeline's memory), for every deterministic policy.
func TestStateRestoreContinues(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	differ := 0 // instances where forgetting the state changes the placement
	for it := 0; it < 20; it++ {
		s, tp := schedtest.Small(r, 10)
		all := s.Jobs
		for _, name := range []string{sched.LASHetero, sched.FIFOHetero, sched.MaxThroughput, sched.LAS} {
			mk := func() *sched.RoundState {
				p, err := sched.PolicyByName(name, sched.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return sched.NewRoundState(p, sched.RoundConfig{ResetInterval: -1})
			}
			a := mk()
			var last sched.Placement
			step := func(st *sched.RoundState, round int) sched.Placement {
				s.Jobs = append([]sched.Job(nil), all[:min(len(all), 3+round)]...)
				for i := range s.Jobs {
					if run, ok := last.RunOf(s.Jobs[i].ID); ok {
						s.Jobs[i].Held = &sched.Held{Model: run.Model, Devices: run.Devices}
					}
				}
				s.Now = float64(round) * 360
				p, err := st.Next(s, tp)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			n := 3 + it%4
			for round := 0; round < n; round++ {
				last = step(a, round)
				for i, run := range last.Runs {
					a.Charge(run.Job, run.Model, 100+float64((i*37+round*11)%260))
				}
			}
			data, err := json.Marshal(a.State())
			if err != nil {
				t.Fatal(err)
			}
			var saved sched.State
			if err := json.Unmarshal(data, &saved); err != nil {
				t.Fatal(err)
			}
			b := mk()
			if err := b.Restore(saved); err != nil {
				t.Fatal(err)
			}
			want, got := step(a, n), step(b, n)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("instance %d %s: after restore\n got %+v\nwant %+v", it, name, got, want)
			}
			if fresh := step(mk(), n); !reflect.DeepEqual(fresh, want) {
				differ++
			}
		}
	}
	if differ == 0 {
		t.Error("a fresh state always agreed with the restored one: the test cannot tell restore from forgetting")
	}
}
