package sched_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// ChargeRun(n, …) books exactly what Charge does for the n-th run of the
// last placement, and falls back to Charge when n does not name that run:
// two RoundStates fed the same rounds, one charged each way, keep the same
// state and make the same placements.
func TestChargeRunIsCharge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for it := 0; it < 10; it++ {
		s, tp := schedtest.Small(r, 12)
		all := s.Jobs
		mk := func() *sched.RoundState {
			p, err := sched.PolicyByName(sched.LASHetero, sched.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return sched.NewRoundState(p, sched.RoundConfig{ResetInterval: -1})
		}
		a, b := mk(), mk()
		charged := 0
		for round := 0; round < 8; round++ {
			// Jobs arrive and the first one leaves after round 4.
			lo := 0
			if round > 4 {
				lo = 1
			}
			s.Jobs = append([]sched.Job(nil), all[lo:min(len(all), 3+round)]...)
			s.Now = float64(round) * 360
			pa, err := a.Next(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := b.Next(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			ja, _ := json.Marshal(pa)
			jb, _ := json.Marshal(pb)
			if string(ja) != string(jb) {
				t.Fatalf("round %d: placements differ\n%s\n%s", round, ja, jb)
			}
			for n, run := range pa.Runs {
				sec := 100 + float64((n*37+round*11)%260)
				a.Charge(run.Job, run.Model, sec)
				m := n
				if n%3 == 2 {
					m = n + 1 // not this job's run: ChargeRun falls back to Charge
				}
				b.ChargeRun(m, run.Job, run.Model, sec)
				charged++
			}
			sa, _ := json.Marshal(a.State())
			sb, _ := json.Marshal(b.State())
			if string(sa) != string(sb) {
				t.Fatalf("round %d: states differ after charging\n%s\n%s", round, sa, sb)
			}
		}
		if charged == 0 {
			t.Fatal("no run was charged")
		}
	}
}

// With RoundConfig.NoWaiting the runs are the same, round after round, and
// Waiting is empty; without it every active job is in Runs or Waiting.
func TestNoWaitingSameRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	waited := 0
	for it := 0; it < 10; it++ {
		s, tp := schedtest.Small(r, 12)
		all := s.Jobs
		mk := func(noWait bool) *sched.RoundState {
			p, err := sched.PolicyByName(sched.LASHetero, sched.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return sched.NewRoundState(p, sched.RoundConfig{ResetInterval: -1, NoWaiting: noWait})
		}
		a, b := mk(false), mk(true)
		for round := 0; round < 8; round++ {
			s.Jobs = append([]sched.Job(nil), all[:min(len(all), 3+2*round)]...)
			s.Now = float64(round) * 360
			pa, err := a.Next(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := b.Next(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			ja, _ := json.Marshal(pa.Runs)
			jb, _ := json.Marshal(pb.Runs)
			if string(ja) != string(jb) {
				t.Fatalf("round %d: runs differ\n%s\n%s", round, ja, jb)
			}
			if len(pb.Waiting) != 0 || len(pa.Runs)+len(pa.Waiting) != len(s.Jobs) {
				t.Fatalf("round %d: %d jobs, %d runs, waiting %d with reasons and %d without", round, len(s.Jobs), len(pa.Runs), len(pa.Waiting), len(pb.Waiting))
			}
			waited += len(pa.Waiting)
			for n, run := range pa.Runs {
				a.Charge(run.Job, run.Model, 200)
				b.ChargeRun(n, run.Job, run.Model, 200)
			}
		}
	}
	if waited == 0 {
		t.Fatal("no job ever waited: the test shows nothing")
	}
}
