// Package control is the live scheduling loop behind `granary serve`: every
// round it reads a snapshot (the devices in service from the ledger, the
// active jobs and teams from the store), asks the jobs Planner (the sched
// core plus fairness, guarantees and packing) where everything runs,
// persists the decisions in one transaction, and hands the placements to a
// Backend that enacts them. It takes its clock, store, logger and Prometheus
// registry as arguments, so two loops can run in one process.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

// Store is what the loop needs from the jobs store.
type Store interface {
	Jobs(ctx context.Context, f jobs.Filter) ([]jobs.Job, error)
	Teams(ctx context.Context) ([]jobs.Team, error)
	SaveRound(ctx context.Context, r jobs.Round, us []jobs.Update) error
	// LastRound returns the latest round with the scheduler's state saved
	// with it (Seq 0 when none ran).
	LastRound(ctx context.Context) (jobs.Round, error)
}

var _ Store = jobs.Store(nil)

// Ledger is what the loop needs from the device ledger.
type Ledger interface {
	// InService returns every device in service.
	InService(ctx context.Context) ([]jobs.Device, error)
	// SetState records a device's state change (a failure the backend saw).
	SetState(ctx context.Context, serial string, to fleet.DeviceState, reason string) error
}

// Backend enacts placements on a cluster and reports what happened.
// Implementations: simbackend (a virtual cluster). Calls come from the loop's
// goroutine only.
type Backend interface {
	// Enact makes in.Runs the set of running jobs: it stops jobs not in it
	// and starts (or restarts, when Run.Restart) the others.
	Enact(ctx context.Context, in Enactment) error
	// Observe reports progress, completions and device failures since the
	// previous call, up to now.
	Observe(ctx context.Context, now time.Time) (Observation, error)
}

// Enactment is one round's orders.
type Enactment struct {
	Now     time.Time
	Devices []jobs.Device // in service
	Runs    []Run
}

// Run is one job to run this round.
type Run struct {
	Job            string
	Model          string
	Devices        []string
	StepsPerSecond float64 // whole gang, on Model (a share: its part)
	// Milli is, for a job holding a share of one device, its share of
	// Devices[0] in thousandths; 0 is whole devices.
	Milli int64
	// With is the job sharing Devices with this one (space sharing, a
	// *-packed policy: both run on the same devices, each at its pair
	// throughput); "" when it runs alone.
	With string
	// StepsDone, CheckpointSteps and TotalSteps are the job's progress as
	// stored; a restarted job resumes from StepsDone (already rolled back to
	// its checkpoint after a failure).
	StepsDone, CheckpointSteps, TotalSteps float64
	// Restart is set when the job (re)starts on these devices this round:
	// it pays the backend's restart cost.
	Restart bool
}

// Observation is what a backend saw since the previous Observe.
type Observation struct {
	Progress []jobs.Progress
	Failed   []Failure
	// Restarts are running jobs whose gang failed on devices that did not
	// (a pod of the gang failed). Each goes back to its last checkpoint
	// and waits for this round's plan, which starts it again wherever the
	// policy places it; the restart is counted then.
	Restarts []GangRestart
}

// GangRestart is a running job whose whole gang must restart.
type GangRestart struct {
	JobID  string
	Reason string // what failed, e.g. "pod train-0-1 failed (Error, exit code 1)"
}

// Failure is a device that failed.
type Failure struct {
	Serial string
	Reason string
}

// Clock is the loop's time. Sleep returns early with ctx's error.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// Config configures a loop.
type Config struct {
	Planner jobs.PlannerConfig // policy, round length, names
	// Wall measures round durations (real time, whatever the Clock); nil:
	// time.Now.
	Wall func() time.Time
}

// Loop is the scheduling loop. Round and Run must not be called
// concurrently.
type Loop struct {
	cfg     Config
	store   Store
	ledger  Ledger
	backend Backend
	clock   Clock
	log     *slog.Logger
	planner *jobs.Planner
	m       *metrics
	rounds  int64
	// resumed is set once the round sequence and the scheduler's state
	// were read back from the store (first round of a process, and of
	// every Run: a replica's term as leader).
	resumed bool

	mu        sync.Mutex // guards failedRun and lastErr (read by Healthy)
	failedRun int        // consecutive failed rounds
	lastErr   error
}

// UnhealthyAfter is the number of consecutive failed rounds after which
// Healthy reports an error (and /readyz answers 503).
const UnhealthyAfter = 3

// Healthy reports an error when the last UnhealthyAfter rounds all failed,
// naming the count and the last error. Safe for concurrent use.
func (l *Loop) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failedRun >= UnhealthyAfter {
		return fmt.Errorf("scheduling: the last %d rounds failed: %w", l.failedRun, l.lastErr)
	}
	return nil
}

// New builds a loop. Every argument is required.
func New(cfg Config, w *jobs.Workloads, store Store, ledger Ledger, backend Backend, clock Clock, log *slog.Logger, reg prometheus.Registerer) (*Loop, error) {
	if w == nil || store == nil || ledger == nil || backend == nil || clock == nil || log == nil || reg == nil {
		return nil, errors.New("control: New needs workloads, a store, a ledger, a backend, a clock, a logger and a registry")
	}
	if cfg.Wall == nil {
		cfg.Wall = time.Now
	}
	if cfg.Planner.Round <= 0 {
		cfg.Planner.Round = 360 * time.Second
	}
	p, err := jobs.NewPlanner(w, cfg.Planner, clock.Now().Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("control: registering metrics: %w", err)
	}
	return &Loop{cfg: cfg, store: store, ledger: ledger, backend: backend, clock: clock, log: log, planner: p, m: m}, nil
}

// Policy is the planner's policy name.
func (l *Loop) Policy() string { return l.planner.Policy() }

// Report summarizes one round.
type Report struct {
	Round    jobs.Round
	Plan     jobs.Plan
	Failed   []Failure
	Finished []string // jobs completed since the previous round
}

// Run runs rounds until ctx ends, one every Planner.Round on the clock.
// A failed round is logged and retried at the next round. Each Run is a
// term (a replica's lead): its first round reads the round sequence and
// the scheduler's state back from the store, since another replica may
// have scheduled between two terms of this one.
func (l *Loop) Run(ctx context.Context) error {
	l.resumed = false
	for {
		if _, err := l.Round(ctx); err != nil && ctx.Err() != nil {
			return nil
		}
		if err := l.clock.Sleep(ctx, l.cfg.Planner.Round); err != nil {
			return nil
		}
	}
}

var activeStates = []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}

// Round runs one scheduling round now. A failed round is counted
// (granary_sched_rounds_failed_total), logged at error and, after
// UnhealthyAfter in a row, reported by Healthy.
func (l *Loop) Round(ctx context.Context) (Report, error) {
	rep, err := l.round(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		l.failedRun++
		l.lastErr = err
		l.m.failed.Inc()
		l.log.ErrorContext(ctx, "scheduling round failed", "err", err, "consecutive", l.failedRun)
		return rep, err
	}
	if err == nil {
		l.failedRun, l.lastErr = 0, nil
	}
	return rep, err
}

func (l *Loop) round(ctx context.Context) (Report, error) {
	w := &roundWork{start: l.cfg.Wall(), now: l.clock.Now().UTC().Truncate(time.Microsecond)}
	steps := []func(context.Context, *roundWork) error{
		l.resume,   // 0. after a restart, the state saved with the last round
		l.observe,  // 1. what happened since the last round
		l.snapshot, // 2. the fleet, the active jobs and the teams
		l.account,  // 3. progress, completions, lost devices
		l.plan,     // 4. the planner's placements
		l.decide,   // 5. each job's next state, and the runs to enact
		l.persist,  //    saved in one transaction with the scheduler's state
		l.enact,    // 6. the backend carries the runs out
	}
	for _, step := range steps {
		if err := step(ctx, w); err != nil {
			return w.rep, err
		}
	}
	l.m.observe(w.rep.Round, w.rep.Plan, w.waiting, w.teams)
	l.log.DebugContext(ctx, "scheduling round", "at", w.now, "running", w.rep.Round.Running, "waiting", w.rep.Round.Waiting,
		"finished", len(w.rep.Finished), "failed_devices", len(w.rep.Failed), "duration", w.rep.Round.Duration)
	return w.rep, nil
}

// roundWork is what one round's steps hand each other.
type roundWork struct {
	start time.Time // wall clock, for the round's duration
	now   time.Time // scheduling clock
	rep   Report

	obs       Observation
	lostState map[string]string // serial → why its job lost it
	devs      []jobs.Device
	active    []jobs.Job // updated in place by the steps
	before    []jobs.Job // active as read
	teams     []jobs.Team
	events    [][]jobs.Event // per active job
	updates   []jobs.Update
	runs      []Run
	waiting   map[string]int // per team
}

// resume restores, once after a restart, the round sequence and the
// scheduler's memory (attained service, deficits, the allocation in force)
// as saved with the last round, so the next allocation is the one an
// uninterrupted server would make.
func (l *Loop) resume(ctx context.Context, _ *roundWork) error {
	if l.resumed {
		return nil
	}
	last, err := l.store.LastRound(ctx)
	if err != nil {
		return fmt.Errorf("control: reading the last round: %w", err)
	}
	l.rounds = last.Seq
	if last.State != nil {
		if err := l.planner.Restore(last.State); err != nil {
			// A state this version cannot read: start afresh (the
			// allocation is recomputed) rather than never schedule.
			l.log.WarnContext(ctx, "scheduler state of the last round not restored; starting afresh", "round", last.Seq, "err", err)
		}
	}
	l.resumed = true
	return nil
}

// observe asks the backend what happened and records failed devices in the
// ledger.
func (l *Loop) observe(ctx context.Context, w *roundWork) error {
	obs, err := l.backend.Observe(ctx, w.now)
	if err != nil {
		return fmt.Errorf("control: observing the backend: %w", err)
	}
	w.obs = obs
	w.lostState = map[string]string{}
	for _, f := range obs.Failed {
		err := l.ledger.SetState(ctx, f.Serial, fleet.Failed, f.Reason)
		if err != nil && !errors.Is(err, fleet.ErrConflict) {
			return fmt.Errorf("control: recording the failure of %s: %w", f.Serial, err)
		}
		w.lostState[f.Serial] = string(fleet.Failed)
		w.rep.Failed = append(w.rep.Failed, f)
	}
	return nil
}

// snapshot reads the devices in service, the active jobs and the teams.
func (l *Loop) snapshot(ctx context.Context, w *roundWork) error {
	var err error
	if w.devs, err = l.ledger.InService(ctx); err != nil {
		return fmt.Errorf("control: reading the fleet: %w", err)
	}
	if w.active, err = l.store.Jobs(ctx, jobs.Filter{States: activeStates}); err != nil {
		return fmt.Errorf("control: reading jobs: %w", err)
	}
	if w.teams, err = l.store.Teams(ctx); err != nil {
		return fmt.Errorf("control: reading teams: %w", err)
	}
	w.before = slices.Clone(w.active)
	return nil
}

// account books each running job's progress (charging the planner's
// attained service), its completion, and the devices it lost.
func (l *Loop) account(_ context.Context, w *roundWork) error {
	inService := make(map[string]bool, len(w.devs))
	for _, d := range w.devs {
		inService[d.Serial] = true
	}
	w.events = make([][]jobs.Event, len(w.active))
	prog := make(map[string]jobs.Progress, len(w.obs.Progress))
	for _, p := range w.obs.Progress {
		prog[p.JobID] = p
	}
	restart := make(map[string]string, len(w.obs.Restarts))
	for _, r := range w.obs.Restarts {
		restart[r.JobID] = r.Reason
	}
	// A pair's time counts for the pair (sched.RoundState.ChargePair):
	// the longer of its two jobs' runs, charged once.
	type pair struct{ a, b, model string }
	var pairs map[pair]float64
	for i := range w.active {
		j := &w.active[i]
		if p, ok := prog[j.ID]; ok && j.State == jobs.Running {
			with := ""
			if j.Placement != nil {
				with = j.Placement.With
			}
			switch {
			case p.RanSeconds <= 0 || p.Model == "":
			case with != "":
				k := pair{min(j.ID, with), max(j.ID, with), p.Model}
				if pairs == nil {
					pairs = map[pair]float64{}
				}
				pairs[k] = max(pairs[k], p.RanSeconds)
			default:
				l.planner.Charge(j.ID, p.Model, p.RanSeconds)
			}
			w.events[i] = append(w.events[i], jobs.Observe(j, p)...)
			if j.State == jobs.Completed {
				w.rep.Finished = append(w.rep.Finished, j.ID)
				continue
			}
		}
		if j.Placement == nil {
			continue
		}
		if why, ok := restart[j.ID]; ok && j.State == jobs.Running {
			w.events[i] = append(w.events[i], gangRestart(j, w.now, why))
			continue
		}
		for _, s := range j.Placement.Devices {
			if _, ok := w.lostState[s]; !ok && !inService[s] {
				w.lostState[s] = "out of service"
			}
		}
		w.events[i] = append(w.events[i], jobs.DevicesLost(j, w.now, w.lostState)...)
	}
	for _, k := range slices.SortedFunc(maps.Keys(pairs), func(x, y pair) int { return strings.Compare(x.a+"\x00"+x.b, y.a+"\x00"+y.b) }) {
		l.planner.ChargePair(k.a, k.b, k.model, pairs[k])
	}
	return nil
}

// gangRestart sends a running job whose gang failed back to its last
// checkpoint, with no devices: the round's plan starts it again (Decide
// counts the restart), as after a lost device, but the devices stay in
// service.
func gangRestart(j *jobs.Job, now time.Time, why string) jobs.Event {
	back := j.StepsDone - j.CheckpointSteps
	msg := fmt.Sprintf("%s on %s; the whole gang restarts from the checkpoint at step %.0f (%.0f steps redone)",
		why, strings.Join(j.Placement.Nodes, ", "), j.CheckpointSteps, back)
	j.StepsDone = j.CheckpointSteps
	j.Placement = nil
	j.State = jobs.Preempted
	return jobs.Event{At: now, Kind: "gang-restart", Message: msg}
}

func (l *Loop) plan(_ context.Context, w *roundWork) error {
	plan, err := l.planner.Plan(jobs.Input{Now: w.now, Devices: w.devs, Jobs: w.active, Teams: w.teams})
	if err != nil {
		return fmt.Errorf("control: planning: %w", err)
	}
	w.rep.Plan = plan
	return nil
}

// decide moves each active job to its next state under the plan and
// collects the updates to save and the runs to enact.
func (l *Loop) decide(_ context.Context, w *roundWork) error {
	plan := w.rep.Plan
	w.waiting = map[string]int{}
	for i := range w.active {
		j := &w.active[i]
		moved := false
		if j.State.Active() {
			var pl *jobs.Placement
			if p, ok := plan.Runs[j.ID]; ok {
				pl = &p
			}
			var evs []jobs.Event
			evs, moved = jobs.Decide(j, w.now, pl, plan.Why[j.ID], l.cfg.Planner.Names)
			w.events[i] = append(w.events[i], evs...)
			if j.State == jobs.Running {
				w.runs = append(w.runs, Run{Job: j.ID, Model: j.Placement.Model, Devices: slices.Clone(j.Placement.Devices), Milli: j.Placement.Milli, With: j.Placement.With,
					StepsPerSecond: j.Placement.StepsPerSecond, StepsDone: j.StepsDone, CheckpointSteps: j.CheckpointSteps,
					TotalSteps: j.TotalSteps, Restart: moved})
			} else {
				w.waiting[j.Team]++
			}
		}
		if moved || len(w.events[i]) > 0 || changed(&w.before[i], j) {
			u := jobs.Update{Job: *j, Events: w.events[i], Moved: moved || placementChanged(&w.before[i], j)}
			u.Progress = !u.Moved && len(u.Events) == 0 && onlyProgress(&w.before[i], j)
			w.updates = append(w.updates, u)
		}
	}
	return nil
}

// persist saves the round, the job updates and the scheduler's state in one
// transaction.
func (l *Loop) persist(ctx context.Context, w *roundWork) error {
	round := jobs.Round{At: w.now, Policy: l.planner.Policy(), Running: len(w.runs), Waiting: len(w.active) - len(w.runs) - len(w.rep.Finished)}
	var err error
	if round.State, err = l.planner.State(); err != nil {
		return fmt.Errorf("control: encoding the scheduler's state: %w", err)
	}
	round.Duration = l.cfg.Wall().Sub(w.start)
	if err := l.store.SaveRound(ctx, round, w.updates); err != nil {
		return fmt.Errorf("control: saving the round: %w", err)
	}
	round.Duration = l.cfg.Wall().Sub(w.start)
	l.rounds++
	round.Seq = l.rounds
	w.rep.Round = round
	l.m.jobEvents(w)
	return nil
}

func (l *Loop) enact(ctx context.Context, w *roundWork) error {
	if err := l.backend.Enact(ctx, Enactment{Now: w.now, Devices: w.devs, Runs: w.runs}); err != nil {
		return fmt.Errorf("control: enacting: %w", err)
	}
	return nil
}

func placementChanged(a, b *jobs.Job) bool {
	if (a.Placement == nil) != (b.Placement == nil) {
		return true
	}
	if a.Placement == nil {
		return false
	}
	return a.Placement.Model != b.Placement.Model || !slices.Equal(a.Placement.Devices, b.Placement.Devices) || a.Placement.Milli != b.Placement.Milli ||
		a.Placement.With != b.Placement.With
}

// onlyProgress: a running job whose counters moved and nothing else.
func onlyProgress(a, b *jobs.Job) bool {
	return a.State == jobs.Running && b.State == jobs.Running && a.Why == b.Why && a.FinishedAt.Equal(b.FinishedAt) && !placementChanged(a, b)
}

func changed(a, b *jobs.Job) bool {
	return a.State != b.State || a.StepsDone != b.StepsDone || a.CheckpointSteps != b.CheckpointSteps ||
		a.AttainedSeconds != b.AttainedSeconds || a.Why != b.Why || a.Restarts != b.Restarts || placementChanged(a, b)
}

type metrics struct {
	queue       *prometheus.GaugeVec
	allocated   *prometheus.GaugeVec
	duration    prometheus.Histogram
	rounds      prometheus.Counter
	failed      prometheus.Counter
	running     prometheus.Gauge
	preemptions *prometheus.CounterVec
	completions *prometheus.CounterVec
	wait        *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "granary_sched_queue_length",
			Help: "Active jobs not running after the last scheduling round (pending or preempted), by team."}, []string{"team"}),
		allocated: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "granary_sched_allocated_devices",
			Help: "Devices placed by the last scheduling round, by accelerator model and team."}, []string{"model", "team"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "granary_sched_round_duration_seconds",
			Help:    "Wall time of successful scheduling rounds: snapshot read, allocation, persistence.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		rounds: prometheus.NewCounter(prometheus.CounterOpts{Name: "granary_sched_rounds_total", Help: "Scheduling rounds completed."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "granary_sched_rounds_failed_total", Help: "Scheduling rounds that failed (logged at error; /readyz fails after 3 in a row)."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "granary_sched_running_jobs",
			Help: "Jobs running after the last scheduling round."}),
		preemptions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_sched_preemptions_total",
			Help: "Running jobs the scheduler stopped (checkpointed) to give their devices to others, by team."}, []string{"team"}),
		completions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_jobs_completed_total",
			Help: "Jobs that ran to completion, by team."}, []string{"team"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "granary_job_wait_seconds",
			Help:    "Time from a job's submission to its first start (scheduling clock), by team.",
			Buckets: prometheus.ExponentialBuckets(60, 2, 14)}, []string{"team"}), // 1 min … ~5.7 days
	}
	for _, c := range []prometheus.Collector{m.queue, m.allocated, m.duration, m.rounds, m.failed, m.running, m.preemptions, m.completions, m.wait} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// jobEvents counts the preemptions, completions and first starts (with
// their wait since submission) of a persisted round, per team.
func (m *metrics) jobEvents(w *roundWork) {
	for i := range w.active {
		team := w.active[i].Team
		for _, ev := range w.events[i] {
			switch ev.Kind {
			case "preempted":
				m.preemptions.WithLabelValues(team).Inc()
			case "completed":
				m.completions.WithLabelValues(team).Inc()
			case "started":
				if w.before[i].State == jobs.Pending {
					m.wait.WithLabelValues(team).Observe(max(0, ev.At.Sub(w.active[i].SubmittedAt).Seconds()))
				}
			}
		}
	}
}

func (m *metrics) observe(r jobs.Round, p jobs.Plan, waiting map[string]int, teams []jobs.Team) {
	m.queue.Reset()
	for _, t := range teams {
		m.queue.WithLabelValues(t.Name).Set(0)
		m.preemptions.WithLabelValues(t.Name)
		m.completions.WithLabelValues(t.Name)
	}
	for t, n := range waiting {
		m.queue.WithLabelValues(t).Set(float64(n))
	}
	m.allocated.Reset()
	for _, t := range slices.Sorted(maps.Keys(p.Use)) {
		for model, n := range p.Use[t] {
			m.allocated.WithLabelValues(model, t).Set(float64(n))
		}
	}
	m.duration.Observe(r.Duration.Seconds())
	m.rounds.Inc()
	m.running.Set(float64(r.Running))
}
