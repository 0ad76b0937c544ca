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
	// Estimate is the submitted estimate of the job's length in steps: the
	// only length policies see (sched.Job.TotalSteps/RemainingSteps via
	// sched.Estimated). 0 means exact (= Steps). See NoisyEstimates.
	Estimate float64
	// Milli, when 1..999, asks for that share of one device (Gang 1)
	// instead of whole devices: the pack stage for shares places it
	// (Config.Sharer), and it runs at Milli/1000 of the class's one-device
	// throughput (shares.go). DevMem (MiB of device memory), CPU
	// (milli-cores) and Mem (MiB) on its node go with it; CPU and Mem
	// count only for shares, as in the live loop.
	Milli, DevMem, CPU, Mem int64
}

// NoisyEstimates sets every job's Estimate to Steps × a factor drawn
// log-uniformly from [1/noise, noise] with rng (`--estimate-noise`); noise
// 1 gives exact estimates. noise must be a finite number ≥ 1.
func NoisyEstimates(jobs []Job, noise float64, rng *rand.Rand) error {
	if _, err := sched.EstimateFactor(noise, 0); err != nil {
		return err
	}
	for i := range jobs {
		f, _ := sched.EstimateFactor(noise, rng.Float64())
		jobs[i].Estimate = jobs[i].Steps * f
	}
	return nil
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
	// Sharer places the jobs that ask for a share of a device
	// (sched.RoundConfig.Sharer); required when a job has Milli, and one
	// per Run (packers keep state).
	Sharer sched.Sharer
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
	teamBusy  []float64 // s.byTeam[Team], once the job has run
}

type run struct {
	j      *jobState
	model  string
	col    int
	devs   []int
	steps  float64
	finish float64
	failed bool // GavelCompat: a round whose steps round to 0 per device
	// with is the job sharing the devices (space sharing, pairs.go);
	// pairEnd when the later of the two finishes; lead books the devices.
	with    *jobState
	pairEnd float64
	lead    bool
}

// Run simulates jobs on cfg.Fleet under policy p with throughput table tp.
// Jobs must be sorted by arrival. A job whose (class, gang) has no entry in
// tp for any model of the fleet is an error (*JobError wrapping
// fleet.ErrNotFound); a job with entries but no model where it can run
// (throughput 0 everywhere, or a gang larger than every model it runs on)
// is listed in Result.Unrunnable and not simulated.
func Run(p sched.Policy, tp *sched.Throughputs, jobs []Job, cfg Config) (*Result, error) {
	if err := checkConfig(p, tp, &cfg); err != nil {
		return nil, err
	}
	models, err := fleetModels(cfg.Fleet)
	if err != nil {
		return nil, err
	}
	s := newSimulation(p, tp, cfg, models)
	if err := s.admit(jobs); err != nil {
		return nil, err
	}
	if err := s.checkPairs(); err != nil {
		return nil, err
	}
	for s.finished < s.total {
		if len(s.running) == 0 {
			if err := s.idleRound(); err != nil {
				return nil, err
			}
		} else {
			s.settle()
		}
		if s.finished >= s.total {
			break
		}
		s.arrive()
		if err := s.plan(); err != nil {
			return nil, err
		}
		s.progress()
		if cfg.Cancel != nil {
			if err := cfg.Cancel(); err != nil {
				return nil, err
			}
		}
	}
	return s.result(), nil
}

// checkConfig fills the default round length and refuses a configuration
// the simulation cannot run.
func checkConfig(p sched.Policy, tp *sched.Throughputs, cfg *Config) error {
	if cfg.RoundSeconds == 0 {
		cfg.RoundSeconds = 360
	}
	switch {
	case !(cfg.RoundSeconds > 0) || math.IsInf(cfg.RoundSeconds, 0):
		return fmt.Errorf("%w: round length must be > 0 s, got %v", fleet.ErrInvalid, cfg.RoundSeconds)
	case !(cfg.RestartCost >= 0) || cfg.RestartCost >= cfg.RoundSeconds:
		return fmt.Errorf("%w: restart cost must be ≥ 0 and shorter than a round (%v s), got %v", fleet.ErrInvalid, cfg.RoundSeconds, cfg.RestartCost)
	case p == nil || tp == nil:
		return fmt.Errorf("%w: no policy or throughput table", fleet.ErrInvalid)
	}
	return nil
}

// fleetModels lists the fleet's models with devices, sorted.
func fleetModels(fl map[string]int) ([]string, error) {
	var models []string
	for m, n := range fl {
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
	return models, nil
}

// simulation is the state of one Run: the jobs admitted, the clock, the
// jobs waiting and running, and the round state of the policy.
type simulation struct {
	p            sched.Policy
	tp           *sched.Throughputs
	cfg          Config
	models       []string
	totalDevices int
	res          *Result
	st           *sched.RoundState

	states   []*jobState // admitted jobs in arrival order
	total    int         // admitted jobs in the measurement window
	finished int         // of total, finished or dropped
	byTeam   map[string][]float64

	active     []*jobState // arrived and not done, in arrival order
	running    []run       // the current round's placements
	next       int         // first job of states not yet arrived
	t          float64
	idle       int // consecutive rounds with nothing running
	roundStart float64
	busy       []float64
	snapJobs   []sched.Job
}

func newSimulation(p sched.Policy, tp *sched.Throughputs, cfg Config, models []string) *simulation {
	s := &simulation{
		p: p, tp: tp, cfg: cfg, models: models,
		res:    &Result{Policy: p.Name(), Models: models},
		byTeam: map[string][]float64{},
		busy:   make([]float64, len(models)),
		st: sched.NewRoundState(p, sched.RoundConfig{
			RoundSeconds:  cfg.RoundSeconds,
			ResetInterval: cfg.ResetInterval,
			Rand:          cfg.Rand,
			ModelOrder:    cfg.ModelOrder,
			GavelCompat:   cfg.GavelCompat,
			NoWaiting:     true, // plan reads only the runs
			Sharer:        cfg.Sharer,
		}),
	}
	for _, m := range models {
		s.totalDevices += cfg.Fleet[m]
	}
	return s
}

func (s *simulation) inWindow(id int) bool {
	w := s.cfg.Window
	return w == nil || (id >= w.First && id <= w.Last)
}

// admit validates the jobs and keeps those that can run somewhere in the
// fleet; the others are listed in Result.Unrunnable.
func (s *simulation) admit(jobs []Job) error {
	holds := Holds(s.cfg.Fleet, s.cfg.Nodes)
	s.states = make([]*jobState, 0, len(jobs))
	// The states, their throughput rows and their snapshot ids live in
	// three blocks, in arrival order: the active jobs, which every round
	// walks, are then close together in memory.
	slab := make([]jobState, len(jobs))
	tputs := make([]float64, len(jobs)*len(s.models))
	var sids []byte
	for i := range jobs {
		sids = strconv.AppendInt(sids, int64(i), 10)
	}
	allIDs := string(sids)
	at := 0
	ids := make(map[int]bool, len(jobs))
	prev := 0.0
	for i := range jobs {
		j := jobs[i]
		if err := checkJob(&j, ids, prev); err != nil {
			return err
		}
		ids[j.ID] = true
		prev = j.Arrival
		if reason, err := s.runnable(&j, holds); err != nil {
			return err
		} else if reason != "" {
			s.res.Unrunnable = append(s.res.Unrunnable, Unrunnable{ID: j.ID, Name: j.Name, Reason: reason})
			continue
		}
		// State n's id is the n-th of the block.
		n := len(s.states)
		var buf [20]byte
		l := len(strconv.AppendInt(buf[:0], int64(n), 10))
		sid := allIDs[at : at+l]
		at += l
		js := &slab[n]
		*js = jobState{Job: j, sid: sid, remaining: j.Steps, lastRound: -2, tput: tputs[n*len(s.models) : (n+1)*len(s.models) : (n+1)*len(s.models)]}
		for k, m := range s.models {
			js.tput[k], _ = s.tp.Lookup(j.Class, j.Gang, m)
		}
		s.states = append(s.states, js)
		if s.inWindow(j.ID) {
			s.total++
		}
	}
	if s.cfg.Window != nil && s.total == 0 {
		return fmt.Errorf("%w: window [%d, %d] holds no runnable job", fleet.ErrInvalid, s.cfg.Window.First, s.cfg.Window.Last)
	}
	if len(s.states) > 0 {
		s.t = s.states[0].Arrival
	}
	s.roundStart = s.t
	return nil
}

// checkJob refuses a job with a duplicate id, a bad size or a bad arrival.
func checkJob(j *Job, ids map[int]bool, prev float64) error {
	bad := func(field, msg string) error {
		return &JobError{Job: j.ID, Field: field, Msg: msg, Kind: fleet.ErrInvalid}
	}
	switch {
	case ids[j.ID]:
		return bad("id", "duplicate id")
	case j.Gang < 1:
		return bad("gang", fmt.Sprintf("must be ≥ 1, got %d", j.Gang))
	case !(j.Steps > 0) || math.IsInf(j.Steps, 0):
		return bad("steps", fmt.Sprintf("must be > 0, got %v", j.Steps))
	case !(j.Arrival >= 0) || math.IsInf(j.Arrival, 0):
		return bad("arrival", fmt.Sprintf("must be ≥ 0, got %v", j.Arrival))
	case j.Arrival < prev:
		return bad("arrival", fmt.Sprintf("%v s is before the previous job's %v s: jobs must be sorted by arrival", j.Arrival, prev))
	case j.Weight < 0 || math.IsNaN(j.Weight) || math.IsInf(j.Weight, 0):
		return bad("weight", fmt.Sprintf("must be > 0, got %v", j.Weight))
	case !(j.Estimate >= 0) || math.IsInf(j.Estimate, 0):
		return bad("estimate", fmt.Sprintf("must be ≥ 0 (0: exact), got %v", j.Estimate))
	}
	return checkShare(j)
}

// runnable returns "" for a job that can run on some model of the fleet,
// else the reason it cannot; a job the table does not know is an error.
func (s *simulation) runnable(j *Job, holds map[string]int) (sched.Reason, error) {
	found, runs, fits := false, false, false
	for _, m := range s.models {
		v, ok := s.tp.Lookup(j.Class, j.Gang, m)
		found = found || ok
		if v > 0 {
			runs = true
			fits = fits || j.Gang <= holds[m]
		}
	}
	switch {
	case !found:
		return "", &JobError{Job: j.ID, Field: "class", Kind: fleet.ErrNotFound,
			Msg: fmt.Sprintf("the throughput table has no entry for class %q with gang %d on any model of the fleet (%v)", j.Class, j.Gang, s.models)}
	case !runs:
		return sched.ReasonNoThroughput, nil
	case !fits:
		return sched.ReasonGangTooLarge, nil
	}
	return s.shareRunnable(j)
}

// idleRound handles a round in which nothing ran: recompute the allocation
// and, when that cannot help, move the clock to the next arrival.
func (s *simulation) idleRound() error {
	s.idle++
	if s.cfg.GavelCompat {
		if s.next < len(s.states) {
			s.t = math.Max(s.t, s.states[s.next].Arrival)
		} else {
			s.st.ForceReset()
		}
	} else {
		// Nothing ran: recompute the allocation now, then, if that places
		// nothing either, wait for the next arrival.
		s.st.ForceReset()
		if (len(s.active) == 0 || s.idle > 1) && s.next < len(s.states) {
			s.t = math.Max(s.t, s.states[s.next].Arrival)
		}
	}
	if s.next >= len(s.states) && s.idle > 3 {
		return fmt.Errorf("simulation stuck at t=%.0f s: %d active jobs and none can be placed", s.t, len(s.active))
	}
	return nil
}

// settle ends the round: charges the time each job ran, records its
// progress and utilisation, and drops finished jobs from the active list.
func (s *simulation) settle() {
	s.idle = 0
	end := s.t
	for _, r := range s.running {
		end = math.Max(end, r.finish)
	}
	for k := range s.busy {
		s.busy[k] = 0
	}
	for n, r := range s.running {
		s.settleRun(n, r)
	}
	s.res.Util = append(s.res.Util, UtilSample{Start: s.roundStart, End: end, Busy: append([]float64(nil), s.busy...)})
	s.t = end
	// Drop finished jobs, keeping arrival order.
	kept := s.active[:0]
	for _, j := range s.active {
		if !j.done {
			kept = append(kept, j)
		}
	}
	clear(s.active[len(kept):])
	s.active = kept
}

// settleRun books one placement of the round that ended, the n-th of
// the round's placement.
func (s *simulation) settleRun(n int, r run) {
	j := r.j
	if r.failed {
		// Gavel: no progress, no time charged, the allocation is
		// recomputed, and the job is dropped after MaxFailedRounds failed
		// rounds in a row.
		s.st.Stale()
		if j.failures++; j.failures >= MaxFailedRounds {
			j.done, j.dropped = true, true
			s.res.Dropped = append(s.res.Dropped, j.ID)
			if s.inWindow(j.ID) {
				s.finished++
			}
		}
		return
	}
	j.failures = 0
	ran := r.finish - s.t
	if r.with != nil {
		ran = r.pairEnd - s.t
	}
	if r.with == nil || r.lead {
		s.busy[r.col] += ran * devicesOf(&j.Job)
		if j.Team != "" {
			if j.teamBusy == nil {
				j.teamBusy = s.teamBusy(j.Team)
			}
			j.teamBusy[r.col] += ran * devicesOf(&j.Job)
		}
	}
	switch {
	case r.with == nil:
		s.st.ChargeRun(n, j.sid, r.model, ran)
	case r.lead:
		s.st.ChargePair(j.sid, r.with.sid, r.model, ran)
	}
	j.remaining -= r.steps
	if j.remaining <= 0 {
		j.remaining = 0
		j.done = true
		j.finish = r.finish
		if r.with != nil && s.cfg.GavelCompat {
			j.finish = r.pairEnd // Gavel: a pair's jobs end with the pair
		}
		if s.inWindow(j.ID) {
			s.finished++
		}
	}
}

func (s *simulation) teamBusy(team string) []float64 {
	b := s.byTeam[team]
	if b == nil {
		b = make([]float64, len(s.models))
		s.byTeam[team] = b
	}
	return b
}

// arrive moves the jobs that arrived by now into the active list.
func (s *simulation) arrive() {
	for s.next < len(s.states) && s.states[s.next].Arrival <= s.t {
		j := s.states[s.next]
		s.next++
		s.active = append(s.active, j)
		j.iso = isolatedTime(s.tp, &j.Job, s.models, s.cfg.Fleet, len(s.active))
	}
}

// plan asks the policy for the next round and turns its placements into
// runs.
func (s *simulation) plan() error {
	s.snapJobs = s.snapJobs[:0]
	for _, j := range s.active {
		// Policies see the submitted estimate, never the true length.
		total, rem := j.Steps, j.remaining
		if j.Estimate > 0 && j.Estimate != j.Steps {
			total, rem = sched.Estimated(j.Estimate, j.Steps-j.remaining)
		}
		s.snapJobs = append(s.snapJobs, sched.Job{
			ID: j.sid, Class: j.Class, Gang: j.Gang, Weight: j.Weight, Team: j.Team,
			Arrival: j.Arrival, TotalSteps: total, RemainingSteps: rem,
			Milli: j.Milli, DevMem: j.DevMem, CPU: j.CPU, Mem: j.Mem, Held: s.shareHeld(j),
		})
	}
	snap := &sched.Snapshot{Now: s.t, Fleet: s.cfg.Fleet, Nodes: s.cfg.Nodes, Jobs: s.snapJobs, Teams: s.cfg.Teams}
	pl, err := s.st.Next(snap, s.tp)
	if err != nil {
		return fmt.Errorf("policy %s at t=%.0f s: %w", s.p.Name(), s.t, err)
	}
	s.res.Rounds++
	s.running = s.running[:0]
	for _, r := range pl.Runs {
		rn, err := s.start(r)
		if err != nil {
			return err
		}
		s.running = append(s.running, rn)
	}
	s.linkPairs()
	s.roundStart = s.t
	return nil
}

// start turns one placement of the round into a run: the restart it costs
// and the steps the job makes in the round.
func (s *simulation) start(r sched.Run) (run, error) {
	name := s.p.Name()
	// Snapshot ids are positions in states.
	pos, err := strconv.Atoi(r.Job)
	if err != nil || pos < 0 || pos >= len(s.states) || s.states[pos].done || s.states[pos].sid != r.Job {
		return run{}, fmt.Errorf("policy %s placed unknown job %q", name, r.Job)
	}
	j := s.states[pos]
	k, ok := s.column(r.Model)
	if !ok {
		return run{}, fmt.Errorf("policy %s placed job %q on unknown model %q", name, r.Job, r.Model)
	}
	thr := shareRate(&j.Job, j.tput[k])
	var with *jobState
	if r.With != "" {
		if with, thr, err = s.pairThroughput(j, r); err != nil {
			return run{}, err
		}
	}
	if !(thr > 0) {
		return run{}, fmt.Errorf("policy %s placed job %q on %s where its throughput is 0", name, r.Job, r.Model)
	}
	cost := 0.0
	if j.started && !(j.lastRound == s.res.Rounds-1 && j.lastModel == r.Model && sameDevices(j.lastDevs, r.Devices)) {
		cost = s.cfg.RestartCost
		j.restarts++
	}
	if !j.started {
		j.started = true
		j.start = s.t
	}
	j.lastRound, j.lastModel, j.lastDevs = s.res.Rounds, r.Model, r.Devices
	// Gavel: steps = min(int(throughput × round), remaining).
	avail := s.cfg.RoundSeconds - cost
	steps := math.Floor(thr * avail)
	failed := false
	if s.cfg.GavelCompat {
		// Gavel hands each of the gang's workers ⌊steps/gang⌋ steps (the
		// last one the rest) and counts the round as failed when a worker
		// gets 0. (Gavel's steps are whole; a fractional remainder from a
		// generated trace counts as one more step.)
		failed = math.Min(steps, math.Ceil(j.remaining)) < float64(j.Gang)
		steps = math.Min(steps, j.remaining)
	} else {
		if steps < 1 {
			steps = thr * avail // a very slow job still progresses
		}
		steps = math.Min(steps, j.remaining)
	}
	return run{j: j, model: r.Model, col: k, devs: r.Devices, steps: steps, finish: s.t + cost + steps/thr, failed: failed, with: with}, nil
}

// column is the index of a fleet model in s.models (a scan: the fleet has
// a few models and the policy names them with the same strings).
func (s *simulation) column(model string) (int, bool) {
	for k, m := range s.models {
		if m == model {
			return k, true
		}
	}
	return 0, false
}

func (s *simulation) progress() {
	if s.cfg.Progress != nil {
		s.cfg.Progress(Progress{Now: s.t, Finished: s.finished, Total: s.total, Rounds: s.res.Rounds})
	}
}

// result collects the finished jobs and the summaries.
func (s *simulation) result() *Result {
	res := s.res
	res.End = s.t
	res.Allocations = s.st.Allocations
	for _, js := range s.states {
		if js.dropped {
			continue
		}
		if js.done {
			res.Jobs = append(res.Jobs, JobResult{
				ID: js.ID, Name: js.Name, Arrival: js.Arrival, Start: js.start, Completion: js.finish,
				JCT: js.finish - js.Arrival, Restarts: js.restarts, FTF: (js.finish - js.Arrival) / js.iso,
			})
		} else {
			res.Unfinished++
		}
	}
	sort.Slice(res.Jobs, func(a, b int) bool { return res.Jobs[a].ID < res.Jobs[b].ID })
	res.Summary = summarize(res, s.cfg, s.inWindow, s.totalDevices)
	res.Teams = teamResults(res, s.states, s.byTeam, s.cfg, s.inWindow)
	s.progress()
	return res
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
			x[k] = float64(fl[m]) / (float64(n) * devicesOf(j))
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
		thr += x[k] * scale * shareRate(j, v)
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
