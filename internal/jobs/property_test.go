package jobs_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// TestPlanProperties plans random fleets, jobs and team guarantees for
// several rounds under several policies and checks every plan against the
// invariants (checkPlan) and the guarantee rule: a team below its guarantee
// on a model, with a waiting job that fits in the rest of its guarantee,
// waits only if the devices free or borrowed beyond other teams'
// guarantees cannot hold the gang, or for fragmentation.
func TestPlanProperties(t *testing.T) {
	w := workloads(t)
	r := rand.New(rand.NewPCG(42, 7))
	models := []string{"h800", "910b3", "l20"}
	classes := []string{"resnet", "bert", "cpu-bound"}
	for c := 0; c < 60; c++ {
		policy := []string{sched.LASHetero, sched.FIFOHetero, sched.MaxThroughput, sched.LAS}[c%4]
		p, err := jobs.NewPlanner(w, jobs.PlannerConfig{Policy: policy, Seed: uint64(c)}, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, m := range models {
			per[m] = 8 * r.IntN(4)
		}
		devs := devices(per)
		capa := jobs.CapacityOf(devs)
		teams := []jobs.Team{{Name: "a", Weight: 1 + float64(r.IntN(3))}, {Name: "b", Weight: 1}, {Name: "c", Weight: 2}}
		for _, m := range models {
			left := capa.Devices[m]
			for i := range teams[:2] {
				g := r.IntN(left/2 + 1)
				if g > 0 {
					if teams[i].Guarantees == nil {
						teams[i].Guarantees = map[string]int{}
					}
					teams[i].Guarantees[m] = g
					left -= g
				}
			}
		}
		if err := jobs.CheckTeams(teams, capa, nil); err != nil {
			t.Fatal(err)
		}
		var js []jobs.Job
		for i := 0; i < 1+r.IntN(25); i++ {
			cl := classes[r.IntN(len(classes))]
			gs := w.Gangs(cl)
			g := gs[r.IntN(len(gs))]
			if g > 8 {
				g = 8
			}
			j := newJob(fmt.Sprintf("job-%d", i+1), teams[r.IntN(3)].Name, cl, g, 1e6, t0.Add(time.Duration(i)*time.Second))
			if r.IntN(5) == 0 {
				j.Forbidden = []string{models[r.IntN(3)]}
			}
			js = append(js, j)
		}
		for round := 0; round < 4; round++ {
			// devices fail now and then
			if round > 0 && len(devs) > 0 && r.IntN(2) == 0 {
				k := r.IntN(len(devs))
				devs = append(devs[:k:k], devs[k+1:]...)
			}
			in := jobs.Input{Now: t0.Add(time.Duration(round) * 6 * time.Minute), Devices: devs, Jobs: js, Teams: teams}
			plan, err := p.Plan(in)
			if err != nil {
				t.Fatalf("case %d round %d (%s): %v", c, round, policy, err)
			}
			checkPlan(t, in, plan)
			checkGuarantees(t, in, plan, w)
			for i := range js {
				if pl, ok := plan.Runs[js[i].ID]; ok {
					js[i].Placement, js[i].State = &pl, jobs.Running
					p.Charge(js[i].ID, pl.Model, 360)
				} else {
					js[i].Placement = nil
					if js[i].State == jobs.Running {
						js[i].State = jobs.Preempted
					}
				}
			}
		}
	}
}

func checkGuarantees(t *testing.T, in jobs.Input, plan jobs.Plan, w *jobs.Workloads) {
	t.Helper()
	capa := jobs.CapacityOf(in.Devices)
	used := map[string]int{}
	for _, u := range plan.Use {
		for m, n := range u {
			used[m] += n
		}
	}
	for _, tm := range in.Teams {
		for m, g := range tm.Guarantees {
			for _, j := range in.Jobs {
				if j.Team != tm.Name {
					continue
				}
				if _, runs := plan.Runs[j.ID]; runs {
					continue
				}
				v, _ := w.Lookup(j.Class, j.Gang, m)
				forbidden := false
				for _, f := range j.Forbidden {
					forbidden = forbidden || f == m
				}
				if v <= 0 || forbidden || j.Gang > capa.LargestNode[m] || plan.Use[tm.Name][m]+j.Gang > g {
					continue
				}
				why := plan.Why[j.ID].Code
				if why == jobs.CodeFragmented {
					continue
				}
				avail := capa.Devices[m] - used[m]
				for _, o := range in.Teams {
					if o.Name != tm.Name {
						avail += max(0, plan.Use[o.Name][m]-o.Guarantees[m])
					}
				}
				if avail >= j.Gang {
					t.Errorf("team %s below its guarantee on %s (%d of %d) has %s (gang %d) waiting (%s) with %d devices free or borrowed",
						tm.Name, m, plan.Use[tm.Name][m], g, j.ID, j.Gang, why, avail)
				}
			}
		}
	}
}
