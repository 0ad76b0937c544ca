package jobscmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/cli/clitest"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/jobscmd"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/models"
	"github.com/granaryhq/granary/internal/perf"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

type rig struct {
	url  string
	loop *control.Loop
}

func start(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var b inventory.Batch
	for _, m := range []string{"ascend-910b3", "l20-48gb"} {
		for i := 0; i < 8; i++ {
			b.Devices = append(b.Devices, inventory.Device{Serial: fmt.Sprintf("%s-%d", m, i), Model: m, Node: m + "-n0", State: fleet.InService, UpdatedAt: time.Now()})
		}
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	var es []sched.ThroughputEntry
	for _, g := range []int{1, 8} {
		es = append(es, sched.ThroughputEntry{Class: "resnet50", Gang: g, Model: "ascend-910b3", StepsPerSecond: 1.9 * float64(g)},
			sched.ThroughputEntry{Class: "resnet50", Gang: g, Model: "l20-48gb", StepsPerSecond: float64(g)})
	}
	w, _ := jobs.NewWorkloads(es)
	cat := accel.Default()
	resolve := func(n string) (string, error) { c, err := cat.Resolve(n); return c.ID, err }
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, apitest.Options{Store: st, API: func(o *api.Options) { o.Register = append(o.Register, api.JobRoutes(svc)) }})
	be, _ := simbackend.New(simbackend.Config{})
	loop, err := control.New(control.Config{}, w, st, &control.InventoryLedger{Devices: st}, be, control.NewManualClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)),
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{url: srv.URL, loop: loop}
}

func (r *rig) run(t *testing.T, mk func(*console.Env) *cobra.Command, args ...string) (string, string, int) {
	t.Helper()
	return clitest.Command(t, map[string]string{"GRANARY_TOKEN": apitest.AdminSecret, "GRANARY_SERVER": r.url, "HOME": t.TempDir()}, mk, args...)
}

func TestJobsCLI(t *testing.T) {
	r := start(t)
	out, errs, code := r.run(t, jobscmd.New, "submit", "--name", "train", "--team", "vision", "--class", "resnet50", "--gang", "8", "--steps", "100000")
	if code != 0 || !strings.Contains(out, "job-1") || !strings.Contains(out, "pending") {
		t.Fatalf("submit: %d\n%s%s", code, out, errs)
	}
	// A file with a job that can never run: exit 2 with the reason.
	f := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(f, []byte("name: huge\nteam: vision\nclass: resnet50\ngang: 8\ntotal_steps: 10\nforbidden: [910B3, L20]\n"), 0o644)
	_, errs, code = r.run(t, jobscmd.New, "submit", f)
	if code != 2 || !strings.Contains(errs, "allowed and forbidden models leave none of the fleet's models") {
		t.Errorf("bad submit: exit %d\n%s", code, errs)
	}
	os.WriteFile(f, []byte("name: x\nteam: vision\nclas: resnet50\n"), 0o644)
	_, errs, code = r.run(t, jobscmd.New, "submit", f)
	if code != 2 || !strings.Contains(errs, "clas") {
		t.Errorf("unknown field: exit %d\n%s", code, errs)
	}
	if _, err := r.loop.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, errs, code = r.run(t, jobscmd.New, "describe", "job-1")
	if code != 0 {
		t.Errorf("describe: exit %d\n%s", code, errs)
	}
	for _, want := range []string{"State:       running", "Why:         placed-best — placed on ascend-910b3: 1.9× its throughput on l20-48gb", "8 × ascend-910b3 on ascend-910b3-n0", "started"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s%s", want, out, errs)
		}
	}
	out, _, code = r.run(t, jobscmd.New, "list", "-o", "json")
	var js []api.Job
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || len(js) != 1 || js[0].State != jobs.Running {
		t.Errorf("list -o json: %d %v %s", code, err, out)
	}
	out, _, code = r.run(t, jobscmd.New, "cancel", "job-1")
	if code != 0 || !strings.Contains(out, "cancelled") {
		t.Errorf("cancel: %d %s", code, out)
	}
	_, errs, code = r.run(t, jobscmd.New, "cancel", "job-1")
	if code != 1 || !strings.Contains(errs, "409") {
		t.Errorf("second cancel: exit %d %s", code, errs)
	}
}

func TestTeamsCLI(t *testing.T) {
	r := start(t)
	out, errs, code := r.run(t, jobscmd.NewTeams, "set", "vision", "--weight", "2", "--guarantee", "910B3=6")
	if code != 0 || !strings.Contains(out, "team vision: weight 2, guarantees ascend-910b3=6") {
		t.Fatalf("set: %d %s %s", code, out, errs)
	}
	_, errs, code = r.run(t, jobscmd.NewTeams, "set", "nlp", "--guarantee", "910B3=4")
	if code != 2 || !strings.Contains(errs, "guarantees on ascend-910b3 sum to 10 devices (nlp 4 + vision 6) but only 8 are in service") {
		t.Errorf("over-guarantee: exit %d\n%s", code, errs)
	}
	out, _, code = r.run(t, jobscmd.NewTeams, "list")
	if code != 0 || !strings.Contains(out, "vision") || !strings.Contains(out, "ascend-910b3=6") {
		t.Errorf("list: %d\n%s", code, out)
	}
}

// --weight 0 and weight: 0 in a file reach the server as typed and come
// back as exit 2 naming the field and the range (they were stored as 1);
// no flag means the default 1.
func TestWeightZeroCLI(t *testing.T) {
	r := start(t)
	const want = "weight must be greater than 0 and at most 1e+06 (omit it for the default, 1), got 0"
	_, errs, code := r.run(t, jobscmd.NewTeams, "set", "vision", "--weight", "0")
	if code != 2 || !strings.Contains(errs, "body.weight: teams[0] (vision): "+want) {
		t.Errorf("teams set --weight 0: exit %d\n%s", code, errs)
	}
	_, errs, code = r.run(t, jobscmd.New, "submit", "--name", "a", "--team", "vision", "--class", "resnet50", "--steps", "10", "--weight", "0")
	if code != 2 || !strings.Contains(errs, "body.weight: "+want) {
		t.Errorf("submit --weight 0: exit %d\n%s", code, errs)
	}
	f := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(f, []byte("- {name: a, team: vision, class: resnet50, gang: 1, total_steps: 10}\n- {name: b, team: vision, class: resnet50, gang: 1, total_steps: 10, weight: 0}\n"), 0o644)
	_, errs, code = r.run(t, jobscmd.New, "submit", f)
	if code != 2 || !strings.Contains(errs, "body.jobs[1].weight: jobs[1] (b): weight must be greater than 0") {
		t.Errorf("file with weight: 0: exit %d\n%s", code, errs)
	}
	out, _, _ := r.run(t, jobscmd.NewTeams, "list", "-o", "json")
	if strings.Contains(out, "vision") {
		t.Errorf("a refused team was stored: %s", out)
	}
	out, errs, code = r.run(t, jobscmd.NewTeams, "set", "vision")
	if code != 0 || !strings.Contains(out, "team vision: weight 1,") {
		t.Errorf("teams set without --weight: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = r.run(t, jobscmd.New, "submit", "--name", "a", "--team", "vision", "--class", "resnet50", "--steps", "10", "-o", "json")
	if code != 0 || !strings.Contains(out, `"weight": 1`) {
		t.Errorf("submit without --weight: exit %d\n%s%s", code, out, errs)
	}
}

// A job given by model: the server derives its throughputs with the perf
// model and the round places it where perf says it is fastest.
func TestJobsCLIByModel(t *testing.T) {
	r := start(t)
	m, err := models.Default().Resolve("Llama-3-8B")
	if err != nil {
		t.Fatal(err)
	}
	best, bestV := "", 0.0
	for _, id := range []string{"ascend-910b3", "l20-48gb"} {
		c, _ := accel.Default().Get(id)
		rt, err := perf.GangRate(perf.RateSpec{Train: true, Precision: fleet.BF16, SeqLen: jobs.FitSeqLen, StepTokens: jobs.FitStepTokens}, m, 8, c)
		if err != nil {
			t.Fatal(err)
		}
		if rt.StepsPerS > bestV {
			best, bestV = id, rt.StepsPerS
		}
	}
	out, errs, code := r.run(t, jobscmd.New, "submit", "--name", "ft-8b", "--team", "llm", "--model", "Llama-3-8B", "--precision", "bf16", "--gang", "8", "--steps", "500")
	if code != 0 || !strings.Contains(out, "fit:llama-3-8b:bf16:train") {
		t.Fatalf("submit: %d\n%s%s", code, out, errs)
	}
	f := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(f, []byte("name: ft-70b\nteam: llm\nmodel: Llama-3-70B\nprecision: bf16\nworkload: train\ngang: 8\ntotal_steps: 10\n"), 0o644)
	_, errs, code = r.run(t, jobscmd.New, "submit", f)
	if code != 2 || !strings.Contains(errs, "can never run") || !strings.Contains(errs, "needs 154.9 GB per device") {
		t.Errorf("70B × 8: exit %d\n%s", code, errs)
	}
	if _, err := r.loop.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, errs, code = r.run(t, jobscmd.New, "describe", "job-1")
	for _, want := range []string{"State:       running", "Workload:    Llama-3-8B bf16 train", "8 × " + best + " on " + best + "-n0"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s%s", want, out, errs)
		}
	}
}

// Issue 16: `jobs submit FILE` is all or nothing — a file whose second job
// is refused creates no job, and the error names every refused entry.
func TestSubmitFileAllOrNothing(t *testing.T) {
	r := start(t)
	f := filepath.Join(t.TempDir(), "two.yaml")
	os.WriteFile(f, []byte(`- {name: a, team: vision, class: resnet50, gang: 1, total_steps: 10}
- {name: b, team: vision, class: resnet50, gang: 3, total_steps: 10}
- {name: c, team: vision, class: resnet50, gang: 1, total_steps: 10, weight: 1e308}
`), 0o644)
	_, errs, code := r.run(t, jobscmd.New, "submit", f)
	if code != 2 || !strings.Contains(errs, "no job submitted") || !strings.Contains(errs, `body.jobs[1].gang: jobs[1] (b): class "resnet50" has no throughput for a gang of 3`) || !strings.Contains(errs, `body.jobs[2].weight: jobs[2] (c): weight must be`) {
		t.Errorf("exit %d\n%s", code, errs)
	}
	out, _, code := r.run(t, jobscmd.New, "list", "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("a refused file left jobs: %s", out)
	}
	os.WriteFile(f, []byte(`- {name: a, team: vision, class: resnet50, gang: 1, total_steps: 10}
- {name: b, team: vision, class: resnet50, gang: 8, total_steps: 10}
`), 0o644)
	out, errs, code = r.run(t, jobscmd.New, "submit", f, "-o", "json")
	if code != 0 || !strings.Contains(out, "job-1") || !strings.Contains(out, "job-2") {
		t.Errorf("good file: exit %d\n%s%s", code, out, errs)
	}
}

// jobs list --watch lists again every --interval and ends with exit 0 when
// its context ends (SIGINT); a YAML watch is a stream of documents.
func TestJobsListWatch(t *testing.T) {
	r := start(t)
	if _, errs, code := r.run(t, jobscmd.New, "submit", "--name", "w", "--team", "vision", "--class", "resnet50", "--gang", "1", "--steps", "10"); code != 0 {
		t.Fatal(errs)
	}
	var out, errb bytes.Buffer
	env := map[string]string{"GRANARY_TOKEN": apitest.AdminSecret, "GRANARY_SERVER": r.url, "HOME": t.TempDir()}
	e := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	cmd := jobscmd.New(e)
	cmd.SetArgs([]string{"list", "--watch", "--interval", "100ms", "-o", "yaml"})
	cmd.SetOut(&errb)
	cmd.SetErr(&errb)
	ctx, cancel := context.WithTimeout(context.Background(), 550*time.Millisecond)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("watch ended with %v\n%s", err, errb.String())
	}
	docs := strings.Split(out.String(), "---\n")[1:]
	if len(docs) < 3 {
		t.Fatalf("%d listings in 550ms at 100ms, want at least 3:\n%s", len(docs), out.String())
	}
	for i, d := range docs {
		var js []api.Job
		if err := yaml.Unmarshal([]byte(d), &js); err != nil || len(js) != 1 || js[0].Name != "w" {
			t.Errorf("listing %d: %v %+v\n%s", i, err, js, d)
		}
	}
	if _, errs, code := r.run(t, jobscmd.New, "list", "--watch", "--interval", "1ms"); code != 2 || !strings.Contains(errs, "--interval") {
		t.Errorf("--interval 1ms: exit %d %s", code, errs)
	}
}

// TestJobsListPages: jobs list pages newest first; the next page's cursor
// is printed on stderr and --cursor follows it to the end.
func TestJobsListPages(t *testing.T) {
	r := start(t)
	for range 3 {
		if _, errs, code := r.run(t, jobscmd.New, "submit", "--name", "p", "--team", "vision", "--class", "resnet50", "--gang", "1", "--steps", "10"); code != 0 {
			t.Fatalf("submit: %s", errs)
		}
	}
	var ids []string
	args := []string{"list", "--limit", "2", "-o", "json"}
	for range 3 {
		out, errs, code := r.run(t, jobscmd.New, args...)
		var js []api.Job
		if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil {
			t.Fatalf("%v: %d %v %s%s", args, code, err, out, errs)
		}
		for _, j := range js {
			ids = append(ids, j.ID)
		}
		_, cursor, more := strings.Cut(strings.TrimSpace(errs), "--cursor ")
		if !more {
			break
		}
		args = []string{"list", "--limit", "2", "-o", "json", "--cursor", cursor}
	}
	if strings.Join(ids, " ") != "job-3 job-2 job-1" {
		t.Errorf("pages: %v", ids)
	}
	if _, errs, code := r.run(t, jobscmd.New, "list", "--cursor", "bogus"); code != 2 || !strings.Contains(errs, "cursor") {
		t.Errorf("bad cursor: exit %d %s", code, errs)
	}
}

// A share of a device from flags and from a job file: list shows the share
// in the GANG column and --shared keeps the shared jobs, describe shows
// the share and the node's needs; a bad share in a file is exit 2 naming
// the field, and nothing is submitted.
func TestJobsCLIShare(t *testing.T) {
	r := start(t)
	out, errs, code := r.run(t, jobscmd.New, "submit", "--name", "nb", "--team", "dev", "--class", "resnet50", "--steps", "100",
		"--device-milli", "250", "--device-memory-mib", "20480", "--cpu-milli", "4000", "--memory-mib", "32768", "-o", "json")
	if code != 0 || !strings.Contains(out, `"device_milli": 250`) || !strings.Contains(out, `"cpu_milli": 4000`) {
		t.Fatalf("submit --device-milli: exit %d\n%s%s", code, out, errs)
	}
	f := filepath.Join(t.TempDir(), "share.yaml")
	os.WriteFile(f, []byte("- {name: half, team: dev, class: resnet50, gang: 1, total_steps: 10, device_milli: 500, memory_mib: 1024}\n- {name: bad, team: dev, class: resnet50, gang: 8, total_steps: 10, device_milli: 500}\n"), 0o644)
	_, errs, code = r.run(t, jobscmd.New, "submit", f)
	if code != 2 || !strings.Contains(errs, "body.jobs[1].device_milli: jobs[1] (bad): a share of a device (device_milli 500) is one device's: gang must be 1, got 8") {
		t.Errorf("file with a share and gang 8: exit %d\n%s", code, errs)
	}
	os.WriteFile(f, []byte("- {name: half, team: dev, class: resnet50, gang: 1, total_steps: 10, device_milli: 500, memory_mib: 1024}\n- {name: whole, team: dev, class: resnet50, gang: 8, total_steps: 10}\n"), 0o644)
	if _, errs, code = r.run(t, jobscmd.New, "submit", f); code != 0 {
		t.Fatalf("good file: exit %d\n%s", code, errs)
	}
	out, _, _ = r.run(t, jobscmd.New, "list")
	for _, want := range []string{"nb     dev   pending  resnet50  0.25", "half   dev   pending  resnet50  0.5", "whole  dev   pending  resnet50  8"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = r.run(t, jobscmd.New, "list", "--shared", "-o", "json")
	var js []api.Job
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js) != 2 || js[0].Name != "half" || js[1].Name != "nb" {
		t.Errorf("list --shared: %v %s", err, out)
	}
	out, _, _ = r.run(t, jobscmd.New, "describe", "job-1")
	for _, want := range []string{"Share:       0.25 of a device (250 milli, 20480 MiB of its memory)", "Node needs:  4000 milli-cores, 32768 MiB memory"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}
