package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

func jobsServer(t *testing.T) (*client.Client, *sqlite.Store) {
	t.Helper()
	srv, st := jobsServerRaw(t)
	c, err := client.New(srv.URL, apitest.AdminSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// jobsServerRaw is a server with the jobs and teams routes, 16 H800s and
// one class.
func jobsServerRaw(t testing.TB) (*apitest.Server, *sqlite.Store) {
	t.Helper()
	return jobsServerRawWith(t, nil)
}

// jobsServerRawWith is jobsServerRaw, calling seen with the handler's
// options (nil: none).
func jobsServerRawWith(t testing.TB, seen func(*api.Options)) (*apitest.Server, *sqlite.Store) {
	t.Helper()
	return jobsServerNodes(t, nil, seen)
}

// jobsServerNodes is jobsServerRawWith with the two H800 nodes recorded
// as nodes (nil: not recorded).
func jobsServerNodes(t testing.TB, nodes []inventory.Node, seen func(*api.Options)) (*apitest.Server, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := inventory.Batch{Nodes: nodes}
	for i := 0; i < 16; i++ {
		b.Devices = append(b.Devices, inventory.Device{Serial: fmt.Sprintf("H800-%03d", i), Model: "h800-sxm5-80gb", Node: fmt.Sprintf("bj1-h800-%d", i/8), State: fleet.InService, UpdatedAt: time.Now()})
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	var es []sched.ThroughputEntry
	for _, g := range []int{1, 8, 16, 32} {
		es = append(es, sched.ThroughputEntry{Class: "llm-7b", Gang: g, Model: "h800-sxm5-80gb", StepsPerSecond: float64(g)})
	}
	w, err := jobs.NewWorkloads(es)
	if err != nil {
		t.Fatal(err)
	}
	cat := accel.Default()
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w,
		Resolve: func(n string) (string, error) {
			c, err := cat.Resolve(n)
			return c.ID, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, apitest.Options{Store: st, API: func(o *api.Options) {
		o.Register = append(o.Register, api.JobRoutes(svc))
		if seen != nil {
			seen(o)
		}
	}})
	return srv, st
}

func TestJobsAPI(t *testing.T) {
	c, st := jobsServer(t)
	ctx := context.Background()
	j, err := c.SubmitJob(ctx, api.NewJob{Name: "pretrain", Team: "llm", Class: "llm-7b", Gang: 8, TotalSteps: 1000, Forbidden: []string{"L20"}})
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "job-1" || j.State != jobs.Pending || j.Forbidden[0] != "l20-48gb" || j.Why.Code != jobs.CodeSubmitted {
		t.Errorf("submitted %+v", j)
	}
	// Jobs that can never run: 422 with the reason.
	for _, c2 := range []struct {
		job  api.NewJob
		want string
	}{
		{api.NewJob{Name: "x", Team: "llm", Class: "llm-7b", Gang: 32, TotalSteps: 1}, "a gang of 32 exceeds the in-service capacity of every model it can run on (largest: 16 × h800-sxm5-80gb in one site)"},
		{api.NewJob{Name: "x", Team: "llm", Class: "gpt-5", Gang: 1, TotalSteps: 1}, `unknown class "gpt-5"`},
		{api.NewJob{Name: "x", Team: "llm", Class: "llm-7b", Gang: 1, TotalSteps: 1, Forbidden: []string{"H800"}}, "leave none of the fleet's models"},
	} {
		_, err := c.SubmitJob(ctx, c2.job)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("submit %+v: %v, want 422 with %q", c2.job, err, c2.want)
		}
	}
	got, err := c.Job(ctx, "job-1")
	if err != nil || len(got.History) != 1 || got.History[0].Kind != "submitted" {
		t.Errorf("get: %+v %v", got, err)
	}
	if _, err := c.Job(ctx, "job-9"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	l, err := c.Jobs(ctx, client.JobListOptions{State: "active"})
	if err != nil || len(l.Jobs) != 1 {
		t.Errorf("list: %+v %v", l, err)
	}
	// Complete it behind the API's back, then cancel: 409.
	if _, err := st.UpdateJob(ctx, "job-1", func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
		return j, jobs.Observe(&j, jobs.Progress{JobID: j.ID, Completed: true, CompletedAt: time.Now()}), nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CancelJob(ctx, "job-1")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		t.Errorf("cancel completed: %v, want 409", err)
	}
	k, _ := c.SubmitJob(ctx, api.NewJob{Name: "ft", Team: "llm", Class: "llm-7b", Gang: 1, DurationSeconds: 60, ReferenceModel: "H800"})
	if k.TotalSteps != 60 {
		t.Errorf("duration → steps: %v", k.TotalSteps)
	}
	if k, err = c.CancelJob(ctx, k.ID); err != nil || k.State != jobs.Cancelled {
		t.Errorf("cancel: %+v %v", k, err)
	}
}

// TestJobsAPINodeRoom: a job asking more CPU or memory than any node of
// the models it may use offers is refused with 422 naming the field and
// the figures, and nothing is stored; one that fits is accepted.
func TestJobsAPINodeRoom(t *testing.T) {
	var nodes []inventory.Node
	for i := 0; i < 2; i++ {
		nodes = append(nodes, inventory.Node{Hostname: fmt.Sprintf("bj1-h800-%d", i), CPUMilli: 112000, MemoryMiB: 2097152})
	}
	srv, _ := jobsServerNodes(t, nodes, nil)
	c, err := client.New(srv.URL, apitest.AdminSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c2 := range []struct {
		job  api.NewJob
		want string
	}{
		{api.NewJob{Name: "x", Team: "llm", Class: "llm-7b", Gang: 8, TotalSteps: 1, CPUMilli: 200000},
			"cpu_milli: 200000 is more than any node of h800-sxm5-80gb offers (112000)"},
		{api.NewJob{Name: "x", Team: "llm", Class: "llm-7b", Gang: 1, TotalSteps: 1, DeviceMilli: 500, MemoryMiB: 3000000},
			"memory_mib: 3000000 is more than any node of h800-sxm5-80gb offers (2097152)"},
		{api.NewJob{Name: "x", Team: "llm", Class: "llm-7b", Gang: 16, TotalSteps: 1, CPUMilli: 300000},
			"cpu_milli: 300000 for a gang of 16 needs ⌈300000 × d / 16⌉ on a node hosting d of its devices; the nodes of h800-sxm5-80gb have room for at most 10 of its 16 devices (largest node: 112000 on h800-sxm5-80gb)"},
	} {
		_, err := c.SubmitJob(ctx, c2.job)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("submit %+v: %v, want 422 with %q", c2.job, err, c2.want)
		}
	}
	if l, err := c.Jobs(ctx, client.JobListOptions{}); err != nil || len(l.Jobs) != 0 {
		t.Fatalf("refused submissions stored jobs: %+v %v", l, err)
	}
	// What a node can give is accepted: all of one node, half of each for 16.
	for _, j := range []api.NewJob{
		{Name: "one", Team: "llm", Class: "llm-7b", Gang: 8, TotalSteps: 1, CPUMilli: 112000, MemoryMiB: 2097152},
		{Name: "two", Team: "llm", Class: "llm-7b", Gang: 16, TotalSteps: 1, CPUMilli: 224000},
	} {
		if _, err := c.SubmitJob(ctx, j); err != nil {
			t.Errorf("submit %s: %v", j.Name, err)
		}
	}
}

func TestTeamsAPI(t *testing.T) {
	c, _ := jobsServer(t)
	ctx := context.Background()
	if _, err := c.PutTeam(ctx, "llm", api.TeamConfig{Weight: ptr(2.0), Guarantees: map[string]int{"H800": 10}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutTeam(ctx, "vision", api.TeamConfig{Guarantees: map[string]int{"h800": 8}})
	var ce *client.Error
	want := "guarantees on h800-sxm5-80gb sum to 18 devices (llm 10 + vision 8) but only 16 are in service"
	if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), want) {
		t.Errorf("over-guarantee: %v, want 422 with %q", err, want)
	}
	if _, err := c.SubmitJob(ctx, api.NewJob{Name: "a", Team: "speech", Class: "llm-7b", Gang: 1, TotalSteps: 5}); err != nil {
		t.Fatal(err)
	}
	ts, err := c.Teams(ctx)
	if err != nil || len(ts) != 2 || ts[0].Name != "llm" || ts[0].Guarantees["h800-sxm5-80gb"] != 10 || ts[0].Lent["h800-sxm5-80gb"] != 10 ||
		ts[1].Name != "speech" || ts[1].Recorded || ts[1].Waiting != 1 {
		t.Errorf("teams %+v %v", ts, err)
	}
	if err := c.DeleteTeam(ctx, "llm"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTeam(ctx, "llm"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
}

// A job given by model + precision: the fit advisor derives its class and
// throughputs; what cannot run is a 422 that says why.
func TestJobsAPIByModel(t *testing.T) {
	c, _ := jobsServer(t)
	ctx := context.Background()
	j, err := c.SubmitJob(ctx, api.NewJob{Name: "ft-8b", Team: "llm", Model: "Llama-3-8B", Precision: "bf16", Gang: 8, TotalSteps: 500})
	if err != nil {
		t.Fatal(err)
	}
	if j.Class != "fit:llama-3-8b:bf16:train" || j.Model != "Llama-3-8B" || j.Workload != "train" || j.State != jobs.Pending {
		t.Errorf("submitted %+v", j)
	}
	if got, err := c.Job(ctx, j.ID); err != nil || got.Class != j.Class || got.Model != "Llama-3-8B" {
		t.Errorf("get: %+v %v", got, err)
	}
	for _, c2 := range []struct {
		job  api.NewJob
		want string
	}{
		{api.NewJob{Name: "x", Team: "llm", Model: "Llama-3-70B", Gang: 8, TotalSteps: 1}, "zero throughput on every model it may use (h800-sxm5-80gb): it can never run (on h800-sxm5-80gb: needs 154.9 GB per device"},
		{api.NewJob{Name: "x", Team: "llm", Model: "Llama-9-8B", Gang: 8, TotalSteps: 1}, "nearest: Llama-3-8B"},
		{api.NewJob{Name: "x", Team: "llm", Class: "llm-7b", Model: "Llama-3-8B", Gang: 8, TotalSteps: 1}, "not both"},
	} {
		_, err := c.SubmitJob(ctx, c2.job)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("submit %+v: %v, want 422 with %q", c2.job, err, c2.want)
		}
	}
}

// The jobs and teams path parameters are escaped exactly once by the
// client: the server sees the id or name as given.
func TestJobAndTeamPathParameters(t *testing.T) {
	c, _ := jobsServer(t)
	ctx := context.Background()
	for _, id := range []string{"BI-ü-雪", "a/b", "a?b", "a#b", "100%"} {
		_, err := c.Job(ctx, id)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 404 || !strings.Contains(ce.Error(), id) {
			t.Errorf("job %q: %v, want a 404 naming it", id, err)
		}
	}
	for _, name := range []string{"a.b", "x_y-1"} {
		if _, err := c.PutTeam(ctx, name, api.TeamConfig{Weight: ptr(2.0)}); err != nil {
			t.Fatalf("put team %q: %v", name, err)
		}
		if err := c.DeleteTeam(ctx, name); err != nil {
			t.Errorf("delete team %q: %v", name, err)
		}
	}
	for _, name := range []string{".", ".."} {
		if _, err := c.PutTeam(ctx, name, api.TeamConfig{Weight: ptr(2.0)}); err == nil {
			t.Errorf("team %q accepted", name)
		}
	}
}

// TestJobListAgesOutFinished: the default listing is newest first and
// leaves out jobs finished more than a day ago; state=all and a finished
// state list them.
func TestJobListAgesOutFinished(t *testing.T) {
	c, st := jobsServer(t)
	ctx := context.Background()
	for range 3 {
		if _, err := c.SubmitJob(ctx, api.NewJob{Name: "j", Team: "llm", Class: "llm-7b", Gang: 1, TotalSteps: 10}); err != nil {
			t.Fatal(err)
		}
	}
	for id, ago := range map[string]time.Duration{"job-1": 48 * time.Hour, "job-2": time.Hour} {
		if _, err := st.UpdateJob(ctx, id, func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
			j.State, j.FinishedAt = jobs.Completed, time.Now().Add(-ago).UTC()
			return j, nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		o    client.JobListOptions
		want string
	}{
		{client.JobListOptions{}, "job-3 job-2"},
		{client.JobListOptions{State: "all"}, "job-3 job-2 job-1"},
		{client.JobListOptions{State: "completed"}, "job-2 job-1"},
		{client.JobListOptions{State: "active"}, "job-3"},
	} {
		l, err := c.Jobs(ctx, tc.o)
		var ids []string
		for _, j := range l.Jobs {
			ids = append(ids, j.ID)
		}
		if err != nil || strings.Join(ids, " ") != tc.want || l.Next != "" {
			t.Errorf("Jobs(%+v) = %v next %q, %v; want %s", tc.o, ids, l.Next, err, tc.want)
		}
	}
	// Pages of one follow each other, newest first, and end.
	var ids []string
	o := client.JobListOptions{State: "all", Limit: 1}
	for range 5 {
		l, err := c.Jobs(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			ids = append(ids, j.ID)
		}
		if l.Next == "" {
			break
		}
		o.Cursor = l.Next
	}
	if strings.Join(ids, " ") != "job-3 job-2 job-1" {
		t.Errorf("paged: %v", ids)
	}
}

func ptr[T any](v T) *T { return &v }

// A weight of 0 — on a team, a job or one job of a batch — is a 422 naming
// the field and the valid range, and nothing is stored; before, it was
// stored as 1 without a word. An omitted weight is still 1.
func TestWeightZeroRefused(t *testing.T) {
	srv, _ := jobsServerRaw(t)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		return srv.AdminDo(t, method, path, body)
	}
	const rng = "weight must be greater than 0 and at most 1e+06 (omit it for the default, 1), got 0"
	job := `{"name":"a","team":"llm","class":"llm-7b","gang":1,"total_steps":5`
	for _, tc := range []struct{ method, path, body, field string }{
		{"PUT", "/api/v1/teams/llm", `{"weight":0}`, `weight`},
		{"PUT", "/api/v1/teams/llm", `{"weight":0.0,"guarantees":{"H800":1}}`, `weight`},
		{"POST", "/api/v1/jobs", job + `,"weight":0}`, `weight`},
		{"POST", "/api/v1/jobs/batch", `{"jobs":[` + job + `},` + job + `,"weight":0}]}`, `jobs[1].weight`},
	} {
		code, b := do(tc.method, tc.path, tc.body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(b, rng) || !strings.Contains(b, `"location":"body.`+tc.field+`"`) {
			t.Errorf("%s %s %s: %d %s, want 422 at %s with %q", tc.method, tc.path, tc.body, code, b, tc.field, rng)
		}
	}
	if code, b := do("GET", "/api/v1/teams", ""); code != 200 || strings.Contains(b, `"name":"llm"`) {
		t.Errorf("a refused team was stored: %d %s", code, b)
	}
	if code, b := do("GET", "/api/v1/jobs?state=all", ""); code != 200 || strings.Contains(b, `"name":"a"`) {
		t.Errorf("a refused job was stored: %d %s", code, b)
	}
	// Omitted: the default; given: as given.
	for _, tc := range []struct{ method, path, body, want string }{
		{"PUT", "/api/v1/teams/llm", `{}`, `"weight":1`},
		{"PUT", "/api/v1/teams/llm", `{"weight":0.5}`, `"weight":0.5`},
		{"POST", "/api/v1/jobs", job + `}`, `"weight":1`},
		{"POST", "/api/v1/jobs", job + `,"weight":1e6}`, `"weight":1000000`},
	} {
		if code, b := do(tc.method, tc.path, tc.body); code >= 300 || !strings.Contains(b, tc.want) {
			t.Errorf("%s %s %s: %d %s, want %s", tc.method, tc.path, tc.body, code, b, tc.want)
		}
	}
}

// A share of a device and node resources: out-of-range values, a share
// with a gang above 1, and device memory without a share are 422s naming
// the field (jobs.Check, the one place they are checked), and nothing is
// stored; a valid share is stored and listed with ?shared=true.
func TestJobShareFields(t *testing.T) {
	srv, _ := jobsServerRaw(t)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		return srv.AdminDo(t, method, path, body)
	}
	job := `{"name":"bad","team":"llm","class":"llm-7b","total_steps":5`
	for _, tc := range []struct{ body, field, want string }{
		{job + `,"gang":1,"device_milli":1000}`, "device_milli", "must be between 1 and 999, got 1000"},
		{job + `,"gang":1,"device_milli":-5}`, "device_milli", "must be between 1 and 999, got -5"},
		{job + `,"gang":2,"device_milli":500}`, "device_milli", "gang must be 1, got 2"},
		{job + `,"gang":1,"device_memory_mib":4096}`, "device_memory_mib", "give device_milli (1–999) with it"},
		{job + `,"gang":1,"device_milli":500,"device_memory_mib":-1}`, "device_memory_mib", "between 0 and 16777216 MiB, got -1"},
		{job + `,"gang":1,"cpu_milli":-1}`, "cpu_milli", "between 0 and 1073741824 milli-cores, got -1"},
		{job + `,"gang":1,"memory_mib":17179869185}`, "memory_mib", "between 0 and 17179869184 MiB, got 17179869185"},
	} {
		code, b := do("POST", "/api/v1/jobs", tc.body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(b, tc.want) || !strings.Contains(b, `"location":"body.`+tc.field+`"`) {
			t.Errorf("%s: %d %s, want 422 at %s with %q", tc.body, code, b, tc.field, tc.want)
		}
	}
	if code, b := do("POST", "/api/v1/jobs/batch", `{"jobs":[`+job+`,"gang":1},`+job+`,"gang":1,"device_milli":1500}]}`); code != http.StatusUnprocessableEntity || !strings.Contains(b, `"location":"body.jobs[1].device_milli"`) {
		t.Errorf("batch with a bad share: %d %s, want 422 at jobs[1].device_milli", code, b)
	}
	if code, b := do("GET", "/api/v1/jobs?state=all", ""); code != 200 || strings.Contains(b, `"name":"bad"`) {
		t.Errorf("a refused job was stored: %d %s", code, b)
	}
	ok := `{"name":"quarter","team":"llm","class":"llm-7b","total_steps":5,"gang":1,"device_milli":250,"device_memory_mib":20480,"cpu_milli":4000,"memory_mib":32768}`
	if code, b := do("POST", "/api/v1/jobs", ok); code != http.StatusCreated || !strings.Contains(b, `"device_milli":250,"device_memory_mib":20480,"cpu_milli":4000,"memory_mib":32768`) {
		t.Fatalf("a valid share: %d %s", code, b)
	}
	if code, b := do("POST", "/api/v1/jobs", `{"name":"whole","team":"llm","class":"llm-7b","total_steps":5,"gang":1}`); code != http.StatusCreated || strings.Contains(b, "device_milli") {
		t.Fatalf("a whole device: %d %s", code, b)
	}
	code, b := do("GET", "/api/v1/jobs?shared=true", "")
	if code != 200 || !strings.Contains(b, `"name":"quarter"`) || strings.Contains(b, `"name":"whole"`) {
		t.Errorf("shared=true: %d %s, want quarter only", code, b)
	}
}
