package sched_test

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
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

// The policies with memory of their own — ftf's cumulative isolated time,
// the agnostic fifo's model per job and random stream (Options.Source) —
// continue after a restore as if never stopped: jobs make progress and
// arrive every round, the state goes through JSON, and the placement of
// the next rounds equals the uninterrupted one. A state whose policy
// memory is dropped (what a restart lost before it was saved) changes
// some placement of each policy, so the test can tell.
func TestStateRestoresPolicyMemory(t *testing.T) {
	for _, name := range []string{sched.FTF, sched.FTFHetero, sched.FIFO} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 5))
			differ, total := 0, 0
			for it := 0; it < 40; it++ {
				s, tp := schedtest.Small(r, 12)
				all := s.Jobs
				seed := uint64(it)
				mk := func() *sched.RoundState {
					p, err := sched.PolicyByName(name, sched.Options{Source: rand.NewPCG(seed, 9)})
					if err != nil {
						t.Fatal(err)
					}
					return sched.NewRoundState(p, sched.RoundConfig{ResetInterval: -1})
				}
				// run plays rounds from..to on st: job i arrives in round
				// i−2, every job that runs does a tenth of its steps.
				type world struct {
					rem  map[string]float64
					last sched.Placement
				}
				run := func(st *sched.RoundState, w *world, from, to int) []sched.Placement {
					var out []sched.Placement
					for round := from; round < to; round++ {
						s.Jobs = nil
						for _, j := range all[:min(len(all), 3+round)] {
							if w.rem[j.ID] <= 0 {
								continue
							}
							j.RemainingSteps = w.rem[j.ID]
							if run, ok := w.last.RunOf(j.ID); ok {
								j.Held = &sched.Held{Model: run.Model, Devices: run.Devices}
							}
							s.Jobs = append(s.Jobs, j)
						}
						s.Now = float64(round) * 360
						p, err := st.Next(s, tp)
						if err != nil {
							t.Fatal(err)
						}
						for _, run := range p.Runs {
							st.Charge(run.Job, run.Model, 360)
							w.rem[run.Job] -= math.Ceil(all[0].TotalSteps / 10)
						}
						w.last = p
						out = append(out, p)
					}
					return out
				}
				newWorld := func() *world {
					w := &world{rem: map[string]float64{}}
					for _, j := range all {
						w.rem[j.ID] = j.RemainingSteps
					}
					return w
				}
				n := 2 + it%4
				// Uninterrupted.
				wa := newWorld()
				a := mk()
				run(a, wa, 0, n)
				data, err := json.Marshal(a.State())
				if err != nil {
					t.Fatal(err)
				}
				wb := &world{rem: maps.Clone(wa.rem), last: wa.last}
				wc := &world{rem: maps.Clone(wa.rem), last: wa.last}
				want := run(a, wa, n, n+4)
				// Restored from JSON.
				var saved sched.State
				if err := json.Unmarshal(data, &saved); err != nil {
					t.Fatal(err)
				}
				if saved.Policy == nil || saved.Policy.Policy != name {
					t.Fatalf("saved state has policy memory %+v", saved.Policy)
				}
				b := mk()
				if err := b.Restore(saved); err != nil {
					t.Fatal(err)
				}
				if got := run(b, wb, n, n+4); !reflect.DeepEqual(got, want) {
					t.Fatalf("instance %d: after restore\n got %+v\nwant %+v", it, got, want)
				}
				// Restored without the policy's memory.
				saved.Policy = nil
				c := mk()
				if err := c.Restore(saved); err != nil {
					t.Fatal(err)
				}
				total++
				if got := run(c, wc, n, n+4); !reflect.DeepEqual(got, want) {
					differ++
				}
			}
			t.Logf("%s: forgetting the policy's memory changed the placements of %d of %d instances", name, differ, total)
			if differ == 0 {
				t.Error("forgetting the policy's memory never changed a placement: the test cannot tell")
			}
		})
	}
}

// A policy's memory is refused by another policy, and bad memory is
// refused with fleet.ErrInvalid, leaving the state as it was.
func TestStateRestoreRefusesBadPolicyMemory(t *testing.T) {
	mk := func(name string) *sched.RoundState {
		p, err := sched.PolicyByName(name, sched.Options{Source: rand.NewPCG(1, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return sched.NewRoundState(p, sched.RoundConfig{})
	}
	for _, c := range []struct {
		name string
		ps   sched.PolicyState
		want string
	}{
		{sched.FTF, sched.PolicyState{Policy: sched.FIFO}, `memory of policy "fifo", not "ftf"`},
		{sched.LASHetero, sched.PolicyState{Policy: sched.LASHetero}, "keeps no memory"},
		{sched.FTF, sched.PolicyState{Policy: sched.FTF, FTF: []sched.FTFJob{{ID: "a"}, {ID: "a"}}}, `ftf job "a" twice`},
		{sched.FTFHetero, sched.PolicyState{Policy: sched.FTFHetero, FTF: []sched.FTFJob{{ID: "a", Cum: math.NaN()}}}, "cum NaN"},
		{sched.FIFO, sched.PolicyState{Policy: sched.FIFO, Where: []sched.JobModel{{ID: "a"}}}, "without model"},
		{sched.FIFO, sched.PolicyState{Policy: sched.FIFO, Rand: []byte("short")}, "random source"},
	} {
		st := mk(c.name)
		before := st.State()
		ps := c.ps
		err := st.Restore(sched.State{Policy: &ps})
		if !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with %+v: error %v, want ErrInvalid containing %q", c.name, c.ps, err, c.want)
		}
		if after := st.State(); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: a refused restore changed the state: %+v", c.name, after)
		}
	}
}
