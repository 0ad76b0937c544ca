package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/plot"
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
	Share  template.HTML // chart: use vs guarantee per team and model
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
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The jobs are not available right now.", err)
		return
	}
	// The count, then one page, both from the store (the search too:
	// jobs.Filter.Text).
	f := jobs.Filter{Team: q.Team, States: statesOf(q.State), Text: q.Q}
	n, err := h.jobs.CountJobs(ctx, f)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The jobs are not available right now.", err)
		return
	}
	pg.Pager = newPager(n, q.Page, jobsPerPage, q.url)
	if n > 0 {
		f.Offset, f.Limit = pg.Pager.From-1, jobsPerPage
		if pg.Jobs, err = h.jobs.Jobs(ctx, f); err != nil {
			h.problem(w, r, http.StatusInternalServerError, "The jobs are not available right now.", err)
			return
		}
	}
	if pg.Share, err = shareChart(pg.Teams, h.shortName); err != nil {
		h.log.WarnContext(ctx, "web: chart", "err", err)
	}
	h.render(w, r, http.StatusOK, "jobs.html", view{Title: "Jobs and teams", Nav: "jobs", Sub: "Live scheduling", Live: 1, Body: pg})
}

// shareChart draws each team's devices in use against its guarantee, per
// model: one group per (team, model) that has either.
func shareChart(teams []jobs.TeamStatus, short func(string) string) (template.HTML, error) {
	var cats []string
	use, guar := plot.Series{Name: "in use"}, plot.Series{Name: "guaranteed"}
	for _, t := range teams {
		models := map[string]bool{}
		for m := range t.Use {
			models[m] = true
		}
		for m := range t.Guarantees {
			models[m] = true
		}
		keys := make([]string, 0, len(models))
		for m := range models {
			keys = append(keys, m)
		}
		slices.Sort(keys)
		for _, m := range keys {
			cats = append(cats, t.Name+" "+short(m))
			use.Values = append(use.Values, float64(t.Use[m]))
			guar.Values = append(guar.Values, float64(t.Guarantees[m]))
		}
	}
	if len(cats) == 0 {
		return "", nil
	}
	p, err := plot.GroupedBars("Devices in use vs guaranteed, per team and model", "devices", cats, []plot.Series{use, guar})
	if err != nil {
		return "", err
	}
	return svg(p, "Each team's devices in use against its guarantee, per model; the teams table has the numbers")
}

type jobPage struct {
	Job     jobs.Job
	Now     time.Time
	Message string
	Session *session
}

func (h *Handler) jobPage(w http.ResponseWriter, r *http.Request) {
	if h.jobs == nil || h.ctl == nil {
		h.problem(w, r, http.StatusNotFound, "No scheduler runs in this server, so there are no jobs to show.", nil)
		return
	}
	h.showJob(w, r, http.StatusOK, r.PathValue("id"), r.URL.Query().Get("changed"))
}

func (h *Handler) showJob(w http.ResponseWriter, r *http.Request, status int, id, msg string) {
	j, err := h.ctl.Get(r.Context(), id)
	if errors.Is(err, fleet.ErrNotFound) {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("No job has id %q (ids look like job-42).", id), nil)
		return
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The job is not available right now.", err)
		return
	}
	now, _ := h.jobs.Scheduler()
	h.render(w, r, status, "job.html", view{Title: "Job " + j.ID, Nav: "jobs", Sub: j.Name + " · team " + j.Team + " · " + string(j.State), Live: 1, Body: jobPage{Job: j, Now: now, Message: msg, Session: sessionFrom(r.Context())}})
}

// cancelJob is the job page's form: POST /jobs/{id}/cancel with csrf;
// operators and admins only.
func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	if h.ctl == nil {
		h.problem(w, r, http.StatusNotFound, "No scheduler runs in this server.", nil)
		return
	}
	s := h.checkForm(w, r, inventory.RoleOperator)
	if s == nil {
		return
	}
	id := r.PathValue("id")
	j, err := h.ctl.Cancel(r.Context(), id, s.Token.ID)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("No job has id %q.", id), nil)
	case errors.Is(err, fleet.ErrConflict):
		h.showJob(w, r, http.StatusConflict, id, "Not cancelled: "+err.Error())
	case err != nil:
		h.problem(w, r, http.StatusInternalServerError, "The job could not be cancelled right now; nothing was changed.", err)
	default:
		http.Redirect(w, r, "/jobs/"+url.PathEscape(id)+"?changed="+url.QueryEscape("Cancelled; now "+string(j.State)+"."), http.StatusSeeOther)
	}
}
