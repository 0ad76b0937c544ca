package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/forecast"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/plot"
)

// Runway limits, as the API's POST /api/v1/runway: the forecast is CPU
// work on the server.
const (
	maxRunwayPaths = 20_000
	runwayTimeout  = 60 * time.Second
	maxPlanBytes   = 1 << 20
)

// defaultPlan is the editor's first text: no fleet, so the live ledger.
const defaultPlan = `# A runway plan (docs/runway.md). Without a fleet: the live inventory,
# per model the devices in service and in reserve.
start: 2027-01
horizon_months: 72
paths: 2000
afr: {default: 0.06}
deliveries:
  - {model: 910C, units_per_quarter: 150, from: 2027-04, cv: 0.5}
demand:
  inference: {pflops: 300, growth_per_year: 2.2}
efficiency_gain_per_year: 1.3
`

type runwayPage struct {
	Plan     string
	Lines    []planLine // the plan with its lines numbered, errors marked
	Errors   []string   // parse errors, each with its line
	Result   *forecast.Result
	Charts   []template.HTML
	Skipped  []string // live models the catalog cannot rate
	Live     bool     // the fleet came from the ledger
	Problem  string
	MaxPaths int
}

type planLine struct {
	N    int
	Text string
	Bad  bool
}

func (h *Handler) runwayForm(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	h.render(w, r, http.StatusOK, "runway.html", view{Title: "Runway", Nav: "runway", Sub: "How long the stockpile lasts (as granary runway)",
		Body: runwayPage{Plan: defaultPlan, MaxPaths: maxRunwayPaths}})
}

// runway runs a posted plan: the editor's text, or an uploaded file.
func (h *Handler) runway(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	pg := runwayPage{MaxPaths: maxRunwayPaths}
	show := func(status int) {
		h.render(w, r, status, "runway.html", view{Title: "Runway", Nav: "runway", Sub: "How long the stockpile lasts (as granary runway)", Body: pg})
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPlanBytes+64<<10)
	if err := r.ParseMultipartForm(maxPlanBytes); err != nil {
		pg.Problem, pg.Plan = fmt.Sprintf("The form could not be read (a plan is at most %d KiB).", maxPlanBytes>>10), defaultPlan
		show(http.StatusBadRequest)
		return
	}
	file, data := "plan", []byte(r.FormValue("plan"))
	if f, hdr, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(f)
		f.Close()
		if err == nil && len(b) > 0 {
			file, data = hdr.Filename, b
		}
	}
	pg.Plan = string(data)
	plan, err := forecast.ParsePlan(file, data)
	if err == nil && plan.Paths > maxRunwayPaths {
		err = &fleet.InputError{Pos: fleet.Position{File: file, Field: "paths"}, Msg: fmt.Sprintf("%d paths: the server runs at most %d", plan.Paths, maxRunwayPaths)}
	}
	if err == nil {
		pg.Live = len(plan.Fleet) == 0
		pg.Skipped, err = h.led.LedgerFleet(r.Context(), &plan, file)
	}
	if err != nil {
		if !errors.Is(err, fleet.ErrInvalid) {
			h.problem(w, r, http.StatusInternalServerError, "The forecast could not run right now.", err)
			return
		}
		pg.Errors, pg.Lines = planErrors(err, pg.Plan)
		show(http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), runwayTimeout)
	defer cancel()
	res, err := forecast.Run(ctx, plan, h.led.Catalog(), forecast.Options{})
	if err != nil {
		if ctx.Err() != nil {
			pg.Problem = fmt.Sprintf("The forecast did not finish within %v; ask for fewer paths.", runwayTimeout)
			show(http.StatusServiceUnavailable)
			return
		}
		if errors.Is(err, fleet.ErrInvalid) {
			pg.Errors, pg.Lines = planErrors(err, pg.Plan)
			show(http.StatusBadRequest)
			return
		}
		h.problem(w, r, http.StatusInternalServerError, "The forecast failed.", err)
		return
	}
	pg.Result = &res
	if pg.Charts, err = runwayCharts(res); err != nil {
		h.log.WarnContext(r.Context(), "web: chart", "err", err)
	}
	show(http.StatusOK)
}

// planErrors lists a plan's errors and numbers its lines, marking those
// the errors name.
func planErrors(err error, text string) ([]string, []planLine) {
	var list fleet.InputErrors
	var one *fleet.InputError
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = fleet.InputErrors{one}
	default:
		return []string{err.Error()}, nil
	}
	var msgs []string
	bad := map[int]bool{}
	for _, e := range list {
		msgs = append(msgs, e.Error())
		bad[e.Pos.Line] = true
	}
	var lines []planLine
	for i, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		lines = append(lines, planLine{N: i + 1, Text: l, Bad: bad[i+1]})
	}
	if !slices.ContainsFunc(lines, func(l planLine) bool { return l.Bad }) {
		lines = nil // no line to point at: the messages say where
	}
	return msgs, lines
}

// runwayCharts draws a forecast with plot.Runway (as granary runway --plot).
func runwayCharts(r forecast.Result) ([]template.HTML, error) {
	n := len(r.Series)
	lo, mid, hi, d := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, s := range r.Series {
		lo[i], mid[i], hi[i], d[i] = s.Supply.P10, s.Supply.P50, s.Supply.P90, s.Demand.P50
	}
	start, err := forecast.ParseMonth(r.Start)
	if err != nil {
		return nil, err
	}
	levers := make([]plot.LeverGain, len(r.Levers))
	for i, l := range r.Levers {
		levers[i] = plot.LeverGain{Name: l.Name, Months: l.GainMonths, AtLeast: l.AtLeast}
	}
	charts, err := plot.Runway("Supply vs demand (P10–P90 band)", start.Year(), start.Mon(), lo, mid, hi, d, levers)
	if err != nil {
		return nil, err
	}
	labels := []string{"Supply P10 to P90 against demand per month; the table has the quantiles", "Months of P50 runway each lever gains; the table has the numbers"}
	out := make([]template.HTML, len(charts))
	for i, c := range charts {
		if out[i], err = svg(c, labels[min(i, 1)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
