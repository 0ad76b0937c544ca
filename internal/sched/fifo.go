package sched

import "math/rand/v2"

// fifoPolicy is Gavel's FIFOPolicy: jobs in arrival order each get a whole
// model (X = 1) while devices last; the queue stops at the first job that
// fits nowhere (no backfilling). Agnostic mode keeps each job on the model it
// got until it finishes and picks the model at random; hetero mode
// (fifo_perf) recomputes every call and picks the fastest model with room.
//
// Deviation from Gavel, on purpose: models where the job's throughput is 0
// are never chosen (Gavel's random pick could strand a job there until it
// was dropped after 5 failed rounds).
type fifoPolicy struct {
	hetero bool
	rng    *rand.Rand
	where  map[string]string // agnostic: job id → model, kept across calls
}

func newFIFO(hetero bool, rng *rand.Rand) *fifoPolicy {
	return &fifoPolicy{hetero: hetero, rng: rng, where: map[string]string{}}
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
			break // FIFO: nobody jumps the queue
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
