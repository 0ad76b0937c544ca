package live

import (
	"context"
	"time"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/jobs"
)

// register adds the jobs and teams API routes.
func (l *Live) register(r *api.Registrar) { api.JobRoutes(l.Service)(r) }

// Scheduler, LastRound, Teams and Jobs are what the dashboard reads
// (web.Jobs; servecmd wires Live there).

// Scheduler returns the scheduler's clock and policy.
func (l *Live) Scheduler() (time.Time, string) { return l.clock.Now(), l.Loop.Policy() }

// LastRound returns the latest round.
func (l *Live) LastRound(ctx context.Context) (jobs.Round, error) {
	return l.cfg.Store.(Store).LastRound(ctx)
}

// Teams returns every team with its use.
func (l *Live) Teams(ctx context.Context) ([]jobs.TeamStatus, error) { return l.Service.Teams(ctx) }

// Jobs returns the jobs matching f.
func (l *Live) Jobs(ctx context.Context, f jobs.Filter) ([]jobs.Job, error) {
	return l.Service.List(ctx, f)
}

// CountJobs returns how many jobs match f.
func (l *Live) CountJobs(ctx context.Context, f jobs.Filter) (int, error) {
	return l.Service.Count(ctx, f)
}
