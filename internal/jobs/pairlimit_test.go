package jobs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// PlannerConfig.Pairable keeps the pairs a backend cannot run out of the
// policy's view: two resnet jobs on one device of a model share it under
// las-hetero-packed, every round; when Pairable refuses one of the jobs,
// or the model, they never share (one runs alone, the other waits), and a
// share kept on other models still forms where Model accepts.
func TestPlannerPairable(t *testing.T) {
	yes := func(*jobs.Job) bool { return true }
	for _, tc := range []struct {
		name  string
		limit *jobs.PairLimit
		model string
		pair  bool
	}{
		{"no limit", nil, "h800", true},
		{"limit accepting all", &jobs.PairLimit{Job: yes}, "h800", true},
		{"job q refused", &jobs.PairLimit{Job: func(j *jobs.Job) bool { return j.ID != "q" }}, "h800", false},
		{"910b3 refused, on h800", &jobs.PairLimit{Job: yes, Model: func(m string) bool { return m != "910b3" }}, "h800", true},
		{"910b3 refused, on 910b3", &jobs.PairLimit{Job: yes, Model: func(m string) bool { return m != "910b3" }}, "910b3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := jobs.NewPlanner(pairedWorkloads(t), jobs.PlannerConfig{Policy: sched.LASHeteroPacked, Names: shortNames, Pairable: tc.limit}, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			js := []jobs.Job{newJob("p", "a", "resnet", 1, 1e6, t0), newJob("q", "a", "resnet", 1, 1e6, t0)}
			in := jobs.Input{Now: t0, Devices: devices(map[string]int{tc.model: 1}), Jobs: js}
			for round := range 3 {
				plan, err := p.Plan(in)
				if err != nil {
					t.Fatal(err)
				}
				held := map[string]int64{} // checkPlan knows no pairs
				for id, pl := range plan.Runs {
					for _, d := range pl.Devices {
						if held[d] += pl.DeviceMilli(); held[d] > 1000 {
							t.Fatalf("round %d: device %s over-held (%d milli) with %s", round, d, held[d], id)
						}
					}
				}
				pp, q := plan.Runs["p"], plan.Runs["q"]
				paired := pp.With == "q" && q.With == "p"
				if paired != tc.pair {
					t.Fatalf("round %d: p %+v, q %+v (why %q, %q); want paired %v", round, pp, q, plan.Why["p"].Message, plan.Why["q"].Message, tc.pair)
				}
				if !tc.pair && (len(plan.Runs) != 1 || pp.With != "" || q.With != "") {
					t.Fatalf("round %d: runs %+v, want one job alone on the device", round, plan.Runs)
				}
				if tc.pair && !strings.Contains(plan.Why["p"].Message, "shares device") {
					t.Errorf("round %d: p's why %q", round, plan.Why["p"].Message)
				}
				in.Now = in.Now.Add(360 * time.Second)
				for i := range in.Jobs {
					if pl, ok := plan.Runs[in.Jobs[i].ID]; ok {
						in.Jobs[i].State, in.Jobs[i].Placement = jobs.Running, &pl
					} else {
						in.Jobs[i].State, in.Jobs[i].Placement = jobs.Preempted, nil
					}
				}
			}
		})
	}
}

// A Pairable limit on a table without pairs (a policy that does not pack)
// changes nothing: a job it refuses is placed under its own class.
func TestPlannerPairableWithoutPairs(t *testing.T) {
	no := &jobs.PairLimit{Job: func(*jobs.Job) bool { return false }}
	p, err := jobs.NewPlanner(workloads(t), jobs.PlannerConfig{Policy: sched.LASHetero, Names: shortNames, Pairable: no}, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	in := jobs.Input{Now: t0, Devices: devices(map[string]int{"h800": 8}), Jobs: []jobs.Job{newJob("p", "a", "resnet", 8, 1e6, t0)}}
	plan, err := p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	if _, ok := plan.Runs["p"]; !ok {
		t.Errorf("p waits: %+v", plan.Why["p"])
	}
}
