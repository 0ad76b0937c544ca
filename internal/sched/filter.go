package sched

// filter is stage 1: it decides, per job and model, whether the job may run
// there at all (allowed/forbidden, throughput > 0, gang fits the model's
// nodes or sites), records the effective throughputs, and shows the policy
// only the jobs that can run somewhere, each with the models it may not use
// masked (Job.deny). Jobs whose quantities are not finite are excluded with
// ReasonInvalid rather than failing the round.
func (c *cycle) filter() {
	s, t := c.s, c.topo
	nm := len(c.models)
	c.effOf = reuse(c.effOf, len(s.Jobs))
	if cap(c.flat) < len(s.Jobs)*nm {
		c.flat = make([]float64, 0, len(s.Jobs)*nm)
	}
	flat := c.flat[:0]
	type key struct {
		class string
		gang  int
	}
	raw := map[key][]float64{}
	for si := range s.Jobs {
		j := &s.Jobs[si]
		c.effOf[si] = -1
		if !finite(j.Weight) || j.Weight < 0 || !finite(j.Arrival) || !finite(j.RemainingSteps) || j.RemainingSteps < 0 ||
			!finite(j.TotalSteps) || j.TotalSteps < 0 {
			c.reason[si] = ReasonInvalid
			c.wait[si] = Wait{Job: j.ID, Reason: ReasonInvalid}
			continue
		}
		if j.Milli > 0 { // a share of one device: fraction.go
			c.addShare(si)
			continue
		}
		r, ok := raw[key{j.Class, j.Gang}]
		if !ok {
			r = make([]float64, nm)
			for k, m := range c.models {
				r[k], _ = c.tp.Lookup(j.Class, j.Gang, m)
			}
			raw[key{j.Class, j.Gang}] = r
		}
		row := flat[len(flat) : len(flat)+nm : len(flat)+nm]
		flat = flat[:len(flat)+nm]
		clear(row)
		var deny uint64
		allowed, runs := false, false
		for k, m := range c.models {
			ok := allowedOn(j, m)
			allowed = allowed || ok
			ok = ok && r[k] > 0
			runs = runs || ok
			ok = ok && t.fits(k, j.Gang, j.SpanSites)
			if ok {
				row[k] = r[k]
			} else {
				deny |= 1 << k
			}
		}
		var why Reason
		switch {
		case !allowed:
			why = ReasonNotAllowed
		case !runs:
			why = ReasonNoThroughput
		case deny == 1<<nm-1:
			why = ReasonGangTooLarge
		}
		if why != "" {
			c.reason[si] = why
			c.wait[si] = Wait{Job: j.ID, Reason: why}
			continue
		}
		c.effOf[si] = len(c.eff.Jobs)
		c.src = append(c.src, si)
		ej := *j
		ej.deny = deny
		c.eff.Jobs = append(c.eff.Jobs, ej)
		c.tput = append(c.tput, row)
	}
}

func allowedOn(j *Job, m string) bool {
	if len(j.Allowed) > 0 && !contains(j.Allowed, m) {
		return false
	}
	return !contains(j.Forbidden, m)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// fairness is stage 2: when jobs name teams, teams share by team weight
// whatever their number of jobs — a job's weight is its team's weight × its
// own ÷ the sum of its team's active job weights (a one-level version of
// Gavel's hierarchical max-min fairness). It also numbers the jobs' teams
// (c.teamOf) for the guarantees stage.
func (c *cycle) fairness() {
	named := false
	c.teamOf = reuse(c.teamOf, len(c.eff.Jobs))
	for i := range c.eff.Jobs {
		t := c.eff.Jobs[i].Team
		c.teamOf[i] = c.teamIndex(t)
		named = named || t != ""
	}
	if !named {
		return
	}
	tw := make([]float64, len(c.teamNames))
	for _, t := range c.s.Teams {
		if ti, ok := c.lookupTeam(t.Name); ok {
			tw[ti] = t.Weight
		}
	}
	sum := make([]float64, len(c.teamNames))
	for i := range c.eff.Jobs {
		sum[c.teamOf[i]] += c.eff.Jobs[i].weight()
	}
	for i := range c.eff.Jobs {
		j := &c.eff.Jobs[i]
		ti := c.teamOf[i]
		w := tw[ti]
		if w <= 0 {
			w = 1
		}
		j.Weight = w * j.weight() / sum[ti]
	}
}

// teamIndex numbers team names in the order jobs name them: a scan of the
// few names seen so far (team names of a snapshot usually share their
// bytes, so the comparisons are cheap), a map once there are many.
func (c *cycle) teamIndex(name string) int32 {
	if ti, ok := c.lookupTeam(name); ok {
		return ti
	}
	ti := int32(len(c.teamNames))
	c.teamNames = append(c.teamNames, name)
	if c.teamMap != nil {
		c.teamMap[name] = ti
	} else if len(c.teamNames) > 16 {
		c.teamMap = make(map[string]int32, 2*len(c.teamNames))
		for i, n := range c.teamNames {
			c.teamMap[n] = int32(i)
		}
	}
	return ti
}

func (c *cycle) lookupTeam(name string) (int32, bool) {
	if c.teamMap != nil {
		ti, ok := c.teamMap[name]
		return ti, ok
	}
	for i, n := range c.teamNames {
		if n == name {
			return int32(i), true
		}
	}
	return 0, false
}
