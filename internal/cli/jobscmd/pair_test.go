package jobscmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/cli/jobscmd"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// Space sharing as a user sees it (issue 14): under las-hetero-packed two
// resnet50 jobs on a one-device fleet run together; describe says which
// device each shares with which job, and the API's placement names the
// other job ("with").
func TestJobsCLIPair(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := inventory.Batch{Devices: []inventory.Device{{Serial: "l20-0", Model: "l20-48gb", Node: "n0", State: fleet.InService, UpdatedAt: time.Now()}}}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	es := []sched.ThroughputEntry{{Class: "resnet50", Gang: 1, Model: "l20-48gb", StepsPerSecond: 2}}
	ps := []sched.PairEntry{{Class: "resnet50", Other: "resnet50", Gang: 1, Model: "l20-48gb", Steps: [2]float64{1.5, 1.5}}}
	w, err := jobs.NewWorkloadsWithPairs(es, ps)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w})
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, apitest.Options{Store: st, API: func(o *api.Options) { o.Register = append(o.Register, api.JobRoutes(svc)) }})
	be, _ := simbackend.New(simbackend.Config{})
	loop, err := control.New(control.Config{Planner: jobs.PlannerConfig{Policy: "las-hetero-packed"}}, w, st, &control.InventoryLedger{Devices: st}, be,
		control.NewManualClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{url: srv.URL, loop: loop}
	for _, n := range []string{"a", "b"} {
		if _, errs, code := r.run(t, jobscmd.New, "submit", "--name", n, "--team", "vision", "--class", "resnet50", "--steps", "100000"); code != 0 {
			t.Fatalf("submit: %d %s", code, errs)
		}
	}
	if _, err := loop.Round(ctx); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"job-1", "job-2"} {
		other := fmt.Sprintf("job-%d", 2-i)
		out, errs, code := r.run(t, jobscmd.New, "describe", id)
		want := "Shares:      l20-0 with job " + other + " (space sharing"
		if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "(1.5 steps/s)") {
			t.Errorf("describe %s: exit %d, lacks %q or 1.5 steps/s:\n%s%s", id, code, want, out, errs)
		}
		out, _, _ = r.run(t, jobscmd.New, "describe", id, "-o", "json")
		var j api.Job
		if err := json.Unmarshal([]byte(out), &j); err != nil || j.Placement == nil || j.Placement.With != other || j.Placement.Devices[0] != "l20-0" {
			t.Errorf("describe %s -o json: %v, placement %+v, want with %s on l20-0", id, err, j.Placement, other)
		}
	}
}
