package web

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// benchStore is what the benchmark needs of a store: the ledger's and the
// jobs' (both SQLite and PostgreSQL are).
type benchStore interface {
	inventory.Store
	jobs.Store
	jobs.Fleet
}

// benchJobs is web.Jobs over a store, as servecmd/live wires it.
type benchJobs struct {
	st  benchStore
	svc *jobs.Service
}

func (b benchJobs) Scheduler() (time.Time, string) { return time.Now(), "las-hetero" }
func (b benchJobs) LastRound(ctx context.Context) (jobs.Round, error) {
	return b.st.LastRound(ctx)
}
func (b benchJobs) Teams(ctx context.Context) ([]jobs.TeamStatus, error) { return b.svc.Teams(ctx) }
func (b benchJobs) Jobs(ctx context.Context, f jobs.Filter) ([]jobs.Job, error) {
	return b.svc.List(ctx, f)
}
func (b benchJobs) CountJobs(ctx context.Context, f jobs.Filter) (int, error) {
	return b.svc.Count(ctx, f)
}

// BenchmarkPages renders each page's first response (server time, no
// network) on a ledger of ~100,000 devices (the demo at scale 5, with its
// history) and 10,000 jobs (4,000 pending, 6,000 completed), on SQLite and
// on PostgreSQL. Report medians: go test -run '^$' -bench Pages -count 5.
func BenchmarkPages(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchPages(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		st, err := postgres.Open(context.Background(), storetest.PostgresURL(b))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchPages(b, st)
	})
}

func benchPages(b *testing.B, st benchStore) {
	ctx := context.Background()
	batch, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Scale: 5})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Insert(ctx, batch); err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		j := jobs.Job{Spec: jobs.Spec{Name: fmt.Sprintf("job-%05d", i), Team: []string{"llm", "search", "vision", "speech"}[i%4], Class: "llm-pretrain", Gang: 8, TotalSteps: 1000},
			State: jobs.Completed, SubmittedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute),
			Why: jobs.Explanation{Code: "waiting-for-devices", Message: "waits for 8 × H800 on one node"}}
		if i%5 < 2 {
			j.State = jobs.Pending
		} else {
			j.FinishedAt = j.SubmittedAt.Add(time.Hour)
		}
		if _, err := st.CreateJob(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	w, err := jobs.NewWorkloads([]sched.ThroughputEntry{{Class: "llm-pretrain", Gang: 8, Model: "h800-sxm5-80gb", StepsPerSecond: 1}})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w})
	if err != nil {
		b.Fatal(err)
	}
	led, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default()})
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := led.CreateToken(ctx, inventory.RoleViewer, "bench")
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(led, slog.New(slog.DiscardHandler), nil, WithJobs(benchJobs{st: st, svc: svc}, svc), WithFailures(led))
	if err != nil {
		b.Fatal(err)
	}
	sum, err := led.Summary(ctx)
	if err != nil {
		b.Fatal(err)
	}
	mid := batch.Devices[len(batch.Devices)/2]
	b.Logf("%d devices, %d events, 10,000 jobs", sum.Totals.Devices, len(batch.Events))
	for _, page := range []string{"/", "/devices", "/devices?state=failed", "/devices?model=h800-sxm5-80gb&limit=1000",
		"/devices?site=" + url.QueryEscape(mid.Site), "/devices?q=" + url.QueryEscape(mid.Node), "/devices?q=h800", "/devices?q=guizhou", "/devices?sort=-model",
		"/history?day=2026-11-27&state=in-service", "/history?day=2026-11-27&state=failed",
		"/devices/" + url.PathEscape(mid.Serial), "/nodes/" + url.PathEscape(mid.Node), "/nodes?site=" + url.QueryEscape(mid.Site), "/jobs", "/jobs?state=all&page=150", "/jobs?state=all&q=job-0999",
		"/jobs/job-5000", "/chips", "/chips/h800-sxm5-80gb", "/failures", "/failures/events?model=h800-sxm5-80gb&band=all"} {
		get := func(b *testing.B) int {
			req := httptest.NewRequest("GET", page, nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: secret})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("%s: %d\n%.500s", page, rec.Code, rec.Body.String())
			}
			return rec.Body.Len()
		}
		b.Run(page, func(b *testing.B) {
			// The first request after a start folds the whole history into
			// the fleet-over-time cache: timed once, outside the loop.
			start := time.Now()
			size := get(b)
			b.Logf("first request: %v", time.Since(start).Round(time.Millisecond))
			for b.Loop() {
				get(b)
			}
			b.ReportMetric(float64(size), "html-bytes")
		})
	}
}
