package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/trace"
)

// BenchmarkRun simulates Gavel's 60-job anchor trace on 4:4:4 and a
// generated 2,000-job trace on 36:36:36 under las-hetero.
func BenchmarkRun(b *testing.B) {
	tt := gavelThroughputs(b)
	small := gavelTrace(b, "traces/generated/small_60jobs_lam1800_seed0.trace")
	gen, err := trace.Generate(rand.New(rand.NewPCG(1, 1)), tt, trace.GenerateOptions{Jobs: 2000, RatePerHour: 3, Reference: v100, MultiGPU: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		jobs  []Job
		fleet map[string]int
	}{
		{"gavel-60jobs-4:4:4", small, map[string]int{v100: 4, p100: 4, k80: 4}},
		{"generated-2000jobs-36:36:36", fromTrace(gen), map[string]int{v100: 36, p100: 36, k80: 36}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
				if _, err := Run(p, tt.Table, c.jobs, Config{Fleet: c.fleet}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
