package jobs_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// TestPlanSurvivesExtremeNumbers: issue 16 — team weight 1e308 plus a job
// of weight 10 made every round fail. Whatever numbers reach the planner
// (Check and CheckTeams refuse them at the door, but rows written before
// the bounds existed survive restarts), a round never fails: a job it
// cannot include is excluded with a reason and the others are placed.
func TestPlanSurvivesExtremeNumbers(t *testing.T) {
	for _, pol := range sched.PolicyNames() {
		w := workloads(t)
		if strings.HasSuffix(pol, "-packed") {
			w = pairedWorkloads(t) // refused without (TestPlannerRefusesPacked)
		}
		for _, tc := range []struct {
			name     string
			teamW    float64
			job      func(*jobs.Job)
			excluded string // the field named in the exclusion; "" = may run
		}{
			{"team weight 1e308, job weight 10", 1e308, func(j *jobs.Job) { j.Weight = 10 }, "team hog's weight"},
			{"team weight max float", math.MaxFloat64, func(j *jobs.Job) { j.Weight = math.MaxFloat64 }, "weight"},
			{"job weight +Inf", 1, func(j *jobs.Job) { j.Weight = math.Inf(1) }, "weight +Inf"},
			{"job weight NaN", 1, func(j *jobs.Job) { j.Weight = math.NaN() }, "weight NaN"},
			{"steps 1e308", 1, func(j *jobs.Job) { j.TotalSteps = 1e308 }, "total_steps 1e+308"},
			{"steps +Inf", 1, func(j *jobs.Job) { j.TotalSteps = math.Inf(1) }, "total_steps +Inf"},
			{"weight tiny", 1e-300, func(j *jobs.Job) { j.Weight = 1e-300 }, ""},
		} {
			t.Run(pol+"/"+tc.name, func(t *testing.T) {
				p, err := jobs.NewPlanner(w, jobs.PlannerConfig{Policy: pol, Names: shortNames,
					Cost: map[string]float64{"910b3": 2, "l20": 1}}, t0.Add(-time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				bad := newJob("bad", "hog", "resnet", 1, 1e6, t0)
				tc.job(&bad)
				good := newJob("good", "fine", "resnet", 1, 1e6, t0)
				in := jobs.Input{Now: t0, Devices: devices(map[string]int{"910b3": 4, "l20": 4}),
					Jobs:  []jobs.Job{bad, good},
					Teams: []jobs.Team{{Name: "hog", Weight: tc.teamW}, {Name: "fine", Weight: 1}}}
				plan, err := p.Plan(in)
				if err != nil {
					t.Fatalf("round failed: %v", err)
				}
				checkPlan(t, in, plan)
				if _, ok := plan.Runs["good"]; !ok {
					t.Errorf("the other team's job did not run: %+v", plan.Why["good"])
				}
				if _, ok := plan.Runs["bad"]; !ok && plan.Why["bad"].Code == "" {
					t.Errorf("the extreme job is neither placed nor explained")
				}
				if tc.excluded != "" && (plan.Why["bad"].Code != jobs.CodeInvalid || !strings.Contains(plan.Why["bad"].Message, tc.excluded)) {
					t.Errorf("the extreme job: %+v, want excluded naming %q", plan.Why["bad"], tc.excluded)
				}
			})
		}
	}
}

// A *-packed policy on a table without pair throughputs is refused when
// the planner is built, not at every round, naming the first missing pair.
func TestPlannerRefusesPacked(t *testing.T) {
	_, err := jobs.NewPlanner(workloads(t), jobs.PlannerConfig{Policy: sched.LASHeteroPacked, Names: shortNames}, t0)
	if err == nil || !errors.Is(err, fleet.ErrNotFound) || !strings.Contains(err.Error(), "policy las-hetero-packed: ") || !strings.Contains(err.Error(), "missing pair (") {
		t.Errorf("NewPlanner(las-hetero-packed) = %v, want refused naming the missing pair", err)
	}
}
