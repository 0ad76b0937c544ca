package sched

import "math/rand/v2"

// fifoPolicy is Gavel's FIFOPolicy: jobs in arrival order each get a whole
// model (X = 1) while devices last; the queue stops at the first job that
// fits nowhere (no backfilling). Agnostic mode keeps each job on the model it
// got until it finishes and picks the model at random; hetero mode
// (fifo_perf) recomputes every call and picks the fastest model with room.
//
// A job is never given a model where its throughput is 0 (Gavel's random
// pick could strand a job there until it was dropped after 5 failed rounds).
// When the only models with room for the next job are ones it cannot run
// on, it waits and the queue goes on (Gavel's fifo_perf picks such a model,
// where the job never runs, and goes on; this reproduces its per-job
// completion times on the multi-GPU traces, where ResNet-50 gangs cannot run
// on K80). When a model it can run on is merely full, the queue stops.
type fifoPolicy struct {
	hetero bool
	rng    *rand.Rand
	src    *rand.PCG         // rng's source when given as Options.Source: saved with the state
	where  map[string]string // agnostic: job id → model, kept across calls
}

func newFIFO(hetero bool, rng *rand.Rand, src *rand.PCG) *fifoPolicy {
	return &fifoPolicy{hetero: hetero, rng: rng, src: src, where: map[string]string{}}
}

func (f *fifoPolicy) Name() string {
	if f.hetero {
		return FIFOHetero
	}
	return FIFO
}

func (f *fifoPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	a := p.emptyAllocation()
	col := make(map[string]int, len(p.models))
	for k, m := range p.models {
		col[m] = k
	}
	free := append([]float64(nil), p.cap...)
	active := make(map[string]int, len(s.Jobs))
	for i := range s.Jobs {
		active[s.Jobs[i].ID] = i
	}
	if f.hetero {
		f.where = map[string]string{}
	}
	// Keep running jobs where they are (agnostic mode); forget finished ones.
	// Kept jobs are taken in arrival order, not map order: when a model
	// shrank, which of them keep it must not vary between identical runs.
	for id := range f.where {
		if _, ok := active[id]; !ok {
			delete(f.where, id)
		}
	}
	order := fifoOrder(s)
	for _, i := range order {
		id := s.Jobs[i].ID
		m, kept := f.where[id]
		if !kept {
			continue
		}
		k, okm := col[m]
		if !okm || p.tput[i][k] == 0 || free[k] < p.gang[i] {
			delete(f.where, id)
			continue
		}
		free[k] -= p.gang[i]
		a.X[i][k] = 1
	}
	for _, i := range order {
		id := s.Jobs[i].ID
		if _, placed := f.where[id]; placed || !p.ok[i] {
			continue
		}
		var cands []int
		for k := range p.models {
			if p.tput[i][k] > 0 && free[k] >= p.gang[i] {
				cands = append(cands, k)
			}
		}
		if len(cands) == 0 {
			if !roomOnlyWhereItCannotRun(p, i, free) {
				break // FIFO: nobody jumps the queue
			}
			// Gavel's fifo_perf gives the job a model it cannot run on,
			// where it never runs, and goes on down the queue: the job
			// waits, the ones behind it do not.
			continue
		}
		best := cands[0]
		if f.hetero {
			for _, k := range cands[1:] {
				if p.tput[i][k] > p.tput[i][best] {
					best = k
				}
			}
		} else {
			best = cands[f.rng.IntN(len(cands))]
		}
		free[best] -= p.gang[i]
		a.X[i][best] = 1
		f.where[id] = p.models[best]
	}
	return a, nil
}

// roomOnlyWhereItCannotRun reports whether job i's gang fits in the free
// devices of some model, all of which are models where it cannot run.
func roomOnlyWhereItCannotRun(p *problem, i int, free []float64) bool {
	room := false
	for k := range p.models {
		if free[k] >= p.gang[i] {
			if p.tput[i][k] > 0 {
				return false
			}
			room = true
		}
	}
	return room
}
