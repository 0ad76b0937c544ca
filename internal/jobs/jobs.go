// Package jobs is live scheduling's domain: jobs and teams, what a valid
// submission and a valid quota configuration are, the Planner that turns a
// fleet of in-service devices and the active jobs into per-device placements
// (on top of the pure sched core, adding team fairness, per-model guarantees
// and node-aware packing), and the explanations users read ("why is my job
// pending?"). It is free of I/O: it declares the small Store it needs
// (internal/store/sqlite and internal/store/postgres implement it, jobstest
// checks them) and takes the clock as a value.
package jobs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// State is a job's life-cycle state.
type State string

// The job states. pending → running ⇄ preempted → completed; any
// non-final state → cancelled (by a user) or failed (by the system).
const (
	Pending   State = "pending"   // submitted, never run yet
	Running   State = "running"   // placed on devices this round
	Preempted State = "preempted" // ran before, waiting now (resumes from its checkpoint)
	Completed State = "completed" // did all its steps
	Failed    State = "failed"    // gave up (e.g. it can no longer run anywhere)
	Cancelled State = "cancelled" // cancelled by a user
)

// States lists every state in life-cycle order.
var States = []State{Pending, Running, Preempted, Completed, Failed, Cancelled}

// Final reports whether a job in s will never change again.
func (s State) Final() bool { return s == Completed || s == Failed || s == Cancelled }

// Active reports whether a job in s is the scheduler's business.
func (s State) Active() bool { return s == Pending || s == Running || s == Preempted }

// ParseState accepts a state name (case-insensitive).
func ParseState(s string) (State, error) {
	for _, v := range States {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	names := make([]string, len(States))
	for i, v := range States {
		names[i] = string(v)
	}
	return "", fmt.Errorf("unknown job state %q (valid: %s)", s, strings.Join(names, ", "))
}

// Spec is what a user submits.
type Spec struct {
	Name  string `json:"name"`
	Team  string `json:"team"`
	Class string `json:"class"` // a job class of the loaded throughput table
	// Model (a models catalog name such as "Llama-3-8B"), Precision (bf16
	// when empty) and Workload ("train", the default, or "serve") give the
	// job instead of Class: at submission the fit advisor derives the class
	// key ("fit:llama-3-8b:bf16:train") and its throughputs on the fleet.
	Model     string `json:"model,omitempty"`
	Precision string `json:"precision,omitempty"`
	Workload  string `json:"workload,omitempty"`
	// Gang is the number of devices the job needs at once, all of one
	// model: on one node when a node is that large, otherwise on whole
	// nodes of one site (one switch when it can). ≥ 1.
	Gang int `json:"gang"`
	// SpanSites lets a gang larger than a node span sites.
	SpanSites bool `json:"span_sites,omitempty"`
	// DeviceMilli, when 1–999, asks for that share of one device in
	// thousandths (250 = a quarter) instead of whole devices: several such
	// jobs share a device (docs/sharing.md), and Gang must be 1. 0 (or
	// absent) is whole devices, Gang of them.
	DeviceMilli int64 `json:"device_milli,omitempty"`
	// DeviceMemoryMiB is the device memory a shared job needs, MiB; 0 is
	// not constrained. Only with DeviceMilli.
	DeviceMemoryMiB int64 `json:"device_memory_mib,omitempty"`
	// CPUMilli (milli-cores) and MemoryMiB are what the job needs of its
	// node besides devices; 0 is nothing. The pack stages count them on
	// nodes whose capacity is known (a gang on several nodes takes on each
	// its part by devices; docs/sharing.md).
	CPUMilli  int64 `json:"cpu_milli,omitempty"`
	MemoryMiB int64 `json:"memory_mib,omitempty"`
	// Weight is the job's priority weight inside its team, in (0,
	// MaxWeight]. 0 with WeightGiven false means not given (a pod group
	// without the weight annotation): Check makes it DefaultWeight.
	Weight float64 `json:"weight,omitempty"`
	// WeightGiven says Weight is what the submitter gave, 0 included: an
	// edge that can tell (an API body with "weight": 0) sets it so that
	// Check refuses the 0 naming the field instead of storing 1. Check
	// clears it once Weight is valid.
	WeightGiven bool `json:"-"`
	// Allowed, when not empty, restricts the job to these accelerator
	// models (catalog ids); Forbidden excludes models.
	Allowed   []string `json:"allowed,omitempty"`
	Forbidden []string `json:"forbidden,omitempty"`
	// Work: either TotalSteps, or DurationSeconds on ReferenceModel (turned
	// into steps with the throughput table at submission).
	TotalSteps      float64 `json:"total_steps,omitempty"`
	DurationSeconds float64 `json:"duration_s,omitempty"`
	ReferenceModel  string  `json:"reference_model,omitempty"`
}

// Placement is where a job runs this round.
type Placement struct {
	Model   string    `json:"model"`   // catalog id
	Devices []string  `json:"devices"` // serials, Gang of them
	Nodes   []string  `json:"nodes"`   // distinct hostnames of Devices
	Since   time.Time `json:"since"`   // when it started on these devices
	// StepsPerSecond is the whole gang's throughput there (a share's part
	// of one device's: Milli/1000 of it).
	StepsPerSecond float64 `json:"steps_per_second"`
	// Milli is the share of Devices[0] the job holds, 1–999, for a job
	// with a DeviceMilli; 0 is whole devices. The placement is stored with
	// the job, so a restart knows which device each share is on.
	Milli int64 `json:"milli,omitempty"`
	// With is, under a *-packed policy, the id of the job this one shares
	// Devices with (space sharing: the two run on the same devices, each
	// at its pair throughput); "" when it runs alone. Each of the two
	// holds every device time-shared, PairMilli of it.
	With string `json:"with,omitempty"`
}

// PairMilli is how much of each device each job of a pair holds (With):
// half, so the two make one whole device in the stores' holdings.
const PairMilli = 500

// DeviceMilli is how much of each of its devices the placement holds, in
// thousandths: Milli for a share, PairMilli for one of a pair, 1000 for
// whole devices.
func (p *Placement) DeviceMilli() int64 {
	switch {
	case p.Milli > 0:
		return p.Milli
	case p.With != "":
		return PairMilli
	}
	return 1000
}

// Explanation says where and why a job runs, or why it waits: a stable
// machine-readable Code and a sentence.
type Explanation struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Event is one entry of a job's history.
type Event struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // submitted, started, moved, preempted, checkpoint-restart, completed, cancelled, failed
	Message string    `json:"message"`
}

// Job is a submitted job and everything the scheduler knows about it.
type Job struct {
	ID string `json:"id"`
	Spec
	State       State     `json:"state"`
	SubmittedAt time.Time `json:"submitted_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// TotalSteps (in Spec) is always set after submission.
	StepsDone       float64 `json:"steps_done"`       // progress, steps
	CheckpointSteps float64 `json:"checkpoint_steps"` // progress saved in the last checkpoint
	// AttainedSeconds is the wall time the job has run (any model).
	AttainedSeconds float64     `json:"attained_s"`
	Placement       *Placement  `json:"placement,omitempty"`
	Why             Explanation `json:"why"`
	Restarts        int         `json:"restarts"` // starts after the first one (each costs the restart time)
	History         []Event     `json:"history,omitempty"`
}

// Shared reports whether the job asks for a share of one device.
func (sp *Spec) Shared() bool { return sp.DeviceMilli > 0 }

// ShareText is a job's request of devices as users read it: "0.25 of a
// device" or "4 devices" (jobs list and show).
func (sp *Spec) ShareText() string {
	if sp.Shared() {
		return strconv.FormatFloat(float64(sp.DeviceMilli)/1000, 'f', -1, 64) + " of a device"
	}
	if sp.Gang == 1 {
		return "1 device"
	}
	return strconv.Itoa(sp.Gang) + " devices"
}

// Remaining is the number of steps left.
func (j *Job) Remaining() float64 { return max(0, j.TotalSteps-j.StepsDone) }

// Team is a group of users sharing a weight and guarantees.
type Team struct {
	Name string `json:"name"`
	// Weight is the team's share of the fleet relative to other teams
	// (split among its active jobs by their weights), in (0, MaxWeight];
	// 0 is refused (see WeightProblem).
	Weight float64 `json:"weight"`
	// Guarantees are devices per model (catalog id) the team gets whenever
	// it has jobs that can use them; idle guaranteed devices are lent to
	// other teams and reclaimed at the next round.
	Guarantees map[string]int `json:"guarantees,omitempty"`
}

// DefaultTeam is the team of jobs whose team has no record.
func DefaultTeam(name string) Team { return Team{Name: name, Weight: 1} }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
