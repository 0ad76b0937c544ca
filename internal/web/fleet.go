package web

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/plot"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// indexPage is the fleet page's data.
type indexPage struct {
	Summary    inventory.Summary
	States     []fleet.DeviceState
	Precisions []fleet.Precision // the columns shown, in order
	ByModel    template.HTML     // chart: devices by model × state
	RuleSets   []exportctl.RuleSet
	RuleSet    string       // the chosen one's name
	Classes    []classCount // held devices per class under RuleSet
	Sites      []siteCount
	Days       template.HTML // chart: devices by state per day
	DaysNote   string
	DayRows    []dayRow      // the chart's numbers, newest day first
	Jobs       *jobsOverview // nil without a scheduler
}

type classCount struct {
	Class, RuleSet              string
	Listed                      bool // a band the devices list filters by (not "unknown chip")
	Devices, InService, Reserve int
	Models                      []string // catalog ids, for the links
}

// URL is the devices list of the class under its rule set, in state st
// ("" for every state).
func (c classCount) URL(st string) string {
	return devicesQuery{Class: c.Class, Rules: c.RuleSet, State: st, Limit: inventory.DefaultPageSize}.url("")
}

// siteCount is one site and its nodes. Its devices are the list the site
// links to (which counts them): counting them here is a scan of the devices
// table per site on SQLite (no site index), which the page cannot afford.
type siteCount struct {
	Site  string
	Nodes int
}

// URL is the devices list of the site.
func (s siteCount) URL() string {
	return devicesQuery{Site: s.Site, Limit: inventory.DefaultPageSize}.url("")
}

// NodesURL is the nodes list of the site, whose count is Nodes.
func (s siteCount) NodesURL() string { return nodesURL(s.Site) }

// dayRow is one day of the per-day chart: the devices in each state
// (fleet.DeviceStates order) at the end of the UTC day.
type dayRow struct {
	Day    time.Time
	Counts [5]int
}

// Cells are the row's numbers, each with the list of its devices.
func (d dayRow) Cells() []dayCell {
	out := make([]dayCell, len(fleet.DeviceStates))
	for i, st := range fleet.DeviceStates {
		out[i] = dayCell{N: d.Counts[i], URL: dayURL(d.Day, st)}
	}
	return out
}

type dayCell struct {
	N   int
	URL string
}

// rows are d's days, newest first.
func (d dayCounts) rows() []dayRow {
	out := make([]dayRow, len(d.Counts))
	for i, c := range d.Counts {
		out[len(out)-1-i] = dayRow{Day: d.First.AddDate(0, 0, i), Counts: c}
	}
	return out
}

// jobsOverview is the fleet page's jobs section.
type jobsOverview struct {
	Policy                     string
	Running, Waiting           []jobs.Job
	RunningTotal, WaitingTotal int
}

// shown are the precisions in the per-model table: the ones buyers compare.
var shown = []fleet.Precision{fleet.FP8, fleet.BF16, fleet.INT8}

// historyDays is how many days the fleet-over-time chart shows.
const historyDays = 120

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rs := exportctl.Latest()
	if name := r.URL.Query().Get("rules"); name != "" {
		var err error
		if rs, err = exportctl.LookupRuleSet(name); err != nil {
			h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
			return
		}
	}
	sum, err := h.led.Summary(ctx)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The fleet summary is not available right now.", err)
		return
	}
	pg := indexPage{Summary: sum, States: fleet.DeviceStates, Precisions: shown, RuleSets: exportctl.RuleSets(), RuleSet: rs.ID}
	pg.Classes = h.classes(sum, rs)
	if pg.ByModel, err = byModelChart(sum); err != nil {
		h.log.WarnContext(ctx, "web: chart", "err", err)
	}
	nodes, err := h.led.Nodes(ctx)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The nodes are not available right now.", err)
		return
	}
	pg.Sites = sitesOf(nodes)
	days, err := h.hist.days(ctx, h.led)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The ledger's history is not available right now.", err)
		return
	}
	if pg.Days, pg.DaysNote, err = daysChart(days); err != nil {
		h.log.WarnContext(ctx, "web: chart", "err", err)
	}
	if pg.Days != "" {
		pg.DayRows = days.rows()
	}
	if h.jobs != nil {
		ov, err := h.overview(ctx)
		if err != nil {
			h.problem(w, r, http.StatusInternalServerError, "The jobs overview is not available right now.", err)
			return
		}
		pg.Jobs = &ov
	}
	h.render(w, r, http.StatusOK, "index.html", view{Title: "Fleet", Nav: "fleet", Sub: "Stockpile ledger", Live: 1, Body: pg})
}

// classes counts devices (all, in service, in reserve) per export class
// under rs, from the per-model summary (a model's chips all classify
// alike).
func (h *Handler) classes(sum inventory.Summary, rs exportctl.RuleSet) []classCount {
	cat := h.led.Catalog()
	by := map[string]*classCount{}
	for _, m := range sum.Models {
		cls, listed := "unknown chip", false
		if c, ok := cat.Get(m.Model); ok {
			cls, listed = string(exportctl.Classify(c, rs).Classification), true
		}
		cc := by[cls]
		if cc == nil {
			cc = &classCount{Class: cls, RuleSet: rs.ID, Listed: listed}
			by[cls] = cc
		}
		cc.Devices += m.Devices
		cc.InService += m.ByState[fleet.InService]
		cc.Reserve += m.ByState[fleet.Reserve]
		cc.Models = append(cc.Models, m.Model)
	}
	out := make([]classCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

func sitesOf(nodes []inventory.Node) []siteCount {
	by := map[string]int{}
	for _, n := range nodes {
		by[n.Site]++
	}
	out := make([]siteCount, 0, len(by))
	for s, n := range by {
		out = append(out, siteCount{Site: s, Nodes: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out
}

func byModelChart(sum inventory.Summary) (template.HTML, error) {
	if len(sum.Models) == 0 {
		return "", nil
	}
	var cats []string
	series := make([]plot.Series, len(fleet.DeviceStates))
	for i, st := range fleet.DeviceStates {
		series[i].Name = string(st)
	}
	for _, m := range sum.Models {
		cats = append(cats, m.Name)
		for i, st := range fleet.DeviceStates {
			series[i].Values = append(series[i].Values, float64(m.ByState[st]))
		}
	}
	p, err := plot.StackedBars("Devices by model and state", "devices", cats, series)
	if err != nil {
		return "", err
	}
	return svg(p, "Devices by model and state; the table below has the numbers")
}

// svg renders a chart for a page, 960 × 360 px.
func svg(p *gplot.Plot, label string) (template.HTML, error) {
	var b strings.Builder
	if err := plot.InlineSVG(&b, 10*vg.Inch, 3.75*vg.Inch, label, p); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil // drawn by gonum from escaped labels
}

// history is the fleet-over-time cache: devices entering and leaving each
// state per day, folded from the ledger's events. It reads only events it
// has not seen (EventFilter.AfterSeq), so a page costs the new events, not
// the whole history; it is derived data, rebuilt from the ledger after a
// restart.
type history struct {
	mu    sync.Mutex
	seq   int64
	delta map[int64]*[5]int // day (Unix days) → change per state, fleet.DeviceStates order
}

// dayCounts is devices per state at the end of each day.
type dayCounts struct {
	First  time.Time
	Counts [][5]int
}

func stateIndex(s fleet.DeviceState) int { return slices.Index(fleet.DeviceStates, s) }

func (hi *history) days(ctx context.Context, led Ledger) (dayCounts, error) {
	hi.mu.Lock()
	defer hi.mu.Unlock()
	if hi.delta == nil {
		hi.delta = map[int64]*[5]int{}
	}
	for {
		evs, err := led.Events(ctx, inventory.EventFilter{AfterSeq: hi.seq, Limit: 50_000})
		if err != nil {
			return dayCounts{}, err
		}
		for _, e := range evs {
			day := e.At.UTC().Unix() / 86400
			d := hi.delta[day]
			if d == nil {
				d = &[5]int{}
				hi.delta[day] = d
			}
			if i := stateIndex(e.From); i >= 0 {
				d[i]--
			}
			if i := stateIndex(e.To); i >= 0 {
				d[i]++
			}
			hi.seq = e.Seq
		}
		if len(evs) < 50_000 {
			break
		}
	}
	if len(hi.delta) == 0 {
		return dayCounts{}, nil
	}
	keys := make([]int64, 0, len(hi.delta))
	for k := range hi.delta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	first, last := keys[0], keys[len(keys)-1]
	var run [5]int
	out := dayCounts{}
	start := max(first, last-historyDays+1)
	for day := first; day <= last; day++ {
		if d := hi.delta[day]; d != nil {
			for i := range run {
				run[i] += d[i]
			}
		}
		if day >= start {
			out.Counts = append(out.Counts, run)
		}
	}
	out.First = time.Unix(start*86400, 0).UTC()
	return out, nil
}

func daysChart(d dayCounts) (template.HTML, string, error) {
	if len(d.Counts) < 2 {
		return "", "The ledger's events cover less than two days.", nil
	}
	series := make([]plot.Series, len(fleet.DeviceStates))
	for i, st := range fleet.DeviceStates {
		series[i].Name = string(st)
		for _, c := range d.Counts {
			series[i].Values = append(series[i].Values, float64(c[i]))
		}
	}
	p, err := plot.DaySeries("Devices by state per day", "devices", d.First, series)
	if err != nil {
		return "", "", err
	}
	last := d.First.AddDate(0, 0, len(d.Counts)-1)
	note := "From the ledger's events, " + d.First.Format("2006-01-02") + " to " + last.Format("2006-01-02") + " (UTC days)."
	out, err := svg(p, "Devices by state per day from "+d.First.Format("2006-01-02")+" to "+last.Format("2006-01-02"))
	return out, note, err
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
