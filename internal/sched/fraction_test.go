package sched_test

import (
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
	"github.com/granaryhq/granary/internal/share"
)

func sharer(t *testing.T, name string) sched.Sharer {
	t.Helper()
	target := []share.Shape{
		{Req: share.Request{Devices: 1, Milli: 250}, Freq: 0.5},
		{Req: share.Request{Devices: 1, Milli: 1000}, Freq: 0.5},
	}
	p, err := share.New(name, share.Options{Rand: rand.New(rand.NewPCG(1, 2)), Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func shareJob(id string, milli int64) sched.Job {
	j := job(id, "c", 1)
	j.Milli = milli
	return j
}

// next runs one round and checks the placement invariants (a device holds
// one gang, or shares summing to at most 1000 milli).
func next(t *testing.T, st *sched.RoundState, s *sched.Snapshot, tp *sched.Throughputs) sched.Placement {
	t.Helper()
	p, err := st.Next(s, tp)
	if err != nil {
		t.Fatal(err)
	}
	if err := schedtest.CheckPlacement(s, tp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Four quarter shares land on one device, whatever the packer, and the
// whole-device job goes on the other device; every packer leaves the
// second device whole for it.
func TestSharesPackOneDevice(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	for _, name := range []string{share.Granary, share.FGD, share.BestFit} {
		t.Run(name, func(t *testing.T) {
			s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 2}},
				Jobs: []sched.Job{shareJob("q1", 250), shareJob("q2", 250), job("whole", "c", 1), shareJob("q3", 250), shareJob("q4", 250)}}
			pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
			st := sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, name)})
			p := next(t, st, s, tp)
			if len(p.Waiting) != 0 || len(p.Runs) != 5 {
				t.Fatalf("runs %+v waiting %+v, want all 5 running", p.Runs, p.Waiting)
			}
			w, _ := p.RunOf("whole")
			q, _ := p.RunOf("q1")
			for _, id := range []string{"q1", "q2", "q3", "q4"} {
				r, _ := p.RunOf(id)
				if r.Milli != 250 || len(r.Devices) != 1 || r.Devices[0] != q.Devices[0] || r.Nodes[0] != "n1" {
					t.Errorf("%s: %+v, want 250 milli of device %d", id, r, q.Devices[0])
				}
			}
			if w.Milli != 0 || w.Devices[0] == q.Devices[0] {
				t.Errorf("whole-device job %+v on the shared device %d", w, q.Devices[0])
			}
		})
	}
}

// A share keeps the device it holds; gangs never land on it, even when
// that leaves a whole-device job waiting; a fifth quarter finds no room.
func TestSharesKeptAndNoRoom(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	held := shareJob("q1", 250)
	held.Held = &sched.Held{Model: "m", Devices: []int{1}}
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 2}},
		Jobs: []sched.Job{job("w1", "c", 1), job("w2", "c", 1), held}}
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)})
	p := next(t, st, s, tp)
	if r, ok := p.RunOf("q1"); !ok || !r.Kept || r.Devices[0] != 1 || r.Milli != 250 {
		t.Errorf("held share: %+v %v, want kept on device 1", r, ok)
	}
	running := 0
	for _, id := range []string{"w1", "w2"} {
		if r, ok := p.RunOf(id); ok {
			running++
			if r.Devices[0] != 0 {
				t.Errorf("%s on device %d, which a share holds", id, r.Devices[0])
			}
		}
	}
	if running != 1 {
		t.Errorf("%d whole-device jobs run, want 1 (device 1 is shared): %+v", running, p)
	}

	// Gangs the policy starts come before new shares: two whole-device
	// jobs on two devices leave no room for a quarter.
	s.Jobs = []sched.Job{job("w1", "c", 1), job("w2", "c", 1), shareJob("q", 250)}
	p = next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
	if len(p.Waiting) != 1 || p.Waiting[0].Job != "q" || p.Waiting[0].Reason != sched.ReasonNoShareRoom {
		t.Errorf("two gangs and a quarter on two devices: waiting %+v, want q no-share-room", p.Waiting)
	}

	// One device: four quarters fit, the fifth waits with its reason; a
	// node with 8 cores takes two shares of 3 cores.
	s = &sched.Snapshot{Fleet: map[string]int{"m": 1}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 1}}}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		s.Jobs = append(s.Jobs, shareJob(id, 250))
	}
	st = sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)})
	p = next(t, st, s, tp)
	if len(p.Runs) != 4 || len(p.Waiting) != 1 || p.Waiting[0].Job != "e" || p.Waiting[0].Reason != sched.ReasonNoShareRoom {
		t.Errorf("five quarters on one device: runs %+v waiting %+v, want a–d running, e no-share-room", p.Runs, p.Waiting)
	}
	s.Nodes[0].CPU = 8000
	for i := range s.Jobs {
		s.Jobs[i].CPU = 3000
	}
	p = next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
	if len(p.Runs) != 2 || len(p.Waiting) != 3 {
		t.Errorf("3-core shares on an 8-core node: %d run, %d wait; want 2 and 3", len(p.Runs), len(p.Waiting))
	}
	// Device memory: an 80 GiB device takes two shares of 40 GiB, not three.
	s.Nodes[0].CPU, s.Nodes[0].DevMem = 0, 81920
	for i := range s.Jobs {
		s.Jobs[i].CPU, s.Jobs[i].DevMem = 0, 40960
	}
	p = next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
	if len(p.Runs) != 2 {
		t.Errorf("40 GiB shares on an 80 GiB device: %d run, want 2", len(p.Runs))
	}
	// No packer: a share that holds nothing waits.
	p = next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1}), s, tp)
	if len(p.Runs) != 0 || len(p.Waiting) != 5 {
		t.Errorf("no sharer: %+v", p)
	}
}

// A share asking only for models it has no throughput on, or none it may
// use, waits with the filter's reasons; a snapshot with a share and a gang
// above 1 is invalid.
func TestSharesFilterReasons(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	notAllowed := shareJob("na", 500)
	notAllowed.Allowed = []string{"other"}
	noTput := shareJob("nt", 500)
	noTput.Class = "unknown"
	s := &sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{notAllowed, noTput}}
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	p := next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
	want := map[string]sched.Reason{"na": sched.ReasonNotAllowed, "nt": sched.ReasonNoThroughput}
	for _, w := range p.Waiting {
		if want[w.Job] != w.Reason {
			t.Errorf("%s waits with %s, want %s", w.Job, w.Reason, want[w.Job])
		}
	}
	bad := shareJob("bad", 500)
	bad.Gang = 2
	s.Jobs = []sched.Job{bad}
	if _, err := sched.NewRoundState(pol, sched.RoundConfig{}).Next(s, tp); err == nil {
		t.Error("a share with gang 2 was accepted")
	}
}

// A share that has waited ShareAgingRounds rounds goes before the gangs
// the policy starts: two new gangs and an old quarter on two devices — the
// quarter runs, one gang waits; the same quarter arrived now waits.
func TestSharesAging(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	for _, tc := range []struct {
		waited    float64 // rounds
		wantShare bool
	}{{sched.ShareAgingRounds + 1, true}, {sched.ShareAgingRounds, true}, {sched.ShareAgingRounds - 1, false}, {0, false}} {
		now := 100 * 360.0
		q := shareJob("q", 250)
		q.Arrival = now - tc.waited*360
		w1, w2 := job("w1", "c", 1), job("w2", "c", 1)
		w1.Arrival, w2.Arrival = now, now
		s := &sched.Snapshot{Now: now, Fleet: map[string]int{"m": 2}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 2}}, Jobs: []sched.Job{w1, w2, q}}
		p := next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
		_, runs := p.RunOf("q")
		gangs := 0
		for _, id := range []string{"w1", "w2"} {
			if _, ok := p.RunOf(id); ok {
				gangs++
			}
		}
		if runs != tc.wantShare || (runs && gangs != 1) || (!runs && gangs != 2) {
			t.Errorf("a share that waited %v rounds: runs %v, %d gangs run; want share %v", tc.waited, runs, gangs, tc.wantShare)
		}
	}
}

// A share goes on the fastest model with room, the packer choosing the
// device among that model's; when it has none, on the next one, naming
// the model it wanted.
func TestSharesFastestModelFirst(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "fast", StepsPerSecond: 3},
		sched.ThroughputEntry{Class: "c", Gang: 1, Model: "slow", StepsPerSecond: 1})
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	nodes := []sched.Node{{ID: "f", Model: "fast", Devices: 1}, {ID: "s", Model: "slow", Devices: 1}}
	s := &sched.Snapshot{Fleet: map[string]int{"fast": 1, "slow": 1}, Nodes: nodes, Jobs: []sched.Job{shareJob("a", 600), shareJob("b", 600)}}
	p := next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
	a, _ := p.RunOf("a")
	b, _ := p.RunOf("b")
	if a.Model != "fast" || a.Wanted != "" || b.Model != "slow" || b.Wanted != "fast" {
		t.Errorf("a %+v, b %+v; want a on fast, b on slow wanting fast", a, b)
	}
}
