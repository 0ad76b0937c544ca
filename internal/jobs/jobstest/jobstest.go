// Package jobstest is the contract every jobs.Store must pass: run Run from
// a store's tests with a constructor of empty stores. It also holds the
// synthetic workload the scheduling benchmarks share (Bench).
package jobstest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func job(name, team string, gang int) jobs.Job {
	return jobs.Job{
		Spec:        jobs.Spec{Name: name, Team: team, Class: "resnet", Gang: gang, Weight: 1, TotalSteps: 1000, Allowed: []string{"h800"}},
		State:       jobs.Pending,
		SubmittedAt: t0,
		Why:         jobs.Explanation{Code: jobs.CodeSubmitted, Message: "submitted"},
		History:     []jobs.Event{{At: t0, Kind: "submitted", Message: "submitted by t"}},
	}
}

// Run checks the contract on stores made by open (each call: a new, empty
// store).
func Run(t *testing.T, open func(t *testing.T) jobs.Store) {
	t.Run("CreateGetList", func(t *testing.T) { createGetList(t, open(t)) })
	t.Run("PagingNewestFirst", func(t *testing.T) { pagingNewestFirst(t, open(t)) })
	t.Run("TextSearch", func(t *testing.T) { textSearch(t, open(t)) })
	t.Run("TeamLoad", func(t *testing.T) { teamLoad(t, open(t)) })
	t.Run("SaveRoundAndDeviceUniqueness", func(t *testing.T) { saveRoundAndDeviceUniqueness(t, open(t)) })
	t.Run("CancelWinsOverRound", func(t *testing.T) { cancelWinsOverRound(t, open(t)) })
	t.Run("Teams", func(t *testing.T) { teams(t, open(t)) })
	t.Run("ConcurrentCreates", func(t *testing.T) { concurrentCreates(t, open(t)) })
	t.Run("SharesOfADevice", func(t *testing.T) { sharesOfADevice(t, open(t)) })
}

// pagingNewestFirst checks the keyset cursor (Before, Newest) and
// FinishedSince against IDs written out by hand.
func pagingNewestFirst(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	// job-1 completed at t0, job-2 pending, job-3 cancelled at t0+2h,
	// job-4 pending (team y), job-5 failed at t0+1h.
	finished := map[int]jobs.State{1: jobs.Completed, 3: jobs.Cancelled, 5: jobs.Failed}
	at := map[int]time.Duration{1: 0, 3: 2 * time.Hour, 5: time.Hour}
	for i := 1; i <= 5; i++ {
		j := job("j", "x", 1)
		if i == 4 {
			j.Team = "y"
		}
		if st, ok := finished[i]; ok {
			j.State, j.FinishedAt = st, t0.Add(at[i])
		}
		if _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		f    jobs.Filter
		want []string
	}{
		{jobs.Filter{Newest: true}, []string{"job-5", "job-4", "job-3", "job-2", "job-1"}},
		{jobs.Filter{Newest: true, Limit: 2}, []string{"job-5", "job-4"}},
		{jobs.Filter{Newest: true, Limit: 2, Before: 4}, []string{"job-3", "job-2"}},
		{jobs.Filter{Newest: true, Limit: 2, Before: 2}, []string{"job-1"}},
		{jobs.Filter{Newest: true, Before: 1}, nil},
		{jobs.Filter{Before: 4}, []string{"job-1", "job-2", "job-3"}},
		{jobs.Filter{Newest: true, Team: "x", Before: 5}, []string{"job-3", "job-2", "job-1"}},
		{jobs.Filter{Newest: true, FinishedSince: t0.Add(time.Hour)}, []string{"job-5", "job-4", "job-3", "job-2"}},
		{jobs.Filter{Newest: true, FinishedSince: t0.Add(90 * time.Minute)}, []string{"job-4", "job-3", "job-2"}},
		{jobs.Filter{FinishedSince: t0.Add(3 * time.Hour), States: []jobs.State{jobs.Pending, jobs.Failed}}, []string{"job-2", "job-4"}},
	} {
		l, err := s.Jobs(ctx, c.f)
		if err != nil {
			t.Fatalf("Jobs(%+v): %v", c.f, err)
		}
		var got []string
		for _, j := range l {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Jobs(%+v) = %v; want %v", c.f, got, c.want)
		}
		c.f.Limit = 0
		full, _ := s.Jobs(ctx, c.f)
		if n, err := s.CountJobs(ctx, c.f); err != nil || n != len(full) {
			t.Errorf("CountJobs(%+v) = %d, %v; want %d", c.f, n, err, len(full))
		}
	}
}

// textSearch checks Filter.Text (a case-insensitive substring of the ID,
// name or class) alone, with the other conditions and paging, against
// lists written out by hand, and that a renamed job is found by its new
// name only.
func textSearch(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	specs := []struct{ name, team, class string }{
		{"Llama-Pretrain", "x", "resnet"},  // job-1
		{"ÉTÉ run", "y", "BERT-Large"},     // job-2: non-ASCII upper case
		{"job-12 copy", "x", "resnet"},     // job-3: a name like another job's ID
		{"50% sample", "x", "resnet"},      // job-4: LIKE's wildcards are text
		{"under_score", "y", "resnet"},     // job-5
		{"plain", "x", "resnet"},           // job-6
		{"plain", "y", "resnet"},           // job-7
		{"plain", "x", "resnet"},           // job-8
		{"plain", "x", "resnet"},           // job-9
		{"plain", "x", "resnet"},           // job-10
		{"plain", "x", "resnet"},           // job-11
		{"Llama-finetune", "y", "LLAMA-3"}, // job-12
	}
	for i, sp := range specs {
		j := job(sp.name, sp.team, 1)
		j.Class = sp.class
		if i%3 == 2 {
			j.State, j.FinishedAt = jobs.Completed, t0
		}
		if _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	check := func(f jobs.Filter, want []string) {
		t.Helper()
		l, err := s.Jobs(ctx, f)
		if err != nil {
			t.Fatalf("Jobs(%+v): %v", f, err)
		}
		var got []string
		for _, j := range l {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Jobs(%+v) = %v; want %v", f, got, want)
		}
		if f.Limit == 0 && f.Offset == 0 {
			if n, err := s.CountJobs(ctx, f); err != nil || n != len(want) {
				t.Errorf("CountJobs(%+v) = %d, %v; want %d", f, n, err, len(want))
			}
		}
	}
	for _, c := range []struct {
		text string
		want []string
	}{
		{"llama", []string{"job-1", "job-12"}},                              // name, any case
		{"LLAMA-3", []string{"job-12"}},                                     // class, upper case
		{"ÉtÉ", []string{"job-2"}},                                          // non-ASCII folded as strings.ToLower
		{"été run", []string{"job-2"}},                                      // with a space
		{"bert-l", []string{"job-2"}},                                       // class
		{"job-1", []string{"job-1", "job-3", "job-10", "job-11", "job-12"}}, // IDs and a name
		{"JOB-12", []string{"job-3", "job-12"}},
		{"-11", []string{"job-11"}},
		{"%", []string{"job-4"}},
		{"_", []string{"job-5"}},
		{"0%", []string{"job-4"}},
		{"resnet", []string{"job-1", "job-3", "job-4", "job-5", "job-6", "job-7", "job-8", "job-9", "job-10", "job-11"}},
		{"run llama", nil}, // not across fields
		{"no such text", nil},
	} {
		check(jobs.Filter{Text: c.text}, c.want)
	}
	// With the other conditions and paging.
	check(jobs.Filter{Text: "plain", Team: "x"}, []string{"job-6", "job-8", "job-9", "job-10", "job-11"})
	check(jobs.Filter{Text: "plain", Team: "x", States: []jobs.State{jobs.Pending}}, []string{"job-8", "job-10", "job-11"})
	check(jobs.Filter{Text: "PLAIN", States: []jobs.State{jobs.Completed}}, []string{"job-6", "job-9"})
	check(jobs.Filter{Text: "plain", Newest: true, Limit: 2}, []string{"job-11", "job-10"})
	check(jobs.Filter{Text: "plain", Newest: true, Limit: 2, Offset: 2}, []string{"job-9", "job-8"})
	check(jobs.Filter{Text: "plain", Limit: 4, Offset: 4}, []string{"job-10", "job-11"})
	check(jobs.Filter{Text: "plain", Newest: true, Before: 9}, []string{"job-8", "job-7", "job-6"})
	check(jobs.Filter{Text: "job-1", FinishedSince: t0.Add(time.Hour)}, []string{"job-1", "job-10", "job-11"}) // job-3 and job-12 finished at t0
	// A renamed job is found by its new name, not its old one.
	if _, err := s.UpdateJob(ctx, "job-6", func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
		j.Name, j.Class = "Renamed", "Other-Class"
		return j, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	check(jobs.Filter{Text: "plain", Team: "x"}, []string{"job-8", "job-9", "job-10", "job-11"})
	check(jobs.Filter{Text: "renamed"}, []string{"job-6"})
	check(jobs.Filter{Text: "other-class"}, []string{"job-6"})
}

func createGetList(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	a, err := s.CreateJob(ctx, job("a", "x", 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateJob(ctx, job("b", "y", 2))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "job-1" || b.ID != "job-2" {
		t.Fatalf("ids %s, %s; want job-1, job-2", a.ID, b.ID)
	}
	got, err := s.Job(ctx, "job-2")
	if err != nil {
		t.Fatal(err)
	}
	want := job("b", "y", 2)
	want.ID = "job-2"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if _, err := s.Job(ctx, "job-3"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("missing job: %v", err)
	}
	if _, err := s.Job(ctx, "nonsense"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("bad id: %v", err)
	}
	l, err := s.Jobs(ctx, jobs.Filter{Team: "y"})
	if err != nil || len(l) != 1 || l[0].ID != "job-2" || l[0].History != nil {
		t.Errorf("filter by team: %+v %v", l, err)
	}
	l, _ = s.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}})
	if len(l) != 0 {
		t.Errorf("filter by state: %d jobs", len(l))
	}
	l, _ = s.Jobs(ctx, jobs.Filter{Limit: 1})
	if len(l) != 1 || l[0].ID != "job-1" {
		t.Errorf("limit: %+v", l)
	}
	l, _ = s.Jobs(ctx, jobs.Filter{Offset: 1, Limit: 1})
	if len(l) != 1 || l[0].ID != "job-2" {
		t.Errorf("offset 1, limit 1: %+v", l)
	}
	l, _ = s.Jobs(ctx, jobs.Filter{Offset: 1})
	if len(l) != 1 || l[0].ID != "job-2" {
		t.Errorf("offset 1: %+v", l)
	}
	if l, _ = s.Jobs(ctx, jobs.Filter{Offset: 5}); len(l) != 0 {
		t.Errorf("offset past the end: %+v", l)
	}
	for _, c := range []struct {
		f    jobs.Filter
		want int
	}{
		{jobs.Filter{}, 2},
		{jobs.Filter{Team: "y"}, 1},
		{jobs.Filter{Team: "z"}, 0},
		{jobs.Filter{States: []jobs.State{jobs.Pending}}, 2},
		{jobs.Filter{States: []jobs.State{jobs.Running, jobs.Completed}}, 0},
		{jobs.Filter{Team: "x", States: []jobs.State{jobs.Pending, jobs.Running}}, 1},
		{jobs.Filter{Offset: 1, Limit: 1}, 2}, // paging is ignored
	} {
		if n, err := s.CountJobs(ctx, c.f); err != nil || n != c.want {
			t.Errorf("CountJobs(%+v) = %d, %v; want %d", c.f, n, err, c.want)
		}
	}
}

func saveRoundAndDeviceUniqueness(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	a, _ := s.CreateJob(ctx, job("a", "x", 2))
	b, _ := s.CreateJob(ctx, job("b", "x", 2))
	a.State = jobs.Running
	a.StepsDone = 10.5
	a.AttainedSeconds = 360
	a.Placement = &jobs.Placement{Model: "h800", Devices: []string{"d1", "d2"}, Nodes: []string{"n1"}, Since: t0, StepsPerSecond: 3.5}
	a.Why = jobs.Explanation{Code: jobs.CodePlacedBest, Message: "placed"}
	ev := jobs.Event{At: t0.Add(time.Minute), Kind: "started", Message: "2 × H800"}
	if err := s.SaveRound(ctx, jobs.Round{At: t0, Policy: "las-hetero", Running: 1, Waiting: 1}, []jobs.Update{{Job: a, Events: []jobs.Event{ev}, Moved: true}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Job(ctx, a.ID)
	a.History = append(a.History, ev)
	if d := cmp.Diff(a, got); d != "" {
		t.Errorf("after round (-want +got):\n%s", d)
	}
	// A progress-only update writes the counters.
	pr := got
	pr.StepsDone, pr.CheckpointSteps, pr.AttainedSeconds, pr.Restarts = 20.25, 10.5, 720, 1
	if err := s.SaveRound(ctx, jobs.Round{At: t0, Policy: "las-hetero"}, []jobs.Update{{Job: pr, Progress: true}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Job(ctx, a.ID)
	if d := cmp.Diff(pr, got); d != "" {
		t.Errorf("after a progress update (-want +got):\n%s", d)
	}
	r, err := s.LastRound(ctx)
	if err != nil || r.Seq != 2 || r.Policy != "las-hetero" || !r.At.Equal(t0) {
		t.Errorf("last round %+v %v", r, err)
	}
	// The scheduler's state is kept with the latest round, replaced by
	// the next one, and a failed round does not touch it.
	if r.State != nil {
		t.Errorf("state %q saved by a round that had none", r.State)
	}
	if err := s.SaveRound(ctx, jobs.Round{At: t0, Policy: "las-hetero", State: []byte(`{"v":1}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRound(ctx, jobs.Round{At: t0, Policy: "las-hetero", State: []byte(`{"v":2}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := s.LastRound(ctx); err != nil || r.Seq != 4 || string(r.State) != `{"v":2}` {
		t.Fatalf("last round after two states: seq %d state %q %v, want 4 and v 2", r.Seq, r.State, err)
	}
	// b on a device a holds: the whole round fails, nothing changes.
	b.State = jobs.Running
	b.Placement = &jobs.Placement{Model: "h800", Devices: []string{"d2", "d3"}, Nodes: []string{"n1"}, Since: t0}
	a2 := got
	a2.StepsDone = 99
	err = s.SaveRound(ctx, jobs.Round{At: t0.Add(time.Hour)}, []jobs.Update{{Job: a2}, {Job: b, Moved: true}})
	if !errors.Is(err, fleet.ErrConflict) {
		t.Fatalf("device placed twice: %v, want ErrConflict", err)
	}
	if got, _ := s.Job(ctx, a.ID); got.StepsDone != 20.25 {
		t.Errorf("failed round changed job a: steps %v", got.StepsDone)
	}
	if r, _ := s.LastRound(ctx); r.Seq != 4 || string(r.State) != `{"v":2}` {
		t.Errorf("failed round recorded: %+v", r)
	}
	// Moving a off d2 and b onto it in the same round is fine.
	a2.Placement = &jobs.Placement{Model: "h800", Devices: []string{"d5", "d6"}, Nodes: []string{"n2"}, Since: t0}
	if err := s.SaveRound(ctx, jobs.Round{At: t0.Add(time.Hour)}, []jobs.Update{{Job: a2, Moved: true}, {Job: b, Moved: true}}); err != nil {
		t.Fatal(err)
	}
}

func cancelWinsOverRound(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	a, _ := s.CreateJob(ctx, job("a", "x", 1))
	stale := a
	_, err := s.UpdateJob(ctx, a.ID, func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
		evs, err := jobs.Cancel(&j, t0, "me")
		return j, evs, err
	})
	if err != nil {
		t.Fatal(err)
	}
	stale.State = jobs.Running
	stale.Placement = &jobs.Placement{Model: "h800", Devices: []string{"d1"}, Since: t0}
	if err := s.SaveRound(ctx, jobs.Round{At: t0}, []jobs.Update{{Job: stale, Moved: true, Events: []jobs.Event{{At: t0, Kind: "started"}}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Job(ctx, a.ID)
	if got.State != jobs.Cancelled || got.Placement != nil || len(got.History) != 2 {
		t.Errorf("cancel lost: %+v", got)
	}
	_, err = s.UpdateJob(ctx, a.ID, func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
		evs, err := jobs.Cancel(&j, t0, "me")
		return j, evs, err
	})
	if !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("second cancel: %v, want ErrConflict", err)
	}
	// The device is free for another job.
	b, _ := s.CreateJob(ctx, job("b", "x", 1))
	b.State = jobs.Running
	b.Placement = &jobs.Placement{Model: "h800", Devices: []string{"d1"}, Since: t0}
	if err := s.SaveRound(ctx, jobs.Round{At: t0}, []jobs.Update{{Job: b, Moved: true}}); err != nil {
		t.Fatal(err)
	}
}

func teams(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	ok := func([]jobs.Team) error { return nil }
	if err := s.PutTeam(ctx, jobs.Team{Name: "b", Weight: 2, Guarantees: map[string]int{"h800": 8}}, ok); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTeam(ctx, jobs.Team{Name: "a", Weight: 1}, ok); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("no")
	var seen []jobs.Team
	err := s.PutTeam(ctx, jobs.Team{Name: "a", Weight: 5}, func(all []jobs.Team) error { seen = all; return refuse })
	if !errors.Is(err, refuse) {
		t.Fatalf("check error not returned: %v", err)
	}
	if len(seen) != 2 || seen[0].Name != "a" || seen[0].Weight != 5 {
		t.Errorf("check saw %+v", seen)
	}
	ts, err := s.Teams(ctx)
	want := []jobs.Team{{Name: "a", Weight: 1}, {Name: "b", Weight: 2, Guarantees: map[string]int{"h800": 8}}}
	if err != nil || !cmp.Equal(ts, want, cmp.Comparer(func(a, b map[string]int) bool { return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b)) })) {
		t.Errorf("teams %+v %v, want %+v", ts, err, want)
	}
	if err := s.DeleteTeam(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeam(ctx, "a"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("delete missing team: %v", err)
	}
}

func concurrentCreates(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := s.CreateJob(ctx, job("c", "x", 1))
			if err != nil {
				t.Error(err)
			}
			ids[i] = j.ID
		}()
	}
	wg.Wait()
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 16 {
		t.Errorf("duplicate ids: %v", ids)
	}
}

// sharesOfADevice: a job's share and node resources round-trip; four
// quarter shares hold one device together (round and UpdateJob paths), a
// fifth share or a whole-device job on it is a conflict that changes
// nothing, and Filter.Shared keeps the shared jobs.
func sharesOfADevice(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	quarter := func(name string) jobs.Job {
		j := job(name, "x", 1)
		j.DeviceMilli, j.DeviceMemoryMiB, j.CPUMilli, j.MemoryMiB = 250, 20480, 4000, 32768
		return j
	}
	var qs []jobs.Job
	for _, n := range []string{"q1", "q2", "q3", "q4", "q5"} {
		j, err := s.CreateJob(ctx, quarter(n))
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, j)
	}
	whole, err := s.CreateJob(ctx, job("whole", "x", 1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Job(ctx, qs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(qs[0], got); d != "" || got.DeviceMilli != 250 || got.DeviceMemoryMiB != 20480 || got.CPUMilli != 4000 || got.MemoryMiB != 32768 {
		t.Errorf("share round trip (-want +got):\n%s\ngot %+v", d, got.Spec)
	}
	place := func(j jobs.Job, milli int64) jobs.Job {
		j.State = jobs.Running
		j.Placement = &jobs.Placement{Model: "h800", Devices: []string{"d1"}, Nodes: []string{"n1"}, Since: t0, StepsPerSecond: 0.5, Milli: milli}
		return j
	}
	var us []jobs.Update
	for _, j := range qs[:3] {
		us = append(us, jobs.Update{Job: place(j, 250), Moved: true})
	}
	if err := s.SaveRound(ctx, jobs.Round{At: t0, Policy: "las-hetero"}, us); err != nil {
		t.Fatalf("three quarters on one device: %v", err)
	}
	if _, err := s.UpdateJob(ctx, qs[3].ID, func(j jobs.Job) (jobs.Job, []jobs.Event, error) { return place(j, 250), nil, nil }); err != nil {
		t.Fatalf("the fourth quarter (UpdateJob): %v", err)
	}
	for _, j := range qs[:4] {
		got, _ := s.Job(ctx, j.ID)
		if got.Placement == nil || got.Placement.Milli != 250 || !slices.Equal(got.Placement.Devices, []string{"d1"}) {
			t.Errorf("%s placement %+v, want 250 milli of d1", j.ID, got.Placement)
		}
	}
	// The device is full: a fifth quarter and a whole device are refused,
	// in a round and alone, and change nothing.
	err = s.SaveRound(ctx, jobs.Round{At: t0.Add(time.Hour)}, []jobs.Update{{Job: place(qs[4], 250), Moved: true}})
	if !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("a fifth quarter on a full device: %v, want ErrConflict", err)
	}
	_, err = s.UpdateJob(ctx, whole.ID, func(j jobs.Job) (jobs.Job, []jobs.Event, error) { return place(j, 0), nil, nil })
	if !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("a whole device on a shared one: %v, want ErrConflict", err)
	}
	for _, j := range []jobs.Job{qs[4], whole} {
		if got, _ := s.Job(ctx, j.ID); got.State != jobs.Pending || got.Placement != nil {
			t.Errorf("refused %s changed: %s %+v", j.ID, got.State, got.Placement)
		}
	}
	// One quarter leaves: the fifth fits where it was.
	q0 := place(qs[0], 250)
	q0.State, q0.Placement = jobs.Preempted, nil
	if err := s.SaveRound(ctx, jobs.Round{At: t0.Add(2 * time.Hour)}, []jobs.Update{{Job: q0, Moved: true}, {Job: place(qs[4], 250), Moved: true}}); err != nil {
		t.Errorf("a quarter leaves, another takes its place: %v", err)
	}
	l, err := s.Jobs(ctx, jobs.Filter{Shared: true})
	if err != nil || len(l) != 5 {
		t.Errorf("shared filter: %d jobs %v, want the 5 quarters", len(l), err)
	}
	if n, err := s.CountJobs(ctx, jobs.Filter{Shared: true, States: []jobs.State{jobs.Running}}); err != nil || n != 4 {
		t.Errorf("running shared jobs: %d %v, want 4", n, err)
	}
}
