package workload_test

import (
	"reflect"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

// TestDeterministic runs the same small scenario (same seeds) five times
// in-process and compares the whole outcome: the planner is a pure core, so
// it must not vary between runs. The high failure rate shrinks the fleet
// under running jobs, which is where fifo's agnostic mode used to follow Go's
// map order in deciding which running jobs keep their model.
func TestDeterministic(t *testing.T) {
	for _, p := range []string{sched.FIFO, sched.LASHetero} {
		first := run(t, p, 16, 24, 300)
		first.MaxRound = 0 // wall-clock time of the slowest round
		t.Logf("%s: %d failures, %d completed", p, first.Failures, first.Completed)
		for i := 1; i < 5; i++ {
			got := run(t, p, 16, 24, 300)
			got.MaxRound = 0
			if !reflect.DeepEqual(got, first) {
				t.Fatalf("%s: run %d differs from run 0:\n%+v\nvs\n%+v", p, i, got, first)
			}
		}
	}
}
