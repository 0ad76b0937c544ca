package control_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// forgetful is a store that loses the scheduler's state (a server of the
// previous version): the control case of the restart test.
type forgetful struct{ *jobs.MemStore }

func (f forgetful) LastRound(ctx context.Context) (jobs.Round, error) {
	r, err := f.MemStore.LastRound(ctx)
	r.State = nil
	return r, err
}

// Run N rounds, restart the server (a new Loop on the same store, ledger,
// backend and clock), run more: every later placement and round number
// equals an uninterrupted server's. Forgetting the state changes them.
func TestRestartContinuesAllocation(t *testing.T) {
	ctx := context.Background()
	submit := func(r *rig) {
		for i, team := range []string{"a", "a", "b", "b", "c", "c", "c"} {
			if _, err := r.svc.Submit(ctx, jobs.Spec{Name: "j", Team: team, Class: "resnet", Gang: 4, Weight: float64(1 + i%3), TotalSteps: 1e9}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	restart := func(r *rig, store control.Store) {
		r.loop = newLoop(t, control.Config{Planner: jobs.PlannerConfig{Policy: sched.LASHetero}}, workloads(t), store, r.ledger, r.backend, r.clock)
	}
	type outcome struct {
		Seq  int64
		Runs map[string]jobs.Placement
	}
	trace := func(mode string) []outcome {
		r := newRig(t, fleetOf(8, 8), simbackend.Config{}, sched.LASHetero)
		submit(r)
		for i := 0; i < 5; i++ {
			r.round(t)
		}
		switch mode {
		case "restart":
			restart(r, r.store)
		case "forget":
			restart(r, forgetful{r.store})
		}
		var out []outcome
		for i := 0; i < 6; i++ {
			rep := r.round(t)
			out = append(out, outcome{rep.Round.Seq, rep.Plan.Runs})
		}
		return out
	}
	want := trace("")
	if got := trace("restart"); !reflect.DeepEqual(got, want) {
		t.Errorf("after a restart:\n got %+v\nwant %+v", got, want)
	}
	if want[0].Seq != 6 {
		t.Errorf("round after 5 is %d", want[0].Seq)
	}
	if got := trace("forget"); reflect.DeepEqual(got, want) {
		t.Error("a restart that forgets the state made the same placements: the test cannot tell")
	}
}

// termClock is a manual clock whose Sleep ends a lead term (cancels its
// context) after rounds rounds.
type termClock struct {
	*control.ManualClock
	rounds int
	cancel context.CancelFunc
}

func (c *termClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := c.ManualClock.Sleep(ctx, d); err != nil {
		return err
	}
	if c.rounds--; c.rounds <= 0 {
		c.cancel()
	}
	return ctx.Err()
}

// Replicas on one store: A leads (Run) for 3 rounds, loses the lead to B
// for 2, and leads again for 6. A's second term starts from the state B
// saved, not from what A remembered: its last round, number and scheduler
// state equal an uninterrupted server's after 11 rounds.
func TestRegainedLeadResumesFromStore(t *testing.T) {
	ctx := context.Background()
	type outcome struct {
		Seq   int64
		State string
		Jobs  []jobs.Job
	}
	run := func(terms []int, loops int) outcome {
		r := newRig(t, fleetOf(8, 8), simbackend.Config{}, sched.LASHetero)
		for i, team := range []string{"a", "a", "b", "b", "c", "c", "c"} {
			if _, err := r.svc.Submit(ctx, jobs.Spec{Name: "j", Team: team, Class: "resnet", Gang: 4, Weight: float64(1 + i%3), TotalSteps: 1e9}, ""); err != nil {
				t.Fatal(err)
			}
		}
		clock := &termClock{ManualClock: r.clock}
		var replicas []*control.Loop
		for i := 0; i < loops; i++ {
			l := newLoop(t, control.Config{Planner: jobs.PlannerConfig{Policy: sched.LASHetero}}, workloads(t), r.store, r.ledger, r.backend, clock)
			replicas = append(replicas, l)
		}
		for i, n := range terms {
			c, cancel := context.WithCancel(ctx)
			clock.rounds, clock.cancel = n, cancel
			if err := replicas[i%loops].Run(c); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
		last, err := r.store.LastRound(ctx)
		if err != nil {
			t.Fatal(err)
		}
		js, err := r.store.Jobs(ctx, jobs.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return outcome{last.Seq, string(last.State), js}
	}
	want := run([]int{11}, 1)
	if want.Seq != 11 {
		t.Fatalf("uninterrupted: last round %d, want 11", want.Seq)
	}
	if got := run([]int{3, 2, 6}, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("A, B, A again: last round %d, state\n%s\nwant round %d, state\n%s\n(jobs equal: %v)", got.Seq, got.State, want.Seq, want.State, reflect.DeepEqual(got.Jobs, want.Jobs))
	}
}
