package jobs

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
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
	// Sharer places jobs that ask for a share of one device (DeviceMilli;
	// sched's pack stage for shares). serve chooses it (--share-packer,
	// Granary's packer by default); nil: internal/share's best-fit.
	Sharer sched.Sharer
	// DeviceMemoryMiB gives a model's memory per device, MiB, which shares
	// with a DeviceMemoryMiB are checked against; nil or 0: not known, not
	// checked.
	DeviceMemoryMiB func(model string) int64
	// Pairable, when set, limits a *-packed policy's pairs to the jobs and
	// models a backend can run two on one device (PairLimit); nil: every
	// pair of the table.
	Pairable *PairLimit
}

// Planner turns the fleet and the active jobs into placements, round after
// round. It keeps sched's round state between calls, so use one Planner per
// scheduler, from one goroutine.
//
// A round translates the in-service devices (nodes, sites, switches), the
// active jobs (with the devices they hold) and the teams into a
// sched.Snapshot, runs sched's placement pipeline (filter, fairness,
// allocate, prioritize, guarantees, keep, pack, upgrade: see
// sched.RoundState.Next and docs/scheduler.md), and turns its runs into
// serials and its reason codes into explanations. The planner does no
// placement of its own.
type Planner struct {
	cfg    PlannerConfig
	w      *Workloads
	st     *sched.RoundState
	epoch  time.Time
	policy string
	fleet  fleetCache
	pairs  pairTable // the policy's table under cfg.Pairable
}

// fleetCache keeps the last round's fleet translation: the ledger hands
// back the same (unmodified) slice while the fleet is unchanged.
type fleetCache struct {
	first *Device
	n     int
	capa  Capacity
	pool  pool
}

func (p *Planner) fleetOf(devs []Device) (Capacity, pool) {
	c := &p.fleet
	if len(devs) == 0 || c.first != &devs[0] || c.n != len(devs) {
		*c = fleetCache{n: len(devs), capa: CapacityOf(devs), pool: newPool(devs)}
		if mem := p.cfg.DeviceMemoryMiB; mem != nil {
			for i := range c.pool.nodes {
				c.pool.nodes[i].DevMem = mem(c.pool.nodes[i].Model)
			}
		}
		if len(devs) > 0 {
			c.first = &devs[0]
		}
	}
	return c.capa, c.pool
}

// CheckLivePolicy refuses a policy name the live loop cannot run: an
// unknown name (the error lists the valid ones). serve calls it before it
// opens anything, so a refused flag leaves no store behind; a *-packed
// policy is also checked against the throughput table (CheckPolicyTable).
func CheckLivePolicy(name string) error {
	if name == "" {
		return nil // NewPlanner's default
	}
	_, err := sched.CanonicalPolicy(name)
	return err
}

// CheckPolicyTable refuses a *-packed policy (space sharing) when the
// table lacks a pair throughput it needs, naming the first missing pair
// (Workloads.CheckPairs): a pair shares devices only when the table has
// it. Other policies need no pairs.
func CheckPolicyTable(name string, w *Workloads) error {
	if !PackedPolicy(name) {
		return nil
	}
	if err := w.CheckPairs(); err != nil {
		n, _ := sched.CanonicalPolicy(name)
		return fmt.Errorf("policy %s: %w", n, err)
	}
	return nil
}

// PackedPolicy reports whether name is a *-packed policy (space sharing:
// pairs of jobs on the same devices, with pair throughputs).
func PackedPolicy(name string) bool {
	n, err := sched.CanonicalPolicy(name)
	return err == nil && strings.HasSuffix(n, "-packed")
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
	// A PCG given as Source: its state is saved with the planner's, so
	// the agnostic fifo draws after a restart what it would have drawn.
	src := rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)
	if err := CheckLivePolicy(cfg.Policy); err != nil {
		return nil, err
	}
	if err := CheckPolicyTable(cfg.Policy, w); err != nil {
		return nil, err
	}
	pol, err := sched.PolicyByName(cfg.Policy, sched.Options{Source: src, Cost: cfg.Cost})
	if err != nil {
		return nil, err
	}
	reset := -1.0
	if cfg.ResetInterval > 0 {
		reset = cfg.ResetInterval.Seconds()
	}
	if cfg.Sharer == nil {
		if cfg.Sharer, err = share.New(share.BestFit, share.Options{Rand: rand.New(rand.NewPCG(cfg.Seed, 0x7368617265))}); err != nil {
			return nil, err
		}
	}
	st := sched.NewRoundState(pol, sched.RoundConfig{RoundSeconds: cfg.Round.Seconds(), ResetInterval: reset, Sharer: cfg.Sharer})
	return &Planner{cfg: cfg, w: w, st: st, epoch: epoch, policy: pol.Name()}, nil
}

// plannerState is what State saves: sched's memory and the epoch its
// times count from.
type plannerState struct {
	Epoch  time.Time   `json:"epoch"`
	Policy string      `json:"policy"`
	Sched  sched.State `json:"sched"`
}

// State encodes the planner's memory (attained service per job and model,
// deficits, the allocation in force, the policy's own memory: ftf's
// cumulative isolated time, the agnostic fifo's models and random stream)
// for the store, to Restore after a
// restart.
func (p *Planner) State() ([]byte, error) {
	return json.Marshal(plannerState{Epoch: p.epoch, Policy: p.policy, Sched: p.st.State()})
}

// Restore loads a State saved by a planner of the same policy (possibly
// another process with another epoch). A state of another policy is
// ignored: its allocation means nothing to this one.
func (p *Planner) Restore(data []byte) error {
	var s plannerState
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("scheduler state: %w", err)
	}
	if s.Policy != p.policy {
		return nil
	}
	if s.Sched.LastReset != 0 { // 0: never reset
		s.Sched.LastReset += s.Epoch.Sub(p.epoch).Seconds()
	}
	return p.st.Restore(s.Sched)
}

// Policy is the policy's name.
func (p *Planner) Policy() string { return p.policy }

// Charge tells sched's round mechanism that a job ran seconds on model in
// the round just finished (the time-received counters behind its
// priorities).
func (p *Planner) Charge(jobID, model string, seconds float64) { p.st.Charge(jobID, model, seconds) }

// ChargePair is Charge for two jobs that ran together on the same devices
// (Placement.With): the time counts for the pair, not for either alone.
func (p *Planner) ChargePair(a, b, model string, seconds float64) {
	p.st.ChargePair(a, b, model, seconds)
}

// Input is one round's snapshot.
type Input struct {
	Now     time.Time
	Devices []Device // in service; an unchanged fleet may be the same slice, unmodified
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

// pool is the in-service fleet as sched numbers it: per model, serials in
// node order (sched.Run.Devices index them).
type pool struct {
	nodes   []sched.Node
	fleet   map[string]int
	serials map[string][]string
	at      map[string]int // serial → index in its model's pool
}

func newPool(devs []Device) pool {
	devs = slices.Clone(devs)
	// Nodes by (model, hostname); a device without a node is a node alone.
	sort.Slice(devs, func(a, b int) bool {
		da, db := devs[a], devs[b]
		if da.Model != db.Model {
			return da.Model < db.Model
		}
		if da.Node != db.Node {
			return da.Node < db.Node
		}
		return da.Serial < db.Serial
	})
	p := pool{fleet: map[string]int{}, serials: map[string][]string{}, at: make(map[string]int, len(devs))}
	for i, d := range devs {
		if i == 0 || d.Node == "" || d.Node != devs[i-1].Node || d.Model != devs[i-1].Model {
			id := d.Node
			if id == "" {
				id = d.Serial
			}
			p.nodes = append(p.nodes, sched.Node{ID: id, Model: d.Model, Site: d.Site, Switch: d.Switch, CPU: d.NodeCPUMilli, Mem: d.NodeMemoryMiB})
		}
		p.nodes[len(p.nodes)-1].Devices++
		p.at[d.Serial] = len(p.serials[d.Model])
		p.serials[d.Model] = append(p.serials[d.Model], d.Serial)
		p.fleet[d.Model]++
	}
	return p
}

// held maps a job's placement to pool indices; nil when any of its devices
// is no longer in service on that model.
func (p pool) held(pl *Placement, epoch time.Time) *sched.Held {
	if pl == nil || len(pl.Devices) == 0 {
		return nil
	}
	h := &sched.Held{Model: pl.Model, Since: pl.Since.Sub(epoch).Seconds(), Devices: make([]int, len(pl.Devices))}
	ss := p.serials[pl.Model]
	for i, s := range pl.Devices {
		k, ok := p.at[s]
		if !ok || k >= len(ss) || ss[k] != s {
			return nil
		}
		h.Devices[i] = k
	}
	return h
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
	capa, fleetPool := p.fleetOf(in.Devices)
	out.Capacity = capa
	if len(in.Devices) == 0 {
		for _, j := range jobs {
			out.Why[j.ID] = Explanation{CodeNoDevices, "no device is in service"}
		}
		return out, nil
	}
	models := sortedKeys(capa.Devices)
	snap := &sched.Snapshot{Now: in.Now.Sub(p.epoch).Seconds(), Fleet: fleetPool.fleet, Nodes: fleetPool.nodes}
	teamWeight := map[string]float64{}
	for _, t := range in.Teams {
		teamWeight[t.Name] = t.Weight
		if weightOK(t.Weight) {
			snap.Teams = append(snap.Teams, sched.Team{Name: t.Name, Weight: t.Weight, Guarantees: t.Guarantees})
		}
	}
	byID := make(map[string]*Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
		// Admission: a job (or team) with a number outside the bounds is
		// excluded with its reason, never allowed to fail the round.
		tw, ok := teamWeight[j.Team]
		if !ok {
			tw = DefaultTeam(j.Team).Weight
		}
		if field, msg := OutOfRange(j, tw); field != "" {
			out.Why[j.ID] = Explanation{CodeInvalid, "excluded until fixed: " + msg}
			continue
		}
		// Jobs given by model + precision: their throughputs on models that
		// joined the fleet since (or on every model, after a restart).
		if err := p.w.EnsureFit(j.Class, j.Gang, models); err != nil {
			out.Why[j.ID] = Explanation{CodeNoThroughput, fmt.Sprintf("its throughputs could not be derived: %v", err)}
			continue
		}
		snap.Jobs = append(snap.Jobs, sched.Job{
			ID: j.ID, Class: j.Class, Gang: j.Gang, Weight: j.Weight, Team: j.Team,
			Arrival:    j.SubmittedAt.Sub(p.epoch).Seconds(),
			TotalSteps: j.TotalSteps, RemainingSteps: j.Remaining(),
			Allowed: j.Allowed, Forbidden: j.Forbidden, SpanSites: j.SpanSites,
			Milli: j.DeviceMilli, DevMem: j.DeviceMemoryMiB, CPU: j.CPUMilli, Mem: j.MemoryMiB,
			Held: fleetPool.held(j.Placement, p.epoch),
		})
	}
	tp, ptp, solo, err := p.policyTables()
	if err != nil {
		return out, fmt.Errorf("plan: %w", err)
	}
	if solo {
		p.soloClasses(snap, byID)
	}
	sp, err := p.st.Next(snap, ptp)
	if err != nil {
		return out, fmt.Errorf("plan: %s: %w", p.policy, err)
	}
	rowOf := func(j *Job) []float64 {
		row := make([]float64, len(models))
		for k, m := range models {
			if allowedOn(j.Spec, m) {
				row[k], _ = tp.Lookup(j.Class, j.Gang, m)
			}
		}
		return row
	}
	for _, r := range sp.Runs {
		j := byID[r.Job]
		pl := Placement{Model: r.Model, Nodes: r.Nodes, Since: in.Now, Devices: make([]string, len(r.Devices)), Milli: r.Milli}
		for i, d := range r.Devices {
			pl.Devices[i] = fleetPool.serials[r.Model][d]
		}
		pl.StepsPerSecond, _ = tp.Lookup(j.Class, j.Gang, r.Model)
		if r.Milli > 0 { // a share of the device: that part of its throughput
			pl.StepsPerSecond *= float64(r.Milli) / 1000
		}
		var with *Job
		if with = byID[r.With]; with != nil { // space sharing: its pair throughput beside r.With
			pt, _ := tp.PairLookup(j.Class, with.Class, j.Gang, r.Model)
			pl.With, pl.StepsPerSecond = r.With, pt[0]
		}
		// A pair's second job gets its partner's Kept: its own since only
		// when it held the same devices.
		if r.Kept && j.Placement != nil && slices.Equal(j.Placement.Devices, pl.Devices) {
			pl.Since = j.Placement.Since
		}
		out.Runs[j.ID] = pl
		row := rowOf(j)
		out.Why[j.ID] = explainPlaced(j, r.Model, row, models, names)
		switch {
		case r.Wanted != "" && r.Milli > 0:
			out.Why[j.ID] = Explanation{CodePlacedAlternative, fmt.Sprintf("placed on %s: %s its throughput on %s, where no device had %d milli free this round",
				names.of(r.Model), ratio(tputOn(row, models, r.Model)/tputOn(row, models, r.Wanted)), names.of(r.Wanted), r.Milli)}
		case r.Wanted != "" && r.TeamTurn:
			out.Why[j.ID] = Explanation{CodePlacedAlternative, fmt.Sprintf("placed on %s: %s its throughput on %s, whose devices the teams' turns give to other teams this round",
				names.of(r.Model), ratio(pl.StepsPerSecond/tputOn(row, models, r.Wanted)), names.of(r.Wanted))}
		case r.Wanted != "":
			out.Why[j.ID] = Explanation{CodePlacedAlternative, fmt.Sprintf("placed on %s: %s its throughput on %s, where no node had %d devices free this round",
				names.of(r.Model), ratio(pl.StepsPerSecond/tputOn(row, models, r.Wanted)), names.of(r.Wanted), j.Gang)}
		}
		if r.Milli > 0 {
			e := out.Why[j.ID]
			e.Message = fmt.Sprintf("%s; a share of device %s (%d milli)", e.Message, pl.Devices[0], r.Milli)
			out.Why[j.ID] = e
		}
		if with != nil {
			e := out.Why[j.ID]
			e.Message = fmt.Sprintf("%s; shares %s with job %s (space sharing, %s steps/s beside it)", e.Message, devicesText(pl.Devices), with.ID,
				strconv.FormatFloat(pl.StepsPerSecond, 'g', 4, 64))
			out.Why[j.ID] = e
		}
		u := out.Use[j.Team]
		if u == nil {
			u = map[string]int{}
			out.Use[j.Team] = u
		}
		if with == nil || j.ID < with.ID { // a pair's devices are counted once
			u[r.Model] += j.Gang
		}
	}
	for _, w := range sp.Waiting {
		e, err := explainWait(w, byID[w.Job], p.policy, names)
		if err != nil {
			return out, fmt.Errorf("plan: %w", err)
		}
		out.Why[w.Job] = e
	}
	return out, nil
}

// devicesText names a placement's devices: "device X", "devices X, Y".
func devicesText(devs []string) string {
	if len(devs) == 1 {
		return "device " + devs[0]
	}
	return "devices " + strings.Join(devs, ", ")
}

func tputOn(row []float64, models []string, m string) float64 {
	if k := slices.Index(models, m); k >= 0 {
		return row[k]
	}
	return 0
}

func ratio(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	if x < 0.95 {
		s = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return s + "×"
}
