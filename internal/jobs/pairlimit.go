package jobs

import (
	"slices"

	"github.com/granaryhq/granary/internal/sched"
)

// PairLimit restricts space sharing (the pairs of a *-packed policy) to
// what a backend can enact: Job says whether a job may share its devices
// with another, Model whether a pair may run on a model (nil: every job,
// every model). The planner hides the pair throughputs of the others from
// the policy, so they always run alone: on Kubernetes only a GranaryJob
// of one device shares, and only on a vendor whose sharing names Granary
// writes (k8s.ShareOf).
type PairLimit struct {
	Job   func(j *Job) bool
	Model func(model string) bool
}

// soloSuffix makes the class a job that may not share is given in the
// policy's table: the same throughputs, no pair.
const soloSuffix = "\x00alone"

// pairTable is the table the policy sees under a PairLimit, for one
// table of the workloads (built again when the table changes).
type pairTable struct {
	from, to *sched.Throughputs
}

// policyTables returns the workloads' current table, for the plan's
// lookups, and the table the policy sees under cfg.Pairable: every class
// also under its solo name (no pair), and only the pairs on the models
// Model accepts; solo says whether the jobs Job refuses must be given
// their solo names (the table has pairs).
func (p *Planner) policyTables() (tp, policy *sched.Throughputs, solo bool, err error) {
	l := p.cfg.Pairable
	table, entries, pairs := p.w.tableEntries()
	if l == nil || !table.HasPairs() {
		return table, table, false, nil
	}
	if p.pairs.from == table {
		return table, p.pairs.to, true, nil
	}
	all := slices.Clone(entries)
	for _, e := range entries {
		e.Class += soloSuffix
		all = append(all, e)
	}
	out, err := sched.NewThroughputs(all)
	if err != nil {
		return nil, nil, false, err
	}
	keep := slices.DeleteFunc(slices.Clone(pairs), func(e sched.PairEntry) bool { return l.Model != nil && !l.Model(e.Model) })
	if out, err = out.WithPairs(keep); err != nil {
		return nil, nil, false, err
	}
	p.pairs = pairTable{from: table, to: out}
	return table, out, true, nil
}

// soloClasses gives the snapshot's jobs that cfg.Pairable refuses their
// solo class.
func (p *Planner) soloClasses(snap *sched.Snapshot, byID map[string]*Job) {
	l := p.cfg.Pairable
	if l.Job == nil {
		return
	}
	for i := range snap.Jobs {
		if j := byID[snap.Jobs[i].ID]; j != nil && !l.Job(j) {
			snap.Jobs[i].Class += soloSuffix
		}
	}
}

// tableEntries returns the table with the entries and pairs it was built
// from.
func (w *Workloads) tableEntries() (*sched.Throughputs, []sched.ThroughputEntry, []sched.PairEntry) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.table, w.entries, w.pairs
}
