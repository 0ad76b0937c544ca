package binder

import (
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// A gang that completes in a round where its run also accrued wall time:
// the loop keeps the last report of each job (control's account step), so
// the completion must be the one that survives, and the job completes
// (before Merge the binder appended the run's progress after the
// completion, and the job ran forever with every pod succeeded).
func TestMergeKeepsCompletion(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	var p Progress
	p.Enact(map[string]control.Run{"j1": {Job: "j1", Model: "a800", StepsPerSecond: 1}, "j2": {Job: "j2", Model: "a800", StepsPerSecond: 1}})
	p.Observe(now, func(string) bool { return true })
	running := p.Observe(now.Add(10*time.Second), func(string) bool { return true })
	if len(running) != 2 {
		t.Fatalf("progress %+v, want both runs", running)
	}
	completed := []jobs.Progress{{JobID: "j1", Completed: true, CompletedAt: now.Add(10 * time.Second), Model: "a800"}}
	last := map[string]jobs.Progress{} // as control's account step reads a report
	for _, r := range Merge(completed, running) {
		last[r.JobID] = r
	}
	for id, want := range map[string]jobs.State{"j1": jobs.Completed, "j2": jobs.Running} {
		j := jobs.Job{ID: id, State: jobs.Running, Spec: jobs.Spec{TotalSteps: UntilDone}, Placement: &jobs.Placement{Model: "a800"}}
		jobs.Observe(&j, last[id])
		if j.State != want {
			t.Errorf("job %s is %s after the round, want %s (report %+v)", id, j.State, want, last[id])
		}
	}
	if last["j2"].RanSeconds != 10 {
		t.Errorf("j2's progress %+v lost", last["j2"])
	}
}
