package sched

import (
	"fmt"
	"math"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// Granary is Granary's own policy (see docs/scheduler.md).
const Granary = "granary"

// GranaryPacked is Granary's policy with space sharing and a fairness
// floor: a job that would wait shares the devices of a running one when the
// pair's measured throughputs add up to more than the running job alone,
// and no job is placed where it would finish after its fair deadline while
// another place would not make it (see docs/scheduler.md).
const GranaryPacked = "granary-packed"

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
//
// The packed variant places jobs in the same order with placePacked.
type granaryPolicy struct {
	packed bool
}

func (g granaryPolicy) Name() string {
	if g.packed {
		return GranaryPacked
	}
	return Granary
}

func (g granaryPolicy) packs() bool { return g.packed }

func (g granaryPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	if g.packed && !tp.HasPairs() {
		return Allocation{}, fmt.Errorf("%w: %s: the throughput table has no pair throughputs (space sharing needs them)", fleet.ErrNotFound, g.Name())
	}
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	a := p.emptyAllocation()
	score := make([]float64, len(s.Jobs))
	best := make([]float64, len(s.Jobs))
	order := make([]int, 0, len(s.Jobs))
	for i := range s.Jobs {
		for _, v := range p.tput[i] {
			best[i] = math.Max(best[i], v)
		}
		if !p.ok[i] || !(best[i] > 0) {
			continue
		}
		r := math.Max(s.Jobs[i].RemainingSteps/best[i], 1)
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
	if g.packed {
		a.Pairs = placePacked(s, p, tp, a.X, order, best, free, rel)
		return a, nil
	}
	for _, i := range order {
		b := -1
		for k, v := range p.tput[i] {
			if v > 0 && free[k] >= p.gang[i] && (b < 0 || rel(i, k) > rel(i, b)) {
				b = k
			}
		}
		if b >= 0 {
			free[b] -= p.gang[i]
			a.X[i][b] = 1
		}
	}
	return a, nil
}

// placePacked places the jobs of order (score order) one by one, each
// where it adds the most progress, counted as steps/s over the job's best
// steps/s alone (f):
//
//   - alone on a free model k: f_j = T[j][k] / best_j, on the model where j
//     is relatively fastest (rel), as granary does;
//   - on the devices of a job i placed alone on model k before it (equal
//     gangs, pair in the table with both throughputs > 0):
//     f_j|i + f_i|j − f_i, the pair's progress minus what i had alone.
//
// A pair wins when it adds more than freeDeviceValue times what the free
// device alone would (the device it leaves free goes to a later job); a
// job with neither waits. Each running job shares with at most one other.
//
// Fairness floor: job i's fair deadline is Arrival + TotalSteps ÷ iso_i,
// iso_i its steps/s on an equal 1/n share of every model (isoRate; n the
// usable jobs now — the simulator's ρ takes n at the job's arrival), and an
// option's projected ρ is (age_i + RemainingSteps ÷ its steps/s there) ÷
// (TotalSteps ÷ iso_i). A job takes an option with projected ρ > 1 only
// when it has none ≤ 1 (then, alone, its fastest free model), and no pair
// pushes a partner whose ρ was ≤ 1 above 1. All of it is estimates: the
// submitted length (doubled once outrun, see Estimated), the steps done,
// the arrival; never the true length.
func placePacked(s *Snapshot, p *problem, tp *Throughputs, x [][]float64, order []int, best, free []float64, rel func(i, k int) float64) []PairShare {
	n := float64(len(order))
	fair := make([]float64, len(s.Jobs))
	for _, i := range order {
		fair[i] = s.Jobs[i].TotalSteps / p.isoRate(i, n)
	}
	fits := func(i int, v float64) bool {
		return (s.Now-s.Jobs[i].Arrival+s.Jobs[i].RemainingSteps/v)/fair[i] <= 1
	}
	type run struct {
		i, k int
		pair bool // it shares already
	}
	var alone []run
	var out []PairShare
	for _, j := range order {
		// Alone: among the free models keeping j fair, the one where it is
		// relatively fastest; when none keeps it fair, its fastest.
		b, bFair := -1, false
		for k, v := range p.tput[j] {
			if v <= 0 || free[k] < p.gang[j] {
				continue
			}
			ok := fits(j, v)
			if b < 0 || ok && !bFair || ok == bFair && (ok && rel(j, k) > rel(j, b) || !ok && v > p.tput[j][b]) {
				b, bFair = k, ok
			}
		}
		gain := math.Inf(-1)
		if b >= 0 {
			gain = p.tput[j][b] / best[j]
		}
		bi := -1
		for r, ru := range alone {
			i, k := ru.i, ru.k
			if ru.pair || s.Jobs[i].Gang != s.Jobs[j].Gang || p.tput[j][k] <= 0 {
				continue
			}
			pt, ok := tp.PairLookup(s.Jobs[i].Class, s.Jobs[j].Class, s.Jobs[i].Gang, p.models[k])
			if !ok || pt[0] <= 0 || pt[1] <= 0 {
				continue
			}
			if fits(i, p.tput[i][k]) && !fits(i, pt[0]) || bFair && !fits(j, pt[1]) {
				continue
			}
			v := pt[1]/best[j] - (p.tput[i][k]-pt[0])/best[i]
			if v > freeDeviceValue*gain || b < 0 && v > 0 {
				bi, gain = r, v
			}
		}
		switch {
		case bi >= 0:
			alone[bi].pair = true
			i, k := alone[bi].i, alone[bi].k
			x[i][k] = 0
			row := make([]float64, len(p.models))
			row[k] = 1
			out = append(out, PairShare{A: min(i, j), B: max(i, j), X: row})
		case b >= 0:
			free[b] -= p.gang[j]
			x[j][b] = 1
			alone = append(alone, run{i: j, k: b})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].A != out[b].A {
			return out[a].A < out[b].A
		}
		return out[a].B < out[b].B
	})
	return out
}

// freeDeviceValue discounts the progress a job would make alone on a free
// device against sharing a running job's: taking the device is not free
// when the fleet fills up in the allocation — every later job that finds
// no device left pairs or waits — while sharing leaves it to one of them.
// What the device is worth to that later job is not known in a one-pass
// greedy; 0.9 (alone must add over 11 % more than the pair) is the best of
// 0.4–1.2 on the Fig. 8 traces at 5.6 jobs/h (docs/scheduler.md, "How the
// design was chosen"), and lower values pair short jobs that SRPT wants
// alone.
const freeDeviceValue = 0.9

// isoRate is job i's steps/s on an equal 1/n share of every model where it
// runs (x_k = N_k / (n·gang), scaled so that Σ_k x_k ≤ 1): the rate
// finish-time fairness measures against.
func (p *problem) isoRate(i int, n float64) float64 {
	sum, iso := 0.0, 0.0
	for k, v := range p.tput[i] {
		if v > 0 {
			sum += p.cap[k] / (n * p.gang[i])
		}
	}
	scale := 1.0
	if sum > 1 {
		scale = 1 / sum
	}
	for k, v := range p.tput[i] {
		if v > 0 {
			iso += v * p.cap[k] / (n * p.gang[i]) * scale
		}
	}
	return iso
}
