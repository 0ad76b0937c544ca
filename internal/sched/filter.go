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
		row := flat[len(flat) : len(flat)+nm : len(flat)+nm]
		flat = flat[:len(flat)+nm]
		// A job the previous rounds saw keeps its answer while its class,
		// gang and span, the fleet's models and nodes and the table are
		// the same (rec.filterOK).
		rec := c.srec[si]
		if rec.filterOK(c, j) {
			copy(row, rec.fRow[:nm])
			c.admit(si, j, row, rec.fDeny, rec.fWhy)
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
		if rec != nil && len(j.Allowed) == 0 && len(j.Forbidden) == 0 && nm <= len(rec.fRow) {
			rec.fGen, rec.fClass, rec.fGang, rec.fSpan = c.filterGen, j.Class, j.Gang, j.SpanSites
			copy(rec.fRow[:], row)
			rec.fDeny, rec.fWhy = deny, why
		}
		c.admit(si, j, row, deny, why)
	}
}

// filterOK reports whether rec (nil: a job new to the state) holds the
// filter's answer for j this round: same class, gang and span, no
// allowed/forbidden lists, and the same models, nodes and table
// (c.filterGen).
func (rec *jobRec) filterOK(c *cycle, j *Job) bool {
	return rec != nil && rec.fGen == c.filterGen && rec.fGang == j.Gang && rec.fSpan == j.SpanSites &&
		len(j.Allowed) == 0 && len(j.Forbidden) == 0 && rec.fClass == j.Class
}

// admit records the filter's decision for snapshot job si: it waits with
// why, or the policy sees it with the models in deny masked.
func (c *cycle) admit(si int, j *Job, row []float64, deny uint64, why Reason) {
	if why != "" {
		c.reason[si] = why
		c.wait[si] = Wait{Job: j.ID, Reason: why}
		return
	}
	c.effOf[si] = len(c.eff.Jobs)
	c.src = append(c.src, si)
	c.eff.Jobs = append(c.eff.Jobs, *j)
	c.eff.Jobs[len(c.eff.Jobs)-1].deny = deny
	c.tput = append(c.tput, row)
	c.effRec = append(c.effRec, c.srec[si])
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
