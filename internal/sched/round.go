package sched

import (
	"math/rand/v2"
	"slices"
	"sort"
)

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
	// GavelCompat stops the pipeline at Gavel's mechanism: a job goes on
	// the model the prioritize stage chose or waits. Otherwise (the live
	// loop) the pack stage lets a job keep faster devices it holds when
	// that model has slack, falls back to another model when no node of
	// the chosen one has room, and the upgrade stage moves a job starting
	// on a slower model to a faster one with free room.
	GavelCompat bool
	// Sharer places jobs that ask for a share of one device (Job.Milli;
	// fraction.go); nil: such jobs keep the shares they hold and others
	// wait (ReasonNoShareRoom).
	Sharer Sharer
	// NoWaiting leaves Placement.Waiting empty: the stages make the same
	// placements, but the reasons of the jobs that wait are not collected
	// (the simulator reads only the runs; at ~16,000 waiting jobs a round
	// the list was a tenth of its garbage).
	NoWaiting bool
}

// RoundState is the placement pipeline's memory (see Next) and Gavel's
// round bookkeeping, kept between rounds: the time
// each job has run on each model since the last reset, the time each model
// has run jobs, the deficits (tie-breaker), the current allocation and the
// previous placement (for lease extension).
//
// Use it as: each round, p, err := st.Next(snapshot, tp); run p; then call
// st.Charge(job, model, seconds) for every job that ran with the seconds it
// actually ran (until its round ended or it finished). A RoundState assumes
// one throughput table; pass the same *Throughputs every round (a different
// pointer makes it re-read every job's throughputs).
type RoundState struct {
	cfg            RoundConfig
	policy         Policy
	agnostic, fifo bool

	models    []string       // model index → id (grows, never shrinks)
	modelIdx  map[string]int // id → model index
	modelTime []float64      // by model index: Σ jobTime since the reset
	jobs      map[string]*jobRec
	gen       int // rounds seen, to find departed jobs

	tp    *Throughputs
	tpGen int

	alloc     *Allocation
	allocCol  []int // by model index: column in alloc, -1 if none
	lastReset float64
	dirty     bool
	// Allocations counts how many times Next recomputed the allocation.
	Allocations int

	topo *topology // the fleet's nodes, rebuilt when they change

	// whyGen numbers the (allocation, fleet) states waitReason's answers
	// are kept for; whyFleet is the last round's (model index, devices)
	// per column.
	whyGen   int
	whyFleet []int

	pairs pairRound // space sharing (pairround.go)
	// fair is the device-time team weights need for shares (sharefair.go);
	// nil until a snapshot asks for a share.
	fair *shareFair

	// scratch
	mark   int             // uniqueIDs' round counter
	newIDs map[string]bool // uniqueIDs: ids of jobs without a record
	cyc    cycle           // the last round's cycle, its slices reused by the next
	srec   []*jobRec       // uniqueIDs: each snapshot job's record, nil if new
	// filterGen numbers the (topology, table, models) the filter's answers
	// kept in job records are for (filterRound).
	filterGen int
	fTopo     *topology
	fTp       *Throughputs
	fModels   []string
	// lastRuns is the record of each run of the last placement (ChargeRun).
	lastRuns []*jobRec
	prio     [][]entry // prioEntries' lists, by position in the model order
	chosen   []int     // prioritize's answer
	order    []*jobRec // records in the last snapshot's order
	fill     []int     // default model fill order, recomputed on reallocation
}

// jobRec is everything the mechanism keeps about one active job.
type jobRec struct {
	id      string
	time    []float64 // by model index: seconds received since reset (starts at RoundSeconds/2)
	deficit []float64 // by model index
	tput    []float64 // by model index, for tpGen
	row     int       // row in the allocation in force, -1 if absent
	// inline holds time, deficit and tput while there are at most 4
	// models: the fields prioritize reads for every job and model of every
	// round then share the record's cache lines.
	inline   [12]float64
	tpGen    int
	seen     int
	prevK    int   // model index of the previous round's run, -1 if none
	prevDevs []int // its devices
	held     Held  // the same as a Held, for the cycle (no allocation per job and round)
	// why is waitReason's answer for whyGen (RoundState.whyGen) and gang
	// whyGang; a new throughput row invalidates it (whyGen -1).
	why     Reason
	whyGen  int
	whyGang int
	deny    uint64
	mark    int // uniqueIDs' round mark
	// The filter's answer for the job (filterOK): for fGen, class, gang
	// and span, its row of throughputs by column, deny mask and reason.
	fGen   int
	fClass string
	fGang  int
	fSpan  bool
	fRow   [4]float64
	fDeny  uint64
	fWhy   Reason
}

type entry struct {
	prio, def, x float64
	job          int32
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
		cfg:      cfg,
		policy:   p,
		agnostic: name == FIFO || name == LAS || name == FTF || name == Makespan,
		fifo:     name == FIFO || name == FIFOHetero,
		modelIdx: map[string]int{},
		jobs:     map[string]*jobRec{},
	}
}

// ForceReset lifts the reset interval once: the next Next recomputes the
// allocation if the job set changed since the last one. It is Gavel's
// `_last_reset_time = 0`, which its simulator does when nothing is running
// and no more jobs will arrive.
func (st *RoundState) ForceReset() { st.lastReset = 0 }

// Stale marks the allocation in force as out of date although no job
// arrived or left: the next Next recomputes it once the reset interval
// allows. Gavel does this when a job's round fails.
func (st *RoundState) Stale() { st.dirty = true }

// Allocation returns the allocation in force (nil before the first one).
func (st *RoundState) Allocation() *Allocation { return st.alloc }

// Charge records that a job ran seconds of wall time on model in the round
// just finished. Unknown jobs (already finished) and models are ignored.
// Once a round asked for a share, it also books device-time for team
// weights to apply to shares: seconds × gang for a whole-device job,
// seconds × Milli/1000 for a share (sharefair.go).
func (st *RoundState) Charge(jobID, model string, seconds float64) {
	if st.fair != nil {
		st.fair.charge(jobID, model, seconds)
	}
	rec, ok := st.jobs[jobID]
	k := -1
	for i, m := range st.models {
		if m == model {
			k = i
			break
		}
	}
	if !ok || k < 0 || !(seconds > 0) {
		return
	}
	st.grow(rec)
	rec.time[k] += seconds
	st.modelTime[k] += seconds
}

// ChargeRun is Charge(jobID, model, seconds) for the n-th run of the
// placement Next returned last (Placement.Runs[n]): it finds the job's
// record without looking it up by id when that run is jobID's on model
// (and falls back to Charge otherwise).
func (st *RoundState) ChargeRun(n int, jobID, model string, seconds float64) {
	if n < 0 || n >= len(st.lastRuns) {
		st.Charge(jobID, model, seconds)
		return
	}
	// A record not seen by the last sync may have left st.jobs.
	if rec := st.lastRuns[n]; rec.seen != st.gen || rec.id != jobID || rec.prevK < 0 || st.models[rec.prevK] != model {
		st.Charge(jobID, model, seconds)
		return
	}
	if !(seconds > 0) {
		return
	}
	if st.fair != nil {
		st.fair.charge(jobID, model, seconds)
	}
	rec := st.lastRuns[n]
	k := rec.prevK
	st.grow(rec)
	rec.time[k] += seconds
	st.modelTime[k] += seconds
}

// model returns the index of a model id, adding it (every job starts with
// RoundSeconds/2 on a new model, as Gavel registers a new worker type).
func (st *RoundState) model(id string) int {
	if k, ok := st.modelIdx[id]; ok {
		return k
	}
	k := len(st.models)
	st.models = append(st.models, id)
	st.modelIdx[id] = k
	st.modelTime = append(st.modelTime, 0)
	st.allocCol = append(st.allocCol, -1)
	if st.alloc != nil {
		st.allocCol[k] = indexOf(st.alloc.Models, id)
	}
	st.tpGen++
	return k
}

// grow brings a record's per-model slices to the current model count.
func (st *RoundState) grow(rec *jobRec) {
	for len(rec.time) < len(st.models) {
		rec.time = append(rec.time, st.cfg.RoundSeconds/2)
		rec.deficit = append(rec.deficit, 0)
	}
}

// sync brings the records up to snapshot s; hint[i], when not nil, is job
// i's record (found by newCycle's id check).
func (st *RoundState) sync(s *Snapshot, tp *Throughputs, hint []*jobRec) (cols []int) {
	models := s.models()
	cols = make([]int, len(models))
	for c, m := range models {
		cols[c] = st.model(m)
	}
	if tp != st.tp {
		st.tp = tp
		st.tpGen++
	}
	st.gen++
	prev := st.order
	cur := 0
	st.order = st.order[len(st.order):]
	if cap(st.order) < len(s.Jobs) {
		st.order = make([]*jobRec, 0, len(s.Jobs))
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		// Snapshots usually list the same jobs in the same order, minus
		// departures, plus arrivals at the end: follow the previous order
		// with a cursor before falling back to the map.
		var rec *jobRec
		ok := false
		if i < len(hint) && hint[i] != nil {
			rec, ok = hint[i], true
		}
		for look := 0; !ok && look < 4 && cur+look < len(prev); look++ {
			if prev[cur+look].id == j.ID {
				rec, ok = prev[cur+look], true
				cur += look + 1
				break
			}
		}
		if !ok {
			rec, ok = st.jobs[j.ID]
		}
		if !ok {
			// A job new to the state is not in the allocation in force (it
			// was computed before the job arrived); setAllocation assigns
			// rows when an allocation naming it is installed.
			rec = &jobRec{id: j.ID, row: -1, prevK: -1, tpGen: -1, whyGen: -1}
			if n := len(st.models); 3*n <= len(rec.inline) {
				// Appends beyond n models move them to the heap.
				rec.time, rec.deficit, rec.tput = rec.inline[:0:n], rec.inline[n:n:2*n], rec.inline[2*n:2*n:3*n]
			}
			st.jobs[j.ID] = rec
			st.dirty = true
		}
		st.grow(rec)
		if rec.tpGen != st.tpGen || rec.deny != j.deny {
			if cap(rec.tput) < len(st.models) {
				rec.tput = make([]float64, len(st.models))
			}
			rec.tput = rec.tput[:len(st.models)]
			for k, m := range st.models {
				rec.tput[k], _ = tp.Lookup(j.Class, j.Gang, m)
			}
			for c, k := range cols {
				if c < 64 && j.deny&(1<<c) != 0 {
					rec.tput[k] = 0
				}
			}
			rec.tpGen, rec.deny = st.tpGen, j.deny
			rec.whyGen = -1
		}
		rec.seen = st.gen
		st.order = append(st.order, rec)
	}
	if len(st.jobs) != len(s.Jobs) {
		for id, rec := range st.jobs {
			if rec.seen != st.gen {
				delete(st.jobs, id)
				st.dirty = true
			}
		}
	}
	return cols
}

func (st *RoundState) setAllocation(a *Allocation) {
	st.alloc = a
	st.whyGen++
	st.fill = nil
	for _, rec := range st.jobs {
		rec.row = -1
	}
	for i, id := range a.Jobs {
		if rec, ok := st.jobs[id]; ok {
			rec.row = i
		}
	}
	for k, m := range st.models {
		st.allocCol[k] = indexOf(a.Models, m)
	}
	st.setPairs(a)
}

// share is X[job][model index] of the allocation in force and whether the
// job is in it at all.
func (st *RoundState) share(rec *jobRec, k int) (float64, bool) {
	if st.alloc == nil || rec.row < 0 {
		return 0, false
	}
	c := st.allocCol[k]
	if c < 0 {
		return 0, true
	}
	return st.alloc.X[rec.row][c], true
}

// reset is Gavel's _reset_time_run_so_far: deficits absorb the difference
// between the time owed under the old allocation and the time received, and
// every job restarts at RoundSeconds/2 on every model.
func (st *RoundState) reset(now float64, cols []int) {
	elapsed := now - st.lastReset
	half := st.cfg.RoundSeconds / 2
	for _, k := range cols {
		st.modelTime[k] = 0
		for _, rec := range st.jobs {
			received := rec.time[k] - half
			x, _ := st.share(rec, k)
			rec.deficit[k] += x*elapsed - received
			rec.time[k] = half
			st.modelTime[k] += half
		}
	}
	st.resetPairs(elapsed, cols)
	st.lastReset = now
}

// prioritize is the pipeline's prioritize stage, Gavel's round mechanism:
//
//  1. priority[job][model] = X ÷ (fraction of the model's time the job has
//     received since the last reset); X·1e9 when it has received none; 0
//     when X = 0, the throughput is 0, or the job is not in the allocation.
//  2. Models are taken in order (RoundConfig.ModelOrder or fastest first;
//     shuffled for agnostic policies when RoundConfig.Rand is set); each
//     model's jobs are sorted by (priority, deficit, X) descending and the
//     queues are concatenated. Walking it, a job is scheduled on a model if
//     it is not yet scheduled, runs there (throughput > 0), fits in the
//     devices left, is in the allocation, and (fifo only) has priority > 0.
//     Jobs with priority 0 still fill devices nobody with a share wants
//     (work conservation).
//
// It returns, per job of s, the chosen model index + 1 (0: not chosen), and
// the model fill order. cols maps the snapshot's sorted models to model
// indices. Jobs are never split across models; placing them on devices is
// the pack stage's job.
func (st *RoundState) prioritize(s *Snapshot, cols []int) (chosen, order []int) {
	nj := len(s.Jobs)
	recs := st.order
	order = st.modelOrder(cols, recs)

	left := make([]int, len(st.models))
	for _, k := range cols {
		left[k] = s.Fleet[st.models[k]]
	}
	st.chosen = reuse(st.chosen, nj)
	chosen = st.chosen // model index + 1, 0 = not scheduled
	st.pairs.begin(s)
	// Per model, a max-heap on (priority, deficit, X, −snapshot index) —
	// the order of Gavel's sorted queue — popped only until the model is
	// full: the rest of its queue could not be scheduled anyway. Entries
	// that can never be scheduled (throughput 0, not in the allocation,
	// fifo without priority) are left out. Each model's entries are
	// gathered in one pass over the jobs for all models (a job record is
	// read once a round, not once per model); the jobs an earlier model
	// took are dropped from a model's list when its turn comes.
	lists := st.prioEntries(s, order, left)
	for o, k := range order {
		if left[k] == 0 || st.alloc == nil {
			continue
		}
		h := lists[o][:0]
		for _, e := range lists[o] {
			if chosen[e.job] == 0 {
				h = append(h, e)
			}
		}
		h = st.pairEntries(h, s, k, left[k], chosen)
		heapify(h)
		for len(h) > 0 && left[k] > 0 {
			e := h[0]
			last := len(h) - 1
			h[0] = h[last]
			h = h[:last]
			siftDown(h, 0)
			i := int(e.job)
			if i >= nj {
				left[k] -= st.choosePair(s, i-nj, k, left[k], chosen)
				continue
			}
			if g := s.Jobs[i].Gang; chosen[i] == 0 && st.pairs.partner[i] < 0 && g <= left[k] {
				left[k] -= g
				chosen[i] = k + 1
			}
		}
		lists[o] = h[:0]
	}
	return chosen, order
}

// waitReason says why job i, which prioritize did not choose, waits. The
// answer depends only on the job's throughputs and gang, the fleet's
// models and counts, and the allocation in force, which change rarely: it
// is kept in the job's record until one of them changes (whyRound).
// prioEntries returns, for each model of order (position o), the heap
// entries of the jobs that may be scheduled on it as the round starts
// (prioritize): in the allocation, throughput > 0, gang ≤ the model's
// devices (left, untouched until the model's turn), priority > 0 for fifo.
func (st *RoundState) prioEntries(s *Snapshot, order, left []int) [][]entry {
	for len(st.prio) < len(order) {
		st.prio = append(st.prio, nil)
	}
	lists := st.prio[:len(order)]
	for o := range lists {
		lists[o] = lists[o][:0]
	}
	if st.alloc == nil {
		return lists
	}
	for i, rec := range st.order {
		if rec.row < 0 {
			continue
		}
		g := s.Jobs[i].Gang
		for o, k := range order {
			if left[k] == 0 || rec.tput[k] <= 0 || g > left[k] {
				continue
			}
			x, _ := st.share(rec, k)
			prio := 0.0
			if x > 0 {
				prio = x * 1e9
				if mt := st.modelTime[k]; mt > 0 {
					if frac := rec.time[k] / mt; frac > 0 {
						prio = x / frac
					}
				}
			}
			if st.fifo && prio <= 0 {
				continue
			}
			lists[o] = append(lists[o], entry{prio: prio, def: rec.deficit[k], x: x, job: int32(i)})
		}
	}
	return lists
}

func (st *RoundState) waitReason(s *Snapshot, i int, rec *jobRec, cols []int) Reason {
	if rec.whyGen == st.whyGen && rec.whyGang == s.Jobs[i].Gang {
		return rec.why
	}
	rec.why, rec.whyGen, rec.whyGang = st.computeWaitReason(s, i, rec, cols), st.whyGen, s.Jobs[i].Gang
	return rec.why
}

// whyRound starts a round for waitReason's memory: a change in the fleet's
// models (cols) or their device counts forgets every job's answer.
func (st *RoundState) whyRound(s *Snapshot, cols []int) {
	same := len(st.whyFleet) == 2*len(cols)
	for c, k := range cols {
		same = same && st.whyFleet[2*c] == k && st.whyFleet[2*c+1] == s.Fleet[st.models[k]]
	}
	if same {
		return
	}
	st.whyFleet = st.whyFleet[:0]
	for _, k := range cols {
		st.whyFleet = append(st.whyFleet, k, s.Fleet[st.models[k]])
	}
	st.whyGen++
}

func (st *RoundState) computeWaitReason(s *Snapshot, i int, rec *jobRec, cols []int) Reason {
	runs, fits, share := false, false, false
	for _, k := range cols {
		if rec.tput[k] > 0 {
			runs = true
			if s.Jobs[i].Gang <= s.Fleet[st.models[k]] {
				fits = true
			}
		}
		if x, _ := st.share(rec, k); x > 0 {
			share = true
		}
	}
	switch {
	case !runs:
		return ReasonNoThroughput
	case !fits:
		return ReasonGangTooLarge
	case rec.row < 0:
		return ReasonNotYetAllocated
	case !share:
		return ReasonNoShare
	}
	return ReasonOutranked
}

// modelOrder returns model indices (of cols) in fill order. The default
// (unshuffled) order is recomputed only when the allocation or the set of
// models changes, so it is stable between reallocations.
func (st *RoundState) modelOrder(cols []int, recs []*jobRec) []int {
	if st.fill == nil || !sameSet(st.fill, cols) {
		st.fill = st.defaultOrder(cols, recs)
	}
	order := append([]int(nil), st.fill...)
	if st.agnostic && st.cfg.Rand != nil {
		st.cfg.Rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	}
	return order
}

func sameSet(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func (st *RoundState) defaultOrder(cols []int, recs []*jobRec) []int {
	total := make(map[int]float64, len(cols))
	for _, k := range cols {
		for _, rec := range recs {
			total[k] += rec.tput[k]
		}
	}
	rank := make(map[string]int, len(st.cfg.ModelOrder))
	for r, m := range st.cfg.ModelOrder {
		if _, dup := rank[m]; !dup {
			rank[m] = r
		}
	}
	order := append([]int(nil), cols...)
	sort.SliceStable(order, func(a, b int) bool {
		ka, kb := order[a], order[b]
		ra, oka := rank[st.models[ka]]
		rb, okb := rank[st.models[kb]]
		switch {
		case oka && okb:
			return ra < rb
		case oka != okb:
			return oka
		}
		if total[ka] != total[kb] {
			return total[ka] > total[kb]
		}
		return st.models[ka] < st.models[kb]
	})
	return order
}

// before reports whether entry a comes before b in Gavel's queue for a model:
// (priority, deficit, X) descending, then snapshot order.
func before(a, b *entry) bool {
	switch {
	case a.prio != b.prio:
		return a.prio > b.prio
	case a.def != b.def:
		return a.def > b.def
	case a.x != b.x:
		return a.x > b.x
	}
	return a.job < b.job
}

func heapify(h []entry) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
}

func siftDown(h []entry, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && before(&h[r], &h[l]) {
			c = r
		}
		if !before(&h[c], &h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
