package control_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/share"
)

// sharerFor is the live packer the share tests use (Granary's, with a
// target of quarters and whole devices).
func sharerFor(t *testing.T) share.Packer {
	t.Helper()
	target := []share.Shape{{Req: share.Request{Devices: 1, Milli: 250}, Freq: 0.5}, {Req: share.Request{Devices: 1, Milli: 1000}, Freq: 0.5}}
	p, err := share.New(share.Granary, share.Options{Rand: rand.New(rand.NewPCG(1, 2)), Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Team weights apply to shares through the live loop, on both stores,
// across a restart (issue 13): teams a (weight 2) and b (weight 1) each
// submit six quarter shares of the only H800; a's come first. Over 12
// rounds a's shares run 2/3 of the device-time within 5 % and b's 1/3,
// every round fills the device, and a share left out says which team went
// before it. The device-time the teams used is in the stored scheduler
// state and keeps growing across the restart (store closed and opened
// again, a new Loop): a share is charged at milli/1000 of a device (four
// quarters running a round = 360 device-seconds). Before, a's four first
// shares held the device every round and b's never ran.
func TestShareTeamWeightsLive(t *testing.T) {
	ctx := context.Background()
	for name, opener := range durableStores() {
		t.Run(name, func(t *testing.T) {
			open := opener(t)
			st := open()
			defer func() { st.Close() }()
			ledger := control.NewMemLedger(fleetOf(1, 0))
			backend := mustSim(t)
			clock := control.NewManualClock(t0)
			startLoop := func() *control.Loop {
				return newLoop(t, control.Config{Planner: jobs.PlannerConfig{Sharer: sharerFor(t)}}, workloads(t), st, ledger, backend, clock)
			}
			svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: ledger, Workloads: workloads(t), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			for _, tm := range []jobs.Team{{Name: "a", Weight: 2}, {Name: "b", Weight: 1}} {
				if _, err := svc.PutTeam(ctx, tm); err != nil {
					t.Fatal(err)
				}
			}
			team := map[string]string{}
			for _, tm := range []string{"a", "b"} {
				for i := range 6 {
					j, err := svc.Submit(ctx, jobs.Spec{Name: tm + string(rune('1'+i)), Team: tm, Class: "resnet", Gang: 1, DeviceMilli: 250, TotalSteps: 1e9}, "")
					if err != nil {
						t.Fatal(err)
					}
					team[j.ID] = tm
				}
			}
			stored := func() float64 {
				r, err := st.LastRound(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var s struct {
					Sched struct {
						Shares struct {
							Teams []struct {
								Seconds float64 `json:"device_s"`
							} `json:"teams"`
						} `json:"shares"`
					} `json:"sched"`
				}
				if err := json.Unmarshal(r.State, &s); err != nil {
					t.Fatal(err)
				}
				sum := 0.0
				for _, tm := range s.Sched.Shares.Teams {
					sum += tm.Seconds
				}
				return sum
			}
			got := map[string]float64{}
			outranked := false
			loop := startLoop()
			for r := range 12 {
				if r == 6 {
					before := stored()
					if err := st.Close(); err != nil {
						t.Fatal(err)
					}
					st = open()
					loop = startLoop()
					if _, err := loop.Round(ctx); err != nil {
						t.Fatal(err)
					}
					// The round before the restart ran the whole device
					// for 360 s: the memory grows by that, from where it was.
					if after := stored(); math.Abs(after-(before+360)) > 1e-6 {
						t.Errorf("stored device-seconds %v before the restart, %v after; want %v", before, after, before+360)
					}
				} else if _, err := loop.Round(ctx); err != nil {
					t.Fatal(err)
				}
				milli := int64(0)
				all, err := st.Jobs(ctx, jobs.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range all {
					if j.State == jobs.Running {
						milli += j.Placement.Milli
						got[team[j.ID]] += float64(j.Placement.Milli) / 1000 * 360
					} else if j.Team == "a" && j.Why.Code == jobs.CodeOutranked && strings.Contains(j.Why.Message, "team b goes before team a") {
						outranked = true
					}
				}
				if milli != 1000 {
					t.Errorf("round %d: %d milli of the H800 run, want 1000", r, milli)
				}
				clock.Advance(360 * time.Second)
			}
			frac := got["a"] / (got["a"] + got["b"])
			t.Logf("a's part of the device-time over 12 rounds: %.3f", frac)
			if math.Abs(frac-2.0/3) > 0.05*2/3 {
				t.Errorf("a ran %.0f, b %.0f device-seconds: a's part %.3f, want 0.667", got["a"], got["b"], frac)
			}
			if !outranked {
				t.Error("no share of a waited naming team b as going before it")
			}
		})
	}
}
