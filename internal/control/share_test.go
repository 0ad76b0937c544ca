package control_test

import (
	"context"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// Shares of a device through the live loop, on both stores, across a
// restart: four jobs of 0.25 land on one device, the whole-device jobs
// never on it (one runs on the other device; one submitted later waits,
// though the shared device has no whole-device job on it), the stored
// placements say which device and which share; after the store is closed
// and opened again and a new Loop starts, the shares are on the same
// device since the same time, with no restart and no event.
func TestSharesLiveAndRestart(t *testing.T) {
	ctx := context.Background()
	for name, opener := range durableStores() {
		t.Run(name, func(t *testing.T) {
			open := opener(t)
			st := open()
			defer func() { st.Close() }()
			ledger := control.NewMemLedger(fleetOf(2, 0)) // H-000, H-001 on node h0
			backend := mustSim(t)
			clock := control.NewManualClock(t0)
			startLoop := func() *control.Loop {
				return newLoop(t, control.Config{Planner: jobs.PlannerConfig{Sharer: sharerFor(t)}}, workloads(t), st, ledger, backend, clock)
			}
			var svc *jobs.Service
			newService := func() {
				var err error
				if svc, err = jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: workloads(t), Now: clock.Now}); err != nil {
					t.Fatal(err)
				}
			}
			newService()
			submit := func(name string, milli int64) string {
				j, err := svc.Submit(ctx, jobs.Spec{Name: name, Team: "a", Class: "resnet", Gang: 1, DeviceMilli: milli, CPUMilli: 2000, TotalSteps: 1e9}, "")
				if err != nil {
					t.Fatal(err)
				}
				return j.ID
			}
			var quarters []string
			for _, n := range []string{"q1", "q2"} {
				quarters = append(quarters, submit(n, 250))
			}
			whole := []string{submit("w1", 0)}
			for _, n := range []string{"q3", "q4"} {
				quarters = append(quarters, submit(n, 250))
			}
			loop := startLoop()
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			sharedDev := checkShares(t, st, quarters, whole, "")
			first, _ := st.Job(ctx, quarters[0])
			// A second whole-device job waits: the only device left is
			// shared.
			whole = append(whole, submit("w2", 0))

			clock.Advance(360 * time.Second)
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			checkShares(t, st, quarters, whole, sharedDev)

			// Restart: the store closed and opened again, a new Loop.
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = open()
			clock.Advance(360 * time.Second)
			loop = startLoop()
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			checkShares(t, st, quarters, whole, sharedDev)
			for _, id := range quarters {
				j, err := st.Job(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if !j.Placement.Since.Equal(first.Placement.Since) || j.Restarts != 0 || len(j.History) != 2 {
					t.Errorf("%s after the restart: since %v (want %v), %d restarts, history %+v; want kept, no event", id, j.Placement.Since, first.Placement.Since, j.Restarts, j.History)
				}
			}

			// Shares stored on two devices (as a round with a gang on the
			// other half of each would leave them) are where the next
			// process finds them: a packer starting afresh would put both
			// on one device.
			newService()
			for _, id := range append(quarters, whole...) {
				if _, err := svc.Cancel(ctx, id, "t"); err != nil {
					t.Fatal(err)
				}
			}
			split := map[string]string{submit("s1", 250): "H-000", submit("s2", 250): "H-001"}
			for id, dev := range split {
				if _, err := st.UpdateJob(ctx, id, func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
					j.State = jobs.Running
					j.Placement = &jobs.Placement{Model: "h800", Devices: []string{dev}, Nodes: []string{"h0"}, Since: clock.Now(), StepsPerSecond: 1, Milli: 250}
					return j, nil, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = open()
			clock.Advance(360 * time.Second)
			if _, err := startLoop().Round(ctx); err != nil {
				t.Fatal(err)
			}
			for id, dev := range split {
				if j, _ := st.Job(ctx, id); j.Placement == nil || j.Placement.Devices[0] != dev || j.Placement.Milli != 250 {
					t.Errorf("%s after a restart: %+v, want kept on %s", id, j.Placement, dev)
				}
			}
		})
	}
}

// checkShares checks the stored placements: the quarters on one device
// (want, when given), 250 milli each, at a quarter of the device's
// throughput; one whole-device job on another device, the other waiting.
// It returns the shared device.
func checkShares(t *testing.T, st jobs.Store, quarters, whole []string, want string) string {
	t.Helper()
	ctx := context.Background()
	dev := want
	for _, id := range quarters {
		j, err := st.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p := j.Placement
		if j.State != jobs.Running || p == nil || p.Milli != 250 || len(p.Devices) != 1 || p.StepsPerSecond != 1 {
			t.Fatalf("%s: %s %+v (%s), want running on 250 milli of a device at 1 step/s", id, j.State, p, j.Why.Message)
		}
		if dev == "" {
			dev = p.Devices[0]
		}
		if p.Devices[0] != dev {
			t.Errorf("%s on %s, want the shared device %s", id, p.Devices[0], dev)
		}
	}
	running := 0
	for _, id := range whole {
		j, _ := st.Job(ctx, id)
		if j.Placement == nil {
			if j.State == jobs.Running {
				t.Errorf("%s running without a placement", id)
			}
			continue
		}
		running++
		if j.Placement.Milli != 0 || j.Placement.Devices[0] == dev {
			t.Errorf("whole-device job %s on %+v, the shared device is %s", id, j.Placement, dev)
		}
	}
	if running != 1 {
		t.Errorf("%d whole-device jobs run, want 1 (the other device is shared)", running)
	}
	return dev
}
