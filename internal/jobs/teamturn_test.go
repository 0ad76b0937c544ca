package jobs_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
)

// TestPlanExplainsTeamTurnFallback: team a's half shares fill the H800s
// (4 devices), team b's three 2-device gangs may use H800 or L20. The
// teams' turns leave b's gangs out of the H800s, and those that run on L20
// must say so — not that no node had 2 devices free (the H800 nodes are
// not full of whole gangs; the split gave them to team a).
func TestPlanExplainsTeamTurnFallback(t *testing.T) {
	packer, err := share.New(share.Granary, share.Options{Rand: rand.New(rand.NewPCG(1, 2)), Target: []share.Shape{{Req: share.Request{Devices: 1, Milli: 500}, Freq: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := jobs.NewPlanner(workloads(t), jobs.PlannerConfig{Policy: sched.LASHetero, Names: shortNames, Sharer: packer}, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var js []jobs.Job
	for i := range 8 {
		j := newJob(fmt.Sprintf("a%d", i), "a", "resnet", 1, 1e9, t0)
		j.Spec.DeviceMilli, j.Spec.Allowed = 500, []string{"h800"}
		js = append(js, j)
	}
	for i := range 3 {
		js = append(js, newJob(fmt.Sprintf("b%d", i), "b", "resnet", 2, 1e9, t0.Add(time.Second)))
	}
	devs := devices(map[string]int{"h800": 4, "l20": 8})
	teams := []jobs.Team{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}
	turns := 0
	for r := range 6 {
		in := jobs.Input{Now: t0.Add(time.Duration(r) * 6 * time.Minute), Devices: devs, Jobs: js, Teams: teams}
		plan, err := p.Plan(in)
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]int64{}
		for _, pl := range plan.Runs {
			for _, d := range pl.Devices {
				if held[d] += pl.DeviceMilli(); held[d] > 1000 {
					t.Fatalf("round %d: device %s given out past a whole (%d milli)", r, d, held[d])
				}
			}
		}
		for i := range js {
			pl, ok := plan.Runs[js[i].ID]
			if !ok {
				continue
			}
			js[i].Placement, js[i].State = &pl, jobs.Running
			why := plan.Why[js[i].ID]
			if why.Code != jobs.CodePlacedAlternative {
				continue
			}
			if strings.Contains(why.Message, "no node had") {
				t.Errorf("round %d %s: %q blames free devices; the teams' turns left it out", r, js[i].ID, why.Message)
			}
			if strings.Contains(why.Message, "teams' turns") {
				turns++
			}
		}
	}
	if turns == 0 {
		t.Error("no b gang was explained as placed on L20 by the teams' turns")
	}
}
