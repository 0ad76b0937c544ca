package jobs

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Progress is what a backend observed of one job since the last round.
type Progress struct {
	JobID string
	// StepsDone and CheckpointSteps are the job's totals now.
	StepsDone       float64
	CheckpointSteps float64
	// RanSeconds is the wall time it ran (on Model) since the last round.
	RanSeconds float64
	Model      string
	// Completed is set when it did all its steps, at CompletedAt.
	Completed   bool
	CompletedAt time.Time
}

// Observe applies a backend's progress report to j and returns the events
// to append to its history.
func Observe(j *Job, pr Progress) []Event {
	if j.State.Final() {
		return nil
	}
	j.StepsDone = min(max(j.StepsDone, pr.StepsDone), j.TotalSteps)
	j.CheckpointSteps = min(max(j.CheckpointSteps, pr.CheckpointSteps), j.StepsDone)
	j.AttainedSeconds += max(0, pr.RanSeconds)
	if !pr.Completed {
		return nil
	}
	j.StepsDone = j.TotalSteps
	j.CheckpointSteps = j.TotalSteps
	j.State = Completed
	j.FinishedAt = pr.CompletedAt
	j.Placement = nil
	j.Why = Explanation{CodeCompleted, fmt.Sprintf("completed %.0f steps in %s (%s running)", j.TotalSteps, roundDur(pr.CompletedAt.Sub(j.SubmittedAt)), roundDur(time.Duration(j.AttainedSeconds*float64(time.Second))))}
	return []Event{{At: pr.CompletedAt, Kind: "completed", Message: j.Why.Message}}
}

// DevicesLost restarts j from its last checkpoint when any of the devices it
// ran on left service (failed, maintenance, …); states says each lost
// device's new state. It returns the history event, or nil when j lost none.
func DevicesLost(j *Job, now time.Time, states map[string]string) []Event {
	if j.Placement == nil || j.State.Final() {
		return nil
	}
	var lost []string
	for _, s := range j.Placement.Devices {
		if st, ok := states[s]; ok {
			lost = append(lost, s+" ("+st+")")
		}
	}
	if len(lost) == 0 {
		return nil
	}
	back := j.StepsDone - j.CheckpointSteps
	j.StepsDone = j.CheckpointSteps
	msg := fmt.Sprintf("lost %s on %s; restarting from the checkpoint at step %.0f (%.0f steps redone)", strings.Join(lost, ", "), strings.Join(j.Placement.Nodes, ", "), j.CheckpointSteps, back)
	j.Placement = nil
	j.State = Preempted
	return []Event{{At: now, Kind: "checkpoint-restart", Message: msg}}
}

// Decide applies one round's plan to an active job: the new placement (nil:
// it waits) and the explanation. It returns the history events, and whether
// the job's placement changed (its devices must be re-enacted).
func Decide(j *Job, now time.Time, pl *Placement, why Explanation, names Names) (evs []Event, moved bool) {
	if j.State.Final() {
		return nil, false
	}
	j.Why = why
	prev := j.Placement
	switch {
	case pl == nil && prev == nil:
		return nil, false
	case pl == nil:
		// A preemption by the scheduler checkpoints first (Gavel's
		// assumption); only failures lose work.
		j.CheckpointSteps = j.StepsDone
		j.Placement = nil
		j.State = Preempted
		return []Event{{At: now, Kind: "preempted", Message: fmt.Sprintf("stopped on %s at step %.0f (checkpointed): %s", names.of(prev.Model), j.StepsDone, why.Message)}}, true
	}
	cp := *pl
	cp.Devices = slices.Clone(pl.Devices)
	if prev != nil && prev.Model == pl.Model && slices.Equal(prev.Devices, pl.Devices) {
		cp.Since = prev.Since
		j.Placement = &cp
		j.State = Running
		return nil, false
	}
	j.Placement = &cp
	kind := "started"
	msg := fmt.Sprintf("%d × %s on %s: %s", len(cp.Devices), names.of(cp.Model), strings.Join(cp.Nodes, ", "), why.Message)
	if cp.Milli > 0 {
		msg = fmt.Sprintf("%d milli of %s %s on %s: %s", cp.Milli, names.of(cp.Model), cp.Devices[0], strings.Join(cp.Nodes, ", "), why.Message)
	}
	if prev != nil {
		kind = "moved"
		msg = fmt.Sprintf("moved from %s to %s", names.of(prev.Model), msg)
	}
	if j.State == Preempted || prev != nil {
		j.Restarts++
		msg += fmt.Sprintf(" (restart %d, from step %.0f)", j.Restarts, j.StepsDone)
	}
	j.State = Running
	return []Event{{At: now, Kind: kind, Message: msg}}, true
}

// Cancel moves a job to cancelled, or fails with an error wrapping
// fleet.ErrConflict when it is already final.
func Cancel(j *Job, now time.Time, actor string) ([]Event, error) {
	if j.State.Final() {
		return nil, &StateError{ID: j.ID, State: j.State}
	}
	j.State = Cancelled
	j.FinishedAt = now
	j.Placement = nil
	by := ""
	if actor != "" {
		by = " by " + actor
	}
	j.Why = Explanation{CodeCancelled, "cancelled" + by}
	return []Event{{At: now, Kind: "cancelled", Message: fmt.Sprintf("cancelled%s at step %.0f of %.0f", by, j.StepsDone, j.TotalSteps)}}, nil
}

func roundDur(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
