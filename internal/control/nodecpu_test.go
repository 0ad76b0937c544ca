package control_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// A node's CPU, as the inventory records it, bounds the shares on it in
// the live loop: on a node of 8 cores with two H800s, three quarter
// shares asking 3 cores each do not all run — two do, the third waits
// with no-share-room, though a device has room for it. The same fleet
// imported without the node's CPU runs all three (no limit recorded).
func TestShareWaitsForNodeCPU(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		cpu     string // the node_cpu_milli cell
		running int
	}{{"recorded", "8000", 2}, {"not recorded", "", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "granary.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			inv := storetest.NewService(t, st)
			csv := "serial,model,state,node,node_cpu_milli\n" +
				"H-000,H800,in-service,h0," + tc.cpu + "\n" +
				"H-001,H800,in-service,h0," + tc.cpu + "\n"
			if _, err := inv.ImportCSV(ctx, "fleet.csv", strings.NewReader(csv), "t"); err != nil {
				t.Fatal(err)
			}
			ledger := &control.InventoryLedger{Devices: st, Service: inv, Actor: "scheduler"}
			backend := mustSim(t)
			clock := control.NewManualClock(t0)
			target := []share.Shape{{Req: share.Request{Devices: 1, Milli: 250}, Freq: 1}}
			p, err := share.New(share.Granary, share.Options{Rand: rand.New(rand.NewPCG(1, 2)), Target: target})
			if err != nil {
				t.Fatal(err)
			}
			w, err := jobs.NewWorkloads([]sched.ThroughputEntry{{Class: "resnet", Gang: 1, Model: "h800-sxm5-80gb", StepsPerSecond: 4}})
			if err != nil {
				t.Fatal(err)
			}
			loop := newLoop(t, control.Config{Planner: jobs.PlannerConfig{Sharer: p}}, w, st, ledger, backend, clock)
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: w, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, n := range []string{"q1", "q2", "q3"} {
				j, err := svc.Submit(ctx, jobs.Spec{Name: n, Team: "a", Class: "resnet", Gang: 1, DeviceMilli: 250, CPUMilli: 3000, TotalSteps: 1e9}, "")
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, j.ID)
			}
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			running := 0
			for _, id := range ids {
				j, err := st.Job(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case j.State == jobs.Running && j.Placement != nil && j.Placement.Milli == 250:
					running++
				case j.Why.Code != jobs.CodeNoShareRoom:
					t.Errorf("%s: %s, %+v, want running or waiting with %s", id, j.State, j.Why, jobs.CodeNoShareRoom)
				}
			}
			if running != tc.running {
				t.Errorf("%d shares of 3 cores run on a node of %q milli-cores, want %d", running, tc.cpu, tc.running)
			}
			if tc.cpu != "" {
				return
			}
			// The node's CPU recorded later by an import of the node
			// alone (no device, no event): the next round sees it (the
			// ledger's version moved) and one share of three gives way.
			if _, err := inv.ImportJSON(ctx, "node.json", strings.NewReader(`{"nodes": [{"hostname": "h0", "cpu_milli": 8000}], "devices": []}`), "t"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(360 * time.Second)
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			running = 0
			for _, id := range ids {
				if j, _ := st.Job(ctx, id); j.State == jobs.Running {
					running++
				}
			}
			if running != 2 {
				t.Errorf("after the node's CPU was recorded, %d shares of 3 cores run on it, want 2", running)
			}
		})
	}
}
