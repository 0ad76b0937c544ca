package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

// BenchmarkPackedAllocate: one las-hetero-packed allocation on Gavel's
// table (26 single-GPU classes, pairs included) and the Fig. 8 fleet
// (36:36:36), for n active jobs of random classes — the LP the simulator
// solves at every reallocation (≈ 110 active jobs at 5.6 jobs/h).
func BenchmarkPackedAllocate(b *testing.B) {
	tt := gavelThroughputs(b)
	var classes []string
	for _, cg := range tt.Classes() {
		if cg.Gang == 1 {
			classes = append(classes, cg.Class)
		}
	}
	for _, n := range []int{30, 110, 400} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 3))
			s := &sched.Snapshot{Fleet: map[string]int{v100: 36, p100: 36, k80: 36}}
			for i := 0; i < n; i++ {
				s.Jobs = append(s.Jobs, sched.Job{ID: fmt.Sprint(i), Class: classes[r.IntN(len(classes))], Gang: 1, TotalSteps: 1e5, RemainingSteps: 1e5})
			}
			p, _ := sched.PolicyByName(sched.LASHeteroPacked, sched.Options{})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Allocate(s, tt.Table); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
