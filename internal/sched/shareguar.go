package sched

import (
	"cmp"
	"slices"
	"sort"
)

// shareGuarantees is the guarantees stage's part for shares (issue 13):
// teams' guarantees, lending and reclaim are counted in thousandths of a
// device, a whole-device job counting 1000 per device of its gang and a
// share its Milli. The policy's allocation still counts whole devices and
// does not see shares; this stage is where a share meets the policy's
// accounting of who is owed what:
//
//   - A device a share holds is not free for a gang. On each model, the
//     whole-device jobs chosen to run there that are within their team's
//     guarantee (the team's shares counted first) are owed devices; when
//     the gangs chosen there do not fit beside the devices the shares
//     hold, the gangs of teams beyond their guarantee give way first
//     (ReasonReclaimed), then the devices whose shares all belong to teams
//     beyond their guarantee (every share on the device waits with
//     ReasonReclaimed), the most recently started first — until the owed
//     gangs fit.
//   - A share holding nothing whose team stays within its guarantee with
//     it is owed room: it goes before the gangs, and a gang of a team
//     beyond its guarantee gives way when no device has the share free
//     (owedShares).
//   - A share that has waited ShareAgingRounds goes before the gangs
//     (holdShares) only when its team is within its guarantee on the
//     model, or nobody is owed there: a team beyond its guarantee cannot
//     take a device an owed gang needs.
//
// It runs after guarantees (stage 5) and before keep, so the jobs it stops
// neither keep nor get devices this round.
func (c *cycle) shareGuarantees() {
	sh := c.sh
	if sh == nil || len(sh.jobs) == 0 || len(c.s.Teams) == 0 {
		return
	}
	guar := map[string]map[string]int{}
	for _, t := range c.s.Teams {
		for m, n := range t.Guarantees {
			if n > 0 {
				if guar[t.Name] == nil {
					guar[t.Name] = map[string]int{}
				}
				guar[t.Name][m] = n
			}
		}
	}
	if len(guar) == 0 {
		return
	}
	jobs := c.eff.Jobs
	sh.owedOn = make([]bool, len(c.models))
	sh.left = make(map[shareTeamModel]int64)
	for k, m := range c.models {
		// Each team's use of model k in milli-devices: the gangs chosen
		// there and the shares holding a device of it.
		used := map[string]int64{}
		shareUse := map[string]int64{}
		type dev struct {
			d      int
			shares []int // snapshot jobs
			since  float64
		}
		var devs []*dev
		at := map[int]*dev{}
		for _, si := range sh.jobs {
			d, ok := c.heldShare(si, k)
			if !ok {
				continue
			}
			j := &c.s.Jobs[si]
			used[j.Team] += j.Milli
			shareUse[j.Team] += j.Milli
			v := at[d]
			if v == nil {
				v = &dev{d: d}
				at[d] = v
				devs = append(devs, v)
			}
			v.shares = append(v.shares, si)
			v.since = max(v.since, j.Held.Since)
		}
		var chosen []int // eff jobs chosen on k
		gangs := 0
		for i, ch := range c.chosen {
			if ch == k+1 {
				chosen = append(chosen, i)
				gangs += jobs[i].Gang
				used[jobs[i].Team] += 1000 * int64(jobs[i].Gang)
			}
		}
		g := func(team string) int64 { return 1000 * int64(guar[team][m]) }
		for team := range guar {
			sh.left[shareTeamModel{team, k}] = g(team) - used[team]
		}
		for team := range used {
			sh.left[shareTeamModel{team, k}] = g(team) - used[team]
		}
		// The chosen gangs within their team's guarantee, the team's
		// shares counted first, oldest holder first.
		slices.SortStableFunc(chosen, func(a, b int) int { return cmp.Compare(c.since(a), c.since(b)) })
		owed := make(map[int]bool)
		owedBy := ""
		within := map[string]int64{}
		for _, i := range chosen {
			t := jobs[i].Team
			n := 1000 * int64(jobs[i].Gang)
			if shareUse[t]+within[t]+n <= g(t) {
				within[t] += n
				owed[i] = true
				if owedBy == "" || t < owedBy {
					owedBy = t
				}
			}
		}
		if len(owed) == 0 {
			continue
		}
		sh.owedOn[k] = true
		room := c.s.Fleet[m] - len(devs)
		if gangs <= room {
			continue
		}
		w := Wait{Reason: ReasonReclaimed, Model: m, By: owedBy, Guarantee: guar[owedBy][m]}
		// Gangs of teams beyond their guarantee give way, the most
		// recently started first, while their team stays at or above it.
		lent := slices.Clone(chosen)
		slices.SortStableFunc(lent, func(a, b int) int { return cmp.Compare(c.since(b), c.since(a)) })
		for _, i := range lent {
			if gangs <= room {
				break
			}
			t, n := jobs[i].Team, 1000*int64(jobs[i].Gang)
			if owed[i] || used[t]-n < g(t) {
				continue
			}
			c.chosen[i] = 0
			used[t] -= n
			gangs -= jobs[i].Gang
			c.setWait(i, w)
		}
		// Then the devices only shares of teams beyond their guarantee
		// hold, the most recently started first.
		sort.SliceStable(devs, func(a, b int) bool { return devs[a].since > devs[b].since })
		for _, v := range devs {
			if gangs <= room {
				break
			}
			lendable := true
			take := map[string]int64{}
			for _, si := range v.shares {
				take[c.s.Jobs[si].Team] += c.s.Jobs[si].Milli
			}
			for t, n := range take {
				lendable = lendable && used[t]-n >= g(t) && used[t] > g(t)
			}
			if !lendable {
				continue
			}
			for t, n := range take {
				used[t] -= n
			}
			for _, si := range v.shares {
				c.reason[si] = w.Reason
				w.Job = c.s.Jobs[si].ID
				c.wait[si] = w
			}
			room++
		}
	}
	c.owedShares(guar)
}

// owedShares is shareGuarantees' second half: a share holding nothing
// whose team stays within its guarantee on a model with it is owed room
// there. It goes before the gangs (holdShares, as an aged share), and
// when no device of the model is estimated to have its share free — the
// devices neither a chosen gang nor held shares fill, and the room left
// beside held shares — the gang of a team beyond its guarantee there that
// started last gives way (ReasonReclaimed, naming the share's team), if
// its team stays at or above its guarantee. Shares are taken in arrival
// order, each on the first model (fastest first) where it is owed.
func (c *cycle) owedShares(guar map[string]map[string]int) {
	sh := c.sh
	jobs := c.eff.Jobs
	nm := len(c.models)
	// Each team's use per column, in milli-devices, as the stages above
	// left it; the devices free of gangs and shares, and the room beside
	// held shares.
	used := map[shareTeamModel]int64{}
	gangs := make([]int, nm)
	for i, ch := range c.chosen {
		if ch > 0 {
			used[shareTeamModel{jobs[i].Team, ch - 1}] += 1000 * int64(jobs[i].Gang)
			gangs[ch-1] += jobs[i].Gang
		}
	}
	onDev := make([]map[int]int64, nm)
	var waiting []int
	for _, si := range sh.jobs {
		if c.reason[si] != "" {
			continue
		}
		held := false
		for _, k := range sh.cols[si] {
			if d, ok := c.heldShare(si, k); ok {
				j := &c.s.Jobs[si]
				used[shareTeamModel{j.Team, k}] += j.Milli
				if onDev[k] == nil {
					onDev[k] = map[int]int64{}
				}
				onDev[k][d] += j.Milli
				held = true
				break
			}
		}
		if !held {
			waiting = append(waiting, si)
		}
	}
	g := func(t string, k int) int64 { return 1000 * int64(guar[t][c.models[k]]) }
	for t := range guar {
		for k := range c.models {
			sh.left[shareTeamModel{t, k}] = g(t, k) - used[shareTeamModel{t, k}]
		}
	}
	for key, u := range used {
		sh.left[key] = g(key.team, key.col) - u
	}
	free := make([]int, nm)
	room := make([][]int64, nm) // per column, milli free on devices shares use
	for k, m := range c.models {
		free[k] = c.s.Fleet[m] - gangs[k] - len(onDev[k])
		for _, u := range onDev[k] {
			room[k] = append(room[k], 1000-u)
		}
	}
	slices.SortStableFunc(waiting, func(a, b int) int { return cmp.Compare(c.s.Jobs[a].Arrival, c.s.Jobs[b].Arrival) })
	sh.owed = make([]bool, len(c.s.Jobs))
	for _, si := range waiting {
		j := &c.s.Jobs[si]
		for _, k := range sh.cols[si] {
			key := shareTeamModel{j.Team, k}
			if sh.left[key] < j.Milli {
				continue
			}
			fits := false
			for r := range room[k] {
				if room[k][r] >= j.Milli {
					room[k][r] -= j.Milli
					fits = true
					break
				}
			}
			if !fits && free[k] == 0 {
				if v := c.lentGang(k, j.Team, sh.left); v >= 0 {
					c.chosen[v] = 0
					n := 1000 * int64(jobs[v].Gang)
					sh.left[shareTeamModel{jobs[v].Team, k}] += n
					free[k] += jobs[v].Gang
					c.setWait(v, Wait{Reason: ReasonReclaimed, Model: c.models[k], By: j.Team, Guarantee: guar[j.Team][c.models[k]]})
				}
			}
			if !fits && free[k] > 0 {
				free[k]--
				room[k] = append(room[k], 1000-j.Milli)
				fits = true
			}
			if fits {
				sh.owed[si] = true
				sh.left[key] -= j.Milli
				break
			}
		}
	}
}

// lentGang is the gang chosen on column k of a team other than team that
// is beyond its guarantee there and stays at or above it without the gang
// (left: guarantee minus use), the most recently started first; -1 when
// none.
func (c *cycle) lentGang(k int, team string, left map[shareTeamModel]int64) int {
	best := -1
	for i, ch := range c.chosen {
		j := &c.eff.Jobs[i]
		if ch != k+1 || j.Team == team || left[shareTeamModel{j.Team, k}]+1000*int64(j.Gang) > 0 {
			continue
		}
		if best < 0 || c.since(i) > c.since(best) {
			best = i
		}
	}
	return best
}

// shareTeamModel is a team on a column (shares.left).
type shareTeamModel struct {
	team string
	col  int
}

// heldShare is the device of column k share si holds and may keep (one
// device of a model it may use), if any.
func (c *cycle) heldShare(si, k int) (int, bool) {
	h := c.s.Jobs[si].Held
	if h == nil || len(h.Devices) != 1 || h.Model != c.models[k] || !slices.Contains(c.sh.cols[si], k) {
		return 0, false
	}
	d := h.Devices[0]
	return d, d >= 0 && d < c.topo.fleet[k]
}

// agedMayGo reports whether share si, which has waited ShareAgingRounds,
// may go before the gangs: not when its team is beyond its guarantee on a
// model where a gang is owed its guarantee, or would be with this share
// (shareGuarantees).
func (c *cycle) agedMayGo(si int) bool {
	sh := c.sh
	if sh.isOut(si) {
		return false
	}
	if sh.owedOn == nil {
		return true
	}
	j := &c.s.Jobs[si]
	for _, k := range sh.cols[si] {
		if sh.owedOn[k] && sh.left[shareTeamModel{j.Team, k}] < j.Milli {
			return false
		}
	}
	return true
}
