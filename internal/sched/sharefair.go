package sched

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// shareFair is the round mechanism's memory of device-time for team
// weights to apply to shares (issue 13): the policy's allocation counts
// whole devices and never sees a share, so where shares compete with other
// teams' jobs for a model, the split follows the teams' weights here.
//
// Device-time is charged through Charge: a whole-device job's seconds ×
// its gang, a share's seconds × Milli/1000 (a quarter of a device for an
// hour is 900 device-seconds). It is kept per team and model (the teams'
// split) and per share (the order of a team's own shares). The memory
// exists only once a snapshot asked for a share: a fleet without shares
// runs exactly as before.
type shareFair struct {
	// jobs are the last round's active jobs: what Charge books for them.
	jobs map[string]*fairJob
	// used is each team's device-seconds per model id, active tells which
	// teams competed on a model last round (for the floor of a team that
	// comes back).
	used   map[teamModel]float64
	active map[teamModel]bool
}

// fairJob is one job as Charge books it: devices per second of wall time
// (Gang, or Milli/1000), its team, and, for a share, its device-seconds.
type fairJob struct {
	team  string
	devs  float64
	share bool
	svc   float64
}

// teamModel is a team on a model id.
type teamModel struct{ team, model string }

// charge books seconds of jobID on model (Charge, ChargeRun).
func (f *shareFair) charge(jobID, model string, seconds float64) {
	j := f.jobs[jobID]
	if j == nil || !(seconds > 0) {
		return
	}
	d := j.devs * seconds
	if j.share {
		j.svc += d
	}
	f.used[teamModel{j.team, model}] += d
}

// fairShares runs after shareGuarantees, when shares are asked: on each
// model where shares and the jobs of at least two teams compete, it
// splits the model's devices between the teams by their weights and the
// device-time they have used (weighted least attained service, the
// team-level rule the fairness stage gives whole-device jobs):
//
//   - The units competing on model k are the gangs the policy chose there
//     (Gang devices) and the shares holding a device of k, or holding
//     nothing and trying k first (Milli/1000 of a device).
//   - Each team's units are taken in its own order: those within its
//     guarantee on k first (they are owed), then what it holds (a gang
//     that keeps its devices, a share on its device), then gangs, then
//     waiting shares by their device-seconds ÷ their weight, oldest
//     first.
//   - A team's normalized service is its device-seconds on k ÷ its
//     weight; a team that did not compete on k last round starts no lower
//     than the least normalized service of the teams that did (so a team
//     idle for a day does not take the model for a day). Repeatedly, the
//     team with the least normalized service, projected over this round
//     with what it got so far, gets its next unit that fits in what is
//     left of the model (whole free devices for a gang; room beside the
//     held or admitted shares, or a free device, for a share); ties go to
//     the larger weight, then to a unit that holds its devices, then the
//     team name.
//
// A gang the policy chose that gets nothing waits (ReasonOutranked, naming
// the team ahead of it); an admitted share holding nothing goes before the
// gangs (holdShares, as an owed share); a share not admitted neither keeps
// its device before the gangs nor goes early when aged: after the gangs
// it gets the room they and the admitted shares leave (its own device
// first), or waits ReasonOutranked. With two teams of weights 2 and 1
// flooding a model, each gets about 2/3 and 1/3 of its device-time over
// the rounds. The agnostic fifo policies keep shares in arrival order.
func (c *cycle) fairShares(st *RoundState) {
	sh := c.sh
	if sh == nil || len(sh.jobs) == 0 {
		if st.fair != nil {
			st.fair.remember(c)
		}
		return
	}
	if st.fair == nil {
		st.fair = &shareFair{jobs: map[string]*fairJob{}, used: map[teamModel]float64{}, active: map[teamModel]bool{}}
	}
	f := st.fair
	f.remember(c)
	if st.fifo {
		return
	}
	tw := c.teamWeights()
	for k, us := range c.fairUnits(f) {
		m := c.models[k]
		teams, names, hasShare := c.byTeam(us)
		f.floor(m, names, tw.w)
		if !hasShare || len(teams) < 2 {
			continue
		}
		for _, t := range names {
			slices.SortStableFunc(teams[t], teamOrder)
		}
		fm := &fairModel{f: f, tw: tw, m: m, names: names, teams: teams,
			room: &modelRoom{free: c.s.Fleet[m], held: map[int]int64{}}}
		fm.admit(st.cfg.RoundSeconds)
		c.settleFair(fm, us)
	}
}

// fairUnit is one job competing for a model in fairShares: a gang the
// policy chose there, or a share.
type fairUnit struct {
	gang    int // eff job, -1 for a share
	share   int // snapshot job, -1 for a gang
	devices int // a gang's devices
	size    int64
	held    bool
	dev     int // the device a held share holds
	prio    float64
	since   float64
	admit   bool
}

// teamWeights are the snapshot's team weights and guarantees (milli of a
// device per model).
type teamWeights struct {
	weight map[string]float64
	guar   map[teamModel]int64
}

func (c *cycle) teamWeights() teamWeights {
	tw := teamWeights{weight: map[string]float64{}, guar: map[teamModel]int64{}}
	for _, t := range c.s.Teams {
		if t.Weight > 0 {
			tw.weight[t.Name] = t.Weight
		}
		for m, n := range t.Guarantees {
			tw.guar[teamModel{t.Name, m}] = 1000 * int64(max(n, 0))
		}
	}
	return tw
}

// w is a team's weight (1 when not given).
func (tw teamWeights) w(team string) float64 {
	if v, ok := tw.weight[team]; ok {
		return v
	}
	return 1
}

// fairUnits lists, per model column, the units competing for it: the
// gangs the policy chose there and the shares holding a device of it or
// trying it first.
func (c *cycle) fairUnits(f *shareFair) [][]*fairUnit {
	jobs := c.eff.Jobs
	units := make([][]*fairUnit, len(c.models))
	for i, ch := range c.chosen {
		if ch > 0 {
			k := ch - 1
			h := c.held[i]
			u := &fairUnit{gang: i, share: -1, devices: jobs[i].Gang, size: 1000 * int64(jobs[i].Gang),
				held: h != nil && h.Model == c.models[k], since: c.since(i)}
			units[k] = append(units[k], u)
		}
	}
	sh := c.sh
	for _, si := range sh.jobs {
		if c.reason[si] != "" {
			continue
		}
		j := &c.s.Jobs[si]
		u := &fairUnit{gang: -1, share: si, size: j.Milli, since: j.Arrival}
		k := sh.cols[si][0]
		for _, kk := range sh.cols[si] {
			if d, ok := c.heldShare(si, kk); ok {
				k, u.held, u.dev, u.since = kk, true, d, j.Held.Since
				break
			}
		}
		if fj := f.jobs[j.ID]; fj != nil {
			u.prio = fj.svc / j.weight()
		}
		units[k] = append(units[k], u)
	}
	return units
}

// unitTeam is the team of a unit's job.
func (c *cycle) unitTeam(u *fairUnit) string {
	if u.gang >= 0 {
		return c.eff.Jobs[u.gang].Team
	}
	return c.s.Jobs[u.share].Team
}

// byTeam groups a model's units by team (names sorted) and says whether a
// share is among them.
func (c *cycle) byTeam(us []*fairUnit) (teams map[string][]*fairUnit, names []string, hasShare bool) {
	teams = map[string][]*fairUnit{}
	for _, u := range us {
		t := c.unitTeam(u)
		teams[t] = append(teams[t], u)
		hasShare = hasShare || u.share >= 0
	}
	names = make([]string, 0, len(teams))
	for t := range teams {
		names = append(names, t)
	}
	sort.Strings(names)
	return teams, names, hasShare
}

// teamOrder is a team's own order: what it holds first, gangs before
// shares, held units by age, waiting ones by service ÷ weight then age.
func teamOrder(a, b *fairUnit) int {
	if a.held != b.held {
		if a.held {
			return -1
		}
		return 1
	}
	if (a.gang >= 0) != (b.gang >= 0) {
		if a.gang >= 0 {
			return -1
		}
		return 1
	}
	if a.held {
		return cmp.Compare(a.since, b.since)
	}
	return cmp.Or(cmp.Compare(a.prio, b.prio), cmp.Compare(a.since, b.since))
}

// modelRoom is what is left of a model while fairShares admits units:
// whole free devices, the room beside shares on the devices they hold,
// and the room on devices given to waiting shares.
type modelRoom struct {
	free  int
	held  map[int]int64 // held devices: milli free
	extra []int64       // devices waiting shares were given: milli free
}

// fits says whether u fits in what is left, and takes its room when do.
func (r *modelRoom) fits(u *fairUnit, do bool) bool {
	switch {
	case u.gang >= 0:
		if r.free < u.devices {
			return false
		}
		if do {
			r.free -= u.devices
		}
		return true
	case u.held:
		left, ok := r.held[u.dev]
		if !ok {
			if r.free == 0 {
				return false
			}
			left = 1000
		}
		if left < u.size {
			return false
		}
		if do {
			if !ok {
				r.free--
			}
			r.held[u.dev] = left - u.size
		}
		return true
	}
	// A waiting share: the room beside the shares admitted before it,
	// then a free device, then the room beside held shares (their
	// holders later in the order may then not fit).
	best := -1
	for x, left := range r.extra {
		if left >= u.size && (best < 0 || left < r.extra[best]) {
			best = x
		}
	}
	hd, hr := -1, int64(0)
	if best < 0 && r.free == 0 {
		for d, left := range r.held {
			if left >= u.size && (hd < 0 || left < hr || left == hr && d < hd) {
				hd, hr = d, left
			}
		}
		if hd < 0 {
			return false
		}
	}
	if do {
		switch {
		case best >= 0:
			r.extra[best] -= u.size
		case hd >= 0:
			r.held[hd] -= u.size
		default:
			r.free--
			r.extra = append(r.extra, 1000-u.size)
		}
	}
	return true
}

// fairModel is fairShares' work on one model: the teams competing there,
// each with its units in its order.
type fairModel struct {
	f     *shareFair
	tw    teamWeights
	m     string
	names []string
	teams map[string][]*fairUnit
	room  *modelRoom
}

// admit marks the units that get room this round: within each team's
// guarantee first (owed), then by turns to the team of least normalized
// service projected over the round (ties: larger weight, then a unit that
// holds its devices, then the team name).
func (fm *fairModel) admit(roundSeconds float64) {
	proj := map[string]float64{}
	next := map[string]int{}
	for _, t := range fm.names {
		proj[t] = fm.f.used[teamModel{t, fm.m}] / fm.tw.w(t)
	}
	take := func(t string, u *fairUnit) {
		u.admit = true
		proj[t] += float64(u.size) / 1000 * roundSeconds / fm.tw.w(t)
	}
	for _, t := range fm.names {
		g := fm.tw.guar[teamModel{t, fm.m}]
		for _, u := range fm.teams[t] {
			if g < u.size || !fm.room.fits(u, true) {
				break
			}
			g -= u.size
			take(t, u)
			next[t]++
		}
	}
	for {
		best := ""
		for _, t := range fm.names {
			us := fm.teams[t]
			for next[t] < len(us) && !fm.room.fits(us[next[t]], false) {
				next[t]++ // never fits this round: the team's next unit
			}
			if next[t] == len(us) {
				continue
			}
			w, wb := fm.tw.w(t), fm.tw.w(best)
			if best == "" || proj[t] < proj[best] || (proj[t] == proj[best] && (w > wb ||
				w == wb && us[next[t]].held && !fm.teams[best][next[best]].held)) {
				best = t
			}
		}
		if best == "" {
			return
		}
		u := fm.teams[best][next[best]]
		fm.room.fits(u, true)
		take(best, u)
		next[best]++
	}
}

// aheadOf is the team ahead of a unit of team own that got nothing: the
// admitted other team of least normalized service before this round (""
// when only its own team's units were admitted).
func (fm *fairModel) aheadOf(own string) string {
	ahead := ""
	for _, t := range fm.names {
		if t == own || !slices.ContainsFunc(fm.teams[t], func(u *fairUnit) bool { return u.admit }) {
			continue
		}
		if ahead == "" || fm.f.used[teamModel{t, fm.m}]/fm.tw.w(t) < fm.f.used[teamModel{ahead, fm.m}]/fm.tw.w(ahead) {
			ahead = t
		}
	}
	return ahead
}

// settleFair applies a model's outcome: an admitted share holding nothing
// is owed room; a gang left out waits outranked unless another model has
// room after the chosen gangs (packLeftOut); a share left out only gets
// the room left after the gangs.
func (c *cycle) settleFair(fm *fairModel, us []*fairUnit) {
	sh := c.sh
	for _, u := range us {
		if u.admit {
			if u.share >= 0 && !u.held {
				if sh.owed == nil {
					sh.owed = make([]bool, len(c.s.Jobs))
				}
				sh.owed[u.share] = true
			}
			continue
		}
		if u.gang >= 0 {
			c.chosen[u.gang] = 0
			c.setWait(u.gang, Wait{Reason: ReasonOutranked, Model: fm.m, By: fm.aheadOf(c.unitTeam(u))})
			sh.leftOut = append(sh.leftOut, fairOut{gang: u.gang, col: indexOf(c.models, fm.m)})
			continue
		}
		if sh.out == nil {
			n := len(c.s.Jobs)
			sh.out, sh.outBy, sh.outOn = make([]bool, n), make([]string, n), make([]string, n)
		}
		sh.out[u.share], sh.outBy[u.share], sh.outOn[u.share] = true, fm.aheadOf(c.unitTeam(u)), fm.m
		if sh.owed != nil {
			sh.owed[u.share] = false
		}
	}
}

// remember records the round's jobs for Charge: each job's team and
// devices; shares keep their device-seconds, jobs that left are dropped.
func (f *shareFair) remember(c *cycle) {
	seen := make(map[string]*fairJob, len(c.s.Jobs))
	for si := range c.s.Jobs {
		j := &c.s.Jobs[si]
		fj := f.jobs[j.ID]
		if fj == nil {
			fj = &fairJob{}
		}
		fj.team, fj.share, fj.devs = j.Team, j.Milli > 0, float64(j.Gang)
		if fj.share {
			fj.devs = float64(j.Milli) / 1000
		}
		seen[j.ID] = fj
	}
	f.jobs = seen
}

// floor raises the normalized service of a team that competes on model m
// this round but did not last round to the least of those that did and
// still do, and remembers who competes.
func (f *shareFair) floor(m string, names []string, w func(string) float64) {
	low, seen := 0.0, false
	for _, t := range names {
		if f.active[teamModel{t, m}] {
			v := f.used[teamModel{t, m}] / w(t)
			if !seen || v < low {
				low, seen = v, true
			}
		}
	}
	now := map[string]bool{}
	for _, t := range names {
		now[t] = true
		key := teamModel{t, m}
		if seen && !f.active[key] {
			f.used[key] = max(f.used[key], low*w(t))
		}
		f.active[key] = true
	}
	for key := range f.active {
		if key.model == m && !now[key.team] {
			delete(f.active, key)
		}
	}
}

// ShareState is the memory team weights need for shares (shareFair), as
// State saves it: the active jobs' devices and teams (what the next
// charges book) with each share's device-seconds, and each team's
// device-seconds per model.
type ShareState struct {
	Jobs  []ShareJobState  `json:"jobs,omitempty"`
	Teams []TeamModelState `json:"teams,omitempty"`
}

// ShareJobState is one active job: its team, devices per second of wall
// time (gang, or milli/1000 for a share) and, for a share, its
// device-seconds.
type ShareJobState struct {
	ID      string  `json:"id"`
	Team    string  `json:"team,omitempty"`
	Devices float64 `json:"devices"`
	Share   bool    `json:"share,omitempty"`
	Seconds float64 `json:"device_s,omitempty"`
}

// TeamModelState is a team's device-seconds on a model, and whether it
// competed there in the last round.
type TeamModelState struct {
	Team    string  `json:"team"`
	Model   string  `json:"model"`
	Seconds float64 `json:"device_s"`
	Active  bool    `json:"active,omitempty"`
}

func (f *shareFair) state() *ShareState {
	if f == nil {
		return nil
	}
	s := &ShareState{}
	for id, j := range f.jobs {
		s.Jobs = append(s.Jobs, ShareJobState{ID: id, Team: j.team, Devices: j.devs, Share: j.share, Seconds: j.svc})
	}
	slices.SortFunc(s.Jobs, func(a, b ShareJobState) int { return cmp.Compare(a.ID, b.ID) })
	keys := map[teamModel]bool{}
	for k := range f.used {
		keys[k] = true
	}
	for k := range f.active {
		keys[k] = true
	}
	for k := range keys {
		s.Teams = append(s.Teams, TeamModelState{Team: k.team, Model: k.model, Seconds: f.used[k], Active: f.active[k]})
	}
	slices.SortFunc(s.Teams, func(a, b TeamModelState) int {
		return cmp.Or(cmp.Compare(a.Team, b.Team), cmp.Compare(a.Model, b.Model))
	})
	return s
}

func restoreFair(s *ShareState) (*shareFair, error) {
	if s == nil {
		return nil, nil
	}
	f := &shareFair{jobs: map[string]*fairJob{}, used: map[teamModel]float64{}, active: map[teamModel]bool{}}
	for _, j := range s.Jobs {
		if j.ID == "" || f.jobs[j.ID] != nil || !finite(j.Devices) || j.Devices < 0 || !finite(j.Seconds) || j.Seconds < 0 {
			return nil, fmt.Errorf("share job %q twice, unnamed, or with devices %v, device-seconds %v", j.ID, j.Devices, j.Seconds)
		}
		f.jobs[j.ID] = &fairJob{team: j.Team, devs: j.Devices, share: j.Share, svc: j.Seconds}
	}
	for _, t := range s.Teams {
		if t.Model == "" || !finite(t.Seconds) || t.Seconds < 0 {
			return nil, fmt.Errorf("team %q on model %q: device-seconds %v", t.Team, t.Model, t.Seconds)
		}
		k := teamModel{t.Team, t.Model}
		f.used[k] = t.Seconds
		if t.Active {
			f.active[k] = true
		}
	}
	return f, nil
}
