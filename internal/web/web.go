// Package web is Granary's dashboard: server-rendered pages (html/template,
// one layout and one embedded stylesheet, no scripts) over the ledger and,
// when a scheduler runs, its jobs and teams. The fleet page (/) shows
// totals, devices by state, the per-model table and a jobs overview; /jobs
// lists teams and every job, filtered, searched and paged on the server.
// The handler reads through small interfaces (Summarizer, Jobs) that the
// inventory service and the live scheduler implement; servecmd wires them.
package web

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed assets
var assets embed.FS

// Summarizer is what the fleet page needs from the ledger.
type Summarizer interface {
	Summary(ctx context.Context) (inventory.Summary, error)
}

// Jobs is what the jobs pages read from live scheduling. Optional: without
// it the fleet page has no jobs section and /jobs says no scheduler runs.
type Jobs interface {
	// Scheduler returns the scheduler's clock now and its policy name.
	Scheduler() (now time.Time, policy string)
	// LastRound returns the latest round (Seq 0 when none ran).
	LastRound(ctx context.Context) (jobs.Round, error)
	// Teams returns every team with its use, ordered by name.
	Teams(ctx context.Context) ([]jobs.TeamStatus, error)
	// Jobs returns the jobs matching f in ID order, without history.
	Jobs(ctx context.Context, f jobs.Filter) ([]jobs.Job, error)
}

// Option configures a Handler.
type Option func(*Handler)

// WithJobs adds the jobs pages and the fleet page's jobs section.
func WithJobs(j Jobs) Option { return func(h *Handler) { h.jobs = j } }

// jobRows is how many running and waiting jobs the fleet page lists.
const jobRows = 20

// Handler serves the dashboard's pages and /static/….
type Handler struct {
	jobs  Jobs
	sum   Summarizer
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New builds the handler. now stamps the pages ("read at"); nil means time.Now.
func New(sum Summarizer, log *slog.Logger, now func() time.Time, opts ...Option) (*Handler, error) {
	if now == nil {
		now = time.Now
	}
	h := &Handler{sum: sum, log: log, now: now, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	for _, o := range opts {
		o(h)
	}
	for _, name := range []string{"index.html", "jobs.html", "problem.html"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templates, "templates/layout.html", "templates/parts.html", "templates/"+name)
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /jobs", h.jobsPage)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// view is what the layout renders: the page's title, its section in the
// navigation, a subtitle, when the data was read, and the page's own data.
type view struct {
	Title, Nav, Sub string
	AsOf            time.Time
	Body            any
}

// render executes page into a buffer first, so a failing template is a
// clean 500 and never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.AsOf = h.now().UTC()
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.ErrorContext(r.Context(), "web: rendering", "page", page, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// problem renders a page saying what went wrong: msg is shown as is, so it
// must not carry internal details; err (if any) is logged.
func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if err != nil {
		h.log.ErrorContext(r.Context(), "web: "+msg, "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "problem.html", view{Title: http.StatusText(status), Sub: r.URL.Path, Body: msg})
}

// indexPage is the fleet page's data.
type indexPage struct {
	Summary    inventory.Summary
	States     []fleet.DeviceState
	Precisions []fleet.Precision // the columns shown, in order
	Jobs       *jobsOverview     // nil without a scheduler
}

// jobsOverview is the fleet page's jobs section.
type jobsOverview struct {
	Policy                     string
	Running, Waiting           []jobs.Job
	RunningTotal, WaitingTotal int
}

// shown are the precisions in the per-model table: the ones buyers compare.
var shown = []fleet.Precision{fleet.FP8, fleet.BF16, fleet.INT8}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	sum, err := h.sum.Summary(r.Context())
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The fleet summary is not available right now.", err)
		return
	}
	pg := indexPage{Summary: sum, States: fleet.DeviceStates, Precisions: shown}
	if h.jobs != nil {
		ov, err := h.overview(r.Context())
		if err != nil {
			h.problem(w, r, http.StatusInternalServerError, "The jobs overview is not available right now.", err)
			return
		}
		pg.Jobs = &ov
	}
	h.render(w, r, http.StatusOK, "index.html", view{Title: "Fleet", Nav: "fleet", Sub: "Stockpile ledger", Body: pg})
}

// overview reads the first running and waiting jobs, with the last round's
// counts as totals.
func (h *Handler) overview(ctx context.Context) (jobsOverview, error) {
	_, policy := h.jobs.Scheduler()
	ov := jobsOverview{Policy: policy}
	round, err := h.jobs.LastRound(ctx)
	if err != nil {
		return ov, err
	}
	if ov.Running, err = h.jobs.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}, Limit: jobRows}); err != nil {
		return ov, err
	}
	if ov.Waiting, err = h.jobs.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Preempted}, Limit: jobRows}); err != nil {
		return ov, err
	}
	ov.RunningTotal, ov.WaitingTotal = max(round.Running, len(ov.Running)), max(round.Waiting, len(ov.Waiting))
	return ov, nil
}
