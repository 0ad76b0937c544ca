package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/jobs"
)

// SubmitJob submits a job.
func (c *Client) SubmitJob(ctx context.Context, j api.NewJob) (api.Job, error) {
	var out api.Job
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/jobs", j, &out)
	return out, err
}

// SubmitJobs submits jobs all or none: when one is refused, none is
// created and the error lists every refused job.
func (c *Client) SubmitJobs(ctx context.Context, js []api.NewJob) ([]api.Job, error) {
	var out api.JobList
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/jobs/batch", api.NewJobs{Jobs: js}, &out)
	return out.Jobs, err
}

// JobListOptions filter a job listing; empty fields match everything.
// State may be a job state, "active" or "all"; empty lists active jobs and
// those finished in the last day (api.RecentFinished).
type JobListOptions struct {
	Team, State string
	Cursor      string // the Next of the previous page
	Limit       int    // page size; 0: the server's default (100)
	Shared      bool   // only jobs that ask for a share of a device
}

// Jobs returns one page of jobs, newest first; its Next is the cursor of
// the following (older) page.
func (c *Client) Jobs(ctx context.Context, o JobListOptions) (api.JobList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"team": o.Team, "state": o.State, "cursor": o.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Shared {
		q.Set("shared", "true")
	}
	var out api.JobList
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs", q, "", nil, &out)
	return out, err
}

// Job returns one job with its history.
func (c *Client) Job(ctx context.Context, id string) (api.Job, error) {
	var out api.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, "", nil, &out)
	return out, err
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, id string) (api.Job, error) {
	var out api.Job
	err := c.do(ctx, http.MethodDelete, "/api/v1/jobs/"+url.PathEscape(id), nil, "", nil, &out)
	return out, err
}

// Teams lists teams with their use.
func (c *Client) Teams(ctx context.Context) ([]jobs.TeamStatus, error) {
	return allPages[jobs.TeamStatus, api.TeamList](ctx, c, "/api/v1/teams", nil)
}

// PutTeam creates or replaces a team.
func (c *Client) PutTeam(ctx context.Context, name string, t api.TeamConfig) (jobs.Team, error) {
	var out jobs.Team
	err := c.doJSON(ctx, http.MethodPut, "/api/v1/teams/"+url.PathEscape(name), t, &out)
	return out, err
}

// DeleteTeam removes a team record.
func (c *Client) DeleteTeam(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/teams/"+url.PathEscape(name), nil, "", nil, nil)
}
