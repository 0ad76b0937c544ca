// Package sched is Granary's scheduler core: from a Snapshot of the fleet and
// the active jobs it computes, under a Policy, the allocation X[job][model]
// (the fraction of wall time each job should spend on each accelerator model)
// and, with Round, turns X into whole-gang placements for the next round.
//
// The package is pure: no I/O, no wall clock (Snapshot.Now is the only time),
// no global state. Randomness (the agnostic fifo policy picks a model at
// random, as Gavel does) comes in as a seeded *rand.Rand in Options.
//
// The policies and the round mechanism replicate Gavel (Narayanan et al.,
// "Heterogeneity-Aware Cluster Scheduling Policies for Deep Learning
// Workloads", OSDI 2020; github.com/stanford-futuredata/gavel, commit
// c4fa400): see docs/scheduler.md for the exact formulations and the solver.
package sched
