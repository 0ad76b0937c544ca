package sched_test

import (
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
)

// Shares are in the guarantees' accounting (issue 13): team a, with no
// guarantee, holds both devices with half shares; team b, guaranteed one
// device, submits a whole-device job. The device a's most recently started
// shares hold goes back to b (they wait, reclaimed by b), b's job runs
// there, a's older shares keep theirs. Before shares were counted, b's job
// waited (fragmented) for as long as a's shares ran.
func TestSharesBeyondGuaranteeGiveWay(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	var jobs []sched.Job
	for i, id := range []string{"a1", "a2", "a3", "a4"} {
		j := shareJob(id, 500)
		j.Team = "a"
		j.Held = &sched.Held{Model: "m", Devices: []int{i / 2}, Since: float64(10 * (i / 2))}
		jobs = append(jobs, j)
	}
	b := job("b", "c", 1)
	b.Team = "b"
	jobs = append(jobs, b)
	s := &sched.Snapshot{Now: 100, Fleet: map[string]int{"m": 2}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 2}},
		Teams: []sched.Team{{Name: "b", Guarantees: map[string]int{"m": 1}}}, Jobs: jobs}
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.BestFit)})
	p := next(t, st, s, tp)
	r, ok := p.RunOf("b")
	if !ok || len(r.Devices) != 1 || r.Devices[0] != 1 {
		t.Fatalf("b: %+v (running %v), waiting %+v; want b on device 1, the one a's newer shares held", r, ok, p.Waiting)
	}
	for _, id := range []string{"a1", "a2"} {
		if r, ok := p.RunOf(id); !ok || r.Devices[0] != 0 || !r.Kept {
			t.Errorf("%s: %+v, want kept on device 0", id, r)
		}
	}
	want := map[string]bool{"a3": true, "a4": true}
	for _, w := range p.Waiting {
		if !want[w.Job] || w.Reason != sched.ReasonReclaimed || w.By != "b" || w.Model != "m" || w.Guarantee != 1 {
			t.Errorf("wait %+v, want a3 and a4 reclaimed by b (1 × m)", w)
		}
		delete(want, w.Job)
	}
	if len(want) != 0 {
		t.Errorf("not waiting: %v", want)
	}

	// Without b's guarantee, the teams' weights (1 each, no device-time
	// used yet) split the two devices (sharefair.go): b's job again gets
	// the device a's newer shares held, which now wait outranked by b.
	// Before team weights applied to shares, a's shares kept both devices
	// and b waited.
	s.Teams = nil
	st = sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.BestFit)})
	p = next(t, st, s, tp)
	if r, ok := p.RunOf("b"); !ok || r.Devices[0] != 1 || len(p.Runs) != 3 {
		t.Errorf("without a guarantee: runs %+v, want b on device 1 beside a1, a2", p.Runs)
	}
	for _, w := range p.Waiting {
		if (w.Job != "a3" && w.Job != "a4") || w.Reason != sched.ReasonOutranked || w.By != "b" {
			t.Errorf("without a guarantee: wait %+v, want a3, a4 outranked by b", w)
		}
	}
}

// The reverse: shares within their team's guarantee are not taken for a
// gang of a team beyond its own, and a team's shares count against its
// guarantee: b, guaranteed one device, holds it with two half shares; its
// whole-device job is beyond the guarantee and a's (guaranteed one device)
// whole-device job gets the other device. Neither team takes from the
// other.
func TestSharesWithinGuaranteeKept(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	var jobs []sched.Job
	for _, id := range []string{"b1", "b2"} {
		j := shareJob(id, 500)
		j.Team = "b"
		j.Held = &sched.Held{Model: "m", Devices: []int{0}, Since: 50}
		jobs = append(jobs, j)
	}
	a := job("a", "c", 1)
	a.Team = "a"
	bw := job("bw", "c", 1)
	bw.Team = "b"
	bw.Arrival = 1
	jobs = append(jobs, a, bw)
	s := &sched.Snapshot{Now: 100, Fleet: map[string]int{"m": 2}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 2}},
		Teams: []sched.Team{{Name: "a", Guarantees: map[string]int{"m": 1}}, {Name: "b", Guarantees: map[string]int{"m": 1}}}, Jobs: jobs}
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.BestFit)})
	p := next(t, st, s, tp)
	for _, id := range []string{"b1", "b2"} {
		if r, ok := p.RunOf(id); !ok || r.Devices[0] != 0 {
			t.Errorf("%s: %+v, want kept on device 0", id, r)
		}
	}
	if r, ok := p.RunOf("a"); !ok || r.Devices[0] != 1 {
		t.Errorf("a: %+v (running %v), waiting %+v; want a on device 1", r, ok, p.Waiting)
	}
	if _, ok := p.RunOf("bw"); ok {
		t.Errorf("bw runs: %+v", p.Runs)
	}
}

// The reverse (issue 13): team a, with no guarantee, runs a whole-device
// job on the only device; team b, guaranteed that device, submits a half
// share. a's job is lent b's device and gives it back (reclaimed by b);
// b's share runs on it. Before shares were counted, the share waited
// (no-share-room) as long as a's job ran. Without b's guarantee it
// waits, outranked by a under equal team weights.
func TestShareOwedGuaranteeReclaimsGang(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	a := job("a", "c", 1)
	a.Team = "a"
	a.Held = &sched.Held{Model: "m", Devices: []int{0}, Since: 10}
	b := shareJob("b", 500)
	b.Team = "b"
	b.Arrival = 50
	s := &sched.Snapshot{Now: 100, Fleet: map[string]int{"m": 1}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 1}},
		Teams: []sched.Team{{Name: "b", Guarantees: map[string]int{"m": 1}}}, Jobs: []sched.Job{a, b}}
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.BestFit)})
	p := next(t, st, s, tp)
	if r, ok := p.RunOf("b"); !ok || r.Milli != 500 || r.Devices[0] != 0 {
		t.Fatalf("b: %+v (running %v), waiting %+v; want half of device 0", r, ok, p.Waiting)
	}
	if len(p.Waiting) != 1 || p.Waiting[0].Job != "a" || p.Waiting[0].Reason != sched.ReasonReclaimed || p.Waiting[0].By != "b" {
		t.Errorf("waiting %+v, want a reclaimed by b", p.Waiting)
	}

	s.Teams = nil
	st = sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.BestFit)})
	p = next(t, st, s, tp)
	// Equal weights, no device-time used: a's job, which holds the
	// device, keeps it (sharefair.go's tie rule) and b waits outranked.
	if _, ok := p.RunOf("b"); ok || len(p.Waiting) != 1 || p.Waiting[0].Reason != sched.ReasonOutranked || p.Waiting[0].By != "a" {
		t.Errorf("without a guarantee: runs %+v, waiting %+v; want a running, b outranked by a", p.Runs, p.Waiting)
	}
}
