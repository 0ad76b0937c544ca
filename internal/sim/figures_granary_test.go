package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/trace"
)

// noisyRun is paperRun with estimates off by ×[1/noise, noise] and,
// optionally, Gavel's multi-GPU mix (Fig. 9): 9,000 jobs, window 4000-4999,
// 36:36:36, GavelCompat. The seeds match `granary sim generate --seed S`
// and `granary sim --seed S --estimate-noise noise`.
func noisyRun(t *testing.T, tt *trace.ThroughputTable, policy string, rate float64, multi bool, seed uint64, noise float64) *Result {
	t.Helper()
	gen, err := trace.Generate(rand.New(rand.NewPCG(seed, 0x6a6f6273)), tt, trace.GenerateOptions{Jobs: 9000, RatePerHour: rate, Reference: v100, MultiGPU: multi})
	if err != nil {
		t.Fatal(err)
	}
	jobs := fromTrace(gen)
	if err := NoisyEstimates(jobs, noise, rand.New(rand.NewPCG(seed, 3))); err != nil {
		t.Fatal(err)
	}
	p, err := sched.PolicyByName(policy, sched.Options{Rand: rand.New(rand.NewPCG(seed, 1))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(p, tt.Table, jobs, Config{
		Fleet: map[string]int{v100: 36, p100: 36, k80: 36}, Window: &Window{First: 4000, Last: 4999},
		Rand: rand.New(rand.NewPCG(seed, 2)), ModelOrder: []string{v100, p100, k80}, GavelCompat: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestFigureGranary: granary-packed and granary against las-hetero and
// las-hetero-packed with --estimate-noise 2, mean of seeds 1-3
// (docs/scheduler.md, "Granary's policy"). Asserts the bar for
// granary-packed: average JCT ≥ 15 % below las-hetero's and below
// las-hetero-packed's, at 5.2 and 5.6 jobs/h and on the multi-GPU setup at
// 2.4 jobs/h. Fairness (p99, share of ρ > 1) is logged, not asserted here:
// the ftf-hetero runs it is held to take 3.7–6 CPU-minutes each on the Fig. 8 traces (the table in
// the docs has them).
func TestFigureGranary(t *testing.T) {
	figures(t)
	tt := gavelThroughputs(t)
	var b strings.Builder
	pols := []string{sched.GranaryPacked, sched.Granary, sched.LASHetero, sched.LASHeteroPacked}
	for _, c := range []struct {
		rate  float64
		multi bool
	}{{5.2, false}, {5.6, false}, {2.4, true}} {
		mean := map[string]float64{}
		for _, pol := range pols {
			for _, s := range []uint64{1, 2, 3} {
				r := noisyRun(t, tt, pol, c.rate, c.multi, s, 2)
				mean[pol] += r.Summary.AvgJCT / 3600 / 3
				fmt.Fprintf(&b, "rate %.1f multi=%v seed %d %-18s avg %.2f h p99 %.1f h ρ>1 %.1f%%\n", c.rate, c.multi, s, pol, r.Summary.AvgJCT/3600, r.Summary.P99JCT/3600, 100*r.Summary.UnfairFrac)
			}
		}
		g := mean[sched.GranaryPacked]
		fmt.Fprintf(&b, "rate %.1f multi=%v: granary-packed %.2f h, granary %.2f h, las-hetero %.2f h, las-hetero-packed %.2f h\n",
			c.rate, c.multi, g, mean[sched.Granary], mean[sched.LASHetero], mean[sched.LASHeteroPacked])
		if r := g / mean[sched.LASHetero]; !(r <= 0.85) {
			t.Errorf("rate %.1f multi=%v: granary-packed/las-hetero = %.3f, want ≤ 0.85", c.rate, c.multi, r)
		}
		if !(g < mean[sched.LASHeteroPacked]) {
			t.Errorf("rate %.1f multi=%v: granary-packed %.2f h, not below las-hetero-packed's %.2f h", c.rate, c.multi, g, mean[sched.LASHeteroPacked])
		}
	}
	t.Logf("granary figure:\n%s", b.String())
}
