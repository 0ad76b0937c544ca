package sched

import (
	"fmt"
	"math"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// Snapshot is everything a policy sees: the time, the fleet and the active
// jobs. Policies and Round never modify it.
type Snapshot struct {
	// Now is the virtual time in seconds. It is the only clock.
	Now float64
	// Fleet is the number of devices per accelerator model id (catalog ids,
	// e.g. "v100-sxm2-32gb"). Models with 0 devices may be omitted.
	Fleet map[string]int
	// Nodes optionally splits each model's devices into machines. When set,
	// the devices of a model are numbered 0..Fleet[model]-1 in Nodes order;
	// Round places the largest gangs first on the lowest free indices (Gavel's
	// strided assignment), so power-of-two gangs on power-of-two nodes land on
	// whole nodes. When nil, every model is one flat pool (Gavel's simulator
	// default: one GPU per server).
	Nodes []Node
	// Jobs are the active (arrived, unfinished) jobs. Order matters only as
	// a tie-break: FIFO order is by Arrival, then by position in Jobs.
	Jobs []Job
	// Teams gives team weights and per-model guarantees (devices per model
	// id). Jobs name their team in Job.Team; a team without a record has
	// weight 1 and no guarantees. When no job names a team, the fairness
	// stage leaves job weights as they are (Gavel's traces).
	Teams []Team
}

// Node is one machine: Devices devices of one Model. Site and Switch
// (rack, leaf switch) are optional topology labels: a gang larger than a
// node goes on whole nodes of one site, one switch when it can.
type Node struct {
	ID      string
	Model   string
	Devices int
	Site    string
	Switch  string
	// CPU (milli-cores) and Mem (MiB) are the node's capacity for jobs
	// that share devices (fraction.go); 0: not known, not a limit.
	// DevMem is each device's memory in MiB; 0: not known, not checked.
	CPU, Mem, DevMem int64
}

// Team is a group of jobs sharing a weight and guarantees.
type Team struct {
	Name string
	// Weight is the team's share relative to other teams, split among its
	// active jobs by their weights; 0 means 1.
	Weight float64
	// Guarantees are devices per model id the team gets whenever it has
	// jobs that can use them; idle guaranteed devices are lent to other
	// teams and reclaimed in the next round.
	Guarantees map[string]int
}

// Held is the devices a job holds from the previous round.
type Held struct {
	Model   string
	Devices []int   // indices into the model's pool (see Run)
	Since   float64 // when it started on them (same clock as Now)
}

// Job is one active training job as the scheduler sees it.
type Job struct {
	ID    string // unique among Snapshot.Jobs
	Class string // job class, key into Throughputs (with Gang)
	// Gang is the number of devices the job needs at once, all of one model
	// (Gavel's scale factor). ≥ 1.
	Gang int
	// Weight is the priority weight (Gavel's priority_weight); > 0. Higher
	// weight = larger fair share. 0 is read as 1.
	Weight float64
	// Arrival is when the job was submitted, seconds (same clock as Now).
	Arrival float64
	// TotalSteps and RemainingSteps measure the job's work in training
	// steps. Used by the ftf and makespan policies.
	TotalSteps     float64
	RemainingSteps float64
	// Team names the job's team (see Snapshot.Teams); "" is no team.
	Team string
	// Allowed, when not empty, restricts the job to these model ids;
	// Forbidden excludes models.
	Allowed, Forbidden []string
	// SpanSites lets a gang larger than a node span sites (by default it
	// stays within one site).
	SpanSites bool
	// Milli, when 1..999, asks for that share of one device (Gang 1)
	// instead of whole devices: the policy does not see the job; the pack
	// stage for shares (fraction.go) places it where a share of a device,
	// DevMem MiB of its memory, and CPU and Mem on its node are free.
	Milli int64
	// DevMem (MiB) goes with Milli. CPU (milli-cores) and Mem (MiB) are
	// what the job needs in all on its nodes besides devices: a share's on
	// its device's node, a gang's split over its nodes by devices
	// (noderoom.go).
	DevMem, CPU, Mem int64
	// Held, when set, is the devices the job runs on now (the live loop
	// reads it from its store). When nil, the pipeline uses its memory of
	// the job's last placement.
	Held *Held

	// deny is set by the filter stage: bit k excludes the snapshot's k-th
	// model (sorted ids) from the policy's view of the job.
	deny uint64
}

func (j *Job) weight() float64 {
	if j.Weight <= 0 {
		return 1
	}
	return j.Weight
}

// Validate checks the snapshot's own consistency: unique non-empty job ids,
// Gang ≥ 1, finite non-negative numbers, non-negative fleet counts, and Nodes
// (when set) summing to Fleet. Errors wrap fleet.ErrInvalid.
func (s *Snapshot) Validate() error {
	if err := s.validateFleet(); err != nil {
		return err
	}
	ids := make(map[string]bool, len(s.Jobs))
	return s.validateJobs(func(i int) bool {
		id := s.Jobs[i].ID
		if ids[id] {
			return true
		}
		ids[id] = true
		return false
	})
}

// validateFleet is Validate's check of the fleet and the nodes.
func (s *Snapshot) validateFleet() error {
	for m, n := range s.Fleet {
		if m == "" || n < 0 {
			return fmt.Errorf("%w: fleet: model %q has %d devices", fleet.ErrInvalid, m, n)
		}
	}
	if s.Nodes != nil {
		sum := map[string]int{}
		for i, nd := range s.Nodes {
			if nd.Devices < 0 || nd.Model == "" {
				return fmt.Errorf("%w: node %d (%s): model %q, %d devices", fleet.ErrInvalid, i, nd.ID, nd.Model, nd.Devices)
			}
			sum[nd.Model] += nd.Devices
		}
		for m, n := range s.Fleet {
			if sum[m] != n {
				return fmt.Errorf("%w: fleet has %d %s devices but nodes have %d", fleet.ErrInvalid, n, m, sum[m])
			}
		}
		for m, n := range sum {
			if s.Fleet[m] != n {
				return fmt.Errorf("%w: nodes have %d %s devices but fleet has %d", fleet.ErrInvalid, n, m, s.Fleet[m])
			}
		}
	}
	return nil
}

// validateJobs is Validate's check of the jobs and the time; seen(i)
// reports whether job i's id is one of jobs 0..i-1's (and remembers it).
func (s *Snapshot) validateJobs(seen func(i int) bool) error {
	for i := range s.Jobs {
		j := &s.Jobs[i]
		bad := func(f string, v any) error {
			return fmt.Errorf("%w: job %d (%s): field %s: bad value %v", fleet.ErrInvalid, i, j.ID, f, v)
		}
		switch {
		case j.ID == "":
			return bad("id", `""`)
		case seen(i):
			return fmt.Errorf("%w: job %d: duplicate id %q", fleet.ErrInvalid, i, j.ID)
		case j.Gang < 1:
			return bad("gang", j.Gang)
		case !finite(j.Weight) || j.Weight < 0:
			return bad("weight", j.Weight)
		case !finite(j.Arrival):
			return bad("arrival", j.Arrival)
		case !finite(j.RemainingSteps) || j.RemainingSteps < 0:
			return bad("remaining_steps", j.RemainingSteps)
		case !finite(j.TotalSteps) || j.TotalSteps < 0:
			return bad("total_steps", j.TotalSteps)
		case j.Milli < 0 || j.Milli >= 1000 || (j.Milli > 0 && j.Gang != 1):
			return bad("milli", j.Milli)
		case j.DevMem < 0 || j.CPU < 0 || j.Mem < 0:
			return bad("cpu/mem", [3]int64{j.DevMem, j.CPU, j.Mem})
		}
	}
	if !finite(s.Now) {
		return fmt.Errorf("%w: snapshot time %v", fleet.ErrInvalid, s.Now)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// models returns the fleet's model ids with at least one device, sorted
// (Gavel sorts worker types by name; k80 < p100 < v100).
func (s *Snapshot) models() []string {
	ms := make([]string, 0, len(s.Fleet))
	for m, n := range s.Fleet {
		if n > 0 {
			ms = append(ms, m)
		}
	}
	sort.Strings(ms)
	return ms
}

// Allocation is a policy's answer: the fraction of wall time each job should
// spend on each model (each of its Gang devices), Gavel's X matrix.
// Feasibility: X ≥ 0, Σ_k X[i][k] ≤ 1 per job, Σ_i Gang_i·X[i][k] ≤ Fleet[Models[k]].
type Allocation struct {
	Models []string    // columns: the fleet's models with ≥ 1 device, sorted
	Jobs   []string    // rows: the ids of Snapshot.Jobs, in order
	X      [][]float64 // X[i][k]: job Jobs[i] on model Models[k]
	// Reasons[i] is non-empty when job Jobs[i] can run nowhere on this fleet
	// (ReasonNoThroughput or ReasonGangTooLarge); its row of X is 0.
	Reasons []Reason
	// Objective is the policy's objective value at X (e.g. the max-min
	// normalized throughput for las-hetero), NaN for policies without one.
	Objective float64
	// Bound is a bound on the exact optimum of the policy's objective: ≥ it
	// for maximised objectives (las), ≤ it for minimised ones (makespan's
	// T*). It equals Objective when the LP was solved exactly and differs
	// when it was aggregated (docs/scheduler.md, "Scale"); NaN when the
	// policy does not report one (fifo, ftf).
	Bound float64
	// Pairs are the shares of co-located job pairs (space sharing, the
	// *-packed policies; packed.go); nil for every other policy.
	Pairs []PairShare
}

// Share returns X for a job id and model id; 0 when either is not in a.
func (a *Allocation) Share(jobID, model string) float64 {
	k := indexOf(a.Models, model)
	i := indexOf(a.Jobs, jobID)
	if i < 0 || k < 0 {
		return 0
	}
	return a.X[i][k]
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
