package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/jobs"
)

// jobsPerPage is the length of one page of the jobs list.
const jobsPerPage = 50

// jobStates are the state filters of the jobs list: the job states plus
// "active" (pending, running, preempted; the default), "waiting" (pending
// and preempted) and "all".
var jobStates = []string{"active", "waiting", "running", "pending", "preempted", "completed", "failed", "cancelled", "all"}

func statesOf(s string) []jobs.State {
	switch s {
	case "active":
		return []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}
	case "waiting":
		return []jobs.State{jobs.Pending, jobs.Preempted}
	case "all":
		return nil
	}
	return []jobs.State{jobs.State(s)}
}

// jobsQuery is the jobs list's filter, from the URL.
type jobsQuery struct {
	State, Team, Q string
	Page           int // from 1
}

func (q jobsQuery) url(page int) string {
	v := url.Values{}
	if q.State != "active" {
		v.Set("state", q.State)
	}
	if q.Team != "" {
		v.Set("team", q.Team)
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/jobs"
	}
	return "/jobs?" + v.Encode()
}

// parseJobsQuery reads the filter; a bad value is an error for the user.
func parseJobsQuery(v url.Values) (jobsQuery, error) {
	q := jobsQuery{State: "active", Team: strings.TrimSpace(v.Get("team")), Q: strings.TrimSpace(v.Get("q")), Page: 1}
	if s := v.Get("state"); s != "" {
		if !slices.Contains(jobStates, s) {
			return q, fmt.Errorf("state %q is not a job state filter (valid: %s)", s, strings.Join(jobStates, ", "))
		}
		q.State = s
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return q, fmt.Errorf("page %q is not a page number (1, 2, …)", p)
		}
		q.Page = n
	}
	return q, nil
}

// pager is the navigation of a paged list: which rows are shown and the
// links to the other pages (empty when there is none).
type pager struct {
	From, To, Total         int
	First, Prev, Next, Last string
}

func newPager(total, page, per int, link func(int) string) pager {
	pages := max(1, (total+per-1)/per)
	page = min(page, pages)
	p := pager{Total: total, From: (page-1)*per + 1, To: min(page*per, total)}
	if page > 1 {
		p.First, p.Prev = link(1), link(page-1)
	}
	if page < pages {
		p.Next, p.Last = link(page+1), link(pages)
	}
	return p
}

// jobsListPage is /jobs's data.
type jobsListPage struct {
	Now    time.Time
	Policy string
	Round  jobs.Round
	Teams  []jobs.TeamStatus
	States []string
	Query  jobsQuery
	Jobs   []jobs.Job
	Pager  pager
}

func (h *Handler) jobsPage(w http.ResponseWriter, r *http.Request) {
	if h.jobs == nil {
		h.problem(w, r, http.StatusNotFound, "No scheduler runs in this server, so there are no jobs to show.", nil)
		return
	}
	q, err := parseJobsQuery(r.URL.Query())
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ctx := r.Context()
	pg := jobsListPage{States: jobStates, Query: q}
	pg.Now, pg.Policy = h.jobs.Scheduler()
	if pg.Round, err = h.jobs.LastRound(ctx); err == nil {
		pg.Teams, err = h.jobs.Teams(ctx)
	}
	var all []jobs.Job
	if err == nil {
		all, err = h.jobs.Jobs(ctx, jobs.Filter{Team: q.Team, States: statesOf(q.State)})
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The jobs are not available right now.", err)
		return
	}
	if q.Q != "" {
		needle := strings.ToLower(q.Q)
		all = slices.DeleteFunc(all, func(j jobs.Job) bool {
			return !strings.Contains(strings.ToLower(j.ID+" "+j.Name+" "+j.Class), needle)
		})
	}
	pg.Pager = newPager(len(all), q.Page, jobsPerPage, q.url)
	if len(all) > 0 {
		pg.Jobs = all[pg.Pager.From-1 : pg.Pager.To]
	}
	h.render(w, r, http.StatusOK, "jobs.html", view{Title: "Jobs and teams", Nav: "jobs", Sub: "Live scheduling", Body: pg})
}
