package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// Failures is what the failures page reads: failure rates learned from the
// ledger's own history at a confidence (*inventory.Service is one).
type Failures interface {
	Failures(ctx context.Context, conf float64) (inventory.FailureStats, error)
	// FailureEvents lists the failures a row counts (a catalog id and a
	// band of inventory.AgeBands).
	FailureEvents(ctx context.Context, model, band string) ([]inventory.FailureEvent, error)
}

// WithFailures adds the failures page (/failures): annualized failure rates
// per model and age band with their intervals, as granary inventory
// failures and GET /api/v1/failures give them.
func WithFailures(f Failures) Option { return func(h *Handler) { h.fail = f } }

// Confidence bounds of the failures page's intervals.
const minConfidence, maxConfidence = 0.5, 0.999

type failuresPage struct {
	Stats      inventory.FailureStats
	Confidence string // as asked, for the form
}

func (h *Handler) failuresPage(w http.ResponseWriter, r *http.Request) {
	if h.fail == nil {
		h.problem(w, r, http.StatusNotFound, "This server has no failure statistics.", nil)
		return
	}
	conf := 0.9
	if s := r.URL.Query().Get("confidence"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= minConfidence && v <= maxConfidence) {
			h.problem(w, r, http.StatusBadRequest, fmt.Sprintf("confidence %q: want a number from %g to %g (e.g. 0.9)", s, minConfidence, maxConfidence), nil)
			return
		}
		conf = v
	}
	st, err := h.fail.Failures(r.Context(), conf)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "Reading the ledger failed.", err)
		return
	}
	h.render(w, r, http.StatusOK, "failures.html", view{Title: "Failures", Nav: "failures",
		Sub:  fmt.Sprintf("learned from the ledger's own history, %g %% intervals", 100*conf),
		Body: failuresPage{Stats: st, Confidence: strconv.FormatFloat(conf, 'g', -1, 64)}})
}

// failuresURL is the list of the failures counted in one row of the
// failures page.
func failuresURL(model, band string) string {
	return "/failures/events?" + url.Values{"model": {model}, "band": {band}}.Encode()
}

// failureRowsPerPage is how many failures the failures list shows a page
// (a variable so a test can page a small ledger).
var failureRowsPerPage = 100

type failureEventsPage struct {
	Model, Band string
	Events      []inventory.FailureEvent
	Pager       pager
}

// failureEventsPage lists the failures one row of the failures page
// counts: the events moving a device of the model to failed while its age
// was in the band ("all": any age), 100 a page. Device-level, so it needs
// a sign-in.
func (h *Handler) failureEventsPage(w http.ResponseWriter, r *http.Request) {
	if h.fail == nil {
		h.problem(w, r, http.StatusNotFound, "This server has no failure statistics.", nil)
		return
	}
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	v := r.URL.Query()
	model, band := v.Get("model"), v.Get("band")
	if band == "" {
		band = "all"
	}
	page := 1
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			h.problem(w, r, http.StatusBadRequest, fmt.Sprintf("page %q is not a page number (1 or more)", p), nil)
			return
		}
		page = n
	}
	if model == "" {
		h.problem(w, r, http.StatusBadRequest, "model is missing: the failures of one model are listed (a catalog id, as the failures page links it)", nil)
		return
	}
	evs, err := h.fail.FailureEvents(r.Context(), model, band)
	if errors.Is(err, fleet.ErrInvalid) {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "Reading the ledger failed.", err)
		return
	}
	link := func(p int) string {
		u := failuresURL(model, band)
		if p > 1 {
			u += "&page=" + strconv.Itoa(p)
		}
		return u
	}
	pg := failureEventsPage{Model: model, Band: band, Pager: newPager(len(evs), page, failureRowsPerPage, link)}
	if len(evs) > 0 {
		pg.Events = evs[pg.Pager.From-1 : pg.Pager.To]
	}
	h.render(w, r, http.StatusOK, "failureevents.html", view{Title: "Failures of " + model + " (" + band + ")", Nav: "failures",
		Sub: "The failures the failures page counts for this model and age band, oldest first", Body: pg})
}
