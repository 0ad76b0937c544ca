package sched

import (
	"math/rand/v2"
	"sort"
)

// Run is one job placed for the next round: Gang devices of one model.
// Devices are indices into the model's pool, 0..Fleet[Model]-1 (in Nodes
// order when the snapshot has nodes).
type Run struct {
	Job     string
	Model   string
	Devices []int
}

// Wait is one active job not placed for the next round, and why.
type Wait struct {
	Job    string
	Reason Reason
}

// Placement is the outcome of one round: who runs where, who waits and why.
// Every active job of the snapshot is in exactly one of Runs or Waiting.
type Placement struct {
	Runs    []Run
	Waiting []Wait
}

// RunOf returns the run of a job in p, if it has one.
func (p Placement) RunOf(jobID string) (Run, bool) {
	for _, r := range p.Runs {
		if r.Job == jobID {
			return r, true
		}
	}
	return Run{}, false
}

// RoundConfig configures the round mechanism. Zero values mean Gavel's
// defaults.
type RoundConfig struct {
	// RoundSeconds is the round length (Gavel's time_per_iteration);
	// default 360.
	RoundSeconds float64
	// ResetInterval is the minimum time between two recomputations of the
	// allocation when jobs arrive or finish (Gavel's
	// minimum_time_between_allocation_resets); default 1920. Negative:
	// recompute on every change.
	ResetInterval float64
	// Rand, when set, shuffles the order in which models are filled every
	// round for the agnostic policies (fifo, las, ftf, makespan), as Gavel
	// does for its non-"_perf" policies. Heterogeneity-aware policies never
	// shuffle.
	Rand *rand.Rand
	// ModelOrder is the order in which models are filled when not shuffled
	// (Gavel: v100, p100, k80 — fastest first). Models not listed come after,
	// fastest first. Default: fastest first, where "fastest" is the largest
	// total throughput over the active jobs (ties by id).
	ModelOrder []string
}

// RoundState is Gavel's round bookkeeping, kept between rounds: the time
// each job has run on each model since the last reset, the time each model
// has run jobs, the deficits (tie-breaker), the current allocation and the
// previous placement (for lease extension).
//
// Use it as: each round, p, err := st.Next(snapshot, tp); run p; then call
// st.Charge(job, model, seconds) for every job that ran with the seconds it
// actually ran (until its round ended or it finished).
type RoundState struct {
	cfg            RoundConfig
	policy         Policy
	agnostic, fifo bool

	jobTime   map[string]map[string]float64 // job → model → seconds since reset (starts at RoundSeconds/2)
	modelTime map[string]float64            // model → Σ jobTime
	deficit   map[string]map[string]float64 // model → job → seconds owed
	alloc     *Allocation
	allocRow  map[string]int
	allocCol  map[string]int
	lastReset float64
	dirty     bool
	prev      Placement
	// Allocations counts how many times Next recomputed the allocation.
	Allocations int
}

// NewRoundState starts the round mechanism for a policy.
func NewRoundState(p Policy, cfg RoundConfig) *RoundState {
	if cfg.RoundSeconds <= 0 {
		cfg.RoundSeconds = 360
	}
	if cfg.ResetInterval == 0 {
		cfg.ResetInterval = 1920
	}
	name := p.Name()
	return &RoundState{
		cfg:       cfg,
		policy:    p,
		agnostic:  name == FIFO || name == LAS || name == FTF || name == Makespan,
		fifo:      name == FIFO || name == FIFOHetero,
		jobTime:   map[string]map[string]float64{},
		modelTime: map[string]float64{},
		deficit:   map[string]map[string]float64{},
	}
}

// ForceReset lifts the reset interval once: the next Next recomputes the
// allocation if the job set changed since the last one. It is Gavel's
// `_last_reset_time = 0`, which its simulator does when nothing is running
// and no more jobs will arrive.
func (st *RoundState) ForceReset() { st.lastReset = 0 }

// Allocation returns the allocation in force (nil before the first one).
func (st *RoundState) Allocation() *Allocation { return st.alloc }

// Charge records that a job ran seconds of wall time on model in the round
// just finished. Unknown jobs (already finished) are ignored.
func (st *RoundState) Charge(jobID, model string, seconds float64) {
	jt, ok := st.jobTime[jobID]
	if !ok || !(seconds > 0) {
		return
	}
	jt[model] += seconds
	st.modelTime[model] += seconds
}

// Next runs one scheduling step at s.Now, Gavel's way: it notices arrivals
// and departures, recomputes the allocation with the policy when the job set
// changed and the reset interval has passed (resetting the time-received
// counters), then places jobs with Round. The error is the policy's.
func (st *RoundState) Next(s *Snapshot, tp *Throughputs) (Placement, error) {
	models := s.models()
	active := make(map[string]bool, len(s.Jobs))
	for i := range s.Jobs {
		id := s.Jobs[i].ID
		active[id] = true
		if _, ok := st.jobTime[id]; !ok {
			jt := make(map[string]float64, len(models))
			for _, m := range models {
				jt[m] = st.cfg.RoundSeconds / 2
			}
			st.jobTime[id] = jt
			st.dirty = true
		}
	}
	for id := range st.jobTime {
		if !active[id] {
			delete(st.jobTime, id)
			for _, d := range st.deficit {
				delete(d, id)
			}
			st.dirty = true
		}
	}
	elapsed := s.Now - st.lastReset
	if st.dirty && (elapsed >= st.cfg.ResetInterval || st.lastReset == 0) {
		st.reset(s.Now, models)
		a, err := st.policy.Allocate(s, tp)
		if err != nil {
			return Placement{}, err
		}
		st.setAllocation(&a)
		st.dirty = false
		st.Allocations++
	}
	p := Round(s, tp, st.alloc, st.prev, st)
	st.prev = p
	return p, nil
}

func (st *RoundState) setAllocation(a *Allocation) {
	st.alloc = a
	st.allocRow = make(map[string]int, len(a.Jobs))
	for i, id := range a.Jobs {
		st.allocRow[id] = i
	}
	st.allocCol = make(map[string]int, len(a.Models))
	for k, m := range a.Models {
		st.allocCol[m] = k
	}
}

// share is X[job][model] of the allocation in force and whether the job is
// in it at all.
func (st *RoundState) share(jobID, model string) (float64, bool) {
	if st.alloc == nil {
		return 0, false
	}
	i, ok := st.allocRow[jobID]
	if !ok {
		return 0, false
	}
	k, ok := st.allocCol[model]
	if !ok {
		return 0, true
	}
	return st.alloc.X[i][k], true
}

// reset is Gavel's _reset_time_run_so_far: deficits absorb the difference
// between the time owed under the old allocation and the time received, and
// every job restarts at RoundSeconds/2 on every model.
func (st *RoundState) reset(now float64, models []string) {
	elapsed := now - st.lastReset
	half := st.cfg.RoundSeconds / 2
	for _, m := range models {
		st.modelTime[m] = 0
		d := st.deficit[m]
		if d == nil {
			d = map[string]float64{}
			st.deficit[m] = d
		}
		for id, jt := range st.jobTime {
			received := 0.0
			if t, ok := jt[m]; ok {
				received = t - half
			}
			x, _ := st.share(id, m)
			d[id] += x*elapsed - received
			jt[m] = half
			st.modelTime[m] += half
		}
	}
	st.lastReset = now
}

// Round turns an allocation into whole-gang placements for the next round,
// with Gavel's mechanism:
//
//  1. priority[job][model] = X ÷ (fraction of the model's time the job has
//     received since the last reset); X·1e9 when it has received none; 0
//     when X = 0, the throughput is 0, or the job is not in the allocation.
//  2. Models are taken in order (RoundConfig.ModelOrder or fastest first;
//     shuffled for agnostic policies when RoundConfig.Rand is set); each
//     model's jobs are sorted by (priority, deficit, X) descending and the
//     queues are concatenated. Walking it, a job is scheduled on a model if
//     it is not yet scheduled, runs there (throughput > 0), fits in the
//     devices left, and (fifo only) has priority > 0. Jobs with priority 0
//     still fill devices nobody with a share wants (work conservation).
//  3. Per model, gangs are placed largest first; a job that ran on the same
//     model in prev keeps its devices if they are all still free (lease
//     extension), the others take the lowest free device indices.
//
// st supplies the time-received counters and deficits; a may be nil (no
// allocation yet: nothing runs). Jobs are never split across models.
func Round(s *Snapshot, tp *Throughputs, a *Allocation, prev Placement, st *RoundState) Placement {
	models := s.models()
	nj := len(s.Jobs)
	tput := make([][]float64, nj)
	for i := range s.Jobs {
		j := &s.Jobs[i]
		row := make([]float64, len(models))
		for k, m := range models {
			row[k], _ = tp.Lookup(j.Class, j.Gang, m)
		}
		tput[i] = row
	}
	if st.alloc != a && a != nil {
		st.setAllocation(a)
	} else if a == nil {
		st.alloc = nil
	}

	order := st.modelOrder(models, tput)
	col := make(map[string]int, len(models))
	for k, m := range models {
		col[m] = k
	}

	type entry struct {
		job          int
		k            int
		prio, def, x float64
	}
	queue := make([]entry, 0, nj*len(order))
	per := make([]entry, 0, nj)
	for _, k := range order {
		m := models[k]
		per = per[:0]
		mt := st.modelTime[m]
		for i := range s.Jobs {
			id := s.Jobs[i].ID
			x, in := st.share(id, m)
			prio := 0.0
			if in && x > 0 && tput[i][k] > 0 {
				prio = x * 1e9
				frac := 0.0
				if jt, ok := st.jobTime[id]; ok && mt > 0 {
					if t, ok := jt[m]; ok {
						frac = t / mt
					}
				}
				if frac > 0 {
					prio = x / frac
				}
			}
			per = append(per, entry{job: i, k: k, prio: prio, def: st.deficit[m][id], x: x})
		}
		sort.SliceStable(per, func(a, b int) bool {
			pa, pb := per[a], per[b]
			if pa.prio != pb.prio {
				return pa.prio > pb.prio
			}
			if pa.def != pb.def {
				return pa.def > pb.def
			}
			return pa.x > pb.x
		})
		queue = append(queue, per...)
	}

	left := make([]int, len(models))
	for k, m := range models {
		left[k] = s.Fleet[m]
	}
	chosen := make([]int, nj) // model index+1, 0 = not scheduled
	for _, e := range queue {
		i, k := e.job, e.k
		if left[k] == 0 || chosen[i] != 0 || tput[i][k] <= 0 {
			continue
		}
		if st.fifo && e.prio <= 0 {
			continue
		}
		if _, in := st.share(s.Jobs[i].ID, models[k]); !in {
			continue // arrived after the allocation was computed: waits for the next one
		}
		g := s.Jobs[i].Gang
		if g > left[k] {
			continue
		}
		left[k] -= g
		chosen[i] = k + 1
	}

	// Place gangs on devices, largest first, keeping previous devices.
	prevRun := make(map[string]Run, len(prev.Runs))
	for _, r := range prev.Runs {
		prevRun[r.Job] = r
	}
	var out Placement
	for _, k := range order {
		m := models[k]
		var jobs []int
		for i := range s.Jobs {
			if chosen[i] == k+1 {
				jobs = append(jobs, i)
			}
		}
		sort.SliceStable(jobs, func(a, b int) bool { return s.Jobs[jobs[a]].Gang > s.Jobs[jobs[b]].Gang })
		used := make([]bool, s.Fleet[m])
		ptr := 0
		for lo := 0; lo < len(jobs); {
			hi := lo
			for hi < len(jobs) && s.Jobs[jobs[hi]].Gang == s.Jobs[jobs[lo]].Gang {
				hi++
			}
			group := jobs[lo:hi]
			placed := make([]bool, len(group))
			for gi, i := range group {
				r, ok := prevRun[s.Jobs[i].ID]
				if !ok || r.Model != m || len(r.Devices) != s.Jobs[i].Gang {
					continue
				}
				free := true
				for _, d := range r.Devices {
					if d < 0 || d >= len(used) || used[d] {
						free = false
						break
					}
				}
				if !free {
					continue
				}
				for _, d := range r.Devices {
					used[d] = true
				}
				placed[gi] = true
				out.Runs = append(out.Runs, Run{Job: s.Jobs[i].ID, Model: m, Devices: append([]int(nil), r.Devices...)})
			}
			for gi, i := range group {
				if placed[gi] {
					continue
				}
				devs := make([]int, 0, s.Jobs[i].Gang)
				for len(devs) < s.Jobs[i].Gang && ptr < len(used) {
					if !used[ptr] {
						used[ptr] = true
						devs = append(devs, ptr)
					}
					ptr++
				}
				out.Runs = append(out.Runs, Run{Job: s.Jobs[i].ID, Model: m, Devices: devs})
			}
			lo = hi
		}
	}

	for i := range s.Jobs {
		if chosen[i] != 0 {
			continue
		}
		out.Waiting = append(out.Waiting, Wait{Job: s.Jobs[i].ID, Reason: waitReason(s, i, models, tput[i], st)})
	}
	return out
}

func waitReason(s *Snapshot, i int, models []string, tput []float64, st *RoundState) Reason {
	runs, fits, share := false, false, false
	for k, m := range models {
		if tput[k] > 0 {
			runs = true
			if s.Jobs[i].Gang <= s.Fleet[m] {
				fits = true
			}
		}
		if x, _ := st.share(s.Jobs[i].ID, m); x > 0 {
			share = true
		}
	}
	switch {
	case !runs:
		return ReasonNoThroughput
	case !fits:
		return ReasonGangTooLarge
	case !share:
		return ReasonNoShare
	}
	return ReasonOutranked
}

// modelOrder returns column indices in fill order.
func (st *RoundState) modelOrder(models []string, tput [][]float64) []int {
	total := make([]float64, len(models))
	for _, row := range tput {
		for k, v := range row {
			total[k] += v
		}
	}
	rank := make(map[string]int, len(st.cfg.ModelOrder))
	for r, m := range st.cfg.ModelOrder {
		if _, dup := rank[m]; !dup {
			rank[m] = r
		}
	}
	order := make([]int, len(models))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool {
		ka, kb := order[a], order[b]
		ra, oka := rank[models[ka]]
		rb, okb := rank[models[kb]]
		switch {
		case oka && okb:
			return ra < rb
		case oka != okb:
			return oka
		}
		if total[ka] != total[kb] {
			return total[ka] > total[kb]
		}
		return models[ka] < models[kb]
	})
	if st.agnostic && st.cfg.Rand != nil {
		st.cfg.Rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	}
	return order
}
