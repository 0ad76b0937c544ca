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
	used := map[string][]int{} // team → devices per column
	free := make([]int, len(c.models))
	for k, m := range c.models {
		free[k] = c.s.Fleet[m]
	}
	use := func(team string, k, n int) {
		u := used[team]
		if u == nil {
			u = make([]int, len(c.models))
			used[team] = u
		}
		u[k] += n
		free[k] -= n
	}
	for i, ch := range c.chosen {
		if ch > 0 {
			use(jobs[i].Team, ch-1, jobs[i].Gang)
		}
	}
	over := func(team string, k int) int {
		u := 0
		if used[team] != nil {
			u = used[team][k]
		}
		return u - guar[team][c.models[k]]
	}
	names := make([]string, 0, len(guar))
	for n := range guar {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, tn := range names {
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
			var cands []int
			fresh := false
			for i := range jobs {
				j := &jobs[i]
				if j.Team != tn || c.chosen[i] != 0 || c.tput[i][k] <= 0 || over(tn, k)+j.Gang > 0 {
					continue
				}
				need := j.Gang - free[k]
				var victims []int
				if need > 0 {
					if !fresh {
						cands = cands[:0]
						for v, ch := range c.chosen {
							if ch == k+1 && jobs[v].Team != tn && over(jobs[v].Team, k) > 0 {
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
					left := map[string]int{}
					got := 0
					for _, v := range cands {
						if got >= need {
							break
						}
						vt := jobs[v].Team
						if _, ok := left[vt]; !ok {
							left[vt] = over(vt, k)
						}
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
					use(jobs[v].Team, k, -jobs[v].Gang)
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
				use(tn, k, j.Gang)
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
