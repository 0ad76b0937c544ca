package control_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// pairedWorkloads is workloads' table with a pair throughput for every two
// classes of one gang size on every model: a resnet beside a resnet makes
// 3 steps/s of its 4 alone on an H800, so two on one device beat one each
// half of the time.
func pairedWorkloads(t testing.TB) *jobs.Workloads {
	var es []sched.ThroughputEntry
	var ps []sched.PairEntry
	alone := map[string]map[string]float64{"resnet": {"h800": 4, "l20": 1}, "bert": {"h800": 2, "l20": 1.5}}
	for _, g := range []int{1, 2, 4, 8} {
		for c, by := range alone {
			for m, v := range by {
				es = append(es, sched.ThroughputEntry{Class: c, Gang: g, Model: m, StepsPerSecond: v * float64(g)})
				for o, ob := range alone {
					ps = append(ps, sched.PairEntry{Class: c, Other: o, Gang: g, Model: m, Steps: [2]float64{0.75 * v * float64(g), 0.75 * ob[m] * float64(g)}})
				}
			}
		}
	}
	w, err := jobs.NewWorkloadsWithPairs(es, ps)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A *-packed policy needs pair throughputs: without them the live loop
// refuses to start, naming the first missing pair (as the simulator).
func TestPackedPolicyNeedsPairs(t *testing.T) {
	for _, policy := range []string{"las-hetero-packed", "ftf-hetero-packed", "granary-packed"} {
		_, err := control.New(control.Config{Planner: jobs.PlannerConfig{Policy: policy}}, workloads(t), jobs.NewMemStore(),
			control.NewMemLedger(fleetOf(1, 0)), mustSim(t), control.NewManualClock(t0), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err == nil || !strings.Contains(err.Error(), "policy "+policy+": ") || !strings.Contains(err.Error(), "missing pair (bert, bert) with gang 1 on h800") {
			t.Errorf("%s without pairs: %v, want refused naming (bert, bert), gang 1, h800", policy, err)
		}
		if _, err := control.New(control.Config{Planner: jobs.PlannerConfig{Policy: policy}}, pairedWorkloads(t), jobs.NewMemStore(),
			control.NewMemLedger(fleetOf(1, 0)), mustSim(t), control.NewManualClock(t0), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry()); err != nil {
			t.Errorf("%s with pairs: %v", policy, err)
		}
	}
}

// Space sharing live, on both stores (issue 14): under las-hetero-packed
// two resnet jobs on a one-H800 fleet run together on its device, each at
// its pair throughput (3 steps/s) and naming the other; the store holds
// the device half for each (its trigger refuses more than a whole). The
// pair keeps the device round after round and across a restart (store
// closed and opened again, a new Loop): same device since the same time,
// no restart, no new event.
func TestPackedPairLiveAndRestart(t *testing.T) {
	ctx := context.Background()
	for name, opener := range durableStores() {
		t.Run(name, func(t *testing.T) {
			open := opener(t)
			st := open()
			defer func() { st.Close() }()
			ledger := control.NewMemLedger(fleetOf(1, 0)) // H-000
			backend := mustSim(t)
			clock := control.NewManualClock(t0)
			startLoop := func() *control.Loop {
				return newLoop(t, control.Config{Planner: jobs.PlannerConfig{Policy: "las-hetero-packed"}}, pairedWorkloads(t), st, ledger, backend, clock)
			}
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: pairedWorkloads(t), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, n := range []string{"p", "q"} {
				j, err := svc.Submit(ctx, jobs.Spec{Name: n, Team: "a", Class: "resnet", Gang: 1, TotalSteps: 1e9}, "")
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, j.ID)
			}
			loop := startLoop()
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			first := checkPair(t, st, ids, nil)
			for range 2 {
				clock.Advance(360 * time.Second)
				if _, err := loop.Round(ctx); err != nil {
					t.Fatal(err)
				}
			}
			checkPair(t, st, ids, first)

			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = open()
			clock.Advance(360 * time.Second)
			if _, err := startLoop().Round(ctx); err != nil {
				t.Fatal(err)
			}
			checkPair(t, st, ids, first)
		})
	}
}

// checkPair checks that jobs ids[0] and ids[1] run together on H-000,
// each naming the other, at 3 steps/s; with first (their jobs as an
// earlier check saw them), on the device since the same time, with no
// restart and no new event. It returns the jobs.
func checkPair(t *testing.T, st jobs.Store, ids []string, first []jobs.Job) []jobs.Job {
	t.Helper()
	var out []jobs.Job
	for i, id := range ids {
		j, err := st.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		other := ids[1-i]
		p := j.Placement
		if j.State != jobs.Running || p == nil || p.With != other || len(p.Devices) != 1 || p.Devices[0] != "H-000" || p.StepsPerSecond != 3 || p.Milli != 0 {
			t.Fatalf("%s: %s %+v (%s), want running on H-000 with %s at 3 steps/s", id, j.State, p, j.Why.Message, other)
		}
		if want := "shares device H-000 with job " + other; !strings.Contains(j.Why.Message, want) {
			t.Errorf("%s: why %q, want it to say %q", id, j.Why.Message, want)
		}
		if first != nil && (!p.Since.Equal(first[i].Placement.Since) || j.Restarts != 0 || len(j.History) != len(first[i].History)) {
			t.Errorf("%s: since %v (want %v), %d restarts, history %+v (was %d events); want kept", id, p.Since, first[i].Placement.Since, j.Restarts, j.History, len(first[i].History))
		}
		out = append(out, j)
	}
	return out
}

// Every *-packed policy runs live on the memory store: two resnet jobs
// and a bert on a one-H800 fleet, 6 rounds; no round fails (the store
// refuses a device held past a whole), and by the last round two jobs
// share H-000, each naming the other.
func TestPackedPoliciesLive(t *testing.T) {
	for _, policy := range []string{"las-hetero-packed", "ftf-hetero-packed", "granary-packed"} {
		t.Run(policy, func(t *testing.T) {
			ctx := context.Background()
			st := jobs.NewMemStore()
			ledger := control.NewMemLedger(fleetOf(1, 0))
			clock := control.NewManualClock(t0)
			w := pairedWorkloads(t)
			loop := newLoop(t, control.Config{Planner: jobs.PlannerConfig{Policy: policy}}, w, st, ledger, mustSim(t), clock)
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: w, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"resnet", "resnet", "bert"} {
				if _, err := svc.Submit(ctx, jobs.Spec{Name: c, Team: "a", Class: c, Gang: 1, TotalSteps: 1e9}, ""); err != nil {
					t.Fatal(err)
				}
			}
			for range 6 {
				if _, err := loop.Round(ctx); err != nil {
					t.Fatal(err)
				}
				clock.Advance(360 * time.Second)
			}
			all, err := st.Jobs(ctx, jobs.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			with := map[string]string{}
			for _, j := range all {
				if j.Placement != nil {
					with[j.ID] = j.Placement.With
				}
			}
			if len(with) != 2 {
				t.Fatalf("running: %v, want two jobs sharing H-000", with)
			}
			for id, o := range with {
				if with[o] != id {
					t.Errorf("%s runs with %q, which runs with %q", id, o, with[o])
				}
			}
		})
	}
}
