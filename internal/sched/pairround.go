package sched

// pairRound is the round mechanism's memory of space sharing (Gavel's job
// pairs in _job_time_so_far, _priorities and _deficits): each pair of the
// allocation in force has its own share, time received since the last
// reset and deficit per model, and competes in a model's queue with the
// single jobs; a pair chosen for a model runs both jobs on the same gang of
// devices, and neither runs elsewhere that round.
type pairRound struct {
	list  []*pairRec
	byKey map[[2]string]*pairRec
	// this round, by snapshot job:
	idx     map[string]int
	partner []int  // the job it shares devices with, -1
	lead    []bool // it is the one of its pair the later stages place
}

type pairRec struct {
	a, b          string    // job ids, a first in the allocation
	x             []float64 // by model index
	time, deficit []float64 // by model index
	tput          [][2]float64
	tpGen         int
}

// setPairs installs the pairs of a new allocation, keeping the deficits of
// pairs that were in the previous one.
func (st *RoundState) setPairs(a *Allocation) {
	pr := &st.pairs
	if len(a.Pairs) == 0 && len(pr.list) == 0 {
		return
	}
	old := pr.byKey
	pr.list = pr.list[:0]
	pr.byKey = make(map[[2]string]*pairRec, len(a.Pairs))
	half := st.cfg.RoundSeconds / 2
	nk := len(st.models)
	for _, ps := range a.Pairs {
		key := [2]string{a.Jobs[ps.A], a.Jobs[ps.B]}
		rec, ok := old[key]
		if !ok {
			rec = &pairRec{a: key[0], b: key[1], time: make([]float64, nk), deficit: make([]float64, nk), tpGen: -1}
			for k := range rec.time {
				rec.time[k] = half
			}
		}
		for len(rec.time) < nk {
			rec.time = append(rec.time, half)
			rec.deficit = append(rec.deficit, 0)
		}
		rec.x = make([]float64, nk)
		for k := range st.models {
			if c := st.allocCol[k]; c >= 0 {
				rec.x[k] = ps.X[c]
			}
		}
		pr.list = append(pr.list, rec)
		pr.byKey[key] = rec
	}
}

// resetPairs is reset's bookkeeping for pairs: the deficit absorbs the
// difference between the time owed and received, and the time received
// restarts at half a round.
func (st *RoundState) resetPairs(elapsed float64, cols []int) {
	half := st.cfg.RoundSeconds / 2
	for _, rec := range st.pairs.list {
		for _, k := range cols {
			if k >= len(rec.time) {
				continue
			}
			rec.deficit[k] += rec.x[k]*elapsed - (rec.time[k] - half)
			rec.time[k] = half
		}
	}
}

// begin starts a round: no job shares devices yet.
func (pr *pairRound) begin(s *Snapshot) {
	n := len(s.Jobs)
	if cap(pr.partner) < n {
		pr.partner = make([]int, n)
		pr.lead = make([]bool, n)
	}
	pr.partner, pr.lead = pr.partner[:n], pr.lead[:n]
	for i := range pr.partner {
		pr.partner[i], pr.lead[i] = -1, false
	}
	if len(pr.list) == 0 {
		return
	}
	if pr.idx == nil {
		pr.idx = make(map[string]int, n)
	}
	clear(pr.idx)
	for i := range s.Jobs {
		pr.idx[s.Jobs[i].ID] = i
	}
}

// pairTput is the pair's steps/s on model index k (job a's, job b's).
func (st *RoundState) pairTput(rec *pairRec, s *Snapshot, ia, ib, k int) [2]float64 {
	if rec.tpGen != st.tpGen || len(rec.tput) < len(st.models) {
		rec.tput = make([][2]float64, len(st.models))
		for m, id := range st.models {
			rec.tput[m], _ = st.tp.PairLookup(s.Jobs[ia].Class, s.Jobs[ib].Class, s.Jobs[ia].Gang, id)
		}
		rec.tpGen = st.tpGen
	}
	return rec.tput[k]
}

// pairEntries adds to model k's queue the pairs of the allocation with a
// share of k whose jobs are both active and free, that fit in the devices
// left and run together on k. Their priority and tie-breakers are a single
// job's (share ÷ fraction of k's time received, deficit, share); their
// entry's job is len(s.Jobs) + the pair's index.
func (st *RoundState) pairEntries(h []entry, s *Snapshot, k, left int, chosen []int) []entry {
	pr := &st.pairs
	nj := len(s.Jobs)
	mt := st.modelTime[k]
	for pi, rec := range pr.list {
		if k >= len(rec.x) || rec.x[k] <= 0 {
			continue
		}
		ia, okA := pr.idx[rec.a]
		ib, okB := pr.idx[rec.b]
		if !okA || !okB || chosen[ia] != 0 || chosen[ib] != 0 || pr.partner[ia] >= 0 || pr.partner[ib] >= 0 {
			continue
		}
		g := s.Jobs[ia].Gang
		if g != s.Jobs[ib].Gang || g > left || st.order[ia].tput[k] <= 0 || st.order[ib].tput[k] <= 0 {
			continue
		}
		if t := st.pairTput(rec, s, ia, ib, k); t[0] <= 0 || t[1] <= 0 {
			continue
		}
		x := rec.x[k]
		prio := x * 1e9
		if mt > 0 {
			if frac := rec.time[k] / mt; frac > 0 {
				prio = x / frac
			}
		}
		h = append(h, entry{prio: prio, def: rec.deficit[k], x: x, job: int32(nj + pi)})
	}
	return h
}

// choosePair schedules pair pi on model index k when both its jobs are
// still free and its gang fits; it returns the devices taken (0: none).
func (st *RoundState) choosePair(s *Snapshot, pi, k, left int, chosen []int) int {
	pr := &st.pairs
	rec := pr.list[pi]
	ia, ib := pr.idx[rec.a], pr.idx[rec.b]
	g := s.Jobs[ia].Gang
	if chosen[ia] != 0 || chosen[ib] != 0 || pr.partner[ia] >= 0 || pr.partner[ib] >= 0 || g > left {
		return 0
	}
	chosen[ia] = k + 1
	pr.partner[ia], pr.partner[ib] = ib, ia
	pr.lead[ia] = true
	return g
}

// placeRiders gives the second job of every pair its leader's devices once
// the later stages have placed the leader; when the leader waits, or ended
// on a model where the pair cannot share, the second job waits too (unless
// a later stage placed it on its own) and the leader runs alone.
func (st *RoundState) placeRiders(c *cycle, cols []int) {
	pr := &st.pairs
	for i, q := range pr.partner {
		if q < 0 || pr.lead[i] {
			continue
		}
		lp := c.run[q]
		// A later stage (guarantees) may have placed the second job on
		// devices of its own: then it runs there, and the leader alone.
		ok := lp.col >= 0
		if ok {
			rec := pr.byKey[[2]string{c.eff.Jobs[min(i, q)].ID, c.eff.Jobs[max(i, q)].ID}]
			if rec == nil {
				rec = pr.byKey[[2]string{c.eff.Jobs[max(i, q)].ID, c.eff.Jobs[min(i, q)].ID}]
			}
			ok = rec != nil
			if ok {
				ia, ib := pr.idx[rec.a], pr.idx[rec.b]
				t := st.pairTput(rec, &c.eff, ia, ib, cols[lp.col])
				ok = t[0] > 0 && t[1] > 0
			}
		}
		if !ok {
			pr.partner[i], pr.partner[q], pr.lead[q] = -1, -1, false
			continue
		}
		c.run[i] = placed{col: lp.col, devs: lp.devs, wanted: -1, kept: lp.kept}
	}
}

// partnerOf is the job sharing devices with snapshot job i this round, -1.
func (pr *pairRound) partnerOf(i int) int {
	if i >= len(pr.partner) {
		return -1
	}
	return pr.partner[i]
}

// ChargePair records that two jobs ran together for seconds of wall time on
// model in the round just finished (Charge's counterpart for a pair: the
// time counts for the pair, not for either job alone, as in Gavel).
// Unknown pairs and models are ignored.
func (st *RoundState) ChargePair(a, b, model string, seconds float64) {
	rec := st.pairs.byKey[[2]string{a, b}]
	if rec == nil {
		rec = st.pairs.byKey[[2]string{b, a}]
	}
	k, ok := st.modelIdx[model]
	if rec == nil || !ok || k >= len(rec.time) || !(seconds > 0) {
		return
	}
	rec.time[k] += seconds
	st.modelTime[k] += seconds
}
