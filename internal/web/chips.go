package web

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
)

// chipRow is one catalog chip with the figures the catalog page shows.
type chipRow struct {
	Chip  accel.Chip
	Class exportctl.Result // under the latest rule set
}

func (c chipRow) dense(p fleet.Precision) float64 { v, _ := c.Chip.Dense(p); return v }

func ptrVal(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// chipSorts are the catalog's sortable columns.
var chipSorts = map[string]func(a, b chipRow) int{
	"name":   func(a, b chipRow) int { return strings.Compare(a.Chip.Name, b.Chip.Name) },
	"vendor": func(a, b chipRow) int { return strings.Compare(a.Chip.Vendor, b.Chip.Vendor) },
	"bf16":   func(a, b chipRow) int { return cmp.Compare(a.dense(fleet.BF16), b.dense(fleet.BF16)) },
	"fp8":    func(a, b chipRow) int { return cmp.Compare(a.dense(fleet.FP8), b.dense(fleet.FP8)) },
	"memory": func(a, b chipRow) int { return cmp.Compare(ptrVal(a.Chip.MemoryGB), ptrVal(b.Chip.MemoryGB)) },
	"bw":     func(a, b chipRow) int { return cmp.Compare(ptrVal(a.Chip.MemoryBWGBps), ptrVal(b.Chip.MemoryBWGBps)) },
	"tdp":    func(a, b chipRow) int { return cmp.Compare(ptrVal(a.Chip.TDPW), ptrVal(b.Chip.TDPW)) },
	"tpp":    func(a, b chipRow) int { return cmp.Compare(ptrVal(a.Class.TPP), ptrVal(b.Class.TPP)) },
	"class": func(a, b chipRow) int {
		return strings.Compare(string(a.Class.Classification), string(b.Class.Classification))
	},
}

// sortColumn is a sortable column of the catalog table.
type sortColumn struct {
	Key, Label string
	Num        bool
}

var chipColumns = []sortColumn{{"name", "Chip", false}, {"vendor", "Vendor", false}, {"bf16", "BF16 TFLOPS", true}, {"fp8", "FP8 TFLOPS", true},
	{"memory", "Memory GB", true}, {"bw", "Memory GB/s", true}, {"tdp", "TDP W", true}, {"tpp", "TPP", true}, {"class", "Export class", false}}

type chipsPage struct {
	Sort    string
	Desc    bool
	Chips   []chipRow
	Compare []chipRow // chosen for side-by-side comparison
	RuleSet string
}

func (h *Handler) chipsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sortBy := cmp.Or(q.Get("sort"), "name")
	less, ok := chipSorts[sortBy]
	if !ok {
		keys := make([]string, 0, len(chipSorts))
		for k := range chipSorts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h.problem(w, r, http.StatusBadRequest, fmt.Sprintf("sort %q is not a column (valid: %s)", sortBy, strings.Join(keys, ", ")), nil)
		return
	}
	cat := h.led.Catalog()
	rs := exportctl.Latest()
	pg := chipsPage{Sort: sortBy, Desc: q.Get("desc") == "1", RuleSet: rs.ID}
	for _, c := range cat.All() {
		pg.Chips = append(pg.Chips, chipRow{Chip: c, Class: exportctl.Classify(c, rs)})
	}
	slices.SortStableFunc(pg.Chips, less)
	if pg.Desc {
		slices.Reverse(pg.Chips)
	}
	for _, id := range q["compare"] {
		c, ok := cat.Get(id)
		if !ok {
			h.problem(w, r, http.StatusBadRequest, fmt.Sprintf("compare: no chip %q in the catalog", id), nil)
			return
		}
		pg.Compare = append(pg.Compare, chipRow{Chip: c, Class: exportctl.Classify(c, rs)})
	}
	h.render(w, r, http.StatusOK, "chips.html", view{Title: "Chips", Nav: "chips", Sub: fmt.Sprintf("The catalog: %d chips, export class under rule set %s", len(pg.Chips), rs.ID), Body: pg})
}

type chipPage struct {
	Chip    accel.Chip
	Results []ruleResult // one per rule set, oldest first
}

type ruleResult struct {
	RuleSet exportctl.RuleSet
	Result  exportctl.Result
}

func (h *Handler) chipPage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.led.Catalog().Get(r.PathValue("id"))
	if !ok {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("No chip %q in the catalog.", r.PathValue("id")), nil)
		return
	}
	pg := chipPage{Chip: c}
	for _, rs := range exportctl.RuleSets() {
		pg.Results = append(pg.Results, ruleResult{RuleSet: rs, Result: exportctl.Classify(c, rs)})
	}
	h.render(w, r, http.StatusOK, "chip.html", view{Title: c.Name, Nav: "chips", Sub: c.Vendor + " · " + c.ID, Body: pg})
}
