package jobs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/sched"
)

// PlannerConfig configures a Planner.
type PlannerConfig struct {
	// Policy is a sched policy name (default las-hetero).
	Policy string
	// Round is the round length (default 360 s).
	Round time.Duration
	// ResetInterval is sched's minimum time between recomputations of the
	// allocation; default: recompute whenever the set of jobs changed
	// (a live cluster should not make a new job wait half an hour).
	ResetInterval time.Duration
	// Seed seeds the agnostic policies' random choices.
	Seed uint64
	// Cost is the price per device-hour by model (max-throughput-per-cost).
	Cost map[string]float64
	// Names gives models their short names in explanations.
	Names Names
}

// Planner turns the fleet and the active jobs into placements, round after
// round. It keeps sched's round state between calls, so use one Planner per
// scheduler, from one goroutine.
//
// A round is a pipeline of narrow stages, each recording why a job does not
// run:
//
//  1. fleet: in-service devices grouped by model and node;
//  2. eligibility: each job's throughput is masked to 0 on the models its
//     allowed/forbidden lists exclude and on models with no node as large
//     as its gang (sched sees these as distinct classes);
//  3. fairness: a job's sched weight is its team's weight × its own weight ÷
//     the sum of its team's active job weights, so teams share by team
//     weight whatever their number of jobs (a one-level approximation of
//     Gavel's hierarchical max-min fairness, see docs/scheduling-live.md);
//  4. sched: the policy's allocation and Gavel's round mechanism choose a
//     model for each job that runs;
//  5. guarantees: a team with waiting jobs below its guarantee on a model
//     gets those devices back from teams running above their own guarantee
//     there (lending is reclaimed at the next round);
//  6. packing: gangs go on one node each, largest first, keeping the devices
//     they had (lease extension), otherwise best fit; when no node of the
//     chosen model has room, a running job keeps its devices, others take
//     the next-fastest model with room;
//  7. upgrade: a job starting on a model slower than one of its models with
//     free room after packing moves there (work conservation).
type Planner struct {
	cfg    PlannerConfig
	w      *Workloads
	st     *sched.RoundState
	epoch  time.Time
	policy string
}

// NewPlanner builds a planner for the workloads. epoch is any fixed time
// before the first round (sched counts seconds from it).
func NewPlanner(w *Workloads, cfg PlannerConfig, epoch time.Time) (*Planner, error) {
	if cfg.Policy == "" {
		cfg.Policy = sched.LASHetero
	}
	if cfg.Round <= 0 {
		cfg.Round = 360 * time.Second
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	pol, err := sched.PolicyByName(cfg.Policy, sched.Options{Rand: r, Cost: cfg.Cost})
	if err != nil {
		return nil, err
	}
	reset := -1.0
	if cfg.ResetInterval > 0 {
		reset = cfg.ResetInterval.Seconds()
	}
	st := sched.NewRoundState(pol, sched.RoundConfig{RoundSeconds: cfg.Round.Seconds(), ResetInterval: reset})
	return &Planner{cfg: cfg, w: w, st: st, epoch: epoch, policy: pol.Name()}, nil
}

// Policy is the policy's name.
func (p *Planner) Policy() string { return p.policy }

// Charge tells sched's round mechanism that a job ran seconds on model in
// the round just finished (the time-received counters behind its
// priorities).
func (p *Planner) Charge(jobID, model string, seconds float64) { p.st.Charge(jobID, model, seconds) }

// Input is one round's snapshot.
type Input struct {
	Now     time.Time
	Devices []Device // in service
	Jobs    []Job    // active jobs (pending, running, preempted); Placement = last round's
	Teams   []Team   // teams with records; others get DefaultTeam
}

// Plan is one round's decision.
type Plan struct {
	Runs map[string]Placement   // job id → where it runs this round
	Why  map[string]Explanation // every active job: where and why, or why not
	// Use is devices in use per team and model this round.
	Use map[string]map[string]int
	// Capacity is the fleet the plan was made on.
	Capacity Capacity
}

type nodeFree struct {
	name  string
	devs  []string // serials, sorted
	used  []bool
	nfree int
}

// Plan runs one round. Jobs in in.Jobs that are not active are ignored.
func (p *Planner) Plan(in Input) (Plan, error) {
	names := p.cfg.Names
	out := Plan{Runs: map[string]Placement{}, Why: map[string]Explanation{}, Use: map[string]map[string]int{}}
	var jobs []*Job
	for i := range in.Jobs {
		if in.Jobs[i].State.Active() {
			jobs = append(jobs, &in.Jobs[i])
		}
	}
	// 1. fleet
	capa := CapacityOf(in.Devices)
	out.Capacity = capa
	models := sortedKeys(capa.Devices)
	if len(in.Devices) == 0 {
		for _, j := range jobs {
			out.Why[j.ID] = Explanation{CodeNoDevices, "no device is in service"}
		}
		return out, nil
	}
	// 2. eligibility: effective classes
	type effKey struct {
		class string
		gang  int
		mask  string
	}
	eff := map[effKey]string{}
	var entries []sched.ThroughputEntry
	tputs := make(map[string][]float64, len(jobs)) // job → per model (models order)
	classOf := make([]string, len(jobs))
	for _, j := range jobs {
		// Jobs given by model + precision: their throughputs on models that
		// joined the fleet since (or on every model, after a restart).
		_ = p.w.EnsureFit(j.Class, j.Gang, models)
	}
	for i, j := range jobs {
		row := make([]float64, len(models))
		var mask strings.Builder
		for k, m := range models {
			v, _ := p.w.Lookup(j.Class, j.Gang, m)
			if !allowedOn(j.Spec, m) || j.Gang > capa.LargestNode[m] {
				v = 0
			}
			row[k] = v
			if v > 0 {
				mask.WriteByte('1')
			} else {
				mask.WriteByte('0')
			}
		}
		tputs[j.ID] = row
		key := effKey{j.Class, j.Gang, mask.String()}
		name, ok := eff[key]
		if !ok {
			name = j.Class + "\x00" + key.mask
			eff[key] = name
			for k, m := range models {
				entries = append(entries, sched.ThroughputEntry{Class: name, Gang: j.Gang, Model: m, StepsPerSecond: row[k]})
			}
		}
		classOf[i] = name
	}
	tp, err := sched.NewThroughputs(entries)
	if err != nil {
		return out, fmt.Errorf("plan: effective throughputs: %w", err)
	}
	// 3. fairness
	teams := map[string]Team{}
	for _, t := range in.Teams {
		teams[t.Name] = t
	}
	team := func(name string) Team {
		if t, ok := teams[name]; ok {
			return t
		}
		return DefaultTeam(name)
	}
	teamJobW := map[string]float64{}
	for _, j := range jobs {
		teamJobW[j.Team] += jobWeight(j)
	}
	now := in.Now.Sub(p.epoch).Seconds()
	snap := &sched.Snapshot{Now: now, Fleet: capa.Devices, Jobs: make([]sched.Job, len(jobs))}
	for i, j := range jobs {
		snap.Jobs[i] = sched.Job{
			ID: j.ID, Class: classOf[i], Gang: j.Gang,
			Weight:         team(j.Team).weight() * jobWeight(j) / teamJobW[j.Team],
			Arrival:        j.SubmittedAt.Sub(p.epoch).Seconds(),
			TotalSteps:     j.TotalSteps,
			RemainingSteps: j.Remaining(),
		}
	}
	// 4. sched
	sp, err := p.st.Next(snap, tp)
	if err != nil {
		return out, fmt.Errorf("plan: %s: %w", p.policy, err)
	}
	byID := make(map[string]*Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	chosen := map[string]string{} // job → model
	for _, r := range sp.Runs {
		chosen[r.Job] = r.Model
	}
	waitWhy := map[string]Explanation{}
	for _, w := range sp.Waiting {
		waitWhy[w.Job] = fromSchedReason(w.Reason, byID[w.Job], p.policy)
	}
	// 5. guarantees
	p.guarantees(jobs, teams, capa, tputs, models, chosen, waitWhy, names)
	// 6. packing
	nodes := map[string][]*nodeFree{}
	where := map[string]*nodeFree{}
	{
		idx := map[[2]string]*nodeFree{}
		devs := slices.Clone(in.Devices)
		sort.Slice(devs, func(a, b int) bool { return devs[a].Serial < devs[b].Serial })
		for _, d := range devs {
			key := [2]string{d.Model, d.Node}
			if d.Node == "" {
				key[1] = "\x00" + d.Serial
			}
			n := idx[key]
			if n == nil {
				n = &nodeFree{name: d.Node}
				idx[key] = n
				nodes[d.Model] = append(nodes[d.Model], n)
			}
			n.devs = append(n.devs, d.Serial)
			n.used = append(n.used, false)
			n.nfree++
			where[d.Serial] = n
		}
		for _, ns := range nodes {
			sort.Slice(ns, func(a, b int) bool { return ns[a].name < ns[b].name })
		}
	}
	take := func(serial string) bool {
		n := where[serial]
		if n == nil {
			return false
		}
		i := sort.SearchStrings(n.devs, serial)
		if n.used[i] {
			return false
		}
		n.used[i] = true
		n.nfree--
		return true
	}
	var order []*Job
	for _, j := range jobs {
		if _, ok := chosen[j.ID]; ok {
			order = append(order, j)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return order[a].Gang > order[b].Gang })
	placed := map[string]bool{}
	fragmented := map[string]string{} // job → the model sched chose but no node had room on
	// lease extension first
	for _, j := range order {
		m := chosen[j.ID]
		pl := j.Placement
		if pl == nil || pl.Model != m || len(pl.Devices) != j.Gang || !sameNodeFree(pl.Devices, where) {
			continue
		}
		for _, s := range pl.Devices {
			take(s)
		}
		keep := *pl
		keep.Devices = slices.Clone(pl.Devices)
		keep.StepsPerSecond = tputOn(tputs[j.ID], models, m)
		out.Runs[j.ID] = keep
		placed[j.ID] = true
	}
	// A job the policy moves to a slower model keeps the faster devices it
	// holds when that model has slack (the policy placed fewer devices on it
	// than it has): no restart, nobody displaced.
	chosenUse := map[string]int{}
	for _, j := range order {
		chosenUse[chosen[j.ID]] += j.Gang
	}
	for _, j := range order {
		prev := j.Placement
		if placed[j.ID] || prev == nil || prev.Model == chosen[j.ID] || len(prev.Devices) != j.Gang {
			continue
		}
		m, p := chosen[j.ID], prev.Model
		if tputOn(tputs[j.ID], models, p) <= tputOn(tputs[j.ID], models, m) || capa.Devices[p]-chosenUse[p] < j.Gang || !sameNodeFree(prev.Devices, where) {
			continue
		}
		for _, s := range prev.Devices {
			take(s)
		}
		keep := *prev
		keep.Devices = slices.Clone(prev.Devices)
		keep.StepsPerSecond = tputOn(tputs[j.ID], models, p)
		out.Runs[j.ID] = keep
		placed[j.ID] = true
		chosenUse[p] += j.Gang
		chosenUse[m] -= j.Gang
	}
	for _, j := range order {
		if placed[j.ID] {
			continue
		}
		m := chosen[j.ID]
		var best *nodeFree
		for _, n := range nodes[m] {
			if n.nfree >= j.Gang && (best == nil || n.nfree < best.nfree) {
				best = n
				if n.nfree == j.Gang {
					break
				}
			}
		}
		if best == nil && j.Placement != nil && len(j.Placement.Devices) == j.Gang && sameNodeFree(j.Placement.Devices, where) {
			// No node of the model sched chose has room, but the devices
			// the job holds are still free: keep it there rather than stop
			// it.
			for _, s := range j.Placement.Devices {
				take(s)
			}
			keep := *j.Placement
			keep.Devices = slices.Clone(j.Placement.Devices)
			keep.StepsPerSecond = tputOn(tputs[j.ID], models, keep.Model)
			if keep.StepsPerSecond > 0 {
				out.Runs[j.ID] = keep
				continue
			}
			for _, s := range keep.Devices {
				n := where[s]
				i := sort.SearchStrings(n.devs, s)
				n.used[i] = false
				n.nfree++
			}
		}
		fallback := ""
		if best == nil {
			// Work conservation: the next-fastest model it may use with a
			// node that has room.
			row := tputs[j.ID]
			bestV := 0.0
			for k, o := range models {
				if o == m || row[k] <= bestV {
					continue
				}
				var fit *nodeFree
				for _, n := range nodes[o] {
					if n.nfree >= j.Gang && (fit == nil || n.nfree < fit.nfree) {
						fit = n
					}
				}
				if fit != nil {
					best, bestV, fallback = fit, row[k], o
				}
			}
		}
		if best == nil {
			largest := 0
			for _, n := range nodes[m] {
				largest = max(largest, n.nfree)
			}
			waitWhy[j.ID] = Explanation{CodeFragmented, fmt.Sprintf("needs %d × %s on one node; no node has %d free this round (most free on one node: %d), nor a node of another model it may use", j.Gang, names.of(m), j.Gang, largest)}
			continue
		}
		if fallback != "" {
			fragmented[j.ID] = m
			m = fallback
			if prev := j.Placement; prev != nil && prev.Model == fallback && len(prev.Devices) == j.Gang && sameNodeFree(prev.Devices, where) {
				for _, s := range prev.Devices {
					take(s)
				}
				keep := *prev
				keep.Devices = slices.Clone(prev.Devices)
				keep.StepsPerSecond = tputOn(tputs[j.ID], models, fallback)
				out.Runs[j.ID] = keep
				continue
			}
		}
		pl := Placement{Model: m, Since: in.Now, StepsPerSecond: tputOn(tputs[j.ID], models, m)}
		for i := range best.devs {
			if len(pl.Devices) == j.Gang {
				break
			}
			if !best.used[i] {
				best.used[i] = true
				best.nfree--
				pl.Devices = append(pl.Devices, best.devs[i])
			}
		}
		if best.name != "" {
			pl.Nodes = []string{best.name}
		}
		out.Runs[j.ID] = pl
	}
	// 7. upgrade: a job starting this round on a model slower than one it
	// may use whose nodes still have room after everyone was placed moves
	// there. The policy's allocation is one optimum among many (max-min
	// fairness only cares about the worst-off job); free devices of a
	// faster model help the job and take nothing from anyone this round.
	for _, j := range order {
		pl, ok := out.Runs[j.ID]
		if !ok || placed[j.ID] || (j.Placement != nil && j.Placement.Model == pl.Model) {
			continue // kept its devices, or keeps running on the model
		}
		row := tputs[j.ID]
		if prev := j.Placement; prev != nil && len(prev.Devices) == j.Gang && tputOn(row, models, prev.Model) > pl.StepsPerSecond && sameNodeFree(prev.Devices, where) {
			// Back onto the faster devices it ran on: no move at all.
			for _, s := range pl.Devices {
				n := where[s]
				i := sort.SearchStrings(n.devs, s)
				n.used[i] = false
				n.nfree++
			}
			for _, s := range prev.Devices {
				take(s)
			}
			keep := *prev
			keep.Devices = slices.Clone(prev.Devices)
			keep.StepsPerSecond = tputOn(row, models, prev.Model)
			out.Runs[j.ID] = keep
			delete(fragmented, j.ID)
			continue
		}
		var to *nodeFree
		toModel, toV := "", pl.StepsPerSecond
		for k, o := range models {
			if row[k] <= toV {
				continue
			}
			var fit *nodeFree
			for _, n := range nodes[o] {
				if n.nfree >= j.Gang && (fit == nil || n.nfree < fit.nfree) {
					fit = n
				}
			}
			if fit != nil {
				to, toModel, toV = fit, o, row[k]
			}
		}
		if to == nil {
			continue
		}
		for _, s := range pl.Devices {
			n := where[s]
			i := sort.SearchStrings(n.devs, s)
			n.used[i] = false
			n.nfree++
		}
		np := Placement{Model: toModel, Since: in.Now, StepsPerSecond: toV}
		for i := range to.devs {
			if len(np.Devices) == j.Gang {
				break
			}
			if !to.used[i] {
				to.used[i] = true
				to.nfree--
				np.Devices = append(np.Devices, to.devs[i])
			}
		}
		if to.name != "" {
			np.Nodes = []string{to.name}
		}
		out.Runs[j.ID] = np
		delete(fragmented, j.ID)
	}
	for id, pl := range out.Runs {
		if len(pl.Nodes) == 0 {
			set := map[string]bool{}
			for _, s := range pl.Devices {
				if n := where[s]; n != nil && n.name != "" {
					set[n.name] = true
				}
			}
			pl.Nodes = sortedKeys(set)
			out.Runs[id] = pl
		}
	}
	// explanations and use
	for _, j := range jobs {
		if pl, ok := out.Runs[j.ID]; ok {
			out.Why[j.ID] = explainPlaced(j, pl.Model, tputs[j.ID], models, names)
			if want, ok := fragmented[j.ID]; ok {
				out.Why[j.ID] = Explanation{CodePlacedAlternative, fmt.Sprintf("placed on %s: %s its throughput on %s, where no node had %d devices free this round",
					names.of(pl.Model), ratio(pl.StepsPerSecond/tputOn(tputs[j.ID], models, want)), names.of(want), j.Gang)}
			}
			u := out.Use[j.Team]
			if u == nil {
				u = map[string]int{}
				out.Use[j.Team] = u
			}
			u[pl.Model] += j.Gang
			continue
		}
		w, ok := waitWhy[j.ID]
		if !ok {
			w = Explanation{CodeOutranked, "devices taken by higher-priority jobs this round"}
		}
		out.Why[j.ID] = w
	}
	return out, nil
}

func jobWeight(j *Job) float64 {
	if j.Weight <= 0 {
		return 1
	}
	return j.Weight
}

func tputOn(row []float64, models []string, m string) float64 {
	if k := slices.Index(models, m); k >= 0 {
		return row[k]
	}
	return 0
}

// sameNodeFree reports whether every serial is in service and free, all on
// one node.
func sameNodeFree(serials []string, where map[string]*nodeFree) bool {
	var first *nodeFree
	for _, s := range serials {
		n := where[s]
		if n == nil {
			return false
		}
		if first == nil {
			first = n
		} else if n != first {
			return false
		}
		i := sort.SearchStrings(n.devs, s)
		if i >= len(n.devs) || n.devs[i] != s || n.used[i] {
			return false
		}
	}
	return first != nil
}

// guarantees is stage 5: it gives waiting jobs of teams below their
// guarantee on a model the devices of that model, taking them from jobs of
// teams running above their own guarantee there.
func (p *Planner) guarantees(jobs []*Job, teams map[string]Team, capa Capacity, tputs map[string][]float64, models []string, chosen map[string]string, waitWhy map[string]Explanation, names Names) {
	has := false
	for _, t := range teams {
		for _, n := range t.Guarantees {
			if n > 0 {
				has = true
			}
		}
	}
	if !has {
		return
	}
	gang := map[string]int{}
	byID := map[string]*Job{}
	for _, j := range jobs {
		gang[j.ID] = j.Gang
		byID[j.ID] = j
	}
	used := map[string]map[string]int{}
	free := maps(capa.Devices)
	use := func(team, m string, n int) {
		if used[team] == nil {
			used[team] = map[string]int{}
		}
		used[team][m] += n
		free[m] -= n
	}
	for id, m := range chosen {
		use(byID[id].Team, m, gang[id])
	}
	guar := func(team, m string) int { return teams[team].Guarantees[m] }
	for _, tn := range sortedKeys(teams) {
		t := teams[tn]
		for _, m := range sortedKeys(t.Guarantees) {
			g := t.Guarantees[m]
			k := slices.Index(models, m)
			if g <= 0 || k < 0 {
				continue
			}
			for _, j := range jobs { // jobs are in snapshot order; FIFO within the team
				if j.Team != tn {
					continue
				}
				if _, runs := chosen[j.ID]; runs || tputs[j.ID][k] <= 0 || used[tn][m]+j.Gang > g {
					continue
				}
				need := j.Gang - free[m]
				var victims []*Job
				if need > 0 {
					var cands []*Job
					for id, cm := range chosen {
						v := byID[id]
						if cm == m && v.Team != tn && used[v.Team][m] > guar(v.Team, m) {
							cands = append(cands, v)
						}
					}
					// least work lost first: the most recently started
					sort.Slice(cands, func(a, b int) bool {
						sa, sb := since(cands[a]), since(cands[b])
						if !sa.Equal(sb) {
							return sa.After(sb)
						}
						return cands[a].ID < cands[b].ID
					})
					over := map[string]int{}
					for tm, u := range used {
						over[tm] = u[m] - guar(tm, m)
					}
					got := 0
					for _, v := range cands {
						if got >= need {
							break
						}
						if over[v.Team] <= 0 {
							continue
						}
						over[v.Team] -= v.Gang
						got += v.Gang
						victims = append(victims, v)
					}
					if got < need {
						continue
					}
				}
				for _, v := range victims {
					delete(chosen, v.ID)
					use(v.Team, m, -v.Gang)
					waitWhy[v.ID] = Explanation{CodeReclaimed, fmt.Sprintf("its %d × %s were lent from team %s's guarantee (%d × %s) and are reclaimed this round", v.Gang, names.of(m), tn, g, names.of(m))}
				}
				chosen[j.ID] = m
				use(tn, m, j.Gang)
			}
		}
	}
}

func since(j *Job) time.Time {
	if j.Placement != nil {
		return j.Placement.Since
	}
	return time.Time{}
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func ratio(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	if x < 0.95 {
		s = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return s + "×"
}
