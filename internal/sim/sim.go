package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

// MaxFailedRounds is how many failed rounds in a row make GavelCompat drop a
// job (Gavel's MAX_FAILED_ATTEMPTS).
const MaxFailedRounds = 5

// Job is one job of the trace to simulate.
type Job struct {
	ID      int     // unique; reported back in JobResult.ID
	Name    string  // optional label
	Arrival float64 // seconds from the start of the trace, ≥ 0
	Class   string  // job class, key into the throughput table with Gang
	Gang    int     // devices needed at once, all of one model, ≥ 1
	Steps   float64 // work in steps of the whole gang, > 0
	Weight  float64 // priority weight; 0 means 1
	Team    string  // team (see Config.Teams); "" is none
}

// Window selects the jobs a continuous-load experiment measures: jobs with
// First ≤ ID ≤ Last. The simulation stops when all of them have finished
// (Gavel's jobs_to_complete), and the summary covers only them.
type Window struct{ First, Last int }

// Config describes the fleet and the simulation.
type Config struct {
	// Fleet is the number of devices per accelerator model id.
	Fleet map[string]int
	// Nodes optionally splits the fleet into machines, with sites and
	// switches (see sched.Snapshot).
	Nodes []sched.Node
	// Teams gives team weights and per-model guarantees (Job.Team names
	// them); the live loop's fairness and guarantee stages apply.
	Teams []sched.Team
	// RoundSeconds is the round length; default 360 (Gavel's
	// time_per_iteration).
	RoundSeconds float64
	// RestartCost is the time in seconds a job loses, at the start of a
	// round, when it starts on devices it was not running on in the
	// previous round (moved, or resumed after a pause; not its first
	// start). Default 0, as in Gavel. Must be < RoundSeconds.
	RestartCost float64
	// ResetInterval is passed to sched.RoundConfig (0: Gavel's 1920 s).
	ResetInterval float64
	// ModelOrder is passed to sched.RoundConfig.
	ModelOrder []string
	// Rand shuffles the model order for agnostic policies, as Gavel does
	// (sched.RoundConfig.Rand). Optional.
	Rand *rand.Rand
	// Window, when set, limits the run and the summary to a window of jobs.
	Window *Window
	// GavelCompat reproduces two behaviours of Gavel's simulator loop
	// (c4fa400 simulate()) that a product simulator should not have, for
	// side-by-side comparisons:
	//  1. When a round placed nothing, time jumps to the next arrival, and
	//     the allocation is recomputed early (ignoring ResetInterval) only
	//     once no arrivals remain. So a job arriving at an idle fleet less
	//     than ResetInterval after the last recomputation waits for a later
	//     arrival. Default: recompute at once.
	//  2. A round in which a job's steps, split over its gang, give a device
	//     0 steps (steps < gang: a gang near its last steps, or a job too
	//     slow for one step a round) fails: no progress, no time charged,
	//     the allocation is recomputed, and after MaxFailedRounds failures
	//     in a row the job is dropped (Result.Dropped) and left out of the
	//     averages. Default: the job runs what it can (a very slow job runs
	//     T·round steps).
	// (Gavel also charges a job, for its priority, the time from the end of
	// the previous round that ran anything, idle gaps included; that changed
	// no figure of any published trace, so it is not reproduced.)
	GavelCompat bool
	// Progress, when set, is called after every round.
	Progress func(Progress)
	// Cancel, when set, is called every round; a non-nil error stops the
	// run and is returned (the CLI passes its context's Err).
	Cancel func() error
}

// Progress reports how far a run is.
type Progress struct {
	Now      float64 // virtual seconds
	Finished int     // jobs finished so far
	Total    int     // jobs to finish (runnable jobs, or the window)
	Rounds   int
}

// JobError is a problem with one job of the input (ErrInvalid or, for a
// missing throughput entry, ErrNotFound). Field names the trace field.
type JobError struct {
	Job   int
	Field string
	Msg   string
	Kind  error
}

func (e *JobError) Error() string {
	return fmt.Sprintf("job %d: field %q: %s", e.Job, e.Field, e.Msg)
}

func (e *JobError) Unwrap() error { return e.Kind }

// Unrunnable is a job that can run nowhere on the fleet. It is not
// simulated, and it is reported.
type Unrunnable struct {
	ID     int
	Name   string
	Reason sched.Reason
}

// JobResult is one finished job.
type JobResult struct {
	ID         int     `json:"id"`
	Name       string  `json:"name,omitempty"`
	Arrival    float64 `json:"arrival_s"`
	Start      float64 `json:"start_s"`
	Completion float64 `json:"completion_s"`
	JCT        float64 `json:"jct_s"`
	// Restarts counts starts on other devices than the previous round's
	// (moves and resumptions), which pay Config.RestartCost.
	Restarts int `json:"restarts"`
	// FTF is the finish-time fairness ratio ρ = JCT ÷ the time the job would
	// take alone on a 1/n share of the fleet, n = jobs active at its arrival
	// (Mahajan et al., Themis, NSDI 2020; the quantity Gavel's ftf policy
	// equalizes). ρ ≤ 1 is fair.
	FTF float64 `json:"ftf_rho"`
}

// TeamResult is one team's figures over a run.
type TeamResult struct {
	Name string `json:"team"`
	Jobs int    `json:"jobs"` // finished jobs counted
	// AvgJCT and AvgWait (first start − arrival) are over finished jobs.
	AvgJCT  float64 `json:"avg_jct_s"`
	AvgWait float64 `json:"avg_wait_s"`
	// Use is the team's average devices in use per model over the run
	// (busy device-seconds ÷ End); Guarantees its guarantees.
	Use        map[string]float64 `json:"use"`
	Guarantees map[string]int     `json:"guarantees,omitempty"`
}

// UtilSample is the fleet's use over one round: Busy[k] device-seconds of
// model Models[k] busy between Start and End.
type UtilSample struct {
	Start, End float64
	Busy       []float64
}

// Summary aggregates a run.
type Summary struct {
	Jobs     int     // finished jobs counted
	AvgJCT   float64 // seconds
	P50JCT   float64
	P90JCT   float64
	P99JCT   float64
	Makespan float64 // max completion time over all finished jobs (Gavel: arrival + JCT)
	// Utilization is busy device-seconds ÷ (devices × End), over the
	// whole fleet; ByModel per model id.
	Utilization float64
	ByModel     map[string]float64
	// Throughput is jobs finished per hour of makespan.
	Throughput float64
	// AvgFTF, MaxFTF and UnfairFrac summarize the finish-time fairness
	// ratios: mean, max and the fraction of jobs with ρ > 1.
	AvgFTF, MaxFTF, UnfairFrac float64
}

// Result is the outcome of one simulation.
type Result struct {
	Teams      []TeamResult // per team named by a job, by name
	Policy     string
	Models     []string    // fleet models with ≥ 1 device, sorted
	Jobs       []JobResult // finished jobs, by ID
	Unrunnable []Unrunnable
	Unfinished int // jobs still active or pending when a window run stopped
	// Dropped lists, by ID, the jobs GavelCompat gave up on after
	// MaxFailedRounds failed rounds in a row (not in Jobs, not in Summary).
	Dropped []int
	End     float64 // virtual time when the simulation ended
	Rounds  int
	// Allocations is how many times the policy computed X.
	Allocations int
	Util        []UtilSample
	Summary     Summary
}

type jobState struct {
	Job
	sid       string
	remaining float64
	started   bool
	start     float64
	done      bool
	finish    float64
	restarts  int
	iso       float64   // isolated time, for ρ
	tput      []float64 // steps/s per fleet model (Result.Models order)
	lastRound int       // round index of the last run
	lastModel string
	lastDevs  []int
	failures  int // consecutive failed rounds (GavelCompat)
	dropped   bool
}

type run struct {
	j      *jobState
	model  string
	col    int
	devs   []int
	steps  float64
	finish float64
	failed bool // GavelCompat: a round whose steps round to 0 per device
}

// Run simulates jobs on cfg.Fleet under policy p with throughput table tp.
// Jobs must be sorted by arrival. A job whose (class, gang) has no entry in
// tp for any model of the fleet is an error (*JobError wrapping
// fleet.ErrNotFound); a job with entries but no model where it can run
// (throughput 0 everywhere, or a gang larger than every model it runs on)
// is listed in Result.Unrunnable and not simulated.
func Run(p sched.Policy, tp *sched.Throughputs, jobs []Job, cfg Config) (*Result, error) {
	if cfg.RoundSeconds == 0 {
		cfg.RoundSeconds = 360
	}
	switch {
	case !(cfg.RoundSeconds > 0) || math.IsInf(cfg.RoundSeconds, 0):
		return nil, fmt.Errorf("%w: round length must be > 0 s, got %v", fleet.ErrInvalid, cfg.RoundSeconds)
	case !(cfg.RestartCost >= 0) || cfg.RestartCost >= cfg.RoundSeconds:
		return nil, fmt.Errorf("%w: restart cost must be ≥ 0 and shorter than a round (%v s), got %v", fleet.ErrInvalid, cfg.RoundSeconds, cfg.RestartCost)
	case p == nil || tp == nil:
		return nil, fmt.Errorf("%w: no policy or throughput table", fleet.ErrInvalid)
	}
	var models []string
	for m, n := range cfg.Fleet {
		if n < 0 {
			return nil, fmt.Errorf("%w: fleet: %d devices of %s", fleet.ErrInvalid, n, m)
		}
		if n > 0 {
			models = append(models, m)
		}
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("%w: the fleet has no devices", fleet.ErrInvalid)
	}
	sort.Strings(models)
	col := make(map[string]int, len(models))
	for k, m := range models {
		col[m] = k
	}
	totalDevices := 0
	for _, m := range models {
		totalDevices += cfg.Fleet[m]
	}

	res := &Result{Policy: p.Name(), Models: models}
	holds := Holds(cfg.Fleet, cfg.Nodes)
	states := make([]*jobState, 0, len(jobs))
	ids := make(map[int]bool, len(jobs))
	prev := 0.0
	for i := range jobs {
		j := jobs[i]
		bad := func(field, msg string, kind error) error {
			return &JobError{Job: j.ID, Field: field, Msg: msg, Kind: kind}
		}
		switch {
		case ids[j.ID]:
			return nil, bad("id", "duplicate id", fleet.ErrInvalid)
		case j.Gang < 1:
			return nil, bad("gang", fmt.Sprintf("must be ≥ 1, got %d", j.Gang), fleet.ErrInvalid)
		case !(j.Steps > 0) || math.IsInf(j.Steps, 0):
			return nil, bad("steps", fmt.Sprintf("must be > 0, got %v", j.Steps), fleet.ErrInvalid)
		case !(j.Arrival >= 0) || math.IsInf(j.Arrival, 0):
			return nil, bad("arrival", fmt.Sprintf("must be ≥ 0, got %v", j.Arrival), fleet.ErrInvalid)
		case j.Arrival < prev:
			return nil, bad("arrival", fmt.Sprintf("%v s is before the previous job's %v s: jobs must be sorted by arrival", j.Arrival, prev), fleet.ErrInvalid)
		case j.Weight < 0 || math.IsNaN(j.Weight) || math.IsInf(j.Weight, 0):
			return nil, bad("weight", fmt.Sprintf("must be > 0, got %v", j.Weight), fleet.ErrInvalid)
		}
		ids[j.ID] = true
		prev = j.Arrival
		found, runs, fits := false, false, false
		for _, m := range models {
			v, ok := tp.Lookup(j.Class, j.Gang, m)
			found = found || ok
			if v > 0 {
				runs = true
				fits = fits || j.Gang <= holds[m]
			}
		}
		switch {
		case !found:
			return nil, bad("class", fmt.Sprintf("the throughput table has no entry for class %q with gang %d on any model of the fleet (%v)", j.Class, j.Gang, models), fleet.ErrNotFound)
		case !runs:
			res.Unrunnable = append(res.Unrunnable, Unrunnable{ID: j.ID, Name: j.Name, Reason: sched.ReasonNoThroughput})
			continue
		case !fits:
			res.Unrunnable = append(res.Unrunnable, Unrunnable{ID: j.ID, Name: j.Name, Reason: sched.ReasonGangTooLarge})
			continue
		}
		js := &jobState{Job: j, sid: strconv.Itoa(len(states)), remaining: j.Steps, lastRound: -2, tput: make([]float64, len(models))}
		for k, m := range models {
			js.tput[k], _ = tp.Lookup(j.Class, j.Gang, m)
		}
		states = append(states, js)
	}

	inWindow := func(id int) bool {
		return cfg.Window == nil || (id >= cfg.Window.First && id <= cfg.Window.Last)
	}
	total := 0
	for _, s := range states {
		if inWindow(s.ID) {
			total++
		}
	}
	if cfg.Window != nil && total == 0 {
		return nil, fmt.Errorf("%w: window [%d, %d] holds no runnable job", fleet.ErrInvalid, cfg.Window.First, cfg.Window.Last)
	}

	st := sched.NewRoundState(p, sched.RoundConfig{
		RoundSeconds:  cfg.RoundSeconds,
		ResetInterval: cfg.ResetInterval,
		Rand:          cfg.Rand,
		ModelOrder:    cfg.ModelOrder,
		GavelCompat:   cfg.GavelCompat,
	})
	byTeam := map[string][]float64{}
	teamBusy := func(team string) []float64 {
		b := byTeam[team]
		if b == nil {
			b = make([]float64, len(models))
			byTeam[team] = b
		}
		return b
	}
	var (
		active   []*jobState
		running  []run
		next     int
		t        float64
		finished int
		idle     int
		snapJobs []sched.Job
	)
	if len(states) > 0 {
		t = states[0].Arrival
	}
	roundStart := t
	busy := make([]float64, len(models))
	for finished < total {
		if len(running) == 0 {
			idle++
			if cfg.GavelCompat {
				if next < len(states) {
					t = math.Max(t, states[next].Arrival)
				} else {
					st.ForceReset()
				}
			} else {
				// Nothing ran: recompute the allocation now, then, if
				// that places nothing either, wait for the next arrival.
				st.ForceReset()
				if (len(active) == 0 || idle > 1) && next < len(states) {
					t = math.Max(t, states[next].Arrival)
				}
			}
			if next >= len(states) && idle > 3 {
				return nil, fmt.Errorf("simulation stuck at t=%.0f s: %d active jobs and none can be placed", t, len(active))
			}
		} else {
			idle = 0
			end := t
			for _, r := range running {
				end = math.Max(end, r.finish)
			}
			for k := range busy {
				busy[k] = 0
			}
			for _, r := range running {
				j := r.j
				if r.failed {
					// Gavel: no progress, no time charged, the allocation
					// is recomputed, and the job is dropped after
					// MaxFailedRounds failed rounds in a row.
					st.Stale()
					if j.failures++; j.failures >= MaxFailedRounds {
						j.done, j.dropped = true, true
						res.Dropped = append(res.Dropped, j.ID)
						if inWindow(j.ID) {
							finished++
						}
					}
					continue
				}
				j.failures = 0
				ran := r.finish - t
				busy[r.col] += ran * float64(j.Gang)
				if j.Team != "" {
					teamBusy(j.Team)[r.col] += ran * float64(j.Gang)
				}
				st.Charge(j.sid, r.model, ran)
				j.remaining -= r.steps
				if j.remaining <= 0 {
					j.remaining = 0
					j.done = true
					j.finish = r.finish
					if inWindow(j.ID) {
						finished++
					}
				}
			}
			res.Util = append(res.Util, UtilSample{Start: roundStart, End: end, Busy: append([]float64(nil), busy...)})
			t = end
			// Drop finished jobs, keeping arrival order.
			kept := active[:0]
			for _, j := range active {
				if j.done {
					continue
				}
				kept = append(kept, j)
			}
			for i := len(kept); i < len(active); i++ {
				active[i] = nil
			}
			active = kept
		}
		if finished >= total {
			break
		}
		for next < len(states) && states[next].Arrival <= t {
			j := states[next]
			next++
			active = append(active, j)
			j.iso = isolatedTime(tp, &j.Job, models, cfg.Fleet, len(active))
		}
		snapJobs = snapJobs[:0]
		for _, j := range active {
			snapJobs = append(snapJobs, sched.Job{
				ID: j.sid, Class: j.Class, Gang: j.Gang, Weight: j.Weight, Team: j.Team,
				Arrival: j.Arrival, TotalSteps: j.Steps, RemainingSteps: j.remaining,
			})
		}
		snap := &sched.Snapshot{Now: t, Fleet: cfg.Fleet, Nodes: cfg.Nodes, Jobs: snapJobs, Teams: cfg.Teams}
		pl, err := st.Next(snap, tp)
		if err != nil {
			return nil, fmt.Errorf("policy %s at t=%.0f s: %w", p.Name(), t, err)
		}
		res.Rounds++
		running = running[:0]
		for _, r := range pl.Runs {
			// Snapshot ids are positions in states.
			pos, err := strconv.Atoi(r.Job)
			if err != nil || pos < 0 || pos >= len(states) || states[pos].done || states[pos].sid != r.Job {
				return nil, fmt.Errorf("policy %s placed unknown job %q", p.Name(), r.Job)
			}
			j := states[pos]
			k, ok := col[r.Model]
			if !ok {
				return nil, fmt.Errorf("policy %s placed job %q on unknown model %q", p.Name(), r.Job, r.Model)
			}
			thr := j.tput[k]
			if !(thr > 0) {
				return nil, fmt.Errorf("policy %s placed job %q on %s where its throughput is 0", p.Name(), r.Job, r.Model)
			}
			cost := 0.0
			if j.started && !(j.lastRound == res.Rounds-1 && j.lastModel == r.Model && sameDevices(j.lastDevs, r.Devices)) {
				cost = cfg.RestartCost
				j.restarts++
			}
			if !j.started {
				j.started = true
				j.start = t
			}
			j.lastRound, j.lastModel, j.lastDevs = res.Rounds, r.Model, r.Devices
			// Gavel: steps = min(int(throughput × round), remaining).
			avail := cfg.RoundSeconds - cost
			steps := math.Floor(thr * avail)
			failed := false
			if cfg.GavelCompat {
				// Gavel hands each of the gang's workers ⌊steps/gang⌋
				// steps (the last one the rest) and counts the round as
				// failed when a worker gets 0.
				// (Gavel's steps are whole; a fractional remainder from a
				// generated trace counts as one more step.)
				failed = math.Min(steps, math.Ceil(j.remaining)) < float64(j.Gang)
				steps = math.Min(steps, j.remaining)
			} else {
				if steps < 1 {
					steps = thr * avail // a very slow job still progresses
				}
				steps = math.Min(steps, j.remaining)
			}
			running = append(running, run{j: j, model: r.Model, col: k, devs: r.Devices, steps: steps, finish: t + cost + steps/thr, failed: failed})
		}
		roundStart = t
		if cfg.Progress != nil {
			cfg.Progress(Progress{Now: t, Finished: finished, Total: total, Rounds: res.Rounds})
		}
		if cfg.Cancel != nil {
			if err := cfg.Cancel(); err != nil {
				return nil, err
			}
		}
	}
	res.End = t
	res.Allocations = st.Allocations
	for _, s := range states {
		if s.dropped {
			continue
		}
		if s.done {
			res.Jobs = append(res.Jobs, JobResult{
				ID: s.ID, Name: s.Name, Arrival: s.Arrival, Start: s.start, Completion: s.finish,
				JCT: s.finish - s.Arrival, Restarts: s.restarts, FTF: (s.finish - s.Arrival) / s.iso,
			})
		} else {
			res.Unfinished++
		}
	}
	sort.Slice(res.Jobs, func(a, b int) bool { return res.Jobs[a].ID < res.Jobs[b].ID })
	res.Summary = summarize(res, cfg, inWindow, totalDevices)
	res.Teams = teamResults(res, states, byTeam, cfg, inWindow)
	if cfg.Progress != nil {
		cfg.Progress(Progress{Now: t, Finished: finished, Total: total, Rounds: res.Rounds})
	}
	return res, nil
}

// Holds is, per model, the largest gang the fleet can ever hold: its whole
// pool without nodes (Gavel), else the largest of its nodes and its sites.
func Holds(fl map[string]int, nodes []sched.Node) map[string]int {
	if nodes == nil {
		return fl
	}
	out := map[string]int{}
	site := map[[2]string]int{}
	for _, n := range nodes {
		k := [2]string{n.Model, n.Site}
		site[k] += n.Devices
		out[n.Model] = max(out[n.Model], n.Devices, site[k])
	}
	return out
}

func teamResults(res *Result, states []*jobState, busy map[string][]float64, cfg Config, inWindow func(int) bool) []TeamResult {
	idx := map[string]int{}
	var out []TeamResult
	team := func(name string) *TeamResult {
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, TeamResult{Name: name, Use: map[string]float64{}})
		}
		return &out[i]
	}
	for _, t := range cfg.Teams {
		team(t.Name).Guarantees = t.Guarantees
	}
	for _, s := range states {
		if s.Team == "" {
			continue
		}
		t := team(s.Team)
		if s.done && inWindow(s.ID) {
			t.Jobs++
			t.AvgJCT += s.finish - s.Arrival
			t.AvgWait += s.start - s.Arrival
		}
	}
	for i := range out {
		t := &out[i]
		if t.Jobs > 0 {
			t.AvgJCT /= float64(t.Jobs)
			t.AvgWait /= float64(t.Jobs)
		}
		for k, m := range res.Models {
			if b := busy[t.Name]; b != nil && res.End > 0 {
				t.Use[m] = b[k] / res.End
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func sameDevices(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// isolatedTime is the time a job would take alone on an equal 1/n share of
// every model: x_k = Fleet_k / (n·gang) of the time on model k, scaled down
// so Σ x_k ≤ 1 (a job runs on one model at a time).
func isolatedTime(tp *sched.Throughputs, j *Job, models []string, fl map[string]int, n int) float64 {
	x := make([]float64, len(models))
	sum := 0.0
	for k, m := range models {
		if v, _ := tp.Lookup(j.Class, j.Gang, m); v > 0 && j.Gang <= fl[m] {
			x[k] = float64(fl[m]) / float64(n*j.Gang)
			sum += x[k]
		}
	}
	scale := 1.0
	if sum > 1 {
		scale = 1 / sum
	}
	thr := 0.0
	for k, m := range models {
		v, _ := tp.Lookup(j.Class, j.Gang, m)
		thr += x[k] * scale * v
	}
	if thr <= 0 {
		return math.Inf(1)
	}
	return j.Steps / thr
}

func summarize(res *Result, cfg Config, inWindow func(int) bool, totalDevices int) Summary {
	var s Summary
	var jcts, rhos []float64
	for _, j := range res.Jobs {
		s.Makespan = math.Max(s.Makespan, j.Completion)
		if !inWindow(j.ID) {
			continue
		}
		jcts = append(jcts, j.JCT)
		rhos = append(rhos, j.FTF)
	}
	s.Jobs = len(jcts)
	if len(jcts) > 0 {
		sum := 0.0
		for _, v := range jcts {
			sum += v
		}
		s.AvgJCT = sum / float64(len(jcts))
		sort.Float64s(jcts)
		s.P50JCT = Percentile(jcts, 50)
		s.P90JCT = Percentile(jcts, 90)
		s.P99JCT = Percentile(jcts, 99)
		unfair := 0
		for _, r := range rhos {
			s.AvgFTF += r
			s.MaxFTF = math.Max(s.MaxFTF, r)
			if r > 1 {
				unfair++
			}
		}
		s.AvgFTF /= float64(len(rhos))
		s.UnfairFrac = float64(unfair) / float64(len(rhos))
	}
	s.ByModel = make(map[string]float64, len(res.Models))
	if res.End > 0 {
		busy := make([]float64, len(res.Models))
		all := 0.0
		for _, u := range res.Util {
			for k, b := range u.Busy {
				busy[k] += b
				all += b
			}
		}
		for k, m := range res.Models {
			s.ByModel[m] = busy[k] / (float64(cfg.Fleet[m]) * res.End)
		}
		s.Utilization = all / (float64(totalDevices) * res.End)
	}
	if s.Makespan > 0 {
		s.Throughput = float64(len(res.Jobs)) / (s.Makespan / 3600)
	}
	return s
}

// Percentile is the p-th percentile (0 ≤ p ≤ 100) of sorted values with
// linear interpolation between closest ranks (numpy's default).
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}
