package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

func packedTable(t *testing.T, pairs bool) *sched.Throughputs {
	t.Helper()
	tp, err := sched.NewThroughputs([]sched.ThroughputEntry{{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 10}, {Class: "d", Gang: 1, Model: "m", StepsPerSecond: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if pairs {
		tp, err = tp.WithPairs([]sched.PairEntry{
			{Class: "c", Other: "c", Gang: 1, Model: "m", Steps: [2]float64{8, 8}},
			{Class: "c", Other: "d", Gang: 1, Model: "m", Steps: [2]float64{8, 4}},
			{Class: "d", Other: "d", Gang: 1, Model: "m", Steps: [2]float64{0, 0}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return tp
}

// Four one-hour jobs (at their pair speed) on two devices: packed, the two
// pairs run side by side and every job ends at 1 h with the devices busy
// the whole time; alone, the same work takes 4 × 0.8 h on 2 devices.
func TestPackedChargesPairThroughput(t *testing.T) {
	var jobs []Job
	for i := 0; i < 4; i++ {
		jobs = append(jobs, Job{ID: i, Class: "c", Gang: 1, Steps: 8 * 3600})
	}
	tp := packedTable(t, true)
	run := func(name string) *Result {
		p, err := sched.PolicyByName(name, sched.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(p, tp, jobs, Config{Fleet: map[string]int{"m": 2}, GavelCompat: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, name := range []string{sched.LASHeteroPacked, sched.GranaryPacked, sched.FTFHeteroPacked} {
		packed := run(name)
		for _, j := range packed.Jobs {
			if math.Abs(j.JCT-3600) > 1e-6 {
				t.Errorf("%s job %d: JCT %v s, want 3600 (8 steps/s in a pair, all the time)", name, j.ID, j.JCT)
			}
		}
		if math.Abs(packed.Summary.Utilization-1) > 1e-9 {
			t.Errorf("%s utilization %v, want 1 (a shared device counts once)", name, packed.Summary.Utilization)
		}
	}
	alone := run(sched.LASHetero)
	if !(alone.Summary.AvgJCT > 1.2*3600) {
		t.Errorf("las-hetero avg JCT %v s: want > 1.2 h (4 × 0.8 h of work on 2 devices)", alone.Summary.AvgJCT)
	}
}

// A packed policy with a table lacking the pairs of the trace's jobs is
// refused, naming the first missing pair.
func TestPackedRefusesTableWithoutPairs(t *testing.T) {
	jobs := []Job{{ID: 0, Class: "d", Gang: 1, Steps: 100}, {ID: 1, Class: "c", Gang: 1, Steps: 100}}
	for _, name := range []string{sched.LASHeteroPacked, sched.GranaryPacked, sched.FTFHeteroPacked} {
		p, _ := sched.PolicyByName(name, sched.Options{})
		_, err := Run(p, packedTable(t, false), jobs, Config{Fleet: map[string]int{"m": 2}})
		if !errors.Is(err, fleet.ErrNotFound) || !strings.Contains(err.Error(), "missing pair (c, c)") {
			t.Errorf("%s: err = %v, want ErrNotFound naming pair (c, c)", name, err)
		}
		// With pairs (d, d measured at 0 counts as present: it cannot share).
		p, _ = sched.PolicyByName(name, sched.Options{})
		if _, err := Run(p, packedTable(t, true), jobs, Config{Fleet: map[string]int{"m": 2}}); err != nil {
			t.Errorf("%s with pairs: %v", name, err)
		}
	}
}

// withRandomPairs adds, for every two entries of the same gang and model
// (an entry with itself included), a pair throughput of 30–95 % of each
// one's alone (0 for one pair in five: cannot share), for the invariant
// tests' *-packed runs.
func withRandomPairs(t *testing.T, tp *sched.Throughputs, entries []sched.ThroughputEntry, rng *rand.Rand) *sched.Throughputs {
	t.Helper()
	var pairs []sched.PairEntry
	for i, a := range entries {
		for _, b := range entries[i:] {
			if a.Gang != b.Gang || a.Model != b.Model {
				continue
			}
			f := [2]float64{0.3 + 0.65*rng.Float64(), 0.3 + 0.65*rng.Float64()}
			if rng.IntN(5) == 0 {
				f = [2]float64{}
			}
			pairs = append(pairs, sched.PairEntry{Class: a.Class, Other: b.Class, Gang: a.Gang, Model: a.Model, Steps: [2]float64{f[0] * a.StepsPerSecond, f[1] * b.StepsPerSecond}})
		}
	}
	out, err := tp.WithPairs(pairs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
