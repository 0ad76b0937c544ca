package control_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

func workloads(t testing.TB) *jobs.Workloads {
	var es []sched.ThroughputEntry
	for _, g := range []int{1, 2, 4, 8} {
		es = append(es,
			sched.ThroughputEntry{Class: "resnet", Gang: g, Model: "h800", StepsPerSecond: 4 * float64(g)},
			sched.ThroughputEntry{Class: "resnet", Gang: g, Model: "l20", StepsPerSecond: 1 * float64(g)},
			sched.ThroughputEntry{Class: "bert", Gang: g, Model: "h800", StepsPerSecond: 2 * float64(g)},
			sched.ThroughputEntry{Class: "bert", Gang: g, Model: "l20", StepsPerSecond: 1.5 * float64(g)})
	}
	w, err := jobs.NewWorkloads(es)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func fleetOf(h800, l20 int) []jobs.Device {
	var out []jobs.Device
	for i := 0; i < h800; i++ {
		out = append(out, jobs.Device{Serial: fmt.Sprintf("H-%03d", i), Model: "h800", Node: fmt.Sprintf("h%d", i/8)})
	}
	for i := 0; i < l20; i++ {
		out = append(out, jobs.Device{Serial: fmt.Sprintf("L-%03d", i), Model: "l20", Node: fmt.Sprintf("l%d", i/8)})
	}
	return out
}

type rig struct {
	loop    *control.Loop
	store   *jobs.MemStore
	ledger  *control.MemLedger
	backend *simbackend.Backend
	clock   *control.ManualClock
	svc     *jobs.Service
	reg     *prometheus.Registry
}

func newRig(t *testing.T, devs []jobs.Device, bc simbackend.Config, policy string) *rig {
	t.Helper()
	r := &rig{store: jobs.NewMemStore(), ledger: control.NewMemLedger(devs), clock: control.NewManualClock(t0), reg: prometheus.NewRegistry()}
	var err error
	if r.backend, err = simbackend.New(bc); err != nil {
		t.Fatal(err)
	}
	w := workloads(t)
	r.loop, err = control.New(control.Config{Planner: jobs.PlannerConfig{Policy: policy}}, w, r.store, r.ledger, r.backend, r.clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), r.reg)
	if err != nil {
		t.Fatal(err)
	}
	r.svc, err = jobs.NewService(jobs.ServiceConfig{Store: r.store, Fleet: r.ledger, Workloads: w, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) round(t *testing.T) control.Report {
	t.Helper()
	rep, err := r.loop.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(360 * time.Second)
	return rep
}

// A job runs on the faster model and completes when its steps are done, at
// the time its throughput says (mid-round), with restart cost paid once.
func TestLoopRunsJobToCompletion(t *testing.T) {
	r := newRig(t, fleetOf(8, 8), simbackend.Config{RestartCost: 60 * time.Second}, sched.LASHetero)
	ctx := context.Background()
	// 8 × h800 at 32 steps/s: 1000 s of work + 60 s restart = 1060 s.
	j, err := r.svc.Submit(ctx, jobs.Spec{Name: "r", Team: "a", Class: "resnet", Gang: 8, TotalSteps: 32000}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r.round(t)
	}
	got, _ := r.svc.Get(ctx, j.ID)
	if got.State != jobs.Completed {
		t.Fatalf("state %s, why %+v", got.State, got.Why)
	}
	if d := got.FinishedAt.Sub(t0); d != 1060*time.Second {
		t.Errorf("finished after %v, want 1060s", d)
	}
	var kinds []string
	for _, e := range got.History {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "submitted,started,completed" {
		t.Errorf("history %v", kinds)
	}
	if !strings.Contains(got.History[1].Message, "8 × h800 on h0: placed on h800: 4.0× its throughput on l20") {
		t.Errorf("start event %q", got.History[1].Message)
	}
}

// A device marked failed in the ledger leaves the schedule at the next
// round; its job restarts from the last checkpoint elsewhere, and the event
// is in its history.
func TestLedgerFailureRestartsFromCheckpoint(t *testing.T) {
	r := newRig(t, fleetOf(16, 0), simbackend.Config{CheckpointEvery: 10 * time.Minute}, sched.LASHetero)
	ctx := context.Background()
	j, _ := r.svc.Submit(ctx, jobs.Spec{Name: "r", Team: "a", Class: "resnet", Gang: 8, TotalSteps: 1e9}, "")
	r.round(t) // starts at 0
	r.round(t) // 360 s
	r.round(t) // 720 s: progress 720 s × 32, checkpoint at 600 s
	got, _ := r.svc.Get(ctx, j.ID)
	if got.StepsDone != 720*32 || got.CheckpointSteps != 600*32 {
		t.Fatalf("steps %v checkpoint %v", got.StepsDone, got.CheckpointSteps)
	}
	dev := got.Placement.Devices[3]
	if err := r.ledger.SetState(ctx, dev, "failed", "XID 79"); err != nil {
		t.Fatal(err)
	}
	r.round(t) // 1080 s: backend reports progress to 1080, then the loss is noticed
	got, _ = r.svc.Get(ctx, j.ID)
	if got.State != jobs.Running || got.Placement == nil || got.Placement.Nodes[0] != "h1" {
		t.Fatalf("not restarted on the other node: %+v", got)
	}
	if got.StepsDone != 600*32 || got.Restarts != 1 {
		t.Errorf("steps %v restarts %d, want 19200 and 1", got.StepsDone, got.Restarts)
	}
	var msgs []string
	for _, e := range got.History {
		msgs = append(msgs, e.Kind+": "+e.Message)
	}
	want := "checkpoint-restart: lost " + dev + " (out of service) on h0; restarting from the checkpoint at step 19200 (15360 steps redone)"
	if !strings.Contains(strings.Join(msgs, "\n"), want) {
		t.Errorf("history:\n%s\nwant %q", strings.Join(msgs, "\n"), want)
	}
	for _, s := range got.Placement.Devices {
		if s == dev {
			t.Errorf("placed on the failed device %s", s)
		}
	}
}

// Injected failures at a high annual rate: devices leave service through
// the ledger, jobs restart, nothing is ever placed twice (the store checks),
// and every job ends in exactly one state.
func TestInjectedFailures(t *testing.T) {
	r := newRig(t, fleetOf(32, 32), simbackend.Config{AFR: 50, Rand: rand.New(rand.NewPCG(1, 2)), RestartCost: 30 * time.Second}, sched.LASHetero)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 40; i++ {
		g := []int{1, 2, 4, 8}[rng.IntN(4)]
		class := []string{"resnet", "bert"}[rng.IntN(2)]
		if _, err := r.svc.Submit(ctx, jobs.Spec{Name: fmt.Sprint(i), Team: []string{"a", "b"}[i%2], Class: class, Gang: g, TotalSteps: float64(g) * 4 * 3600 * rng.Float64()}, ""); err != nil {
			t.Fatal(err)
		}
	}
	failures := 0
	for i := 0; i < 200; i++ {
		rep := r.round(t)
		failures += len(rep.Failed)
	}
	if failures == 0 || len(r.ledger.Changes) != failures {
		t.Fatalf("failures %d, ledger changes %d", failures, len(r.ledger.Changes))
	}
	all, _ := r.store.Jobs(ctx, jobs.Filter{})
	restarts := 0
	for _, j := range all {
		restarts += j.Restarts
		if j.State == jobs.Running && j.Placement == nil || j.State != jobs.Running && j.Placement != nil {
			t.Errorf("job %s: state %s with placement %v", j.ID, j.State, j.Placement)
		}
	}
	if restarts == 0 {
		t.Errorf("no restarts after %d failures", failures)
	}
	t.Logf("%d device failures, %d restarts, %d jobs", failures, restarts, len(all))
	// metrics
	if n := testutil.CollectAndCount(r.reg, "granary_sched_round_duration_seconds"); n != 1 {
		t.Errorf("round duration metric: %d series", n)
	}
}

func TestMetrics(t *testing.T) {
	r := newRig(t, fleetOf(8, 0), simbackend.Config{}, sched.FIFOHetero)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := r.svc.Submit(ctx, jobs.Spec{Name: "r", Team: "a", Class: "resnet", Gang: 8, TotalSteps: 1e9}, ""); err != nil {
			t.Fatal(err)
		}
	}
	r.round(t)
	want := `
# HELP granary_sched_allocated_devices Devices placed by the last scheduling round, by accelerator model and team.
# TYPE granary_sched_allocated_devices gauge
granary_sched_allocated_devices{model="h800",team="a"} 8
# HELP granary_sched_queue_length Active jobs not running after the last scheduling round (pending or preempted), by team.
# TYPE granary_sched_queue_length gauge
granary_sched_queue_length{team="a"} 2
`
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(want), "granary_sched_allocated_devices", "granary_sched_queue_length"); err != nil {
		t.Error(err)
	}
}

// The per-team job metrics agree with the jobs' histories (the oracle):
// preemptions = "preempted" events, completions = completed jobs, and the
// wait histogram holds, per team, one observation per started job whose sum
// is the time from submission to the first "started" event.
func TestJobMetricsMatchHistories(t *testing.T) {
	r := newRig(t, fleetOf(16, 16), simbackend.Config{RestartCost: 30 * time.Second}, sched.LASHetero)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	teams := []string{"a", "b", "c"}
	for i := 0; i < 120; i++ {
		if i%4 == 0 {
			r.round(t)
		}
		g := []int{1, 2, 4, 8}[rng.IntN(4)]
		if _, err := r.svc.Submit(ctx, jobs.Spec{Name: fmt.Sprint(i), Team: teams[rng.IntN(3)], Class: "resnet", Gang: g,
			TotalSteps: float64(g) * 4 * 1800 * rng.Float64()}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 60; i++ {
		r.round(t)
	}
	all, err := r.store.Jobs(ctx, jobs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	preempt, done, started, waitSum := map[string]float64{}, map[string]float64{}, map[string]uint64{}, map[string]float64{}
	for _, j := range all {
		if j, err = r.svc.Get(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		first := true
		for _, e := range j.History {
			switch e.Kind {
			case "preempted":
				preempt[j.Team]++
			case "completed":
				done[j.Team]++
			case "started":
				if first {
					started[j.Team]++
					waitSum[j.Team] += e.At.Sub(j.SubmittedAt).Seconds()
					first = false
				}
			}
		}
	}
	if preempt["a"]+preempt["b"]+preempt["c"] == 0 || done["a"]+done["b"]+done["c"] == 0 {
		t.Fatalf("the scenario has no preemptions (%v) or completions (%v)", preempt, done)
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			team := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "team" {
					team = l.GetValue()
				}
			}
			name := mf.GetName()
			if got[name] == nil {
				got[name] = map[string]float64{}
			}
			switch {
			case m.Counter != nil:
				got[name][team] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[name][team] = float64(m.Histogram.GetSampleCount())
				if got["sum"] == nil {
					got["sum"] = map[string]float64{}
				}
				got["sum"][name+"/"+team] = m.Histogram.GetSampleSum()
			}
		}
	}
	for _, team := range teams {
		if g, w := got["granary_sched_preemptions_total"][team], preempt[team]; g != w {
			t.Errorf("team %s: preemptions %v, histories say %v", team, g, w)
		}
		if g, w := got["granary_jobs_completed_total"][team], done[team]; g != w {
			t.Errorf("team %s: completions %v, histories say %v", team, g, w)
		}
		if g, w := got["granary_job_wait_seconds"][team], float64(started[team]); g != w {
			t.Errorf("team %s: %v wait observations, %v jobs started", team, g, w)
		}
		if g, w := got["sum"]["granary_job_wait_seconds/"+team], waitSum[team]; g != w {
			t.Errorf("team %s: wait sum %v s, histories say %v s", team, g, w)
		}
	}
	t.Logf("preemptions %v, completions %v, started %v", preempt, done, started)
}

// restartingBackend reports a gang failure of the jobs in fail at its
// next Observe.
type restartingBackend struct {
	control.Backend
	fail []control.GangRestart
}

func (b *restartingBackend) Observe(ctx context.Context, now time.Time) (control.Observation, error) {
	obs, err := b.Backend.Observe(ctx, now)
	obs.Restarts, b.fail = b.fail, nil
	return obs, err
}

// A gang the backend reports failed (a pod of it failed, its devices did
// not) goes back to its last checkpoint and the same round starts it
// again, its restart counted, its devices still in service, and the
// reason in its history.
func TestGangRestartFromCheckpoint(t *testing.T) {
	r := newRig(t, fleetOf(8, 0), simbackend.Config{CheckpointEvery: 10 * time.Minute}, sched.LASHetero)
	rb := &restartingBackend{Backend: r.backend}
	var err error
	r.loop = newLoop(t, control.Config{Planner: jobs.PlannerConfig{Policy: sched.LASHetero}}, workloads(t), r.store, r.ledger, rb, r.clock)
	ctx := context.Background()
	j, _ := r.svc.Submit(ctx, jobs.Spec{Name: "r", Team: "a", Class: "resnet", Gang: 8, TotalSteps: 1e9}, "")
	r.round(t) // starts at 0
	r.round(t) // 360 s
	r.round(t) // 720 s: checkpoint at 600 s
	rb.fail = []control.GangRestart{{JobID: j.ID, Reason: "pod r-0-3 failed (Error, exit code 1)"}}
	r.round(t) // 1080 s
	got, _ := r.svc.Get(ctx, j.ID)
	if got.State != jobs.Running || got.Placement == nil || got.Restarts != 1 {
		t.Fatalf("not restarted: %s restarts %d placement %+v", got.State, got.Restarts, got.Placement)
	}
	if got.StepsDone != 600*32 {
		t.Errorf("steps %v, want the checkpoint's 19200", got.StepsDone)
	}
	var msgs []string
	for _, e := range got.History {
		msgs = append(msgs, e.Kind+": "+e.Message)
	}
	want := "gang-restart: pod r-0-3 failed (Error, exit code 1) on h0; the whole gang restarts from the checkpoint at step 19200 (15360 steps redone)"
	if !strings.Contains(strings.Join(msgs, "\n"), want) || !strings.Contains(msgs[len(msgs)-1], "(restart 1, from step 19200)") {
		t.Errorf("history:\n%s\nwant %q, then a start with restart 1", strings.Join(msgs, "\n"), want)
	}
	in, err := r.ledger.InService(ctx)
	if err != nil || len(in) != 8 {
		t.Errorf("%d devices in service (%v), want all 8", len(in), err)
	}
	// A report for a job not running changes nothing.
	rb.fail = []control.GangRestart{{JobID: "job-none", Reason: "x"}}
	r.round(t)
	if again, _ := r.svc.Get(ctx, j.ID); again.Restarts != 1 {
		t.Errorf("restarts %d after an unrelated report", again.Restarts)
	}
}

// newLoop is control.New with a discarded log and a fresh registry,
// failing the test on error.
func newLoop(t testing.TB, cfg control.Config, w *jobs.Workloads, st control.Store, ledger control.Ledger, backend control.Backend, clock control.Clock) *control.Loop {
	t.Helper()
	loop, err := control.New(cfg, w, st, ledger, backend, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return loop
}

// mustSim is the simulated backend with its defaults.
func mustSim(t testing.TB) *simbackend.Backend {
	t.Helper()
	b, err := simbackend.New(simbackend.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// durableStores are the real stores a live-loop test runs on: each
// returns the opener of one fresh database (opened again at a restart).
func durableStores() map[string]func(t *testing.T) func() durable {
	ctx := context.Background()
	return map[string]func(t *testing.T) func() durable{
		"sqlite": func(t *testing.T) func() durable {
			path := filepath.Join(t.TempDir(), "granary.db")
			return func() durable {
				st, err := sqlite.Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		},
		"postgres": func(t *testing.T) func() durable {
			url := storetest.PostgresURL(t)
			return func() durable {
				st, err := postgres.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		},
	}
}
