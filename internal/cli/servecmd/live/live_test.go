package live_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/cli/servecmd/live"
	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/web"
)

// The demo: a small demo stockpile, the demo teams and workload, a clock
// 7200× faster than real time (a round every 50 ms): within a few seconds
// jobs arrive, run with explanations, and teams have guarantees.
func TestDemoSchedules(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, led, cat := demoStockpile(t)
	live, err := live.New(ctx, live.Config{Store: st, Ledger: led, Catalog: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), Demo: true, Speed: 7200, AFR: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- live.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	var running []jobs.Job
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		running, _ = st.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}})
		if len(running) >= 5 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(running) < 5 {
		t.Fatalf("only %d jobs running after the demo ran", len(running))
	}
	for _, j := range running[:3] {
		if j.Placement == nil || j.Why.Code == "" || j.Why.Message == "" {
			t.Errorf("job %s: %+v", j.ID, j)
		}
		t.Logf("%s %s × %d: %s (%s)", j.ID, j.Class, j.Gang, j.Why.Message, j.Why.Code)
	}
	// The /jobs page lists them, without a token.
	page, err := web.New(led, slog.New(slog.DiscardHandler), nil, web.WithJobs(live, live.Service))
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{Ledger: led, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
		Page: page, Register: []func(*api.Registrar){live.Register}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jobs?state=running", nil))
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, `<tr class="job-running">`) || !strings.Contains(body, running[0].ID) || !strings.Contains(body, "placed-") {
		t.Errorf("/jobs: %d\n%.500s", rec.Code, body)
	}
	ts, err := live.Service.Teams(context.Background())
	if err != nil || len(ts) != 4 || ts[0].Name != "llm" || len(ts[0].Guarantees) != 1 {
		t.Errorf("teams %+v %v", ts, err)
	}
}

// serve hands the catalog's device memory to the job service: a share
// asking more memory than any device of the fleet has is refused at
// submit with the numbers (an H800 has 80 GB), one within it is taken.
func TestShareDeviceMemoryFromCatalog(t *testing.T) {
	ctx := context.Background()
	st, led, cat := demoStockpile(t)
	l, err := live.New(ctx, live.Config{Store: st, Ledger: led, Catalog: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h800, err := cat.Resolve("H800")
	if err != nil {
		t.Fatal(err)
	}
	sp := jobs.Spec{Name: "nb", Team: "dev", Class: "llm-batch-inference", Gang: 1, DeviceMilli: 250, DeviceMemoryMiB: 1 << 20, TotalSteps: 10, Allowed: []string{h800.ID}}
	if _, err := l.Service.Submit(ctx, sp, ""); err == nil || !strings.Contains(err.Error(), "device_memory_mib") || !strings.Contains(err.Error(), "81920 MiB") {
		t.Errorf("a share of 1 TiB of an H800: %v, want refused naming device_memory_mib and 81920 MiB", err)
	}
	sp.DeviceMemoryMiB = 20480
	if _, err := l.Service.Submit(ctx, sp, ""); err != nil {
		t.Errorf("a share of 20 GiB of an H800: %v", err)
	}
}

// demoStockpile is a small demo stockpile (5 % of serve --demo's) in a
// fresh SQLite store, closed at the end of the test, with its ledger.
func demoStockpile(t *testing.T) (*sqlite.Store, *inventory.Service, *accel.Catalog) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := accel.Default()
	b, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Now(), Scale: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	led, err := inventory.New(inventory.Config{Store: st, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	return st, led, cat
}
