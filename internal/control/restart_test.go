package control_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
		var err error
		r.loop, err = control.New(control.Config{Planner: jobs.PlannerConfig{Policy: sched.LASHetero}}, workloads(t), store, r.ledger, r.backend, r.clock,
			slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
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
