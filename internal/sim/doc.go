// Package sim is a discrete-event simulator of a fleet running a job trace
// under a scheduling policy, on virtual time (seconds from the start of the
// trace). It drives internal/sched round by round the way Gavel's simulator
// does (Narayanan et al., OSDI 2020; github.com/stanford-futuredata/gavel,
// commit c4fa400, scheduler/scheduler.py simulate): jobs that arrived by the
// end of a round join the next one; each placed job runs for the round
// (⌊throughput × round⌋ steps) or until it finishes; the next round starts
// when the last job of the round stops; completions therefore happen
// mid-round. A job moved or paused pays a configurable restart cost
// (default 0, as in Gavel). See docs/simulator.md for the exact semantics,
// the metrics and the deviations from Gavel.
//
// The package is pure: no I/O, no wall clock; randomness comes in through
// Config.Rand.
package sim
