package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

var t0 = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

var shortNames = jobs.Names(func(m string) string { return strings.ToUpper(m) })

// workloads: resnet is 1.9× faster on 910b3 than on l20 and fastest on h800;
// bert runs only on h800 and 910b3; lstm has zero throughput everywhere.
func workloads(t testing.TB) *jobs.Workloads {
	t.Helper()
	var es []sched.ThroughputEntry
	add := func(class string, gangs []int, h800, b3, l20 float64) {
		for _, g := range gangs {
			f := float64(g) * 0.9
			es = append(es,
				sched.ThroughputEntry{Class: class, Gang: g, Model: "h800", StepsPerSecond: h800 * f},
				sched.ThroughputEntry{Class: class, Gang: g, Model: "910b3", StepsPerSecond: b3 * f},
				sched.ThroughputEntry{Class: class, Gang: g, Model: "l20", StepsPerSecond: l20 * f})
		}
	}
	add("resnet", []int{1, 2, 4, 8}, 4, 1.9, 1)
	add("bert", []int{1, 8, 16, 64}, 3, 2, 0)
	add("cpu-bound", []int{1}, 1, 1, 3)
	add("lstm", []int{1}, 0, 0, 0)
	w, err := jobs.NewWorkloads(es)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// pairedWorkloads is workloads' table with pair throughputs (the *-packed
// policies): any two classes of one gang size on a model where both run,
// each at 0.7 of its throughput alone.
func pairedWorkloads(t testing.TB) *jobs.Workloads {
	t.Helper()
	tp := workloads(t).Table()
	var es []sched.ThroughputEntry
	var ps []sched.PairEntry
	classes := []string{"resnet", "bert", "cpu-bound", "lstm"}
	for _, m := range []string{"h800", "910b3", "l20"} {
		for _, g := range []int{1, 2, 4, 8, 16, 64} {
			for _, a := range classes {
				va, ok := tp.Lookup(a, g, m)
				if !ok {
					continue
				}
				es = append(es, sched.ThroughputEntry{Class: a, Gang: g, Model: m, StepsPerSecond: va})
				for _, b := range classes {
					if vb, ok := tp.Lookup(b, g, m); ok && va > 0 && vb > 0 {
						ps = append(ps, sched.PairEntry{Class: a, Other: b, Gang: g, Model: m, Steps: [2]float64{0.7 * va, 0.7 * vb}})
					}
				}
			}
		}
	}
	w, err := jobs.NewWorkloadsWithPairs(es, ps)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CheckPairs(); err != nil {
		t.Fatal(err)
	}
	return w
}

// devices: nodes of 8 (h800 ×2 nodes, 910b3 ×2, l20 ×1).
func devices(perModel map[string]int) []jobs.Device {
	var out []jobs.Device
	for _, m := range []string{"h800", "910b3", "l20"} {
		for i := 0; i < perModel[m]; i++ {
			out = append(out, jobs.Device{Serial: fmt.Sprintf("%s-%03d", m, i), Model: m, Node: fmt.Sprintf("%s-n%d", m, i/8)})
		}
	}
	return out
}

func TestCheckRejectsJobsThatCanNeverRun(t *testing.T) {
	w := workloads(t)
	capa := jobs.CapacityOf(devices(map[string]int{"h800": 16, "910b3": 16, "l20": 8}))
	base := jobs.Spec{Name: "x", Team: "a", Class: "resnet", Gang: 1, TotalSteps: 100}
	cases := []struct {
		name  string
		edit  func(*jobs.Spec)
		field string
		want  string
	}{
		{"unknown class", func(s *jobs.Spec) { s.Class = "gpt-9" }, "class", `unknown class "gpt-9" (known: bert, cpu-bound, lstm, resnet)`},
		{"zero throughput", func(s *jobs.Spec) { s.Class = "lstm" }, "class", "lstm × 1 has zero throughput on every model it may use (910B3, H800, L20): it can never run"},
		{"only forbidden", func(s *jobs.Spec) { s.Forbidden = []string{"h800", "910b3", "l20"} }, "allowed", "allowed and forbidden models leave none of the fleet's models (910B3, H800, L20)"},
		{"allowed outside fleet", func(s *jobs.Spec) { s.Allowed = []string{"a800"} }, "allowed", "leave none of the fleet's models"},
		{"gang larger than the fleet", func(s *jobs.Spec) { s.Class, s.Gang = "bert", 64 }, "gang", "a gang of 64 exceeds the in-service capacity of every model it can run on (largest: 16 × 910B3 in one site)"},
		{"no entry for gang", func(s *jobs.Spec) { s.Gang = 3 }, "gang", `class "resnet" has no throughput for a gang of 3 (it has: 1, 2, 4, 8)`},
		{"no work", func(s *jobs.Spec) { s.TotalSteps = 0 }, "total_steps", "a job needs its amount of work"},
		{"zero on allowed models only", func(s *jobs.Spec) { s.Class, s.Allowed = "bert", []string{"l20"} }, "class", "bert × 1 has zero throughput on every model it may use (L20)"},
		{"bad team", func(s *jobs.Spec) { s.Team = "a b" }, "team", `team "a b"`},
		{"weight too large", func(s *jobs.Spec) { s.Weight = 1e308 }, "weight", "weight must be greater than 0 and at most 1e+06 (omit it for the default, 1), got 1e+308"},
		{"weight negative", func(s *jobs.Spec) { s.Weight = -1 }, "weight", "got -1"},
		{"weight 0 given", func(s *jobs.Spec) { s.Weight, s.WeightGiven = 0, true }, "weight", "weight must be greater than 0 and at most 1e+06 (omit it for the default, 1), got 0"},
		{"weight NaN", func(s *jobs.Spec) { s.Weight = math.NaN() }, "weight", "got NaN"},
		{"steps too many", func(s *jobs.Spec) { s.TotalSteps = 1e16 }, "total_steps", "at most 1e+15, got 1e+16"},
		{"duration too long", func(s *jobs.Spec) { s.TotalSteps, s.DurationSeconds, s.ReferenceModel = 0, 1e308, "l20" }, "duration_s", "at most 3.1536e+09 (a century)"},
		{"gang too large", func(s *jobs.Spec) { s.Gang = 1 << 30 }, "gang", "between 1 and 1048576"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := base
			c.edit(&sp)
			_, err := jobs.Check(sp, w, capa, nil, shortNames)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("field %q", c.field)) {
				t.Errorf("error\n  %v\nwant field %q and %q", err, c.field, c.want)
			}
		})
	}
	// A good one, with a duration on a reference model.
	sp := base
	sp.TotalSteps, sp.DurationSeconds, sp.ReferenceModel = 0, 3600, "l20"
	got, err := jobs.Check(sp, w, capa, nil, shortNames)
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalSteps != 3600*0.9 || got.Weight != 1 {
		t.Errorf("normalized spec: steps %v weight %v, want 3240 and 1", got.TotalSteps, got.Weight)
	}
}

func TestCheckTeamsNamesModelAndSum(t *testing.T) {
	capa := jobs.CapacityOf(devices(map[string]int{"h800": 16, "910b3": 16}))
	err := jobs.CheckTeams([]jobs.Team{
		{Name: "a", Weight: 1, Guarantees: map[string]int{"h800": 10}},
		{Name: "b", Weight: 2, Guarantees: map[string]int{"h800": 8, "910b3": 16}},
	}, capa, shortNames)
	want := `field "guarantees.h800": guarantees on H800 sum to 18 devices (a 10 + b 8) but only 16 are in service`
	if err == nil || !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if err := jobs.CheckTeams([]jobs.Team{{Name: "a", Weight: 1e6, Guarantees: map[string]int{"h800": 16, "910b3": 16}}}, capa, nil); err != nil {
		t.Fatal(err)
	}
	// 0 is refused like the rest: a team has no zero share, and storing
	// DefaultWeight for it (as before) ignored what the user said.
	for _, w := range []float64{0, 1e308, math.Inf(1), math.NaN(), -1, 1e6 + 1} {
		err := jobs.CheckTeams([]jobs.Team{{Name: "a", Weight: w}}, capa, nil)
		if err == nil || !strings.Contains(err.Error(), `field "weight": weight must be greater than 0 and at most 1e+06 (omit it for the default, 1)`) {
			t.Errorf("team weight %v: %v", w, err)
		}
	}
}

func newJob(id string, team, class string, gang int, steps float64, at time.Time) jobs.Job {
	return jobs.Job{ID: id, Spec: jobs.Spec{Name: id, Team: team, Class: class, Gang: gang, Weight: 1, TotalSteps: steps}, State: jobs.Pending, SubmittedAt: at}
}

func planner(t *testing.T, policy string) *jobs.Planner {
	t.Helper()
	p, err := jobs.NewPlanner(workloads(t), jobs.PlannerConfig{Policy: policy, Names: shortNames}, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPlan asserts the invariants of every plan: each device at most once,
// in service, of the placed model, gang devices on one node (on whole nodes
// when no node is as large as the gang).
func checkPlan(t *testing.T, in jobs.Input, p jobs.Plan) {
	t.Helper()
	dev := map[string]jobs.Device{}
	onNode := map[string]int{}
	for _, d := range in.Devices {
		dev[d.Serial] = d
		onNode[d.Node]++
	}
	capa := jobs.CapacityOf(in.Devices)
	used := func(serials []string, node string) int {
		n := 0
		for _, s := range serials {
			if dev[s].Node == node {
				n++
			}
		}
		return n
	}
	gang := map[string]int{}
	for _, j := range in.Jobs {
		gang[j.ID] = j.Gang
		if _, ok := p.Why[j.ID]; !ok && j.State.Active() {
			t.Errorf("job %s has no explanation", j.ID)
		}
	}
	held := map[string]string{}
	for id, pl := range p.Runs {
		if len(pl.Devices) != gang[id] {
			t.Errorf("job %s: %d devices, gang %d", id, len(pl.Devices), gang[id])
		}
		nodes := map[string]bool{}
		for _, s := range pl.Devices {
			d, ok := dev[s]
			if !ok || d.Model != pl.Model {
				t.Errorf("job %s on %s: device %s not an in-service %s", id, pl.Model, s, pl.Model)
			}
			if h, dup := held[s]; dup {
				t.Errorf("device %s placed twice: %s and %s", s, h, id)
			}
			held[s] = id
			nodes[d.Node] = true
		}
		switch {
		case gang[id] <= capa.LargestNode[pl.Model] && len(nodes) != 1:
			t.Errorf("job %s spans nodes %v though a node of %s holds %d", id, nodes, pl.Model, capa.LargestNode[pl.Model])
		case gang[id] > capa.LargestNode[pl.Model]:
			// A multi-node gang takes whole nodes (the last one may be
			// partly used).
			partial := 0
			for n := range nodes {
				if onNode[n] != used(pl.Devices, n) {
					partial++
				}
			}
			if partial > 1 {
				t.Errorf("job %s on %d nodes it does not fill: %v", id, partial, nodes)
			}
		}
	}
}

func TestPlanPlacesOnFastestAndExplains(t *testing.T) {
	p := planner(t, sched.LASHetero)
	in := jobs.Input{Now: t0, Devices: devices(map[string]int{"910b3": 8, "l20": 8}),
		Jobs: []jobs.Job{newJob("job-1", "a", "resnet", 8, 1e6, t0)}}
	plan, err := p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	pl, ok := plan.Runs["job-1"]
	if !ok || pl.Model != "910b3" {
		t.Fatalf("job-1 runs %+v (ok %v), want on 910b3", pl, ok)
	}
	want := jobs.Explanation{Code: jobs.CodePlacedBest, Message: "placed on 910B3: 1.9× its throughput on L20"}
	if plan.Why["job-1"] != want {
		t.Errorf("why = %+v, want %+v", plan.Why["job-1"], want)
	}
	if pl.Nodes[0] != "910b3-n0" || pl.StepsPerSecond != 1.9*8*0.9 {
		t.Errorf("placement %+v", pl)
	}
}

func TestPlanRespectsAllowedAndForbidden(t *testing.T) {
	p := planner(t, sched.LASHetero)
	j := newJob("job-1", "a", "resnet", 1, 1e6, t0)
	j.Forbidden = []string{"h800", "910b3"}
	k := newJob("job-2", "a", "resnet", 1, 1e6, t0)
	k.Allowed = []string{"910b3"}
	in := jobs.Input{Now: t0, Devices: devices(map[string]int{"h800": 8, "910b3": 8, "l20": 8}), Jobs: []jobs.Job{j, k}}
	plan, err := p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	if plan.Runs["job-1"].Model != "l20" || plan.Runs["job-2"].Model != "910b3" {
		t.Errorf("runs %+v", plan.Runs)
	}
	if plan.Why["job-1"].Code != jobs.CodePlacedOnly {
		t.Errorf("why job-1 = %+v", plan.Why["job-1"])
	}
}

func TestPlanFragmentation(t *testing.T) {
	// Two h800 nodes of 8; four gang-4 jobs fill them; then a gang-8 job
	// cannot be placed on one node even if sched counted 16 devices.
	p := planner(t, sched.FIFOHetero)
	var js []jobs.Job
	devs := devices(map[string]int{"h800": 16})
	// Make the nodes 6 + 10 instead: a gang-8 fits only on the second.
	for i := range devs {
		if i < 6 {
			devs[i].Node = "small"
		} else {
			devs[i].Node = "big"
		}
	}
	js = append(js, newJob("job-1", "a", "resnet", 4, 1e9, t0), newJob("job-2", "a", "resnet", 8, 1e9, t0.Add(time.Second)))
	in := jobs.Input{Now: t0, Devices: devs, Jobs: js}
	plan, err := p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	// gang 8 placed first (largest first) on big; gang 4 on small.
	if plan.Runs["job-2"].Nodes[0] != "big" || plan.Runs["job-1"].Nodes[0] != "small" {
		t.Fatalf("runs %+v", plan.Runs)
	}
	// Now a third job of 4: sched sees 4 free devices (2 small + 2 big) and
	// places it, packing finds no node with 4 free.
	js = append(js, newJob("job-3", "a", "resnet", 4, 1e9, t0.Add(2*time.Second)))
	for i := range js[:2] {
		pl := plan.Runs[js[i].ID]
		js[i].Placement = &pl
		js[i].State = jobs.Running
	}
	in = jobs.Input{Now: t0.Add(6 * time.Minute), Devices: devs, Jobs: js}
	plan, err = p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	want := jobs.Explanation{Code: jobs.CodeFragmented, Message: "needs 4 × H800 on one node; no node has 4 free this round (most free on one node: 2), nor a node of another model it may use"}
	if plan.Why["job-3"] != want {
		t.Errorf("job-3: %+v, want %+v", plan.Why["job-3"], want)
	}
	// With an L20 node beside, it runs there instead of waiting.
	devs = append(devs, devices(map[string]int{"l20": 8})...)
	in = jobs.Input{Now: t0.Add(12 * time.Minute), Devices: devs, Jobs: js}
	plan, err = p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	want = jobs.Explanation{Code: jobs.CodePlacedAlternative, Message: "placed on L20: 0.25× its throughput on H800, where no node had 4 devices free this round"}
	if plan.Runs["job-3"].Model != "l20" || plan.Why["job-3"] != want {
		t.Errorf("job-3: %+v %+v, want on l20 with %+v", plan.Runs["job-3"], plan.Why["job-3"], want)
	}
}

func TestPlanGuaranteeReclaimsLentDevices(t *testing.T) {
	p := planner(t, sched.LASHetero)
	teams := []jobs.Team{{Name: "a", Weight: 1, Guarantees: map[string]int{"h800": 8}}, {Name: "b", Weight: 1}}
	devs := devices(map[string]int{"h800": 8})
	// Round 1: only team b has work: it borrows the whole guaranteed node.
	js := []jobs.Job{newJob("job-1", "b", "resnet", 8, 1e9, t0)}
	in := jobs.Input{Now: t0, Devices: devs, Jobs: js, Teams: teams}
	plan, err := p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plan.Runs["job-1"]; !ok {
		t.Fatalf("idle guaranteed capacity not lent: %+v", plan.Why)
	}
	pl := plan.Runs["job-1"]
	js[0].Placement, js[0].State = &pl, jobs.Running
	// Round 2: team a submits; b's job is reclaimed.
	js = append(js, newJob("job-2", "a", "resnet", 8, 1e9, t0.Add(time.Minute)))
	in = jobs.Input{Now: t0.Add(6 * time.Minute), Devices: devs, Jobs: js, Teams: teams}
	plan, err = p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, plan)
	if _, ok := plan.Runs["job-2"]; !ok {
		t.Fatalf("guarantee not honoured: %+v", plan.Why)
	}
	want := jobs.Explanation{Code: jobs.CodeReclaimed, Message: "its 8 × H800 were lent from team a's guarantee (8 × H800) and are reclaimed this round"}
	if plan.Why["job-1"] != want {
		t.Errorf("job-1: %+v, want %+v", plan.Why["job-1"], want)
	}
	if plan.Use["a"]["h800"] != 8 || plan.Use["b"]["h800"] != 0 {
		t.Errorf("use %+v", plan.Use)
	}
}

func TestPlanTeamWeightsSplitAmongJobs(t *testing.T) {
	// Team a has 1 job, team b 3 jobs, equal team weights, 4 devices of one
	// model, gang 1: max-min fairness between teams gives a's job as much
	// as b's three together over time; in one round a's job always runs.
	p := planner(t, sched.LAS)
	devs := devices(map[string]int{"l20": 2})
	js := []jobs.Job{
		newJob("job-1", "a", "cpu-bound", 1, 1e9, t0),
		newJob("job-2", "b", "cpu-bound", 1, 1e9, t0),
		newJob("job-3", "b", "cpu-bound", 1, 1e9, t0),
		newJob("job-4", "b", "cpu-bound", 1, 1e9, t0),
	}
	ran := map[string]int{}
	for r := 0; r < 12; r++ {
		now := t0.Add(time.Duration(r) * 6 * time.Minute)
		plan, err := p.Plan(jobs.Input{Now: now, Devices: devs, Jobs: js})
		if err != nil {
			t.Fatal(err)
		}
		for i := range js {
			if pl, ok := plan.Runs[js[i].ID]; ok {
				ran[js[i].Team]++
				js[i].Placement, js[i].State = &pl, jobs.Running
				p.Charge(js[i].ID, pl.Model, 360)
			} else {
				js[i].Placement, js[i].State = nil, jobs.Preempted
			}
		}
	}
	if ran["a"] != ran["b"] {
		t.Errorf("rounds run by team: %v, want equal shares between teams", ran)
	}
}

func TestCancelCompletedIsConflict(t *testing.T) {
	ctx := context.Background()
	st := jobs.NewMemStore()
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: fixedFleet(devices(map[string]int{"h800": 8})), Workloads: workloads(t), Names: shortNames,
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	j, err := svc.Submit(ctx, jobs.Spec{Name: "r", Team: "a", Class: "resnet", Gang: 8, TotalSteps: 10}, "tok1")
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "job-1" || j.State != jobs.Pending || len(j.History) != 1 {
		t.Fatalf("submitted %+v", j)
	}
	if _, err := st.UpdateJob(ctx, j.ID, func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
		evs := jobs.Observe(&j, jobs.Progress{JobID: j.ID, Completed: true, CompletedAt: t0.Add(time.Hour)})
		return j, evs, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Cancel(ctx, j.ID, "tok1")
	if !errors.Is(err, fleet.ErrConflict) {
		t.Fatalf("cancel of a completed job: %v, want ErrConflict", err)
	}
	if _, err := svc.Cancel(ctx, "job-99", ""); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("cancel of a missing job: %v", err)
	}
	k, _ := svc.Submit(ctx, jobs.Spec{Name: "r2", Team: "a", Class: "resnet", Gang: 1, TotalSteps: 10}, "")
	k, err = svc.Cancel(ctx, k.ID, "tok1")
	if err != nil || k.State != jobs.Cancelled || k.History[len(k.History)-1].Kind != "cancelled" {
		t.Fatalf("cancel: %+v, %v", k, err)
	}
}

type fixedFleet []jobs.Device

func (f fixedFleet) InService(context.Context) ([]jobs.Device, error) { return f, nil }

// The agnostic fifo policy picks a model at random; a job starting on a
// slower model while a faster one it may use has a free node is moved there.
func TestPlanUpgradesToFreeFasterModel(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		p, err := jobs.NewPlanner(workloads(t), jobs.PlannerConfig{Policy: sched.FIFO, Seed: seed, Names: shortNames}, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		in := jobs.Input{Now: t0, Devices: devices(map[string]int{"h800": 8, "910b3": 8, "l20": 8}),
			Jobs: []jobs.Job{newJob("job-1", "a", "resnet", 4, 1e6, t0)}}
		plan, err := p.Plan(in)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, in, plan)
		if pl := plan.Runs["job-1"]; pl.Model != "h800" || plan.Why["job-1"].Code != jobs.CodePlacedBest {
			t.Errorf("seed %d: on %s (%+v), want h800", seed, pl.Model, plan.Why["job-1"])
		}
	}
}

// A gang larger than a node runs on whole nodes of one model (a 64-device
// job on 8 nodes of 8), and its placement names the nodes.
func TestPlanMultiNodeGang(t *testing.T) {
	p := planner(t, sched.LASHetero)
	devs := devices(map[string]int{"h800": 72, "910b3": 16})
	j := newJob("job-1", "a", "bert", 64, 1e6, t0)
	in := jobs.Input{Now: t0, Devices: devs, Jobs: []jobs.Job{j}}
	plan, err := p.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := plan.Runs["job-1"]
	if !ok {
		t.Fatalf("not running: %+v", plan.Why["job-1"])
	}
	if pl.Model != "h800" || len(pl.Devices) != 64 || len(pl.Nodes) != 8 {
		t.Fatalf("placement %s × %d on %d nodes %v", pl.Model, len(pl.Devices), len(pl.Nodes), pl.Nodes)
	}
	checkPlan(t, in, plan)
	if _, err := jobs.Check(j.Spec, workloads(t), jobs.CapacityOf(devs), nil, nil); err != nil {
		t.Errorf("a 64-device job on 72 devices refused: %v", err)
	}
}

// A share asking more device memory than any device it may use has is
// refused at submit, naming the field and the numbers, and stored nowhere;
// a share within it, or on a model whose memory is not known, is taken.
func TestSubmitShareDeviceMemory(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		mem  func(string) int64
		ask  int64
		want string // "" = accepted
	}{
		{"too much", func(string) int64 { return 81920 }, 90000, `field "device_memory_mib": 90000 MiB is more than a device of any model it may use has (largest: 81920 MiB on H800)`},
		{"fits", func(string) int64 { return 81920 }, 81920, ""},
		{"not known", func(string) int64 { return 0 }, 90000, ""},
		{"no catalog", nil, 90000, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := jobs.NewMemStore()
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: fixedFleet(devices(map[string]int{"h800": 8})), Workloads: workloads(t), Names: shortNames,
				Now: func() time.Time { return t0 }, DeviceMemoryMiB: tc.mem})
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.Submit(ctx, jobs.Spec{Name: "n", Team: "a", Class: "resnet", Gang: 1, DeviceMilli: 500, DeviceMemoryMiB: tc.ask, TotalSteps: 10}, "")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("submit: %v, want accepted", err)
			case tc.want != "" && (!errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("submit: %v, want refused with %q", err, tc.want)
			}
			if n, _ := st.CountJobs(ctx, jobs.Filter{}); (n == 0) != (tc.want != "") {
				t.Errorf("stored %d jobs after %q", n, tc.name)
			}
		})
	}
}
