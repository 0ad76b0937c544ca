package sched

import (
	"fmt"
	"math"

	"github.com/granaryhq/granary/internal/fleet"
)

// Estimated is what a scheduler can believe about a job's length: its
// submitted estimate (steps) and the steps it has done. While the job is
// within its estimate, total = estimate and remaining = estimate − done.
// Once it has outrun it, the estimate is doubled until it exceeds done (the
// classic doubling guess), so remaining stays > 0 and the job keeps a share.
// Snapshot jobs carry these (TotalSteps, RemainingSteps), never the true
// length, which a real scheduler does not know.
func Estimated(estimate, done float64) (total, remaining float64) {
	if !(estimate > 0) {
		return 0, 0
	}
	total = estimate
	for total <= done {
		total *= 2
	}
	return total, total - done
}

// EstimateFactor maps u ∈ [0, 1) to a factor drawn log-uniformly from
// [1/noise, noise]: the simulator's model of a submitted length estimate
// (true length × factor). noise must be a finite number ≥ 1; 1 gives 1.
func EstimateFactor(noise, u float64) (float64, error) {
	if !(noise >= 1) || math.IsInf(noise, 0) {
		return 0, fmt.Errorf("%w: estimate noise must be a finite number ≥ 1, got %v", fleet.ErrInvalid, noise)
	}
	if noise == 1 {
		return 1, nil
	}
	l := math.Log(noise)
	return math.Exp(-l + 2*l*u), nil
}
