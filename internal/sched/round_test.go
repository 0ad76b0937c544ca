package sched_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// fixed is a test policy that returns a given X (by job id and model).
type fixed struct {
	name string
	x    map[string]map[string]float64
}

func (f *fixed) Name() string { return f.name }
func (f *fixed) Allocate(s *sched.Snapshot, tp *sched.Throughputs) (sched.Allocation, error) {
	var a sched.Allocation
	for m, n := range s.Fleet {
		if n > 0 {
			a.Models = append(a.Models, m)
		}
	}
	slices.Sort(a.Models)
	for _, j := range s.Jobs {
		row := make([]float64, len(a.Models))
		for k, m := range a.Models {
			row[k] = f.x[j.ID][m]
		}
		a.Jobs = append(a.Jobs, j.ID)
		a.X = append(a.X, row)
		a.Reasons = append(a.Reasons, "")
	}
	return a, nil
}

func table(t *testing.T, es ...sched.ThroughputEntry) *sched.Throughputs {
	t.Helper()
	tp, err := sched.NewThroughputs(es)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func job(id, class string, gang int) sched.Job {
	return sched.Job{ID: id, Class: class, Gang: gang, Weight: 1, TotalSteps: 1e6, RemainingSteps: 1e6}
}

// runRounds drives st for n rounds of 360 s, charging every placed job the
// whole round, and checks the placement invariants each round.
func runRounds(t *testing.T, st *sched.RoundState, s *sched.Snapshot, tp *sched.Throughputs, n int) []sched.Placement {
	t.Helper()
	var out []sched.Placement
	for r := 0; r < n; r++ {
		s.Now = float64(r) * 360
		p, err := st.Next(s, tp)
		if err != nil {
			t.Fatal(err)
		}
		if err := schedtest.CheckPlacement(s, tp, p); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		for _, run := range p.Runs {
			st.Charge(run.Job, run.Model, 360)
		}
		out = append(out, p)
	}
	return out
}

func TestRoundSharesTimeByAllocation(t *testing.T) {
	// One device, X = 0.75 / 0.25: over 40 rounds the jobs get 30 / 10 rounds.
	tp := table(t, sched.ThroughputEntry{"c", 1, "m", 1})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{job("a", "c", 1), job("b", "c", 1)}}
	st := sched.NewRoundState(&fixed{"test", map[string]map[string]float64{"a": {"m": 0.75}, "b": {"m": 0.25}}}, sched.RoundConfig{})
	ps := runRounds(t, st, s, tp, 40)
	count := map[string]int{}
	for _, p := range ps {
		for _, r := range p.Runs {
			count[r.Job]++
		}
	}
	if count["a"] < 29 || count["a"] > 31 || count["b"] < 9 || count["b"] > 11 {
		t.Errorf("rounds received %v, want about a=30 b=10", count)
	}
}

func TestRoundLeaseExtension(t *testing.T) {
	// 4 devices, 2 jobs with gang 2 and full shares: both run every round,
	// on the same devices every time.
	tp := table(t, sched.ThroughputEntry{"c", 2, "m", 1})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 4}, Jobs: []sched.Job{job("a", "c", 2), job("b", "c", 2)}}
	st := sched.NewRoundState(&fixed{"test", map[string]map[string]float64{"a": {"m": 1}, "b": {"m": 1}}}, sched.RoundConfig{})
	ps := runRounds(t, st, s, tp, 10)
	for r := 1; r < len(ps); r++ {
		for _, id := range []string{"a", "b"} {
			prev, _ := ps[r-1].RunOf(id)
			cur, ok := ps[r].RunOf(id)
			if !ok || !slices.Equal(prev.Devices, cur.Devices) {
				t.Fatalf("round %d: job %s moved from %v to %v", r, id, prev.Devices, cur.Devices)
			}
		}
	}
}

func TestRoundLargestGangFirstAndWhole(t *testing.T) {
	// 5 devices; a gang-1 job with the higher priority and a gang-4 job:
	// both run; the gang of 4 is placed first on devices 0-3.
	tp := table(t, sched.ThroughputEntry{"c", 1, "m", 1}, sched.ThroughputEntry{"c", 4, "m", 1})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 5}, Jobs: []sched.Job{job("small", "c", 1), job("big", "c", 4)}}
	st := sched.NewRoundState(&fixed{"test", map[string]map[string]float64{"small": {"m": 1}, "big": {"m": 0.5}}}, sched.RoundConfig{})
	p := runRounds(t, st, s, tp, 1)[0]
	big, ok1 := p.RunOf("big")
	small, ok2 := p.RunOf("small")
	if !ok1 || !ok2 || !slices.Equal(big.Devices, []int{0, 1, 2, 3}) || !slices.Equal(small.Devices, []int{4}) {
		t.Fatalf("placement %+v", p)
	}
}

func TestRoundPriorityOrderAndReasons(t *testing.T) {
	// 2 devices of m; "hi" has twice the share of "lo"; "lo2" has no share;
	// "never" cannot run on m; "huge" needs 3 devices.
	tp := table(t,
		sched.ThroughputEntry{"c", 1, "m", 1},
		sched.ThroughputEntry{"z", 1, "m", 0},
		sched.ThroughputEntry{"c", 3, "m", 1},
	)
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: []sched.Job{
		job("lo", "c", 1), job("hi", "c", 1), job("lo2", "c", 1), job("never", "z", 1), job("huge", "c", 3), job("mid", "c", 1),
	}}
	x := map[string]map[string]float64{"hi": {"m": 0.8}, "lo": {"m": 0.4}, "mid": {"m": 0.6}}
	st := sched.NewRoundState(&fixed{"fifo-hetero", x}, sched.RoundConfig{}) // fifo: zero-priority jobs never fill
	p := runRounds(t, st, s, tp, 1)[0]
	var running []string
	for _, r := range p.Runs {
		running = append(running, r.Job)
	}
	slices.Sort(running)
	if !slices.Equal(running, []string{"hi", "mid"}) {
		t.Fatalf("running %v, want [hi mid] (highest priorities)", running)
	}
	want := map[string]sched.Reason{
		"lo": sched.ReasonOutranked, "lo2": sched.ReasonNoShare,
		"never": sched.ReasonNoThroughput, "huge": sched.ReasonGangTooLarge,
	}
	for _, w := range p.Waiting {
		if want[w.Job] != w.Reason {
			t.Errorf("job %s waits because %q, want %q", w.Job, w.Reason, want[w.Job])
		}
	}
}

func TestRoundWorkConserving(t *testing.T) {
	// Non-fifo policies let jobs without a share use devices nobody else wants.
	tp := table(t, sched.ThroughputEntry{"c", 1, "m", 1})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: []sched.Job{job("a", "c", 1), job("b", "c", 1)}}
	st := sched.NewRoundState(&fixed{"las", map[string]map[string]float64{"a": {"m": 1}}}, sched.RoundConfig{})
	p := runRounds(t, st, s, tp, 1)[0]
	if len(p.Runs) != 2 {
		t.Fatalf("runs %+v, want both jobs running", p.Runs)
	}
}

func TestRoundResetInterval(t *testing.T) {
	// The allocation is recomputed when the job set changes, at most once
	// per ResetInterval (Gavel: 1920 s), except before the first reset.
	tp := table(t, sched.ThroughputEntry{"c", 1, "m", 1})
	p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(p, sched.RoundConfig{})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: []sched.Job{job("a", "c", 1)}}
	s.Now = 100
	if _, err := st.Next(s, tp); err != nil {
		t.Fatal(err)
	}
	if st.Allocations != 1 {
		t.Fatalf("allocations %d after first round", st.Allocations)
	}
	s.Jobs = append(s.Jobs, job("b", "c", 1))
	s.Now = 460
	pl, _ := st.Next(s, tp)
	if st.Allocations != 1 {
		t.Fatalf("recomputed %d times within the reset interval", st.Allocations)
	}
	if _, ok := pl.RunOf("b"); ok {
		t.Fatalf("job b ran before the allocation knew about it")
	}
	for _, w := range pl.Waiting {
		if w.Job == "b" && w.Reason != sched.ReasonNotYetAllocated {
			t.Errorf("job b waits because %q, want %q", w.Reason, sched.ReasonNotYetAllocated)
		}
	}
	s.Now = 100 + 1920
	pl, _ = st.Next(s, tp)
	if st.Allocations != 2 {
		t.Fatalf("not recomputed after the reset interval (%d)", st.Allocations)
	}
	if _, ok := pl.RunOf("b"); !ok {
		t.Fatalf("job b not running after reallocation: %+v", pl)
	}
}

// TestRoundInvariantsRandom runs every policy for several rounds with
// arrivals and departures on random instances and checks the placement
// invariants (no device twice, gangs whole, every job once, zero-throughput
// models never used) every round.
func TestRoundInvariantsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	n := 60
	if testing.Short() {
		n = 15
	}
	for it := 0; it < n; it++ {
		s, tp := schedtest.Small(r, 10)
		all := s.Jobs
		for _, name := range sched.PolicyNames() {
			opt := sched.Options{Rand: rand.New(rand.NewPCG(uint64(it), 1)), Cost: map[string]float64{"m0": 1, "m1": 2, "m2": 3}}
			p, err := sched.PolicyByName(name, opt)
			if err != nil {
				t.Fatal(err)
			}
			st := sched.NewRoundState(p, sched.RoundConfig{ResetInterval: -1, Rand: rand.New(rand.NewPCG(2, uint64(it)))})
			for round := 0; round < 6; round++ {
				lo, hi := round/2, min(len(all), round+3)
				s.Jobs = all[min(lo, hi):hi]
				s.Now = float64(round) * 360
				pl, err := st.Next(s, tp)
				if err != nil {
					t.Fatalf("instance %d %s round %d: %v", it, name, round, err)
				}
				if err := schedtest.CheckPlacement(s, tp, pl); err != nil {
					t.Fatalf("instance %d %s round %d: %v", it, name, round, err)
				}
				if a := st.Allocation(); a != nil {
					// The policy sees the jobs the filter stage kept.
					seen := *s
					seen.Jobs = nil
					for _, id := range a.Jobs {
						for _, j := range s.Jobs {
							if j.ID == id {
								seen.Jobs = append(seen.Jobs, j)
							}
						}
					}
					if err := schedtest.CheckAllocation(&seen, a); err != nil {
						t.Fatalf("instance %d %s round %d: %v", it, name, round, err)
					}
				}
				for _, run := range pl.Runs {
					st.Charge(run.Job, run.Model, 100+float64(r.IntN(260)))
				}
			}
			s.Jobs = all
		}
	}
	_ = fmt.Sprint()
}

// TestNextDuplicateIDsAcrossRounds: Next rejects a snapshot that lists a
// job twice, wherever the copies sit relative to the previous round's
// order (uniqueIDs follows it with a cursor and looks the others up), and
// after a restore (records without an order); a valid snapshot after a
// rejected one is placed as usual.
func TestNextDuplicateIDsAcrossRounds(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	ids := func(xs ...string) []sched.Job {
		var js []sched.Job
		for _, x := range xs {
			js = append(js, job(x, "c", 1))
		}
		return js
	}
	p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	for _, dup := range [][]string{
		{"a", "a", "b", "c"}, {"a", "b", "a"}, {"b", "a", "b"}, {"c", "b", "a", "c"},
		{"a", "b", "c", "c"}, {"a", "d", "d"}, {"d", "a", "b", "c", "d"}, {"b", "c", "a", "a"},
	} {
		for _, restore := range []bool{false, true} {
			st := sched.NewRoundState(p, sched.RoundConfig{})
			s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: ids("a", "b", "c")}
			if _, err := st.Next(s, tp); err != nil {
				t.Fatal(err)
			}
			if restore {
				if err := st.Restore(st.State()); err != nil {
					t.Fatal(err)
				}
			}
			s2 := &sched.Snapshot{Now: 360, Fleet: s.Fleet, Jobs: ids(dup...)}
			if _, err := st.Next(s2, tp); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "duplicate id") {
				t.Errorf("%v (restored %v): %v, want a duplicate id", dup, restore, err)
			}
			s3 := &sched.Snapshot{Now: 720, Fleet: s.Fleet, Jobs: ids("c", "a", "d")}
			pl, err := st.Next(s3, tp)
			if err != nil || len(pl.Runs) != 2 {
				t.Errorf("%v (restored %v): valid round after: %v, %d runs", dup, restore, err, len(pl.Runs))
			}
		}
	}
}
