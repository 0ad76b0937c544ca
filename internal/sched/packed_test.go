package sched_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

func pairTable(t *testing.T, singles []sched.ThroughputEntry, pairs []sched.PairEntry) *sched.Throughputs {
	t.Helper()
	tp, err := sched.NewThroughputs(singles)
	if err != nil {
		t.Fatal(err)
	}
	if pairs == nil {
		return tp
	}
	tp, err = tp.WithPairs(pairs)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestWithPairs(t *testing.T) {
	singles := []sched.ThroughputEntry{{Class: "a", Gang: 1, Model: "m", StepsPerSecond: 2}, {Class: "b", Gang: 1, Model: "m", StepsPerSecond: 3}}
	tp := pairTable(t, singles, []sched.PairEntry{{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{1.5, 2}}})
	if v, ok := tp.PairLookup("b", "a", 1, "m"); !ok || v != [2]float64{2, 1.5} {
		t.Errorf("PairLookup(b, a) = %v, %v; want [2 1.5], true", v, ok)
	}
	if _, ok := tp.PairLookup("a", "a", 1, "m"); ok {
		t.Error("PairLookup(a, a): found a pair the table does not have")
	}
	base, _ := sched.NewThroughputs(singles)
	for _, bad := range []sched.PairEntry{
		{Class: "a", Other: "b", Gang: 0, Model: "m"},
		{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{-1, 1}},
		{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{math.NaN(), 1}},
		{Class: "a", Other: "zz", Gang: 1, Model: "m", Steps: [2]float64{1, 1}},
	} {
		if _, err := base.WithPairs([]sched.PairEntry{bad}); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("WithPairs(%v) = %v, want ErrInvalid", bad, err)
		}
	}
	// The same pair in both orders with matching values is fine (Gavel's
	// JSON lists each pair under both jobs); conflicting values are not.
	if _, err := base.WithPairs([]sched.PairEntry{
		{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{1, 2}},
		{Class: "b", Other: "a", Gang: 1, Model: "m", Steps: [2]float64{2, 1}},
	}); err != nil {
		t.Errorf("both orders: %v", err)
	}
	if _, err := base.WithPairs([]sched.PairEntry{
		{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{1, 2}},
		{Class: "b", Other: "a", Gang: 1, Model: "m", Steps: [2]float64{1, 2}},
	}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("conflicting orders: %v, want ErrInvalid", err)
	}
}

func TestCheckPairsNamesFirstMissing(t *testing.T) {
	singles := []sched.ThroughputEntry{
		{Class: "a", Gang: 1, Model: "m", StepsPerSecond: 2}, {Class: "b", Gang: 1, Model: "m", StepsPerSecond: 3},
		{Class: "c", Gang: 2, Model: "m", StepsPerSecond: 3},
	}
	none := pairTable(t, singles, nil)
	err := none.CheckPairs([]string{"b", "a"}, []int{1, 1}, []string{"m"})
	if !errors.Is(err, fleet.ErrNotFound) || !strings.Contains(err.Error(), "missing pair (a, a) with gang 1 on m") || !strings.Contains(err.Error(), "no pair throughputs at all") {
		t.Errorf("no pairs: %v", err)
	}
	some := pairTable(t, singles, []sched.PairEntry{
		{Class: "a", Other: "a", Gang: 1, Model: "m", Steps: [2]float64{1, 1}},
		{Class: "b", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{1, 1}},
	})
	err = some.CheckPairs([]string{"b", "a", "c"}, []int{1, 1, 2}, []string{"m"})
	if !errors.Is(err, fleet.ErrNotFound) || !strings.Contains(err.Error(), "missing pair (a, b) with gang 1 on m") {
		t.Errorf("one missing: %v", err)
	}
	// Gang 2 has a single class, which needs (c, c); gangs never mix.
	if err := some.CheckPairs([]string{"a", "b"}, []int{1, 2}, []string{"m"}); err != nil {
		t.Errorf("different gangs need no pair: %v", err)
	}
}

// Four jobs of one class on two devices: alone each gets half a device;
// sharing at 0.8× each, every job can run all the time in a pair, so the
// max-min level is 0.8/0.5 = 1.6× las-hetero's.
func TestPackedBeatsAloneByPairThroughput(t *testing.T) {
	singles := []sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 10}}
	tp := pairTable(t, singles, []sched.PairEntry{{Class: "c", Other: "c", Gang: 1, Model: "m", Steps: [2]float64{8, 8}}})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: []sched.Job{job("j1", "c", 1), job("j2", "c", 1), job("j3", "c", 1), job("j4", "c", 1)}}
	alone := packedAlloc(t, sched.LASHetero, s, tp)
	packed := packedAlloc(t, sched.LASHeteroPacked, s, tp)
	if r := packed.Objective / alone.Objective; math.Abs(r-1.6) > 1e-9 {
		t.Errorf("packed/alone objective = %v, want 1.6 (%v / %v)", r, packed.Objective, alone.Objective)
	}
	checkPackedFeasible(t, s, packed)
	if len(packed.Pairs) != 6 {
		t.Fatalf("pairs = %d, want all 6 pairs of 4 identical jobs", len(packed.Pairs))
	}
	for _, p := range packed.Pairs {
		if math.Abs(p.X[0]-1.0/3) > 1e-9 {
			t.Errorf("pair %v share %v, want 1/3 (each job in 3 pairs, all its time shared)", p, p.X[0])
		}
	}
}

// Jobs of one class that may run on different models are not one group:
// two jobs allowed only on m1 and two only on m2 pair on their own model
// each, every round. Grouped by class, gang and weight alone, the four
// took the first member's columns (m1 only), so m2 sat idle or its jobs
// ran alone.
func TestPackedGroupsKeepAllowedModels(t *testing.T) {
	singles := []sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m1", StepsPerSecond: 10}, {Class: "c", Gang: 1, Model: "m2", StepsPerSecond: 10}}
	tp := pairTable(t, singles, []sched.PairEntry{
		{Class: "c", Other: "c", Gang: 1, Model: "m1", Steps: [2]float64{8, 8}},
		{Class: "c", Other: "c", Gang: 1, Model: "m2", Steps: [2]float64{8, 8}},
	})
	on := func(id, model string) sched.Job { j := job(id, "c", 1); j.Allowed = []string{model}; return j }
	for _, name := range []string{sched.LASHeteroPacked, sched.FTFHeteroPacked, sched.GranaryPacked} {
		s := &sched.Snapshot{Fleet: map[string]int{"m1": 1, "m2": 1}, Jobs: []sched.Job{on("a1", "m1"), on("b1", "m2"), on("a2", "m1"), on("b2", "m2")}}
		st := sched.NewRoundState(mustPolicy(t, name), sched.RoundConfig{GavelCompat: true})
		for round := 0; round < 4; round++ {
			s.Now = float64(round) * 360
			pl, err := st.Next(s, tp)
			if err != nil {
				t.Fatal(err)
			}
			if err := schedtest.CheckPlacement(s, tp, pl); err != nil {
				t.Fatalf("%s round %d: %v", name, round, err)
			}
			if len(pl.Runs) != 4 {
				t.Fatalf("%s round %d: %d runs (%+v, waiting %+v); want a1+a2 on m1 and b1+b2 on m2", name, round, len(pl.Runs), pl.Runs, pl.Waiting)
			}
			for _, r := range pl.Runs {
				if r.With == "" || r.With[0] != r.Job[0] || r.Model != s.Jobs[map[byte]int{'a': 0, 'b': 1}[r.Job[0]]].Allowed[0] {
					t.Errorf("%s round %d: %s runs on %s with %q", name, round, r.Job, r.Model, r.With)
				}
				if r.Job < r.With {
					st.ChargePair(r.Job, r.With, r.Model, 360)
				}
			}
		}
	}
}

// A pair the table lacks (or measures at 0) is never allocated.
func TestPackedOnlyPairsInTable(t *testing.T) {
	singles := []sched.ThroughputEntry{
		{Class: "a", Gang: 1, Model: "m", StepsPerSecond: 10}, {Class: "b", Gang: 1, Model: "m", StepsPerSecond: 10},
		{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 10},
	}
	tp := pairTable(t, singles, []sched.PairEntry{
		{Class: "a", Other: "b", Gang: 1, Model: "m", Steps: [2]float64{9, 9}},
		{Class: "a", Other: "c", Gang: 1, Model: "m", Steps: [2]float64{9, 0}},
	})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 1}, Jobs: []sched.Job{job("x", "a", 1), job("y", "b", 1), job("z", "c", 1)}}
	al := packedAlloc(t, sched.LASHeteroPacked, s, tp)
	checkPackedFeasible(t, s, al)
	for _, p := range al.Pairs {
		if al.Jobs[p.A] != "x" || al.Jobs[p.B] != "y" {
			t.Errorf("pair (%s, %s) allocated; only (x, y) is in the table with both > 0", al.Jobs[p.A], al.Jobs[p.B])
		}
	}
	if len(al.Pairs) != 1 {
		t.Errorf("pairs %v, want (x, y) used", al.Pairs)
	}
	// ftf-hetero-packed uses the same pair columns.
	al = packedAlloc(t, sched.FTFHeteroPacked, s, tp)
	checkPackedFeasible(t, s, al)
	for _, p := range al.Pairs {
		if al.Jobs[p.A] != "x" || al.Jobs[p.B] != "y" {
			t.Errorf("ftf-hetero-packed: pair (%s, %s) allocated; only (x, y) is in the table with both > 0", al.Jobs[p.A], al.Jobs[p.B])
		}
	}
	// Without pair entries at all the packed policies refuse.
	for _, name := range []string{sched.LASHeteroPacked, sched.FTFHeteroPacked, sched.GranaryPacked} {
		if _, err := mustPolicy(t, name).Allocate(s, pairTable(t, singles, nil)); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("%s, no pairs: %v, want ErrNotFound", name, err)
		}
	}
}

// Packing never lowers the max-min level and every allocation is
// feasible, on a mixed two-model case with weights and gangs.
func TestPackedFeasibleAndNoWorse(t *testing.T) {
	var singles []sched.ThroughputEntry
	var pairs []sched.PairEntry
	classes := []string{"a", "b", "c", "d"}
	for ci, c := range classes {
		for mi, m := range []string{"fast", "slow"} {
			v := float64(4+ci) / float64(1+2*mi)
			singles = append(singles, sched.ThroughputEntry{Class: c, Gang: 1, Model: m, StepsPerSecond: v}, sched.ThroughputEntry{Class: c, Gang: 2, Model: m, StepsPerSecond: 1.8 * v})
			for di, d := range classes[ci:] {
				f := 0.5 + 0.1*float64((ci+di+mi)%4)
				pairs = append(pairs, sched.PairEntry{Class: c, Other: d, Gang: 1, Model: m, Steps: [2]float64{f * v, f * float64(4+ci+di) / float64(1+2*mi)}})
			}
		}
	}
	tp := pairTable(t, singles, pairs)
	var jobs []sched.Job
	for i := 0; i < 13; i++ {
		j := job(string(rune('A'+i)), classes[i%4], 1+i%5/4)
		j.Weight = float64(1 + i%3)
		jobs = append(jobs, j)
	}
	s := &sched.Snapshot{Fleet: map[string]int{"fast": 3, "slow": 4}, Jobs: jobs}
	alone := packedAlloc(t, sched.LASHetero, s, tp)
	packed := packedAlloc(t, sched.LASHeteroPacked, s, tp)
	checkPackedFeasible(t, s, packed)
	if packed.Objective < alone.Objective*(1-1e-9) {
		t.Errorf("packed objective %v < las-hetero's %v", packed.Objective, alone.Objective)
	}
	if len(packed.Pairs) == 0 {
		t.Error("no pairs allocated although sharing is worth 0.5–0.8× each")
	}
	// ftf: sharing never raises the worst finish-time ratio.
	for i := range s.Jobs {
		s.Jobs[i].TotalSteps = float64(1000 * (1 + i%4))
		s.Jobs[i].RemainingSteps = s.Jobs[i].TotalSteps * float64(1+i%3) / 3
		s.Jobs[i].Arrival = -float64(100 * (i % 5))
	}
	fa := packedAlloc(t, sched.FTFHetero, s, tp)
	fp := packedAlloc(t, sched.FTFHeteroPacked, s, tp)
	checkPackedFeasible(t, s, fp)
	if !(fp.Objective <= fa.Objective*(1+1e-6)) {
		t.Errorf("ftf-hetero-packed max ρ %v > ftf-hetero's %v", fp.Objective, fa.Objective)
	}
	if len(fp.Pairs) == 0 {
		t.Error("ftf-hetero-packed: no pairs allocated although sharing is worth 0.5–0.8× each")
	}
}

// Four identical jobs on two devices, sharing at 0.8× each: alone each has
// its isolated half device (ρ = 1); packed every job can run all the time
// at 8 of 10 steps/s, ρ = 5/8.
func TestFTFPackedLowersRatioByPairThroughput(t *testing.T) {
	singles := []sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 10}}
	tp := pairTable(t, singles, []sched.PairEntry{{Class: "c", Other: "c", Gang: 1, Model: "m", Steps: [2]float64{8, 8}}})
	var jobs []sched.Job
	for _, id := range []string{"j1", "j2", "j3", "j4"} {
		j := job(id, "c", 1)
		j.TotalSteps, j.RemainingSteps = 3600, 3600
		jobs = append(jobs, j)
	}
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: jobs}
	alone := packedAlloc(t, sched.FTFHetero, s, tp)
	packed := packedAlloc(t, sched.FTFHeteroPacked, s, tp)
	if math.Abs(alone.Objective-1) > 1e-6 || math.Abs(packed.Objective-0.625) > 1e-6 {
		t.Errorf("max ρ alone %v (want 1), packed %v (want 0.625)", alone.Objective, packed.Objective)
	}
	checkPackedFeasible(t, s, packed)
	for i := range s.Jobs {
		in := 0.0
		for _, p := range packed.Pairs {
			if p.A == i || p.B == i {
				in += p.X[0]
			}
		}
		if math.Abs(in-1) > 1e-6 {
			t.Errorf("job %s shares %v of its time, want 1", s.Jobs[i].ID, in)
		}
	}
}

func mustPolicy(t *testing.T, name string) sched.Policy {
	t.Helper()
	p, err := sched.PolicyByName(name, sched.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func packedAlloc(t *testing.T, name string, s *sched.Snapshot, tp *sched.Throughputs) sched.Allocation {
	t.Helper()
	a, err := mustPolicy(t, name).Allocate(s, tp)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

// checkPackedFeasible: X ≥ 0; per job, its time alone and in pairs ≤ 1; per
// model, Σ gang × (single shares + pair shares) ≤ devices; pairs only
// between equal gangs.
func checkPackedFeasible(t *testing.T, s *sched.Snapshot, a sched.Allocation) {
	t.Helper()
	const tol = 1e-7
	use := make([]float64, len(a.Jobs))
	dev := make([]float64, len(a.Models))
	for i, row := range a.X {
		for k, v := range row {
			if v < -tol {
				t.Errorf("X[%d][%d] = %v < 0", i, k, v)
			}
			use[i] += v
			dev[k] += float64(s.Jobs[i].Gang) * v
		}
	}
	for _, p := range a.Pairs {
		if s.Jobs[p.A].Gang != s.Jobs[p.B].Gang {
			t.Errorf("pair (%s, %s) of gangs %d and %d", a.Jobs[p.A], a.Jobs[p.B], s.Jobs[p.A].Gang, s.Jobs[p.B].Gang)
		}
		for k, v := range p.X {
			if v < -tol {
				t.Errorf("pair share %v < 0", v)
			}
			use[p.A] += v
			use[p.B] += v
			dev[k] += float64(s.Jobs[p.A].Gang) * v
		}
	}
	for i, u := range use {
		if u > 1+tol {
			t.Errorf("job %s: time %v > 1", a.Jobs[i], u)
		}
	}
	for k, d := range dev {
		if n := float64(s.Fleet[a.Models[k]]); d > n+tol {
			t.Errorf("model %s: %v devices used > %v", a.Models[k], d, n)
		}
	}
}

// The round mechanism runs a chosen pair on one gang of devices: four jobs
// on two devices all run, two by two, each Run naming its partner, and
// the pair's charged time rotates the partners across rounds.
func TestPackedRoundsRunPairsTogether(t *testing.T) {
	singles := []sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 10}}
	tp := pairTable(t, singles, []sched.PairEntry{{Class: "c", Other: "c", Gang: 1, Model: "m", Steps: [2]float64{8, 8}}})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Jobs: []sched.Job{job("j1", "c", 1), job("j2", "c", 1), job("j3", "c", 1), job("j4", "c", 1)}}
	st := sched.NewRoundState(mustPolicy(t, sched.LASHeteroPacked), sched.RoundConfig{GavelCompat: true})
	partners := map[[2]string]int{}
	for round := 0; round < 6; round++ {
		s.Now = float64(round) * 360
		pl, err := st.Next(s, tp)
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Runs) != 4 || len(pl.Waiting) != 0 {
			t.Fatalf("round %d: %d runs, %d waiting; want all 4 jobs running in 2 pairs", round, len(pl.Runs), len(pl.Waiting))
		}
		devs := map[int][]string{}
		for _, r := range pl.Runs {
			if r.With == "" || len(r.Devices) != 1 {
				t.Fatalf("round %d: run %+v not shared", round, r)
			}
			o, ok := pl.RunOf(r.With)
			if !ok || o.With != r.Job || o.Devices[0] != r.Devices[0] {
				t.Fatalf("round %d: %+v and its partner %+v do not share devices", round, r, o)
			}
			devs[r.Devices[0]] = append(devs[r.Devices[0]], r.Job)
			if r.Job < r.With {
				partners[[2]string{r.Job, r.With}]++
				st.ChargePair(r.Job, r.With, r.Model, 360)
			}
		}
		if len(devs) != 2 {
			t.Fatalf("round %d: devices %v, want 2 devices with 2 jobs each", round, devs)
		}
	}
	if len(partners) < 3 {
		t.Errorf("pairs over 6 rounds %v: the charged time should rotate partners (≥ 3 distinct pairs)", partners)
	}
}

// With teams and guarantees (the live pipeline's stages after prioritize),
// packed rounds keep the placement invariants: a device is shared only by
// two runs naming each other with a pair throughput > 0 for both.
func TestPackedRoundsWithGuarantees(t *testing.T) {
	for _, name := range []string{sched.LASHeteroPacked, sched.GranaryPacked, sched.FTFHeteroPacked} {
		t.Run(name, func(t *testing.T) { packedRoundsWithGuarantees(t, name) })
	}
}

func packedRoundsWithGuarantees(t *testing.T, name string) {
	r := rand.New(rand.NewPCG(5, 5))
	for it := 0; it < 40; it++ {
		s, tp := schedtest.Small(r, 12)
		g := map[string]int{}
		for m, n := range s.Fleet {
			g[m] = n / 2
		}
		s.Teams = []sched.Team{{Name: "x", Weight: 1, Guarantees: g}, {Name: "y", Weight: 2}}
		for i := range s.Jobs {
			s.Jobs[i].Team = []string{"x", "y"}[i%2]
		}
		st := sched.NewRoundState(mustPolicy(t, name), sched.RoundConfig{ResetInterval: -1})
		all := s.Jobs
		for round := 0; round < 6; round++ {
			s.Jobs = all[:min(len(all), 2+round*2)]
			s.Now = float64(round) * 360
			pl, err := st.Next(s, tp)
			if err != nil {
				t.Fatalf("instance %d round %d: %v", it, round, err)
			}
			if err := schedtest.CheckPlacement(s, tp, pl); err != nil {
				t.Fatalf("instance %d round %d: %v", it, round, err)
			}
			for _, run := range pl.Runs {
				if run.With == "" {
					st.Charge(run.Job, run.Model, 300)
				} else if run.Job < run.With {
					st.ChargePair(run.Job, run.With, run.Model, 300)
				}
			}
		}
	}
}
