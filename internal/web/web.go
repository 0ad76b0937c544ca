// Package web is Granary's dashboard: server-rendered pages (html/template,
// one layout, one embedded stylesheet, charts drawn as inline SVG by
// internal/plot, one small script that refreshes live pages) over the
// ledger, the chip catalog, the fit advisor, the runway forecast and, when
// a scheduler runs, its jobs and teams. Pages: / (fleet), /devices and
// /devices/{serial}, /nodes and /nodes/{host}, /jobs and /jobs/{id}, /chips and
// /chips/{id}, /fit, /runway, /failures and /failures/events, /signin
// (docs/dashboard.md). Lists are
// filtered and paged on the server. Sign-in and the forms that change state
// are in auth.go. The handler reads through small interfaces (Ledger, Jobs,
// JobControl) that the inventory service, the live scheduler and the jobs
// service implement; servecmd wires them.
package web

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/forecast"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed assets
var assets embed.FS

// Ledger is what the pages need from the stockpile ledger
// (*inventory.Service is one).
type Ledger interface {
	Summary(ctx context.Context) (inventory.Summary, error)
	List(ctx context.Context, f inventory.Filter) (inventory.Page, error)
	Count(ctx context.Context, f inventory.Filter) (int, error)
	Get(ctx context.Context, serial string) (inventory.Device, error)
	History(ctx context.Context, serial string) ([]inventory.Event, error)
	Events(ctx context.Context, q inventory.EventFilter) ([]inventory.Event, error)
	StateAt(ctx context.Context, q inventory.StateAtFilter) ([]inventory.Event, error)
	CountStateAt(ctx context.Context, q inventory.StateAtFilter) (int, error)
	Nodes(ctx context.Context) ([]inventory.Node, error)
	SetState(ctx context.Context, serial string, to fleet.DeviceState, reason, actor string) (inventory.Event, error)
	Authenticate(ctx context.Context, secret string) (inventory.Token, error)
	Catalog() *accel.Catalog
	LedgerFleet(ctx context.Context, p *forecast.Plan, file string) (skipped []string, err error)
}

// JobControl is what the job page needs beyond listing: one job with its
// history, and cancelling it (*jobs.Service is one).
type JobControl interface {
	Get(ctx context.Context, id string) (jobs.Job, error)
	Cancel(ctx context.Context, id, actor string) (jobs.Job, error)
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
	// CountJobs returns how many jobs match f (Limit and Offset ignored).
	CountJobs(ctx context.Context, f jobs.Filter) (int, error)
}

// Option configures a Handler.
type Option func(*Handler)

// WithLiveEvery sets how often the fleet and jobs pages re-read themselves
// in the browser (default 10 s; 0 turns it off).
func WithLiveEvery(d time.Duration) Option { return func(h *Handler) { h.live = d } }

// WithJobs adds the jobs pages and the fleet page's jobs section; c (may
// be nil) adds the job page and cancelling.
func WithJobs(j Jobs, c JobControl) Option { return func(h *Handler) { h.jobs, h.ctl = j, c } }

// jobRows is how many running and waiting jobs the fleet page lists.
const jobRows = 20

// Handler serves the dashboard's pages and /static/….
type Handler struct {
	jobs  Jobs
	ctl   JobControl
	fail  Failures
	led   Ledger
	hist  *history
	live  time.Duration
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New builds the handler. now stamps the pages ("read at"); nil means time.Now.
func New(led Ledger, log *slog.Logger, now func() time.Time, opts ...Option) (*Handler, error) {
	if now == nil {
		now = time.Now
	}
	h := &Handler{led: led, log: log, now: now, hist: &history{}, live: 10 * time.Second, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	for _, o := range opts {
		o(h)
	}
	for _, name := range []string{"index.html", "jobs.html", "job.html", "devices.html", "device.html", "node.html", "nodes.html", "history.html", "chips.html", "chip.html", "fit.html", "runway.html", "failures.html", "failureevents.html", "signin.html", "problem.html"} {
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
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", h.index)
	pages.HandleFunc("GET /devices", h.devicesPage)
	pages.HandleFunc("GET /devices/{serial}", h.devicePage)
	pages.HandleFunc("GET /nodes", h.nodesPage)
	pages.HandleFunc("GET /nodes/{host}", h.nodePage)
	pages.HandleFunc("GET /history", h.historyPage)
	pages.HandleFunc("GET /jobs", h.jobsPage)
	pages.HandleFunc("GET /jobs/{id}", h.jobPage)
	pages.HandleFunc("GET /chips", h.chipsPage)
	pages.HandleFunc("GET /chips/{id}", h.chipPage)
	pages.HandleFunc("GET /fit", h.fitForm)
	pages.HandleFunc("POST /fit", h.fitUpload)
	pages.HandleFunc("GET /runway", h.runwayForm)
	pages.HandleFunc("GET /failures", h.failuresPage)
	pages.HandleFunc("GET /failures/events", h.failureEventsPage)
	pages.HandleFunc("POST /runway", h.runway)
	pages.HandleFunc("GET /signin", h.signinForm)
	pages.HandleFunc("POST /signin", h.signin)
	pages.HandleFunc("POST /signout", h.signout)
	pages.HandleFunc("POST /devices/{serial}/state", h.setState)
	pages.HandleFunc("POST /jobs/{id}/cancel", h.cancelJob)
	pages.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.problem(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".", nil)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.problem(w, r, http.StatusForbidden, "A form from another site was refused; nothing was changed.", nil)
	}))
	h.mux.Handle("/", cop.Handler(h.withSession(h.wellFormed(pages))))
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return h, nil
}

// wellFormed refuses an address whose query does not parse (a stray "%",
// say) with a 400 that says so, instead of serving the page with the
// broken parameters silently dropped (url.URL.Query ignores them).
func (h *Handler) wellFormed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			h.problem(w, r, http.StatusBadRequest, "The address's query is malformed ("+err.Error()+"); nothing was read or changed.", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// view is what the layout renders: the page's title, its section in the
// navigation, a subtitle, when the data was read, and the page's own data.
type view struct {
	Title, Nav, Sub string
	AsOf            time.Time
	Session         *session // nil: not signed in
	Path            string   // the page's URL, for the sign-in link
	Live            int      // > 0: the page re-reads itself every Live seconds (live.js)
	Body            any
}

// render executes page into a buffer first, so a failing template is a
// clean 500 and never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.AsOf = h.now().UTC()
	v.Session = sessionFrom(r.Context())
	v.Path = r.URL.RequestURI()
	if v.Live > 0 && h.live > 0 {
		v.Live = int(h.live / time.Second)
	} else {
		v.Live = 0
	}
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
