package control_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// Issue 16: a team of weight 1e308 (stored before the bounds existed, so it
// survives restarts) with a job of weight 10 made every round fail for
// everyone. Now the job is excluded with its reason and the others run.
func TestExtremeTeamDoesNotStopTheRound(t *testing.T) {
	r := newRig(t, fleetOf(8, 8), simbackend.Config{}, sched.LASHetero)
	ctx := context.Background()
	if err := r.store.PutTeam(ctx, jobs.Team{Name: "hog", Weight: 1e308}, nil); err != nil {
		t.Fatal(err)
	}
	bad, err := r.store.CreateJob(ctx, jobs.Job{ID: "job-bad", Spec: jobs.Spec{Name: "bad", Team: "hog", Class: "resnet", Gang: 1, Weight: 10, TotalSteps: 1e6}, State: jobs.Pending, SubmittedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	good, err := r.svc.Submit(ctx, jobs.Spec{Name: "good", Team: "a", Class: "resnet", Gang: 1, TotalSteps: 1e6}, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rep := r.round(t)
		if _, ok := rep.Plan.Runs[good.ID]; !ok {
			t.Fatalf("the other team's job did not run: %+v", rep.Plan.Why[good.ID])
		}
		if why := rep.Plan.Why[bad.ID]; why.Code != jobs.CodeInvalid || !strings.Contains(why.Message, "team hog's weight 1e+308") {
			t.Errorf("the extreme job: %+v", why)
		}
	}
	if got := counterValue(t, r.reg, "granary_sched_rounds_failed_total"); got != 0 {
		t.Errorf("failed rounds = %v", got)
	}
	if err := r.loop.Healthy(); err != nil {
		t.Error(err)
	}
}

// flakyStore fails Jobs while broken is set.
type flakyStore struct {
	*jobs.MemStore
	broken bool
}

func (f *flakyStore) Jobs(ctx context.Context, fl jobs.Filter) ([]jobs.Job, error) {
	if f.broken {
		return nil, errors.New("disk on fire")
	}
	return f.MemStore.Jobs(ctx, fl)
}

// A failed round is counted, and after three in a row Healthy (behind
// /readyz) says so; one good round clears it.
func TestFailedRoundsAreCountedAndUnhealthy(t *testing.T) {
	st := &flakyStore{MemStore: jobs.NewMemStore(), broken: true}
	be := mustSim(t)
	reg := prometheus.NewRegistry()
	var logs strings.Builder
	loop, err := control.New(control.Config{}, workloads(t), st, control.NewMemLedger(fleetOf(8, 0)), be, control.NewManualClock(t0),
		slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= control.UnhealthyAfter; i++ {
		if err := loop.Healthy(); err != nil {
			t.Fatalf("unhealthy after %d failed rounds: %v", i-1, err)
		}
		if _, err := loop.Round(ctx); err == nil {
			t.Fatal("round with a broken store succeeded")
		}
	}
	if got := counterValue(t, reg, "granary_sched_rounds_failed_total"); got != control.UnhealthyAfter {
		t.Errorf("failed rounds = %v, want %d", got, control.UnhealthyAfter)
	}
	if err := loop.Healthy(); err == nil || !strings.Contains(err.Error(), "the last 3 rounds failed") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Healthy = %v", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"scheduling round failed\"") {
		t.Errorf("not logged at error: %s", logs.String())
	}
	st.broken = false
	if _, err := loop.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if err := loop.Healthy(); err != nil {
		t.Errorf("still unhealthy after a good round: %v", err)
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
