package control_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/jobs/jobstest"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// BenchmarkRoundSQLite times one steady-state scheduling round on SQLite:
// snapshot read (100,000 in-service devices, 10,000 active jobs, teams),
// las-hetero allocation, Gavel's round mechanism, guarantees and packing,
// persistence of every changed job in one transaction, and enactment on the
// sim backend. Each iteration is the next round, 360 s later.
func BenchmarkRoundSQLite(b *testing.B) {
	for _, c := range []struct{ devices, jobs, gangs int }{{10000, 1000, 0}, {100000, 10000, 0}, {100000, 10000, 500}} {
		b.Run(fmt.Sprintf("devices=%d/jobs=%d/multinode=%d", c.devices, c.jobs, c.gangs), func(b *testing.B) {
			benchRound(b, c.devices, c.jobs, c.gangs)
		})
	}
}

// benchRound: nDev devices of 10 models on nodes of 8 (12,500 nodes for
// 100,000 devices) in 4 sites of 8 switches; nJobs jobs, of which nGangs
// are multi-node gangs of 16–512 devices of distributed classes.
func benchRound(b *testing.B, nDev, nJobs, nGangs int) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	bw := jobstest.NewBench(b)
	models, w := bw.Models, bw.Workloads
	var batch inventory.Batch
	for i := 0; i < nDev; i++ {
		m := models[i%len(models)]
		n := i / len(models) / 8
		node := fmt.Sprintf("%s-n%05d", m, n)
		if i%(len(models)*8) == 0 {
			for _, mm := range models {
				batch.Nodes = append(batch.Nodes, inventory.Node{Hostname: fmt.Sprintf("%s-n%05d", mm, n), Site: fmt.Sprint("site-", n%4), InterconnectDomain: fmt.Sprint("sw-", n%32)})
			}
		}
		batch.Devices = append(batch.Devices, inventory.Device{Serial: fmt.Sprintf("D%07d", i), Model: m, Node: node, Site: fmt.Sprint("site-", n%4), State: fleet.InService, UpdatedAt: t0})
	}
	if err := st.Insert(ctx, batch); err != nil {
		b.Fatal(err)
	}
	teams := []string{"search", "ads", "llm", "vision", "speech"}
	for _, t := range teams {
		if err := st.PutTeam(ctx, jobs.Team{Name: t, Weight: 1}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < nJobs; i++ {
		j := jobs.Job{Spec: bw.Spec(i, nGangs, teams),
			State: jobs.Pending, SubmittedAt: t0, Why: jobs.Explanation{Code: jobs.CodeSubmitted, Message: "submitted"},
			History: []jobs.Event{{At: t0, Kind: "submitted", Message: "submitted"}}}
		if _, err := st.CreateJob(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	be, err := simbackend.New(simbackend.Config{})
	if err != nil {
		b.Fatal(err)
	}
	clock := control.NewManualClock(t0.Add(time.Minute))
	ledger := &control.InventoryLedger{Devices: st}
	loop, err := control.New(control.Config{}, w, st, ledger, be, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := loop.Round(ctx); err != nil { // first placement of everything
		b.Fatal(err)
	}
	var last control.Report
	b.ResetTimer()
	for b.Loop() {
		clock.Advance(360 * time.Second)
		if last, err = loop.Round(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(last.Round.Running), "running")
	b.ReportMetric(float64(last.Round.Waiting), "waiting")
}
