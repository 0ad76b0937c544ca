// Package exportctl classifies accelerators under the US export-control rules
// for advanced computing ICs (ECCN 3A090). Each rule set is data — its
// paragraphs, thresholds, notes and effective date — and Classify evaluates a
// chip against one of them, returning the band, the paragraph, and the
// arithmetic in words. Licence requirements imposed by notice rather than by
// thresholds (the April 2025 is-informed letters) are attached as Notices.
//
// It is pure: no I/O and no clock. Facts and sources are in the comments and
// in docs/chips.md; none of this is legal advice.
package exportctl

import (
	"fmt"
	"math"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
)

// Band is the outcome of a classification: exactly one of the four values.
type Band string

// The bands.
const (
	BandA            Band = "3A090.a"
	BandB            Band = "3A090.b"
	NotControlled    Band = "not-3A090"
	InsufficientData Band = "insufficient-data"
)

// Bands are the four outcomes, in the order pages list them.
var Bands = []Band{BandA, BandB, NotControlled, InsufficientData}

// ParseBand finds a band by its name, case-insensitively. An unknown name
// wraps fleet.ErrInvalid and lists the bands.
func ParseBand(name string) (Band, error) {
	n := strings.TrimSpace(name)
	names := make([]string, len(Bands))
	for i, b := range Bands {
		if strings.EqualFold(n, string(b)) {
			return b, nil
		}
		names[i] = string(b)
	}
	return "", fmt.Errorf("%w: class %q is not an export class (valid: %s)", fleet.ErrInvalid, name, strings.Join(names, ", "))
}

// Range is a half-open interval [Min, Max) on one quantity. A nil bound is
// open. Thresholds are written as in the rule: "≥ Min", "< Max".
type Range struct {
	Min *float64
	Max *float64
}

// Quantity is what a Range constrains.
type Quantity string

// The quantities the rules use.
const (
	TPP Quantity = "TPP" // total processing performance: dense TOPS × bit length
	PD  Quantity = "PD"  // performance density: TPP / applicable die area (mm²)
	IO  Quantity = "I/O" // aggregate bidirectional I/O, GB/s (2022 rule)
)

// Condition is one threshold test of a paragraph.
type Condition struct {
	Of Quantity
	Range
}

// Paragraph is one controlling paragraph of a rule set: a chip meeting every
// condition falls in Band.
type Paragraph struct {
	ID         string // e.g. "3A090.a.1"
	Band       Band
	Conditions []Condition
}

// Exclusion takes a chip out of the rule: it applies to chips that are not
// designed or marketed for datacenters and whose TPP is below TPPBelow.
type Exclusion struct {
	ID       string // "Note 2"
	TPPBelow float64
	Text     string
}

// RuleSet is one version of the rule, as data.
type RuleSet struct {
	ID         string // short name for --rules, "2023-10"
	Date       string // the rule's date (ISO 8601), reported as rule_set
	Title      string
	Citation   string // Federal Register citation
	Effective  string // publication and effective dates in words
	Paragraphs []Paragraph
	Exclusions []Exclusion
	Source     string
}

func at(v float64) *float64 { return &v }

// The rule sets, oldest first. Thresholds per ../shared/data/export-rules.md
// §3–4, where they are checked against verbatim quotes of the Federal Register
// text ([V] there); sources in Source.
var ruleSets = []RuleSet{
	{
		ID:        "2022-10",
		Date:      "2022-10-07",
		Title:     "Implementation of Additional Export Controls: Certain Advanced Computing and Semiconductor Manufacturing Items",
		Citation:  "87 FR 62186 (FR Doc 2022-21658)",
		Effective: "issued 7 Oct 2022, published 13 Oct 2022",
		Paragraphs: []Paragraph{{
			// 3A090.a as first written: bit length × TOPS ≥ 4800 AND aggregate
			// bidirectional transfer rate ≥ 600 GB/s to ICs other than volatile memory.
			ID:   "3A090.a",
			Band: BandA,
			Conditions: []Condition{
				{TPP, Range{Min: at(4800)}},
				{IO, Range{Min: at(600)}},
			},
		}},
		Source: "87 FR 62186; thresholds as quoted verbatim by CSET 'A Bigger Yard, A Higher Fence' (4 Dec 2023) and Kendler (6 Nov 2023)",
	},
	{
		ID:        "2023-10",
		Date:      "2023-10-17",
		Title:     "Implementation of Additional Export Controls: Certain Advanced Computing Items; Supercomputer and Semiconductor End Use; Updates and Corrections",
		Citation:  "88 FR 73458 (FR Doc 2023-23055)",
		Effective: "issued 17 Oct 2023, published 25 Oct 2023, effective 17 Nov 2023",
		Paragraphs: []Paragraph{
			{ID: "3A090.a.1", Band: BandA, Conditions: []Condition{
				{TPP, Range{Min: at(4800)}},
			}},
			{ID: "3A090.a.2", Band: BandA, Conditions: []Condition{
				{TPP, Range{Min: at(1600)}},
				{PD, Range{Min: at(5.92)}},
			}},
			{ID: "3A090.b.1", Band: BandB, Conditions: []Condition{
				{TPP, Range{Min: at(2400), Max: at(4800)}},
				{PD, Range{Min: at(1.6), Max: at(5.92)}},
			}},
			{ID: "3A090.b.2", Band: BandB, Conditions: []Condition{
				{TPP, Range{Min: at(1600)}},
				{PD, Range{Min: at(3.2), Max: at(5.92)}},
			}},
		},
		Exclusions: []Exclusion{{
			ID:       "Note 2",
			TPPBelow: 4800,
			Text:     "not designed or marketed for datacenters",
		}},
		Source: "88 FR 73458; thresholds as quoted verbatim by CSET 'A Bigger Yard, A Higher Fence' (4 Dec 2023) and Kendler (6 Nov 2023)",
	},
}

// RuleSets returns every rule set, oldest first.
func RuleSets() []RuleSet { return append([]RuleSet(nil), ruleSets...) }

// Latest returns the newest rule set (the default).
func Latest() RuleSet { return ruleSets[len(ruleSets)-1] }

// LookupRuleSet finds a rule set by its ID ("2023-10"), its date
// ("2023-10-17") or its year ("2023"). An unknown name wraps fleet.ErrInvalid
// and lists the valid ones.
func LookupRuleSet(name string) (RuleSet, error) {
	n := strings.TrimSpace(strings.ToLower(name))
	if n == "latest" || n == "" {
		return Latest(), nil
	}
	for _, rs := range ruleSets {
		if n == rs.ID || n == rs.Date || n == rs.Date[:4] {
			return rs, nil
		}
	}
	ids := make([]string, len(ruleSets))
	for i, rs := range ruleSets {
		ids[i] = rs.ID
	}
	return RuleSet{}, fmt.Errorf("%w: unknown rule set %q (valid: %s)", fleet.ErrInvalid, name, strings.Join(ids, ", "))
}

// thresholds lists every threshold the rule set uses for q, so that printed
// numbers can be rounded without crossing one.
func (rs RuleSet) thresholds(q Quantity) []float64 {
	var out []float64
	for _, p := range rs.Paragraphs {
		for _, c := range p.Conditions {
			if c.Of != q {
				continue
			}
			if c.Min != nil {
				out = append(out, *c.Min)
			}
			if c.Max != nil {
				out = append(out, *c.Max)
			}
		}
	}
	if q == TPP {
		for _, e := range rs.Exclusions {
			out = append(out, e.TPPBelow)
		}
	}
	return out
}

// Round returns v rounded to the fewest decimals (at least minDec) that keep
// it on the same side of every threshold: 15831.2 prints as 15831 against
// 4800, but 4799.99 does not print as 4800.
func Round(v float64, minDec int, thresholds []float64) float64 {
	for d := minDec; d <= 9; d++ {
		p := math.Pow(10, float64(d))
		r := math.Round(v*p) / p
		ok := true
		for _, t := range thresholds {
			if (v < t) != (r < t) || (v == t) != (r == t) {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return v
}
