package control_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// Shares are subject to the teams' guarantees through the live loop, on
// both stores (issue 13): team a's four half shares hold both devices;
// team b is then guaranteed one device and submits a whole-device job.
// The next round gives b's job the device a's newer shares held: they are
// preempted with the reclaimed reason naming b, a's two others keep their
// device, and the store holds each device once (its share trigger would
// refuse b's device beside a share). Before shares were counted, b's job
// waited as long as a's shares ran.
func TestSharesGiveWayToGuaranteeLive(t *testing.T) {
	ctx := context.Background()
	for name, opener := range durableStores() {
		t.Run(name, func(t *testing.T) {
			st := opener(t)()
			defer st.Close()
			ledger := control.NewMemLedger(fleetOf(2, 0)) // H-000, H-001 on node h0
			backend := mustSim(t)
			clock := control.NewManualClock(t0)
			loop := newLoop(t, control.Config{}, workloads(t), st, ledger, backend, clock)
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: workloads(t), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			submit := func(name, team string, milli int64) string {
				j, err := svc.Submit(ctx, jobs.Spec{Name: name, Team: team, Class: "resnet", Gang: 1, DeviceMilli: milli, TotalSteps: 1e9}, "")
				if err != nil {
					t.Fatal(err)
				}
				return j.ID
			}
			var as []string
			for i, n := range []string{"a1", "a2", "a3", "a4"} {
				as = append(as, submit(n, "a", 500))
				if i == 1 {
					if _, err := loop.Round(ctx); err != nil {
						t.Fatal(err)
					}
					clock.Advance(360 * time.Second)
				}
			}
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			onDev := map[string]string{}
			for _, id := range as {
				j, _ := st.Job(ctx, id)
				if j.State != jobs.Running || j.Placement == nil || j.Placement.Milli != 500 {
					t.Fatalf("%s: %s %+v, want running on half a device", id, j.State, j.Placement)
				}
				onDev[id] = j.Placement.Devices[0]
			}
			if onDev[as[0]] != onDev[as[1]] || onDev[as[2]] != onDev[as[3]] || onDev[as[0]] == onDev[as[2]] {
				t.Fatalf("a's shares on %v, want a1, a2 on one device and a3, a4 on the other", onDev)
			}

			if _, err := svc.PutTeam(ctx, jobs.Team{Name: "b", Weight: 1, Guarantees: map[string]int{"h800": 1}}); err != nil {
				t.Fatal(err)
			}
			b := submit("b", "b", 0)
			clock.Advance(360 * time.Second)
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			jb, _ := st.Job(ctx, b)
			if jb.State != jobs.Running || jb.Placement == nil || jb.Placement.Devices[0] != onDev[as[2]] {
				t.Fatalf("b: %s %+v (%s), want running on %s, the device a's newer shares held", jb.State, jb.Placement, jb.Why.Message, onDev[as[2]])
			}
			for i, id := range as {
				j, _ := st.Job(ctx, id)
				if i < 2 {
					if j.State != jobs.Running || j.Placement.Devices[0] != onDev[id] {
						t.Errorf("%s: %s %+v, want kept on %s", id, j.State, j.Placement, onDev[id])
					}
					continue
				}
				if j.State != jobs.Preempted || j.Placement != nil || j.Why.Code != jobs.CodeReclaimed || !strings.Contains(j.Why.Message, "team b's guarantee") {
					t.Errorf("%s: %s %+v %+v, want preempted, reclaimed by b", id, j.State, j.Placement, j.Why)
				}
			}
		})
	}
}

// The reverse through the live loop, on both stores: team a's
// whole-device job runs on the only H800; team b is then guaranteed it
// and submits a half share. The next round a's job is preempted, its
// device reclaimed by b, and b's share runs on H-000. Before shares were
// counted, the share waited (no-share-room) as long as a's job ran.
func TestShareOwedGuaranteeLive(t *testing.T) {
	ctx := context.Background()
	for name, opener := range durableStores() {
		t.Run(name, func(t *testing.T) {
			st := opener(t)()
			defer st.Close()
			ledger := control.NewMemLedger(fleetOf(1, 0)) // H-000
			backend := mustSim(t)
			clock := control.NewManualClock(t0)
			loop := newLoop(t, control.Config{}, workloads(t), st, ledger, backend, clock)
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: workloads(t), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			a, err := svc.Submit(ctx, jobs.Spec{Name: "a", Team: "a", Class: "resnet", Gang: 1, TotalSteps: 1e9}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.PutTeam(ctx, jobs.Team{Name: "b", Weight: 1, Guarantees: map[string]int{"h800": 1}}); err != nil {
				t.Fatal(err)
			}
			b, err := svc.Submit(ctx, jobs.Spec{Name: "b", Team: "b", Class: "resnet", Gang: 1, DeviceMilli: 500, TotalSteps: 1e9}, "")
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(360 * time.Second)
			if _, err := loop.Round(ctx); err != nil {
				t.Fatal(err)
			}
			jb, _ := st.Job(ctx, b.ID)
			if jb.State != jobs.Running || jb.Placement == nil || jb.Placement.Devices[0] != "H-000" || jb.Placement.Milli != 500 {
				t.Fatalf("b: %s %+v (%s), want half of H-000", jb.State, jb.Placement, jb.Why.Message)
			}
			ja, _ := st.Job(ctx, a.ID)
			if ja.State != jobs.Preempted || ja.Why.Code != jobs.CodeReclaimed || !strings.Contains(ja.Why.Message, "team b's guarantee") {
				t.Errorf("a: %s %+v, want preempted, reclaimed by b", ja.State, ja.Why)
			}
		})
	}
}
