package workload_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/control/workload"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// demoModels are the models of `granary serve --demo` (internal/demo).
var demoModels = []string{"a800-sxm4-80gb", "h800-sxm5-80gb", "h20-96gb", "l20-48gb", "ascend-910b3", "ascend-910c", "kunlunxin-p800", "mlu590", "hygon-k100-ai"}

func TestTableFromCatalog(t *testing.T) {
	cat := accel.Default()
	es, err := workload.Table(cat, demoModels)
	if err != nil {
		t.Fatal(err)
	}
	get := func(class, model string, gang int) float64 {
		for _, e := range es {
			if e.Class == class && e.Model == model && e.Gang == gang {
				return e.StepsPerSecond
			}
		}
		t.Fatalf("no entry %s %s %d", class, model, gang)
		return 0
	}
	// Oracle: compute-heavy classes follow TFLOPS (H800 989 vs A800 312:
	// 0.9 exponent), memory-bound ones bandwidth (H20 4000 GB/s > H800 3350).
	if r := get("llm-pretrain", "h800-sxm5-80gb", 8) / get("llm-pretrain", "a800-sxm4-80gb", 8); r < 2.5 || r > 3.2 {
		t.Errorf("pretrain H800/A800 = %.2f, want ≈ (989/312)^0.9·(3350/2039)^0.1 ≈ 2.9", r)
	}
	if get("llm-batch-inference", "h20-96gb", 1) <= get("llm-batch-inference", "h800-sxm5-80gb", 1) {
		t.Error("memory-bound inference should be faster on H20 (4.0 TB/s) than on H800 (3.35 TB/s)")
	}
	if get("recsys-train", "ascend-910b3", 1) != 0 || get("llm-pretrain", "mlu590", 8) != 0 {
		t.Error("NVIDIA-only class on Ascend, or a model without specs, should be 0")
	}
	if n := workload.ShortName(cat)("ascend-910b3"); n != "910B3" {
		t.Errorf("short name %q", n)
	}
}

func run(t *testing.T, policy string, perModel int, hours int, afr float64) workload.Result {
	t.Helper()
	res, _, _ := runWith(t, policy, perModel, hours, afr)
	return res
}

// runWith is run that also returns the job store and the ledger at the end.
func runWith(t *testing.T, policy string, perModel int, hours int, afr float64) (workload.Result, *jobs.MemStore, *control.MemLedger) {
	t.Helper()
	cat := accel.Default()
	es, err := workload.Table(cat, demoModels)
	if err != nil {
		t.Fatal(err)
	}
	w, err := jobs.NewWorkloads(es)
	if err != nil {
		t.Fatal(err)
	}
	var devs []jobs.Device
	for _, m := range demoModels {
		for i := 0; i < perModel; i++ {
			devs = append(devs, jobs.Device{Serial: fmt.Sprintf("%s-%05d", m, i), Model: m, Node: fmt.Sprintf("%s-n%04d", m, i/8)})
		}
	}
	store := jobs.NewMemStore()
	ledger := control.NewMemLedger(devs)
	start := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	clock := control.NewManualClock(start)
	be, err := simbackend.New(simbackend.Config{RestartCost: 90 * time.Second, AFR: afr, Rand: rand.New(rand.NewPCG(11, 12))})
	if err != nil {
		t.Fatal(err)
	}
	names := workload.ShortName(cat)
	loop, err := control.New(control.Config{Planner: jobs.PlannerConfig{Policy: policy, Names: names, Seed: 5}}, w, store, ledger, be, clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: store, Fleet: ledger, Workloads: w, Names: names, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	teams := workload.Teams(len(devs), 0.5)
	for _, tm := range teams {
		if _, err := svc.PutTeam(context.Background(), tm.Team); err != nil {
			t.Fatal(err)
		}
	}
	gen := &workload.Generator{Teams: teams, W: w, Rand: rand.New(rand.NewPCG(1, 2)), Reference: "h800-sxm5-80gb"}
	res, err := workload.Run(context.Background(), loop, svc, store, be, clock, gen, time.Duration(hours)*time.Hour, 360*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return res, store, ledger
}

func report(t *testing.T, rs []workload.Result) string {
	var b strings.Builder
	teams := []string{"all", "llm", "search", "speech", "vision"}
	fmt.Fprintf(&b, "%-12s %9s %9s %6s %8s", "policy", "submitted", "completed", "active", "failures")
	for _, tm := range teams {
		fmt.Fprintf(&b, " %14s", "jct "+tm)
	}
	b.WriteString("\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "%-12s %9d %9d %6d %8d", r.Policy, r.Submitted, r.Completed, r.Active, r.Failures)
		for _, tm := range teams {
			fmt.Fprintf(&b, " %14s", fmt.Sprintf("%.2fh (%d)", r.AvgJCT[tm].Hours(), r.Completes[tm]))
		}
		b.WriteString("\n")
	}
	models := make([]string, 0)
	for m := range rs[0].Utilization {
		models = append(models, m)
	}
	sort.Strings(models)
	b.WriteString("utilization  ")
	for _, m := range models {
		fmt.Fprintf(&b, " %16s", m)
	}
	b.WriteString("\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "%-12s ", r.Policy)
		for _, m := range models {
			fmt.Fprintf(&b, " %15.1f%%", 100*r.Utilization[m])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// demoAFR is the failure rate of TestDemoDay: accelerated 500× over the
// 2 %/year of real fleets, so that a simulated day on 576 devices sees
// failures (≈ 576 × 10 / 365 ≈ 16 expected; at 2 % it would be 0.03).
const demoAFR = 10.0

// TestDemoDay runs 24 simulated hours of the demo workload (four teams
// arriving continuously at 50 % offered load measured on the reference
// H800, with device failures at demoAFR) on a scaled-down demo fleet (64
// devices of each of the 9 models) under las-hetero and fifo with the same
// arrivals, and reports utilization by model and average JCT per team. It
// checks that las-hetero beats fifo and that the failures had their effect:
// every failed device left service and holds no job, and the jobs that ran
// on one restarted from their checkpoint. GRANARY_FIGURE=full runs it on
// the full-size fleet (2,048 devices per model).
func TestDemoDay(t *testing.T) {
	perModel := 64
	if os.Getenv("GRANARY_FIGURE") == "full" {
		perModel = 2048
	}
	var rs []workload.Result
	for _, p := range []string{sched.LASHetero, sched.FIFO} {
		res, store, ledger := runWith(t, p, perModel, 24, demoAFR)
		checkFailures(t, res, store, ledger, perModel*len(demoModels))
		rs = append(rs, res)
	}
	t.Logf("24 simulated hours, %d devices per model:\n%s", perModel, report(t, rs))
	las, fifo := rs[0], rs[1]
	if las.Submitted != fifo.Submitted {
		t.Fatalf("not the same workload: %d vs %d submitted", las.Submitted, fifo.Submitted)
	}
	if !(las.AvgJCT["all"] < fifo.AvgJCT["all"]) || las.Completed < fifo.Completed {
		t.Errorf("las-hetero (avg JCT %v, %d completed) should beat fifo (%v, %d)", las.AvgJCT["all"], las.Completed, fifo.AvgJCT["all"], fifo.Completed)
	}
}

// checkFailures asserts the failures happened and what they did.
func checkFailures(t *testing.T, res workload.Result, store *jobs.MemStore, ledger *control.MemLedger, devices int) {
	t.Helper()
	ctx := context.Background()
	if res.Failures < 5 {
		t.Fatalf("%s: %d device failures in a day at AFR %v on %d devices (≈16 expected)", res.Policy, res.Failures, demoAFR, devices)
	}
	in, err := ledger.InService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(in)+res.Failures != devices {
		t.Errorf("%s: %d devices in service after %d failures of %d", res.Policy, len(in), res.Failures, devices)
	}
	alive := map[string]bool{}
	for _, d := range in {
		alive[d.Serial] = true
	}
	all, err := store.Jobs(ctx, jobs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	restarted := 0
	for _, j := range all {
		if j.Placement != nil {
			for _, s := range j.Placement.Devices {
				if !alive[s] {
					t.Errorf("%s: job %s still placed on failed device %s", res.Policy, j.ID, s)
				}
			}
		}
		full, err := store.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range full.History {
			if e.Kind == "checkpoint-restart" && strings.Contains(e.Message, "(failed)") {
				restarted++
			}
		}
	}
	// Each failure of a busy device restarts the one job on it; idle
	// devices fail without one. At 50 % offered load most devices are busy.
	if restarted < 1 || restarted > res.Failures {
		t.Errorf("%s: %d jobs restarted from a checkpoint after %d device failures", res.Policy, restarted, res.Failures)
	}
	t.Logf("%s: %d failures, %d jobs restarted from their checkpoint", res.Policy, res.Failures, restarted)
}
