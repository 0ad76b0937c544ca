package sched

import (
	"math"
	"sort"
)

// Granary is Granary's own policy (see docs/scheduler.md).
const Granary = "granary"

// granaryPolicy is a heterogeneity-aware, size-aware priority policy. Each
// job's score is
//
//	score_i = r_i · r_i / (age_i + r_i)
//
// where r_i is its estimated remaining time on its fastest model
// (RemainingSteps ÷ best throughput: the snapshot carries only the
// submitted estimate and the progress made) and age_i = Now − Arrival.
// r_i alone is shortest-remaining-processing-time first, which minimises
// average JCT on one machine; dividing by the response ratio
// (age_i + r_i)/r_i (highest-response-ratio-next aging) lowers a job's
// score the longer it has waited relative to what it has left, so a long
// job's turn comes and nobody starves. Jobs in score order each get a whole
// gang (X = 1) on the fastest model with room for it; a job that fits
// nowhere waits and the next ones go on (backfilling). Jobs with X = 0 still
// fill idle devices in the round mechanism (work conservation).
type granaryPolicy struct{}

func (granaryPolicy) Name() string { return Granary }

func (granaryPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	a := p.emptyAllocation()
	score := make([]float64, len(s.Jobs))
	order := make([]int, 0, len(s.Jobs))
	for i := range s.Jobs {
		best := 0.0
		for _, v := range p.tput[i] {
			best = math.Max(best, v)
		}
		if !p.ok[i] || !(best > 0) {
			continue
		}
		r := math.Max(s.Jobs[i].RemainingSteps/best, 1)
		score[i] = r * r / (math.Max(0, s.Now-s.Jobs[i].Arrival) + r) / s.Jobs[i].weight()
		order = append(order, i)
	}
	sort.SliceStable(order, func(x, y int) bool { return score[order[x]] < score[order[y]] })
	// Relative speed: a job's throughput on a model over the mean
	// throughput of the active jobs there, so fast models go to the jobs
	// they speed up most (the heterogeneity Gavel's LP exploits).
	mean := make([]float64, len(p.models))
	for k := range mean {
		n := 0.0
		for i := range p.tput {
			if p.tput[i][k] > 0 {
				mean[k] += p.tput[i][k] / p.gang[i]
				n++
			}
		}
		if n > 0 {
			mean[k] /= n
		}
	}
	rel := func(i, k int) float64 { return p.tput[i][k] / p.gang[i] / mean[k] }
	free := append([]float64(nil), p.cap...)
	for _, i := range order {
		best := -1
		for k, v := range p.tput[i] {
			if v > 0 && free[k] >= p.gang[i] && (best < 0 || rel(i, k) > rel(i, best)) {
				best = k
			}
		}
		if best >= 0 {
			free[best] -= p.gang[i]
			a.X[i][best] = 1
		}
	}
	return a, nil
}
