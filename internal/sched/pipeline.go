package sched

import (
	"fmt"
	"slices"
)

// Run is one job placed for the next round: Gang devices of one model.
// Devices are indices into the model's pool, 0..Fleet[Model]-1, numbered in
// Snapshot.Nodes order (node i's devices follow node i-1's).
type Run struct {
	Job     string
	Model   string
	Devices []int
	// Nodes are the ids of the nodes Devices are on, in order (nil when the
	// snapshot has no nodes). Devices and Nodes are read-only: a job that
	// keeps its devices gets its previous Run's Devices slice again, and
	// Nodes may be shared between runs.
	Nodes []string
	// Wanted is the model the policy chose when the job runs on another
	// (no node of Wanted had room, or the teams' split left it out
	// there); "" otherwise.
	Wanted string
	// TeamTurn is set with Wanted when the teams' split (fairShares) gave
	// Wanted's room to other teams' jobs this round, rather than no node of
	// Wanted having room.
	TeamTurn bool
	// Kept is set when the job keeps the devices it held.
	Kept bool
	// With is the job sharing Devices with this one this round (space
	// sharing, *-packed policies); "" when it runs alone.
	With string
	// Milli is, for a job asking for a share of one device (Job.Milli),
	// its share of Devices[0]; 0 for whole devices.
	Milli int64
}

// Wait is one active job not placed for the next round, and why.
type Wait struct {
	Job    string
	Reason Reason
	// Model is the model the reason is about (fragmented, reclaimed), "".
	Model string
	// Free is, for fragmented, the most devices of Model free on one node
	// (one site's whole nodes, for a multi-node gang: Multi) this round.
	Free  int
	Multi bool
	// By is, for reclaimed, the team whose guarantee takes the devices back;
	// Guarantee is that guarantee (devices of Model).
	By        string
	Guarantee int
}

// Placement is the outcome of one round: who runs where, who waits and why.
// Every active job of the snapshot is in exactly one of Runs or Waiting
// (Waiting is empty with RoundConfig.NoWaiting).
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

// cycle is one round of the pipeline: the snapshot, what the policy sees,
// and each stage's decisions so far.
type cycle struct {
	s      *Snapshot
	tp     *Throughputs
	models []string // s.models(): columns
	topo   *topology
	free   *freeState // the pack stage's device bookkeeping
	sh     *shares    // the pack stage for shares (fraction.go); nil: no share asked

	eff   Snapshot // the jobs the policy sees (filter), weighted (fairness)
	src   []int    // eff job → s job
	effOf []int    // s job → eff job, -1
	// by s job:
	reason []Reason
	wait   []Wait
	// by eff job:
	tput   [][]float64 // effective steps/s per column (0: may not run there)
	chosen []int       // column + 1 chosen by prioritize/guarantees (0: none)
	run    []placed    // where it runs (pack, upgrade)
	held   []*Held     // what it holds from the previous round
	teamOf []int32     // index of its team in teamNames (fairness)
	recs   []*jobRec   // its record (RoundState.order)
	effRec []*jobRec   // its record before sync (nil: new), from srec

	srec      []*jobRec // by s job: its record when it has one (uniqueIDs)
	filterGen int       // RoundState.filterGen this round

	flat      []float64 // tput's rows
	order     []int     // the chosen jobs, largest gang first (keep)
	byGangBuf []int     // byGang's scratch
	teamNames []string  // the teams jobs name, "" included, in first-seen order
	teamMap   map[string]int32
}

type placed struct {
	col    int // -1: not placed
	devs   []int
	wanted int // column the policy chose when placed elsewhere, -1
	kept   bool
	turn   bool // left out of wanted by the teams' split (Run.TeamTurn)
}

// Next runs one round of the placement pipeline at s.Now. The live loop
// (control, through jobs.Planner) and the simulator (internal/sim) both call
// it; each stage is a small function that records, for every job it keeps
// from running, a Reason:
//
//  1. filter: a job's models are those its allowed/forbidden lists leave,
//     where its throughput is > 0 and its gang fits (on one node, or, for a
//     gang larger than every node of the model, on whole nodes of one site,
//     or of the fleet when it may span sites). A job with no model, or with
//     a quantity that is not finite, waits and is not shown to the policy.
//  2. fairness: when jobs name teams, a job's weight is its team's weight ×
//     its own ÷ the sum of its team's active job weights.
//  3. allocate: the policy's allocation X, recomputed when the job set
//     changed and the reset interval has passed (Gavel's mechanism).
//  4. prioritize: Gavel's priorities choose a model for each job that runs.
//  5. guarantees: a team below its guarantee on a model takes devices back
//     from teams running above theirs (lending is reclaimed).
//  6. keep: a job keeps the devices it holds on its chosen model (lease
//     extension), or faster ones it holds when that model has slack.
//  7. pack: gangs go on nodes, largest first: a gang that fits a node on the
//     best-fitting node; a larger one on whole nodes of one switch, else of
//     one site (or of several when the job allows it). When no node has
//     room, a job keeps what it holds or falls back to another model.
//     A gang's CPU and memory (Job.CPU, Job.Mem: the job's in all, each of
//     its nodes taking its part by devices) must fit what the gangs and
//     shares before it left on each node it uses (noderoom.go); a gang
//     whose devices are free but not those waits no-node-room.
//  8. upgrade: a job starting on a model slower than one with free room
//     moves there.
//
// Jobs asking for a share of one device (Job.Milli) are not in the
// policy's allocation (stages 2–4) but are in the guarantees stage at
// Milli/1000 of a device: a device held only by shares of teams beyond
// their guarantee goes back to a team owed its guarantee there, as a gang
// lent from it would, and a share within its team's guarantee is owed
// room, taken back from a gang lent from it when needed (shareguar.go).
// Team weights then apply to shares (stage 5c, sharefair.go): on a model
// where shares and the jobs of two or more teams compete, the teams get
// its devices by weighted least attained service — each team's
// device-seconds there ÷ its weight, a share charged Milli/1000 of a
// device per second (Charge) — so two teams of weights 2 and 1 flooding a
// model get about 2/3 and 1/3 of its device-time, whether they ask for
// shares or whole devices; a gang the policy chose that loses out waits
// outranked, an admitted share goes before the gangs, a share left out
// gets only the room left after them. Between keep and pack the other shares keep the device they hold, which
// the pack stage then sees as taken (no gang lands on a device partly
// used), and owed or aged shares go; after upgrade the others go where
// RoundConfig.Sharer puts them in the room the gangs left (fraction.go).
//
// With RoundConfig.GavelCompat, stages 6–8 keep only lease extension: a job
// runs on the chosen model or waits, as in Gavel. The error is the policy's,
// or a snapshot that is not valid (duplicate job ids, nodes that do not sum
// to the fleet, more than 64 models).
func (st *RoundState) Next(s *Snapshot, tp *Throughputs) (Placement, error) {
	c, err := st.newCycle(s, tp)
	if err != nil {
		return Placement{}, err
	}
	c.filter()
	c.fairness()
	cols := st.sync(&c.eff, tp, c.effRec)
	if err := st.allocate(&c.eff, tp, cols); err != nil {
		return Placement{}, err
	}
	chosen, _ := st.prioritize(&c.eff, cols)
	c.fromMechanism(st, chosen, cols)
	c.guarantees()
	c.shareGuarantees()
	c.fairShares(st)
	c.keep(st.cfg.GavelCompat)
	c.holdShares(st.cfg.Sharer, s.Now-ShareAgingRounds*st.cfg.RoundSeconds)
	c.pack(st.cfg.GavelCompat)
	if !st.cfg.GavelCompat {
		c.upgrade()
	}
	c.placeShares(st.cfg.Sharer)
	return c.placement(st, cols), nil
}

// allocate is stage 3: Gavel's recomputation of X when the job set changed
// (at most once per reset interval, except before the first reset).
func (st *RoundState) allocate(s *Snapshot, tp *Throughputs, cols []int) error {
	elapsed := s.Now - st.lastReset
	if !st.dirty || (elapsed < st.cfg.ResetInterval && st.lastReset != 0) {
		return nil
	}
	st.reset(s.Now, cols)
	a, err := st.policy.Allocate(s, tp)
	if err != nil {
		return err
	}
	st.setAllocation(&a)
	st.dirty = false
	st.Allocations++
	return nil
}

func (st *RoundState) newCycle(s *Snapshot, tp *Throughputs) (*cycle, error) {
	if err := s.validateFleet(); err != nil {
		return nil, err
	}
	if err := s.validateJobs(st.uniqueIDs(s)); err != nil {
		return nil, err
	}
	models := s.models()
	if len(models) > 64 {
		return nil, fmt.Errorf("snapshot: %d accelerator models; the pipeline handles at most 64", len(models))
	}
	if st.topo == nil || !st.topo.same(s, models) {
		st.topo = newTopology(s, models)
	}
	// The cycle's per-job slices are the previous round's, reused: at
	// ~16,000 active jobs a round, allocating them anew each round was most
	// of the simulator's garbage. Nothing of a cycle outlives Next (the
	// Placement's slices are its own).
	c := &st.cyc
	old := *c
	*c = cycle{s: s, tp: tp, models: models, topo: st.topo,
		reason: reuse(old.reason, len(s.Jobs)), wait: old.wait,
		effOf: old.effOf[:0], src: old.src[:0], flat: old.flat[:0], tput: old.tput[:0],
		chosen: old.chosen, run: old.run, held: old.held, order: old.order[:0], byGangBuf: old.byGangBuf,
		teamOf: old.teamOf[:0], teamNames: old.teamNames[:0],
		effRec: old.effRec[:0], srec: st.srec, filterGen: st.filterRound(s, models, tp)}
	// wait[si] is read only where reason[si] was set this round.
	if cap(c.wait) < len(s.Jobs) {
		c.wait = make([]Wait, len(s.Jobs))
	}
	c.wait = c.wait[:len(s.Jobs)]
	c.eff = Snapshot{Now: s.Now, Fleet: s.Fleet, Nodes: s.Nodes, Teams: s.Teams, Jobs: old.eff.Jobs[:0]}
	return c, nil
}

// uniqueIDs is Validate's duplicate-id check for snapshot s without a map
// of every id each round: s's jobs usually follow the previous round's
// order (st.order, distinct ids), so a cursor into it finds most of them;
// the others are looked up in st.jobs, then among the round's new ids.
// A record met twice in a round (mark) is a duplicate.
func (st *RoundState) uniqueIDs(s *Snapshot) func(i int) bool {
	st.mark++
	mark := st.mark
	prev := st.order
	cur := 0
	if st.newIDs == nil {
		st.newIDs = map[string]bool{}
	}
	clear(st.newIDs)
	st.srec = reuse(st.srec, len(s.Jobs))
	return func(i int) bool {
		id := s.Jobs[i].ID
		for look := 0; look < 4 && cur+look < len(prev); look++ {
			if rec := prev[cur+look]; rec.id == id {
				cur += look + 1
				if rec.mark == mark {
					return true
				}
				rec.mark = mark
				st.srec[i] = rec
				return false
			}
		}
		if rec, ok := st.jobs[id]; ok {
			if rec.mark == mark {
				return true
			}
			rec.mark = mark
			st.srec[i] = rec
			return false
		}
		if st.newIDs[id] {
			return true
		}
		st.newIDs[id] = true
		return false
	}
}

// filterRound returns the generation of the filter's answers kept in job
// records: a new one when the fleet's models, its nodes (the topology) or
// the throughput table changed since the last round.
func (st *RoundState) filterRound(s *Snapshot, models []string, tp *Throughputs) int {
	if st.topo != st.fTopo || tp != st.fTp || !slices.Equal(models, st.fModels) {
		st.fTopo, st.fTp, st.fModels = st.topo, tp, slices.Clone(models)
		st.filterGen++
	}
	return st.filterGen
}

// reuse returns buf with length n and every element zero, reusing its
// array when it is large enough.
func reuse[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// fromMechanism records prioritize's choices (model indices of st) as
// columns, and what each job holds.
func (c *cycle) fromMechanism(st *RoundState, chosen, cols []int) {
	colOf := make([]int, len(st.models))
	for i := range colOf {
		colOf[i] = -1
	}
	for col, k := range cols {
		colOf[k] = col
	}
	n := len(c.eff.Jobs)
	c.recs = st.order
	c.chosen = reuse(c.chosen, n)
	c.run = reuse(c.run, n)
	c.held = reuse(c.held, n)
	for i := range c.eff.Jobs {
		if chosen[i] > 0 {
			c.chosen[i] = colOf[chosen[i]-1] + 1
		}
		c.run[i] = placed{col: -1, wanted: -1}
		j := &c.eff.Jobs[i]
		switch rec := st.order[i]; {
		case j.Held != nil:
			c.held[i] = j.Held
		case rec.prevK >= 0 && colOf[rec.prevK] >= 0:
			rec.held = Held{Model: st.models[rec.prevK], Devices: rec.prevDevs}
			c.held[i] = &rec.held
		}
	}
	if st.cfg.NoWaiting {
		return
	}
	st.whyRound(&c.eff, cols)
	for i := range c.eff.Jobs {
		if c.chosen[i] == 0 {
			c.setWait(i, Wait{Reason: st.waitReason(&c.eff, i, st.order[i], cols)})
		}
	}
}

func (c *cycle) setWait(i int, w Wait) {
	si := c.src[i]
	w.Job = c.s.Jobs[si].ID
	c.wait[si] = w
	c.reason[si] = w.Reason
}

// placement assembles the round's outcome and remembers it for lease
// extension.
func (c *cycle) placement(st *RoundState, cols []int) Placement {
	var out Placement
	st.placeRiders(c, cols)
	nrun := 0
	for i := range c.run {
		if c.run[i].col >= 0 {
			nrun++
		}
	}
	out.Runs = make([]Run, 0, nrun)
	for _, rec := range st.order {
		rec.prevK, rec.prevDevs = -1, nil
	}
	st.lastRuns = st.lastRuns[:0]
	for i := range c.eff.Jobs {
		p := c.run[i]
		if p.col < 0 {
			continue
		}
		r := Run{Job: c.eff.Jobs[i].ID, Model: c.models[p.col], Devices: p.devs, Kept: p.kept}
		if p.wanted >= 0 {
			r.Wanted, r.TeamTurn = c.models[p.wanted], p.turn
		}
		if q := st.pairs.partnerOf(i); q >= 0 {
			r.With = c.eff.Jobs[q].ID
		}
		if c.s.Nodes != nil {
			r.Nodes = c.topo.nodeIDs(p.col, p.devs)
		}
		out.Runs = append(out.Runs, r)
		rec := st.order[i]
		rec.prevK, rec.prevDevs = cols[p.col], p.devs
		st.lastRuns = append(st.lastRuns, rec)
	}
	out.Runs = append(out.Runs, c.shareRuns()...)
	if st.cfg.NoWaiting {
		return out
	}
	for si := range c.s.Jobs {
		// A wait recorded by an earlier stage may have been overruled.
		if i := c.effOf[si]; (i >= 0 && c.run[i].col >= 0) || c.shareRunning(si) {
			continue
		}
		if c.reason[si] == "" {
			c.wait[si] = Wait{Job: c.s.Jobs[si].ID, Reason: ReasonOutranked}
		}
		out.Waiting = append(out.Waiting, c.wait[si])
	}
	return out
}
