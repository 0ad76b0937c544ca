package control_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// TestLoopRunsGranaryPolicy is issue 14's "serve --policy granary runs it
// live": the live loop under the granary policy on the simulated backend,
// 8 × h800 and five 4-GPU jobs of two teams (two run at a time), all
// submitted at once, longest first. The policy is SRPT by the submitted
// estimate with response-ratio aging, divided by the team-fair weight: the
// first round must start the two best scores (the shortest, not the
// longest submitted first as FIFO would), later starts follow the scores
// (worked out below), every round must succeed, no device may be held by
// two running jobs, and every job must complete.
func TestLoopRunsGranaryPolicy(t *testing.T) {
	r := newRig(t, fleetOf(8, 0), simbackend.Config{}, sched.Granary)
	ctx := context.Background()
	// On 4 × h800: resnet 16 steps/s, bert 8 steps/s.
	specs := []struct {
		name, team, class string
		secs              float64 // estimated (= true) length on 4 × h800
	}{
		{"long", "a", "resnet", 3000},
		{"short", "b", "resnet", 500},
		{"mid", "a", "resnet", 1200},
		{"bert", "a", "bert", 800},
		{"longish", "b", "resnet", 2000},
	}
	ids := map[string]string{}
	for _, s := range specs {
		sps := 16.0
		if s.class == "bert" {
			sps = 8
		}
		j, err := r.svc.Submit(ctx, jobs.Spec{Name: s.name, Team: s.team, Class: s.class, Gang: 4, TotalSteps: s.secs * sps}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids[s.name] = j.ID
	}
	for round := 0; round < 30; round++ {
		if _, err := r.loop.Round(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		running, err := r.store.Jobs(ctx, jobs.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]string{}
		for _, j := range running {
			if j.State != jobs.Running {
				continue
			}
			if j.Placement == nil || len(j.Placement.Devices) != j.Gang {
				t.Fatalf("round %d: running job %s placed on %+v", round, j.Name, j.Placement)
			}
			for _, d := range j.Placement.Devices {
				if other, ok := held[d]; ok {
					t.Fatalf("round %d: device %s held by %s and %s", round, d, other, j.Name)
				}
				held[d] = j.Name
			}
		}
		if len(held) > 8 {
			t.Fatalf("round %d: %d devices held on a fleet of 8", round, len(held))
		}
		if round == 0 {
			want := "bert,short"
			var got []string
			for _, j := range running {
				if j.State == jobs.Running {
					got = append(got, j.Name)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != want {
				t.Fatalf("first round runs %v, want the two shortest estimates %s", got, want)
			}
		}
		r.clock.Advance(360 * time.Second)
	}
	// Every job completed; first starts are in estimate order.
	type start struct {
		name string
		at   time.Time
	}
	var starts []start
	for _, s := range specs {
		j, err := r.svc.Get(ctx, ids[s.name])
		if err != nil {
			t.Fatal(err)
		}
		if j.State != jobs.Completed {
			t.Fatalf("%s: state %s after 30 rounds, why %+v", s.name, j.State, j.Why)
		}
		for _, e := range j.History {
			if e.Kind == "started" {
				starts = append(starts, start{s.name, e.At})
				break
			}
		}
	}
	if len(starts) != len(specs) {
		t.Fatalf("started events: %v", starts)
	}
	sort.SliceStable(starts, func(x, y int) bool { return starts[x].at.Before(starts[y].at) })
	var order []string
	for _, s := range starts {
		order = append(order, s.name+"@"+s.at.Sub(t0).String())
	}
	// The pipeline's team fairness divides a team's weight among its
	// active jobs and the score is r²/(age + r) ÷ weight. At 0 s, team a
	// (long, mid, bert) weighs 1/3 a job and team b (short, longish) 1/2:
	// short (score 1000) and bert (2400) start. short ends at 500 s; at the
	// 720 s round longish is team b's only job (2000²/2720 ≈ 1471) and goes
	// before mid (1200²/1920 × 3 = 2250). bert ends at 800 s and mid starts at
	// 1080 s, before long (team a's two jobs: 1263 against 4412); mid ends at
	// 2280 s and long starts at 2520 s. Within each team the shorter
	// estimate always starts first.
	if got, want := strings.Join(order, " "), "short@0s bert@0s longish@12m0s mid@18m0s long@42m0s"; got != want {
		t.Errorf("first starts %s, want %s", got, want)
	}
}
