package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
)

// JobRoutes registers live scheduling's operations — /api/v1/jobs and
// /api/v1/teams — for Options.Register.
func JobRoutes(svc *jobs.Service) func(r *Registrar) {
	return func(r *Registrar) { jobRoutes(r, svc) }
}

// NewJob is a job submission.
type NewJob struct {
	Name            string   `json:"name" minLength:"1" maxLength:"200" doc:"Job name"`
	Team            string   `json:"team" minLength:"1" maxLength:"64" doc:"Team the job belongs to"`
	Class           string   `json:"class,omitempty" minLength:"1" doc:"Workload class: a class of the loaded throughput table (or give model)"`
	Model           string   `json:"model,omitempty" maxLength:"200" doc:"Or: a model the fit advisor knows (e.g. Llama-3-8B); its class and throughputs are derived with the perf model"`
	Precision       string   `json:"precision,omitempty" maxLength:"8" doc:"With model: bf16 (default), fp8, int8, int4, …"`
	Workload        string   `json:"workload,omitempty" enum:"train,serve" doc:"With model: train (default; steps are optimizer steps of 4M tokens) or serve (steps are output tokens)"`
	Gang            int      `json:"gang" minimum:"1" doc:"Devices needed at once, all of one model: on one node when a node is that large, otherwise on whole nodes of one site"`
	SpanSites       bool     `json:"span_sites,omitempty" doc:"Let a gang larger than a node span sites"`
	DeviceMilli     int64    `json:"device_milli,omitempty" doc:"A share of one device in thousandths, 1–999 (250 = a quarter), with gang 1: several such jobs share a device. Absent or 0: whole devices, gang of them. Out of range, or with a gang above 1, is refused with 422 naming the field"`
	DeviceMemoryMiB int64    `json:"device_memory_mib,omitempty" doc:"With device_milli: the device memory the job needs, MiB (0–16777216); the share goes only on a device with that much free"`
	CPUMilli        int64    `json:"cpu_milli,omitempty" doc:"CPU the job needs on its node, milli-cores (0–1073741824); counted where the node's capacity is known"`
	MemoryMiB       int64    `json:"memory_mib,omitempty" doc:"Memory the job needs on its node, MiB (0–17179869184); counted where the node's capacity is known"`
	Weight          *float64 `json:"weight,omitempty" doc:"Priority weight inside the team: greater than 0, at most 1e6; omitted means 1 (0 is refused with 422)"`
	Allowed         []string `json:"allowed,omitempty" doc:"Only these accelerator models (any catalog name)"`
	Forbidden       []string `json:"forbidden,omitempty" doc:"Never these accelerator models"`
	TotalSteps      float64  `json:"total_steps,omitempty" minimum:"0" doc:"Amount of work in training steps"`
	DurationSeconds float64  `json:"duration_s,omitempty" minimum:"0" doc:"Or: estimated run time on reference_model, seconds"`
	ReferenceModel  string   `json:"reference_model,omitempty" doc:"Model duration_s was estimated on"`
}

// Job is a job as the API shows it.
type Job struct {
	ID string `json:"id"`
	jobs.Spec
	State           jobs.State       `json:"state" enum:"pending,running,preempted,completed,failed,cancelled"`
	SubmittedAt     time.Time        `json:"submitted_at"`
	FinishedAt      time.Time        `json:"finished_at,omitzero"`
	StepsDone       float64          `json:"steps_done"`
	CheckpointSteps float64          `json:"checkpoint_steps"`
	AttainedSeconds float64          `json:"attained_s" doc:"Wall time the job has run, seconds"`
	Placement       *jobs.Placement  `json:"placement,omitempty" doc:"Where it runs this round"`
	Why             jobs.Explanation `json:"why" doc:"Where and why it runs, or why it waits: a stable code and a sentence"`
	Restarts        int              `json:"restarts"`
	History         []JobEvent       `json:"history,omitempty"`
}

// JobEvent is one entry of a job's history.
type JobEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind" doc:"submitted, started, moved, preempted, checkpoint-restart, completed, cancelled, failed"`
	Message string    `json:"message"`
}

func fromJob(j jobs.Job) Job {
	out := Job{ID: j.ID, Spec: j.Spec, State: j.State, SubmittedAt: j.SubmittedAt, FinishedAt: j.FinishedAt, StepsDone: j.StepsDone,
		CheckpointSteps: j.CheckpointSteps, AttainedSeconds: j.AttainedSeconds, Placement: j.Placement, Why: j.Why, Restarts: j.Restarts}
	for _, e := range j.History {
		out.History = append(out.History, JobEvent(e))
	}
	return out
}

// NewJobs is a batch of jobs to submit all or none.
type NewJobs struct {
	Jobs []NewJob `json:"jobs" minItems:"1" maxItems:"1000"`
}

// spec is the submission for jobs.Check; a weight in the body, 0
// included, is checked as given (jobs.WeightProblem).
func (b NewJob) spec() jobs.Spec {
	sp := jobs.Spec{Name: b.Name, Team: b.Team, Class: b.Class, Model: b.Model, Precision: b.Precision, Workload: b.Workload, Gang: b.Gang,
		SpanSites: b.SpanSites, Allowed: b.Allowed, Forbidden: b.Forbidden, TotalSteps: b.TotalSteps, DurationSeconds: b.DurationSeconds, ReferenceModel: b.ReferenceModel,
		DeviceMilli: b.DeviceMilli, DeviceMemoryMiB: b.DeviceMemoryMiB, CPUMilli: b.CPUMilli, MemoryMiB: b.MemoryMiB}
	if b.Weight != nil {
		sp.Weight, sp.WeightGiven = *b.Weight, true
	}
	return sp
}

// JobList is a list of jobs (without their histories).
type JobList struct {
	Jobs []Job  `json:"jobs"`
	Next string `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// TeamList is every team with its current use.
type TeamList struct {
	Teams []jobs.TeamStatus `json:"teams"`
	Next  string            `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// Items and NextCursor let the Go client follow every page.
func (l TeamList) Items() []jobs.TeamStatus { return l.Teams }

// NextCursor is the cursor of the next page.
func (l TeamList) NextCursor() string { return l.Next }

// TeamConfig is a team's weight and guarantees.
type TeamConfig struct {
	Weight     *float64       `json:"weight,omitempty" doc:"Share of the fleet relative to other teams: greater than 0, at most 1e6; omitted means 1 (0 is refused with 422)"`
	Guarantees map[string]int `json:"guarantees,omitempty" doc:"Devices per accelerator model the team gets whenever it has jobs that can use them"`
}

type jobPath struct {
	ID string `path:"id" maxLength:"32" doc:"Job id, e.g. job-42"`
}

type teamPath struct {
	Name string `path:"name" maxLength:"64" doc:"Team name"`
}

type putTeamInput struct {
	Name string `path:"name" maxLength:"64" doc:"Team name"`
	Body TeamConfig
}

type jobListInput struct {
	Team   string `query:"team" maxLength:"64" doc:"Only this team's jobs"`
	State  string `query:"state" enum:"pending,running,preempted,completed,failed,cancelled,active,all" doc:"A state; active (pending, running or preempted); all. Absent: active jobs and jobs finished in the last 24 hours"`
	Shared bool   `query:"shared" doc:"Only jobs that ask for a share of a device (device_milli)"`
	PageQuery
}

// RecentFinished is how long a finished job stays in the default job
// listing (no state): older completed, failed and cancelled jobs are listed
// only when asked for by state (or state=all).
const RecentFinished = 24 * time.Hour

// filter turns the query into a store filter, newest first from the cursor.
func (in *jobListInput) filter(now time.Time) (jobs.Filter, error) {
	f := jobs.Filter{Team: in.Team, Limit: in.Limit, Newest: true, Shared: in.Shared}
	after, err := decodeCursor("jobs", in.Cursor)
	if err != nil {
		return f, err
	}
	if after != "" {
		if f.Before, err = jobs.ParseID(after); err != nil {
			return f, &fleet.InputError{Pos: fleet.Position{Field: "cursor"}, Msg: "not a cursor of this list (jobs)"}
		}
	}
	switch in.State {
	case "":
		f.FinishedSince = now.Add(-RecentFinished)
	case "all":
	case "active":
		f.States = []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}
	default:
		st, err := jobs.ParseState(in.State)
		if err != nil {
			return f, err
		}
		f.States = []jobs.State{st}
	}
	return f, nil
}

func jobRoutes(r *Registrar, svc *jobs.Service) {
	read, write := inventory.RoleViewer, inventory.RoleOperator
	Operation(r, huma.Operation{
		OperationID: "submit-job", Method: http.MethodPost, Path: "/api/v1/jobs", Tags: []string{"jobs"},
		Summary: "Submit a job",
		Description: "Queues a job for the scheduler. Give its workload as a class of the throughput table, or as model + precision + workload " +
			"(train or serve), which the fit advisor turns into a class (fit:llama-3-8b:bf16:train) with throughputs on every model of the fleet. A job that can never run on today's fleet — an unknown class, a gang larger than any node and site, " +
			"only forbidden models, zero throughput on every model it may use — is a 422 that says why. A job may ask for a share of one device instead " +
			"(device_milli, 1–999 thousandths, with gang 1; optionally device_memory_mib), plus cpu_milli and memory_mib on its node: several shares go on one device (docs/sharing.md).",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge},
	}, write, func(ctx context.Context, in *body[NewJob]) (*body[Job], error) {
		j, err := svc.Submit(ctx, in.Body.spec(), actor(ctx))
		if err != nil {
			return nil, err
		}
		return &body[Job]{Body: fromJob(j)}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "submit-jobs", Method: http.MethodPost, Path: "/api/v1/jobs/batch", Tags: []string{"jobs"},
		Summary:       "Submit several jobs, all or none",
		Description:   fmt.Sprintf("Validates every job (as submit-job does) before creating any: when one is refused, the 422 lists every refused job as jobs[i] with its field, and no job is created. At most %d jobs.", jobs.MaxBatch),
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  8 << 20,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge},
	}, write, func(ctx context.Context, in *body[NewJobs]) (*body[JobList], error) {
		specs := make([]jobs.Spec, len(in.Body.Jobs))
		for i, b := range in.Body.Jobs {
			specs[i] = b.spec()
		}
		js, err := svc.SubmitAll(ctx, specs, actor(ctx))
		if err != nil {
			return nil, err
		}
		out := JobList{Jobs: make([]Job, len(js))}
		for i, j := range js {
			out.Jobs[i] = fromJob(j)
		}
		return &body[JobList]{Body: out}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "list-jobs", Method: http.MethodGet, Path: "/api/v1/jobs", Tags: []string{"jobs"},
		Summary: "List jobs, newest first, one page at a time",
		Description: "Jobs with state, placement, attained service and why; histories are in get-job. " +
			"Without state, jobs that finished more than 24 hours ago are left out (ask for them with their state or state=all). " +
			"Pass the page's next as cursor for the following (older) page.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, read, func(ctx context.Context, in *jobListInput) (*body[JobList], error) {
		f, err := in.filter(svc.Now())
		if err != nil {
			return nil, err
		}
		f.Limit++ // one more tells whether a next page exists
		js, err := svc.List(ctx, f)
		if err != nil {
			return nil, err
		}
		var out JobList
		if len(js) == f.Limit {
			js = js[:len(js)-1]
			out.Next = encodeCursor("jobs", js[len(js)-1].ID)
		}
		out.Jobs = make([]Job, len(js))
		for i, j := range js {
			out.Jobs[i] = fromJob(j)
		}
		return &body[JobList]{Body: out}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "get-job", Method: http.MethodGet, Path: "/api/v1/jobs/{id}", Tags: []string{"jobs"},
		Summary: "Get a job", Description: "The job with its placement, why it runs there or waits (a stable code and a sentence), and its history.",
		Errors: []int{http.StatusNotFound},
	}, read, func(ctx context.Context, in *jobPath) (*body[Job], error) {
		j, err := svc.Get(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &body[Job]{Body: fromJob(j)}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "cancel-job", Method: http.MethodDelete, Path: "/api/v1/jobs/{id}", Tags: []string{"jobs"},
		Summary: "Cancel a job", Description: "Cancels a pending, running or preempted job; its devices are free at the next round. A finished job is a 409.",
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, write, func(ctx context.Context, in *jobPath) (*body[Job], error) {
		j, err := svc.Cancel(ctx, in.ID, actor(ctx))
		if err != nil {
			return nil, err
		}
		return &body[Job]{Body: fromJob(j)}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "list-teams", Method: http.MethodGet, Path: "/api/v1/teams", Tags: []string{"teams"},
		Summary: "List teams by name, one page at a time", Description: "Every team with a record or an active job: weight, guarantees, devices in use per model, and what it borrows or lends.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, read, func(ctx context.Context, in *PageQuery) (*body[TeamList], error) {
		ts, err := svc.Teams(ctx)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("teams", ts, func(t jobs.TeamStatus) string { return t.Name }, *in)
		if err != nil {
			return nil, err
		}
		return &body[TeamList]{Body: TeamList{Teams: page, Next: next}}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "put-team", Method: http.MethodPut, Path: "/api/v1/teams/{name}", Tags: []string{"teams"},
		Summary: "Create or replace a team",
		Description: "Sets a team's weight and per-model guarantees. The whole configuration is checked against the fleet: " +
			"guarantees on a model may not sum to more than its in-service devices (422 naming the model and the sum).",
		Errors: []int{http.StatusUnprocessableEntity},
	}, write, func(ctx context.Context, in *putTeamInput) (*body[jobs.Team], error) {
		w := jobs.DefaultWeight // omitted; a 0 given is refused by PutTeam
		if in.Body.Weight != nil {
			w = *in.Body.Weight
		}
		t, err := svc.PutTeam(ctx, jobs.Team{Name: in.Name, Weight: w, Guarantees: in.Body.Guarantees})
		if err != nil {
			return nil, err
		}
		return &body[jobs.Team]{Body: t}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "delete-team", Method: http.MethodDelete, Path: "/api/v1/teams/{name}", Tags: []string{"teams"},
		Summary: "Delete a team record", Description: "Its jobs stay; the team falls back to weight 1 and no guarantees.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, write, func(ctx context.Context, in *teamPath) (*struct{}, error) {
		return nil, svc.DeleteTeam(ctx, in.Name)
	})
}
