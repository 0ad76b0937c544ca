package jobs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/jobs/jobstest"
)

// BenchmarkPlanMultiNode times one steady-state round of the placement
// pipeline through the Planner (snapshot translation, filter, fairness,
// las-hetero allocation when the job set changed, Gavel's priorities,
// guarantees, packing, upgrades): 100,000 devices of 10 models on 12,500
// nodes of 8 in 4 sites × 8 switches, 10,000 jobs of 5 teams with
// guarantees, 500 of them multi-node gangs of 16–512 devices. Each
// iteration is the next round, with the previous placements held.
func BenchmarkPlanMultiNode(b *testing.B) {
	const nDev, nJobs, nGangs = 100000, 10000, 500
	bw := jobstest.NewBench(b)
	models, w := bw.Models, bw.Workloads
	devs := make([]jobs.Device, nDev)
	for i := range devs {
		m, n := models[i%len(models)], i/len(models)/8
		devs[i] = jobs.Device{Serial: fmt.Sprintf("D%07d", i), Model: m, Node: fmt.Sprintf("%s-n%05d", m, n),
			Site: fmt.Sprint("site-", n%4), Switch: fmt.Sprint("sw-", n%32)}
	}
	teamNames := []string{"search", "ads", "llm", "vision", "speech"}
	var teams []jobs.Team
	for i, t := range teamNames {
		teams = append(teams, jobs.Team{Name: t, Weight: 1, Guarantees: map[string]int{models[i]: 2000}})
	}
	js := make([]jobs.Job, nJobs)
	for i := range js {
		js[i] = jobs.Job{ID: fmt.Sprint("job-", i), Spec: bw.Spec(i, nGangs, teamNames),
			State: jobs.Pending, SubmittedAt: t0}
	}
	p, err := jobs.NewPlanner(w, jobs.PlannerConfig{}, t0.Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	round := func() jobs.Plan {
		plan, err := p.Plan(jobs.Input{Now: now, Devices: devs, Jobs: js, Teams: teams})
		if err != nil {
			b.Fatal(err)
		}
		for i := range js {
			if pl, ok := plan.Runs[js[i].ID]; ok {
				js[i].Placement, js[i].State = &pl, jobs.Running
				p.Charge(js[i].ID, pl.Model, 360)
			} else {
				js[i].Placement, js[i].State = nil, jobs.Preempted
			}
		}
		now = now.Add(360 * time.Second)
		return plan
	}
	round()
	var last jobs.Plan
	multi := 0
	for b.Loop() {
		last = round()
	}
	for i := 0; i < nGangs; i++ {
		if _, ok := last.Runs[js[i].ID]; ok {
			multi++
		}
	}
	b.ReportMetric(float64(len(last.Runs)), "running")
	b.ReportMetric(float64(multi), "multinode-running")
}
