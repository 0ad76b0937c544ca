package sched

// This file was added by the simulator (internal/sim) owner: the one hook
// the simulator needs from the round mechanism. The sched owner may fold it
// into round.go.

// ForceReset makes the next Next recompute the allocation if the job set
// changed, whatever the reset interval. Gavel's simulator does this when no
// job ran in the last round (simulate() sets _last_reset_time = 0 when
// running_jobs is empty), so jobs arriving at an idle fleet start at once.
func (st *RoundState) ForceReset() { st.lastReset = 0 }
