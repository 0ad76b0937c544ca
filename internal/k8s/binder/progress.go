package binder

import (
	"slices"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// Progress turns the runs a backend enacted into progress in wall time: a
// job that runs accrues its placement's steps per second between two
// Observes. Kubernetes tells no step counts, so the wall clock is the
// measure (the binder's pod gangs and the GranaryJob controller's jobs
// both use it). The zero value is ready; it is not safe for concurrent use.
type Progress struct {
	running map[string]control.Run
	last    time.Time
}

// Reset forgets the runs and the last observation (a new term as leader:
// the first Observe reports no progress, as a fresh process's does).
func (p *Progress) Reset() {
	clear(p.running)
	p.last = time.Time{}
}

// Observe returns the progress since the previous Observe of the runs
// whose job mine accepts, and advances their step counts.
func (p *Progress) Observe(now time.Time, mine func(id string) bool) []jobs.Progress {
	var out []jobs.Progress
	if !p.last.IsZero() {
		ran := now.Sub(p.last).Seconds()
		for id, r := range p.running {
			if !mine(id) || ran <= 0 {
				continue
			}
			steps := r.StepsDone + ran*r.StepsPerSecond
			out = append(out, jobs.Progress{JobID: id, StepsDone: steps, CheckpointSteps: steps, RanSeconds: ran, Model: r.Model})
			r.StepsDone = steps
			p.running[id] = r
		}
	}
	p.last = now
	return out
}

// Enact makes runs the running set; a run that continues on the same model
// keeps the steps counted so far.
func (p *Progress) Enact(runs map[string]control.Run) {
	if p.running == nil {
		p.running = map[string]control.Run{}
	}
	for id := range p.running {
		if _, ok := runs[id]; !ok {
			delete(p.running, id)
		}
	}
	for id, r := range runs {
		if old, ok := p.running[id]; ok && !r.Restart && old.Model == r.Model {
			r.StepsDone = max(r.StepsDone, old.StepsDone)
		}
		p.running[id] = r
	}
}

// Merge returns the completions followed by the progress of the runs
// whose job did not complete. The loop keeps one report per job (the last
// one wins), so a progress report after a job's completion would undo it:
// the job would run forever with every pod succeeded.
func Merge(completed, running []jobs.Progress) []jobs.Progress {
	done := make(map[string]bool, len(completed))
	for _, p := range completed {
		done[p.JobID] = true
	}
	out := slices.Clone(completed)
	for _, p := range running {
		if !done[p.JobID] {
			out = append(out, p)
		}
	}
	return out
}
