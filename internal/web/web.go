// Package web serves Granary's first page: the fleet summary as plain
// server-rendered HTML (html/template, embedded stylesheet, no scripts) —
// totals, devices by state, and the per-model table with dense PFLOPS, HBM
// and export class — and, when a scheduler runs, the jobs running and
// waiting with the reason for each. The full dashboard comes later.
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
)

//go:embed templates/*.html
var templates embed.FS

//go:embed assets
var assets embed.FS

// Summarizer is what the page needs from the ledger.
type Summarizer interface {
	Summary(ctx context.Context) (inventory.Summary, error)
}

// Jobs is what the page's jobs section needs from the scheduler: the jobs
// running and waiting now, at most limit of each. Optional.
type Jobs interface {
	JobsOverview(ctx context.Context, limit int) (JobsOverview, error)
}

// JobsOverview is the jobs section's content.
type JobsOverview struct {
	Policy                     string
	Running, Waiting           []JobRow
	RunningTotal, WaitingTotal int // counts beyond the rows shown
}

// JobRow is one job on the page: where it runs or why it waits.
type JobRow struct {
	ID, Name, Team, Class string
	Gang                  int
	State                 string
	Model                 string // placement's model when running
	Why                   string // reason code and sentence
}

// Option configures a Handler.
type Option func(*Handler)

// WithJobs adds the section listing running and pending jobs.
func WithJobs(j Jobs) Option { return func(h *Handler) { h.jobs = j } }

// jobRows is how many running and waiting jobs the page lists.
const jobRows = 20

// Handler serves GET / and GET /static/….
type Handler struct {
	jobs Jobs
	sum  Summarizer
	log  *slog.Logger
	now  func() time.Time
	tmpl *template.Template
	mux  *http.ServeMux
}

// New builds the handler. now stamps the page ("as of"); nil means time.Now.
func New(sum Summarizer, log *slog.Logger, now func() time.Time, opts ...Option) (*Handler, error) {
	if now == nil {
		now = time.Now
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{sum: sum, log: log, now: now, tmpl: t, mux: http.NewServeMux()}
	for _, o := range opts {
		o(h)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// page is the template's data.
type page struct {
	Summary    inventory.Summary
	States     []fleet.DeviceState
	Precisions []fleet.Precision // the columns shown, in order
	AsOf       time.Time
	Jobs       *JobsOverview // nil without a scheduler
}

// shown are the precisions in the per-model table: the ones buyers compare.
var shown = []fleet.Precision{fleet.FP8, fleet.BF16, fleet.INT8}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	sum, err := h.sum.Summary(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "web: summary", "err", err)
		http.Error(w, "the fleet summary is not available right now", http.StatusInternalServerError)
		return
	}
	pg := page{Summary: sum, States: fleet.DeviceStates, Precisions: shown, AsOf: h.now().UTC()}
	if h.jobs != nil {
		ov, err := h.jobs.JobsOverview(r.Context(), jobRows)
		if err != nil {
			h.log.ErrorContext(r.Context(), "web: jobs", "err", err)
			http.Error(w, "the jobs overview is not available right now", http.StatusInternalServerError)
			return
		}
		pg.Jobs = &ov
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, "index.html", pg); err != nil {
		h.log.ErrorContext(r.Context(), "web: rendering", "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
