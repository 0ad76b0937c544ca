package exportctl

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
)

// Performance is a chip's TPP as far as its catalog entry tells.
type Performance struct {
	// TPP is dense TOPS × bit length, the maximum over the chip's known
	// precisions (87 FR 62186; 88 FR 73458). 0 when no rate is known.
	TPP float64
	// Precision and Rate are the precision and dense rate giving TPP.
	Precision fleet.Precision
	Rate      float64
	// Known is false when the chip has no known dense rate at all.
	Known bool
	// LowerBound is true when only 32-bit rates (fp32, tf32) are known: an AI
	// accelerator's 8/16-bit rates are what set its TPP, so the true TPP may
	// be higher.
	LowerBound bool
}

// Measure computes a chip's TPP from its dense rates. Ties go to the first
// precision in fleet.Precisions order.
func Measure(c accel.Chip) Performance {
	var p Performance
	narrow := false
	for _, pr := range fleet.Precisions {
		r, ok := c.TOPS[pr]
		if !ok || pr.Bits() == 0 || !(r > 0) || math.IsInf(r, 0) {
			continue
		}
		if pr.Bits() <= 16 {
			narrow = true
		}
		if t := r * float64(pr.Bits()); !p.Known || t > p.TPP {
			p = Performance{TPP: t, Precision: pr, Rate: r, Known: true}
		}
	}
	p.LowerBound = p.Known && !narrow
	return p
}

// Density returns PD = TPP / die area (mm²) and whether it is known.
func Density(c accel.Chip) (float64, bool) {
	p := Measure(c)
	if !p.Known || p.LowerBound || c.DieAreaMM2 == nil || !(*c.DieAreaMM2 > 0) {
		return 0, false
	}
	return p.TPP / *c.DieAreaMM2, true
}

// Result is one chip's classification under one rule set. Its JSON form is
// the `granary chips classify -o json` contract.
type Result struct {
	Chip string `json:"chip"` // catalog id, or the spec's name
	Name string `json:"name"`
	// TPP is rounded to the integer (more decimals only when needed to stay on
	// the same side of a threshold); null when no dense rate is known.
	TPP *float64 `json:"tpp"`
	// TPPBasis is the arithmetic behind TPP, e.g. "fp8 1978.9 × 8".
	TPPBasis string `json:"tpp_basis"`
	// TPPLowerBound: only 32-bit rates are known, the true TPP may be higher.
	TPPLowerBound bool `json:"tpp_lower_bound"`
	// PerformanceDensity is TPP per mm² of die, rounded to 2 decimals (more
	// when needed); null when the die area is unknown.
	PerformanceDensity *float64 `json:"performance_density"`
	DieAreaMM2         *float64 `json:"die_area_mm2"`
	IOBandwidthGBps    *float64 `json:"io_bandwidth_gbs"`
	Datacenter         *bool    `json:"datacenter"`
	Classification     Band     `json:"classification"`
	// Paragraph is the controlling paragraph ("3A090.a.1"); null when none
	// or when the data leave several possible.
	Paragraph *string `json:"paragraph"`
	// Exclusion names the note that takes the chip out ("Note 2"), or null.
	Exclusion *string  `json:"exclusion"`
	RuleSet   string   `json:"rule_set"` // the rule set's date
	Reason    string   `json:"reason"`
	Notices   []Notice `json:"notices"`
}

type tri int8

const (
	no tri = iota
	unknown
	yes
)

// interval is what is known of a quantity: lo ≤ value ≤ hi.
type interval struct{ lo, hi float64 }

func point(v float64) interval { return interval{v, v} }

var anything = interval{0, math.Inf(1)}

func (iv interval) known() bool { return iv.lo == iv.hi }

func (r Range) test(iv interval) tri {
	if (r.Min != nil && iv.hi < *r.Min) || (r.Max != nil && iv.lo >= *r.Max) {
		return no
	}
	if (r.Min == nil || iv.lo >= *r.Min) && (r.Max == nil || iv.hi < *r.Max) {
		return yes
	}
	return unknown
}

// inputs are the facts a rule set is evaluated on.
type inputs struct {
	q          map[Quantity]interval
	datacenter *bool
}

// outcome is one possible result: a paragraph, an exclusion, or neither.
type outcome struct {
	para      *Paragraph
	exclusion *Exclusion
}

func (o outcome) band() Band {
	if o.para != nil {
		return o.para.Band
	}
	return NotControlled
}

// possible lists the outcomes the known facts leave open, in rule order.
func (rs RuleSet) possible(in inputs) []outcome {
	var out []outcome
	for i := range rs.Exclusions {
		e := &rs.Exclusions[i]
		switch e.applies(in) {
		case yes:
			return []outcome{{exclusion: e}}
		case unknown:
			out = append(out, outcome{exclusion: e})
		}
	}
	for i := range rs.Paragraphs {
		p := &rs.Paragraphs[i]
		switch p.test(in) {
		case yes:
			return append(out, outcome{para: p})
		case unknown:
			out = append(out, outcome{para: p})
		}
	}
	return append(out, outcome{})
}

func (e *Exclusion) applies(in inputs) tri {
	below := Range{Max: &e.TPPBelow}.test(in.q[TPP])
	switch {
	case below == no || (in.datacenter != nil && *in.datacenter):
		return no
	case below == yes && in.datacenter != nil:
		return yes
	}
	return unknown
}

func (p *Paragraph) test(in inputs) tri {
	t := yes
	for _, c := range p.Conditions {
		switch c.test(in.q[c.Of]) {
		case no:
			return no
		case unknown:
			t = unknown
		}
	}
	return t
}

// Classify evaluates a chip against a rule set.
func Classify(c accel.Chip, rs RuleSet) Result {
	perf := Measure(c)
	in := inputs{q: map[Quantity]interval{TPP: anything, PD: anything, IO: anything}, datacenter: c.Datacenter}
	res := Result{
		Chip: c.ID, Name: c.Name, RuleSet: rs.Date, Datacenter: c.Datacenter,
		DieAreaMM2: c.DieAreaMM2, IOBandwidthGBps: c.IOBandwidthGBps,
		TPPLowerBound: perf.LowerBound, Notices: NoticesFor(c.ID),
	}
	area := 0.0
	if c.DieAreaMM2 != nil && *c.DieAreaMM2 > 0 {
		area = *c.DieAreaMM2
	}
	if perf.Known {
		res.TPPBasis = string(perf.Precision) + " " + fmtNum(perf.Rate) + " × " + strconv.Itoa(perf.Precision.Bits())
		t := Round(perf.TPP, 0, rs.thresholds(TPP))
		res.TPP = &t
		if perf.LowerBound {
			in.q[TPP] = interval{perf.TPP, math.Inf(1)}
			in.q[PD] = interval{safeDiv(perf.TPP, area), math.Inf(1)}
		} else {
			in.q[TPP] = point(perf.TPP)
			if area > 0 {
				pd := perf.TPP / area
				in.q[PD] = point(pd)
				r := Round(pd, 2, rs.thresholds(PD))
				res.PerformanceDensity = &r
			}
		}
	}
	if c.IOBandwidthGBps != nil {
		in.q[IO] = point(*c.IOBandwidthGBps)
	} else if c.InterconnectGB != nil && *c.InterconnectGB > 0 {
		// The chip-to-chip links are part of the aggregate I/O: a lower bound.
		in.q[IO] = interval{*c.InterconnectGB, math.Inf(1)}
	}

	w := words{rs: rs, in: in, perf: perf}
	outs := rs.possible(in)
	band := outs[0].band()
	for _, o := range outs[1:] {
		if o.band() != band {
			band = InsufficientData
		}
	}
	res.Classification = band
	if band == InsufficientData {
		res.Reason = w.insufficient(outs, c)
		return res
	}
	if len(outs) == 1 {
		if p := outs[0].para; p != nil {
			id := p.ID
			res.Paragraph = &id
		}
		if e := outs[0].exclusion; e != nil {
			id := e.ID
			res.Exclusion = &id
		}
	}
	res.Reason = w.decided(outs, c) + tf32Note(c, perf)
	return res
}

// tf32Note flags a TPP set by TF32: the sources leave open whether TF32
// counts at 32 bits (fleet.Precision.Bits) or at its 19 significant bits.
func tf32Note(c accel.Chip, perf Performance) string {
	if perf.Precision != fleet.TF32 {
		return ""
	}
	rest := c
	rest.TOPS = map[fleet.Precision]float64{}
	for p, v := range c.TOPS {
		if p != fleet.TF32 {
			rest.TOPS[p] = v
		}
	}
	o := Measure(rest)
	if !o.Known || o.TPP >= perf.TPP {
		return ""
	}
	return "; TPP set by TF32 counted at 32 bits (unsettled in the sources); without TF32, TPP " +
		fmtNum(math.Round(o.TPP*10)/10) + " (" + string(o.Precision) + " " + fmtNum(o.Rate) + " × " + strconv.Itoa(o.Precision.Bits()) + ")"
}

func safeDiv(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// words writes the arithmetic of a classification.
type words struct {
	rs   RuleSet
	in   inputs
	perf Performance
}

func (w words) value(q Quantity) string {
	iv := w.in.q[q]
	unit := ""
	if q == IO {
		unit = " GB/s"
	}
	switch {
	case iv.known():
		dec := 0
		if q == PD {
			dec = 2
		}
		return string(q) + " " + fmtNum(Round(iv.lo, dec, w.rs.thresholds(q))) + unit
	case iv.lo > 0 && q == IO:
		return "I/O at least " + fmtNum(iv.lo) + unit + " (chip-to-chip links; other I/O unknown)"
	case iv.lo > 0:
		return string(q) + " at least " + fmtNum(Round(iv.lo, 0, w.rs.thresholds(q))) + unit
	}
	return ""
}

// cond says how a condition fares: "TPP 15831 ≥ 4800", "PD 2.91 < 3.2",
// "2400 ≤ TPP 3000 < 4800", or what is missing.
func (w words) cond(c Condition) (string, tri) {
	iv := w.in.q[c.Of]
	t := c.test(iv)
	v := w.value(c.Of)
	if v == "" || t == unknown {
		return w.missing(c.Of), unknown
	}
	switch {
	case t == yes && c.Min != nil && c.Max != nil:
		return fmtNum(*c.Min) + " ≤ " + v + " < " + fmtNum(*c.Max), yes
	case t == yes && c.Min != nil:
		return v + " ≥ " + fmtNum(*c.Min), yes
	case t == yes:
		return v + " < " + fmtNum(*c.Max), yes
	case c.Min != nil && iv.hi < *c.Min:
		return v + " < " + fmtNum(*c.Min), no
	}
	return v + " ≥ " + fmtNum(*c.Max), no
}

func (w words) missing(q Quantity) string {
	switch q {
	case TPP:
		if w.perf.LowerBound {
			return "TPP at least " + fmtNum(math.Round(w.perf.TPP)) + " (only 32-bit rates known; the 8/16-bit rates that set TPP are unknown)"
		}
		return "TPP unknown (no dense rate known)"
	case PD:
		if !w.perf.Known || w.perf.LowerBound {
			return "PD unknown (TPP unknown)"
		}
		return "PD unknown (die area unknown)"
	case IO:
		if v := w.value(IO); v != "" {
			return v
		}
		return "I/O bandwidth unknown"
	}
	return string(q) + " unknown"
}

func short(id string) string { return strings.TrimPrefix(id, "3A090.") }

// paragraphWhy explains why a paragraph does or might not apply.
func (w words) paragraphWhy(p Paragraph) string {
	var met []string
	for _, c := range p.Conditions {
		s, t := w.cond(c)
		if t != yes {
			// The first condition that fails or cannot be decided.
			if len(met) > 0 {
				return strings.Join(met, " and ") + " but " + s
			}
			return s
		}
		met = append(met, s)
	}
	return strings.Join(met, " and ")
}

func (w words) exclusionWhy(e Exclusion) string {
	return e.ID + ": " + e.Text + " and " + w.value(TPP) + " < " + fmtNum(e.TPPBelow)
}

func (w words) decided(outs []outcome, c accel.Chip) string {
	o := outs[0]
	switch {
	case len(outs) == 1 && o.exclusion != nil:
		return w.exclusionWhy(*o.exclusion)
	case len(outs) == 1 && o.para != nil:
		s := w.paragraphWhy(*o.para)
		if c.Datacenter != nil && !*c.Datacenter && len(w.rs.Exclusions) > 0 {
			e := w.rs.Exclusions[0]
			s += "; not a datacenter part, but " + e.ID + " only excludes TPP < " + fmtNum(e.TPPBelow)
		}
		return s
	case o.para != nil:
		// Several paragraphs of one band remain possible.
		var ids []string
		for _, x := range outs {
			ids = append(ids, x.para.ID)
		}
		return strings.Join(ids, " or ") + ": " + w.allParagraphs()
	}
	// Not controlled: every paragraph fails (and any open exclusion would only
	// confirm it).
	return w.allParagraphs()
}

func (w words) allParagraphs() string {
	var parts []string
	for _, p := range w.rs.Paragraphs {
		s := w.paragraphWhy(p)
		if len(w.rs.Paragraphs) > 1 {
			s = short(p.ID) + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func (w words) insufficient(outs []outcome, c accel.Chip) string {
	s := w.allParagraphs()
	if !w.in.q[TPP].known() {
		s = w.missing(TPP)
	}
	for _, o := range outs {
		if o.exclusion != nil {
			s = "datacenter unknown (" + o.exclusion.ID + " excludes parts not designed or marketed for datacenters with TPP < " +
				fmtNum(o.exclusion.TPPBelow) + "); " + s
		}
	}
	if h := w.hint(c); h != "" {
		s += "; " + h
	}
	return s + tf32Note(c, w.perf)
}

// hint says what the outcome would be for each value of the one unknown
// quantity, when TPP is known and only the die area or only the I/O is not:
// "die area ≤ 345.9 mm² → 3A090.a.2, ≤ 640 mm² → 3A090.b.2, else not-3A090".
func (w words) hint(c accel.Chip) string {
	if !w.in.q[TPP].known() || c.Datacenter == nil {
		return ""
	}
	var q Quantity
	for _, x := range []Quantity{PD, IO} {
		if !w.in.q[x].known() && len(w.rs.thresholds(x)) > 0 {
			if q != "" {
				return "" // two unknowns: no simple hint
			}
			q = x
		}
	}
	if q == "" {
		return ""
	}
	ts := uniqueSorted(w.rs.thresholds(q)) // ascending
	// Regions of q: [t_k, t_k+1) and below the lowest threshold.
	type region struct {
		at    float64 // representative value
		lo    float64 // region starts here (inclusive); -1 for below all
		label string
	}
	var regs []region
	regs = append(regs, region{at: ts[0] / 2, lo: -1})
	for _, t := range ts {
		regs = append(regs, region{at: t, lo: t})
	}
	for i := range regs {
		in := inputs{q: map[Quantity]interval{}, datacenter: w.in.datacenter}
		for k, v := range w.in.q {
			in.q[k] = v
		}
		in.q[q] = point(regs[i].at)
		outs := w.rs.possible(in)
		if outs[0].para != nil {
			regs[i].label = outs[0].para.ID
		} else {
			regs[i].label = string(NotControlled)
		}
	}
	// Merge neighbours with the same outcome.
	var merged []region
	for _, r := range regs {
		if len(merged) > 0 && merged[len(merged)-1].label == r.label {
			continue
		}
		merged = append(merged, r)
	}
	if len(merged) < 2 {
		return ""
	}
	tpp := w.in.q[TPP].lo
	var parts []string
	if q == PD {
		// Highest density = smallest area first.
		for i := len(merged) - 1; i >= 0; i-- {
			r := merged[i]
			if r.lo < 0 {
				parts = append(parts, "else "+r.label)
				continue
			}
			parts = append(parts, "die area ≤ "+fmtNum(math.Floor(tpp/r.lo*10)/10)+" mm² → "+r.label)
		}
		return "if " + strings.Join(parts, ", ")
	}
	for i := len(merged) - 1; i >= 0; i-- {
		r := merged[i]
		if r.lo < 0 {
			parts = append(parts, "else "+r.label)
			continue
		}
		parts = append(parts, string(q)+" ≥ "+fmtNum(r.lo)+" GB/s → "+r.label)
	}
	return "if " + strings.Join(parts, ", ")
}

func uniqueSorted(v []float64) []float64 {
	sort.Float64s(v)
	out := v[:0]
	for i, x := range v {
		if i == 0 || x != v[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
