package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/granaryhq/granary/internal/inventory"
)

// Failures is what the failures page reads: failure rates learned from the
// ledger's own history at a confidence (*inventory.Service is one).
type Failures interface {
	Failures(ctx context.Context, conf float64) (inventory.FailureStats, error)
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
