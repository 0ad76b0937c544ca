package sched

import (
	"sort"
)

// guarantees is stage 5: a team with waiting jobs below its guarantee on a
// model gets those devices, first from free ones, then from jobs of teams
// running above their own guarantee there (the most recently started
// first: least work lost). Those jobs wait with ReasonReclaimed. Teams are
// taken by name, their guarantees by model id, their jobs in snapshot order.
func (c *cycle) guarantees() {
	if len(c.s.Teams) == 0 {
		return
	}
	guar := map[string]map[string]int{}
	has := false
	for _, t := range c.s.Teams {
		for m, n := range t.Guarantees {
			if n > 0 {
				has = true
				if guar[t.Name] == nil {
					guar[t.Name] = map[string]int{}
				}
				guar[t.Name][m] = n
			}
		}
	}
	if !has {
		return
	}
	jobs := c.eff.Jobs
	// Teams by c.teamOf's numbering, devices by column: used and
	// guaranteed devices of team t on column k at [t*nm+k].
	nm, nt := len(c.models), len(c.teamNames)
	used := make([]int, nt*nm)
	gq := make([]int, nt*nm)
	for t, name := range c.teamNames {
		for k, m := range c.models {
			gq[t*nm+k] = guar[name][m]
		}
	}
	free := make([]int, nm)
	for k, m := range c.models {
		free[k] = c.s.Fleet[m]
	}
	use := func(t int32, k, n int) {
		used[int(t)*nm+k] += n
		free[k] -= n
	}
	for i, ch := range c.chosen {
		if ch > 0 {
			use(c.teamOf[i], ch-1, jobs[i].Gang)
		}
	}
	over := func(t int32, k int) int { return used[int(t)*nm+k] - gq[int(t)*nm+k] }
	names := make([]string, 0, len(guar))
	for n := range guar {
		names = append(names, n)
	}
	sort.Strings(names)
	left := make([]int, nt) // per team, devices above its guarantee not yet taken
	var cands []int
	for _, tn := range names {
		ti, ok := c.lookupTeam(tn)
		if !ok {
			continue // no job of tn is active
		}
		ms := make([]string, 0, len(guar[tn]))
		for m := range guar[tn] {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		for _, m := range ms {
			g := guar[tn][m]
			k := indexOf(c.models, m)
			if k < 0 {
				continue
			}
			// The jobs tn may take model k back from, most recently
			// started first. They change only when a reclaim takes
			// victims (tn's own starts are never candidates), so the list
			// is built and sorted once and only loses the victims after
			// each reclaim, not rebuilt once per waiting job.
			cands = cands[:0]
			fresh := false
			for i := range jobs {
				j := &jobs[i]
				if c.teamOf[i] != ti || c.chosen[i] != 0 || c.tput[i][k] <= 0 || over(ti, k)+j.Gang > 0 {
					continue
				}
				need := j.Gang - free[k]
				var victims []int
				if need > 0 {
					if !fresh {
						cands = cands[:0]
						for v, ch := range c.chosen {
							if ch == k+1 && c.teamOf[v] != ti && over(c.teamOf[v], k) > 0 {
								cands = append(cands, v)
							}
						}
						sort.Slice(cands, func(a, b int) bool {
							sa, sb := c.since(cands[a]), c.since(cands[b])
							if sa != sb {
								return sa > sb
							}
							return jobs[cands[a]].ID < jobs[cands[b]].ID
						})
						fresh = true
					}
					// Each team's devices above its guarantee, taken as
					// victims are picked.
					for t := range left {
						left[t] = over(int32(t), k)
					}
					got := 0
					for _, v := range cands {
						if got >= need {
							break
						}
						vt := c.teamOf[v]
						if left[vt] <= 0 {
							continue
						}
						left[vt] -= jobs[v].Gang
						got += jobs[v].Gang
						victims = append(victims, v)
					}
					if got < need {
						continue
					}
				}
				for _, v := range victims {
					c.chosen[v] = 0
					use(c.teamOf[v], k, -jobs[v].Gang)
					c.setWait(v, Wait{Reason: ReasonReclaimed, Model: m, By: tn, Guarantee: g})
				}
				if len(victims) > 0 {
					// Drop the victims, keeping the order. A rebuilt list
					// would also drop the jobs of teams no longer above
					// their guarantee; the loop above skips those
					// (left ≤ 0), so the next reclaim takes the same jobs.
					keep := cands[:0]
					for _, v := range cands {
						if c.chosen[v] == k+1 {
							keep = append(keep, v)
						}
					}
					cands = keep
				}
				c.chosen[i] = k + 1
				use(ti, k, j.Gang)
			}
		}
	}
}

// since is when eff job i started on the devices it holds (0: unknown).
func (c *cycle) since(i int) float64 {
	if h := c.held[i]; h != nil {
		return h.Since
	}
	return 0
}
