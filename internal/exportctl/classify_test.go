package exportctl

import (
	"errors"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
)

func rules(t *testing.T, id string) RuleSet {
	t.Helper()
	rs, err := LookupRuleSet(id)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// The worked examples of issue 2 item 5 and export-rules.md §9, on the
// embedded catalog.
func TestWorkedExamples(t *testing.T) {
	cat := accel.Default()
	for _, tc := range []struct {
		chip, rules string
		tpp, pd     float64 // -1: unknown
		band        Band
		para        string
		reason      []string // substrings of the reason
		notice      string   // a notice's date, "" for none
	}{
		// H100: TPP 15,831 (fp8 1978.9 × 8), PD 15,831 / 814 = 19.45 → a.1.
		{"H100", "2023-10", 15831, 19.45, BandA, "3A090.a.1", []string{"TPP 15831 ≥ 4800"}, ""},
		{"H100", "2022-10", 15831, 19.45, BandA, "3A090.a", []string{"TPP 15831 ≥ 4800", "I/O 1028 GB/s ≥ 600"}, ""},
		// H20: TPP 2,368, PD 2.91 → just under b.1 (TPP) and b.2 (PD); the
		// April 2025 is-informed letter is a notice, not a band.
		{"H20", "2023-10", 2368, 2.91, NotControlled, "", []string{"TPP 2368 < 2400", "PD 2.91 < 3.2", "PD 2.91 < 5.92"}, "2025-04-09"},
		{"H20", "2022-10", 2368, 2.91, NotControlled, "", []string{"TPP 2368 < 4800"}, "2025-04-09"},
		// A800 and H800: outside the 2022 rule by their I/O (464, 528 GB/s),
		// caught by the 2023 rule on TPP alone.
		{"A800", "2022-10", 4992, 6.04, NotControlled, "", []string{"TPP 4992 ≥ 4800 but I/O 464 GB/s < 600"}, ""},
		{"A800", "2023-10", 4992, 6.04, BandA, "3A090.a.1", []string{"TPP 4992 ≥ 4800"}, ""},
		{"H800", "2022-10", 15831, 19.45, NotControlled, "", []string{"TPP 15831 ≥ 4800 but I/O 528 GB/s < 600"}, ""},
		{"H800", "2023-10", 15831, 19.45, BandA, "3A090.a.1", []string{"TPP 15831 ≥ 4800"}, ""},
		// L20: PD 3.14, just under b.2's 3.2. Its TPP is 1913.6 from the
		// published 32-bit rate 59.8 × 32 (export-rules.md gives 1,912 from
		// int8 239 × 8; same band either way).
		{"L20", "2023-10", 1914, 3.14, NotControlled, "", []string{"PD 3.14 < 3.2"}, ""},
		// RTX 4090D: not datacenter, TPP < 4800 → Note 2.
		{"RTX 4090D", "2023-10", 4704, 7.73, NotControlled, "", []string{"Note 2", "TPP 4704 < 4800"}, ""},
		// RTX 4090: not datacenter but TPP ≥ 4800 → a.1 (NAC-eligible).
		{"RTX 4090", "2023-10", 5285, 8.68, BandA, "3A090.a.1", []string{"TPP 5285 ≥ 4800", "Note 2 only excludes"}, ""},
		// Ascend 910B4 (280 TFLOPS): TPP 4,480, PD 6.73 → a.2 by density.
		{"910B4", "2023-10", 4480, 6.73, BandA, "3A090.a.2", []string{"TPP 4480 ≥ 1600 and PD 6.73 ≥ 5.92"}, ""},
		// MI308X: no published specs; the notice still shows.
		{"MI308X", "2023-10", -1, -1, InsufficientData, "", []string{"TPP unknown"}, "2025-04"},
		// Hygon K100: TPP exactly 1600, die area unknown → b.2 only if ≤ 500 mm².
		{"K100", "2023-10", 1600, -1, InsufficientData, "", []string{"PD unknown (die area unknown)", "die area ≤ 500 mm² → 3A090.b.2"}, ""},
	} {
		t.Run(tc.chip+"/"+tc.rules, func(t *testing.T) {
			c, err := cat.Resolve(tc.chip)
			if err != nil {
				t.Fatal(err)
			}
			r := Classify(c, rules(t, tc.rules))
			if deref(r.TPP) != tc.tpp || deref(r.PerformanceDensity) != tc.pd {
				t.Errorf("TPP %v PD %v, want %v %v", deref(r.TPP), deref(r.PerformanceDensity), tc.tpp, tc.pd)
			}
			if r.Classification != tc.band || str(r.Paragraph) != tc.para {
				t.Errorf("got %s %q, want %s %q (%s)", r.Classification, str(r.Paragraph), tc.band, tc.para, r.Reason)
			}
			for _, s := range tc.reason {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("reason %q lacks %q", r.Reason, s)
				}
			}
			if r.RuleSet != rules(t, tc.rules).Date {
				t.Errorf("rule_set %q", r.RuleSet)
			}
			switch {
			case tc.notice == "" && len(r.Notices) != 0:
				t.Errorf("unexpected notices %+v", r.Notices)
			case tc.notice != "" && (len(r.Notices) != 1 || r.Notices[0].Date != tc.notice || r.Notices[0].Source == ""):
				t.Errorf("notices %+v, want one dated %s with a source", r.Notices, tc.notice)
			}
		})
	}
}

// synth builds a chip whose TPP is exactly tpp (int8 rate tpp/8 is exact in
// binary floating point).
func synth(tpp, area, io float64, dc *bool) accel.Chip {
	c := accel.Chip{ID: "synthetic", Name: "synthetic", Datacenter: dc, TOPS: map[fleet.Precision]float64{fleet.INT8: tpp / 8}}
	if area > 0 {
		c.DieAreaMM2 = &area
	}
	if io >= 0 {
		c.IOBandwidthGBps = &io
	}
	return c
}

var (
	dc    = accel.Bool(true)
	notDC = accel.Bool(false)
)

// Synthetic chips on each side of every threshold, and at it. PD thresholds
// are hit exactly by picking areas where TPP/area is the threshold in exact
// arithmetic (2368/400 = 5.92, 2400/1500 = 1.6, 1600/500 = 3.2), which a
// correctly rounded division preserves.
func TestThresholds(t *testing.T) {
	const below = 0.08 // int8 rate 0.01 TOPS lower → TPP 0.08 lower
	for _, tc := range []struct {
		name      string
		rules     string
		tpp, area float64
		io        float64
		dc        *bool
		band      Band
		para      string
	}{
		{"a.1 at 4800", "2023-10", 4800, 0, -1, dc, BandA, "3A090.a.1"},
		{"a.1 below 4800, no area", "2023-10", 4800 - below, 0, -1, dc, InsufficientData, ""},
		{"a.1 below 4800, low PD", "2023-10", 4800 - below, 4000, -1, dc, NotControlled, ""},
		{"a.2 at PD 5.92", "2023-10", 2368, 400, -1, dc, BandA, "3A090.a.2"},
		{"a.2 just under PD 5.92 → b.2", "2023-10", 2368, 400.01, -1, dc, BandB, "3A090.b.2"},
		{"a.2 at TPP 1600, PD 16", "2023-10", 1600, 100, -1, dc, BandA, "3A090.a.2"},
		{"a.2 below TPP 1600, PD 16", "2023-10", 1600 - below, 100, -1, dc, NotControlled, ""},
		{"b.1 at TPP 2400 and PD 1.6", "2023-10", 2400, 1500, -1, dc, BandB, "3A090.b.1"},
		{"b.1 just under PD 1.6", "2023-10", 2400, 1500.1, -1, dc, NotControlled, ""},
		{"b.1 just under TPP 2400 (PD 2.4)", "2023-10", 2400 - below, 1000, -1, dc, NotControlled, ""},
		{"b.1 near the top, PD 5.9", "2023-10", 4800 - below, (4800 - below) / 5.9, -1, dc, BandB, "3A090.b.1"},
		{"b.2 at TPP 1600 and PD 3.2", "2023-10", 1600, 500, -1, dc, BandB, "3A090.b.2"},
		{"b.2 just under PD 3.2", "2023-10", 1600, 500.1, -1, dc, NotControlled, ""},
		{"b.2 just under TPP 1600", "2023-10", 1600 - below, 400, -1, dc, NotControlled, ""},
		{"b.1 and b.2 both: b.1 first", "2023-10", 3200, 800, -1, dc, BandB, "3A090.b.1"},
		{"Note 2 just under 4800", "2023-10", 4800 - below, 100, -1, notDC, NotControlled, ""},
		{"Note 2 does not reach 4800", "2023-10", 4800, 100, -1, notDC, BandA, "3A090.a.1"},
		{"datacenter unknown, a.1 anyway", "2023-10", 5000, 0, -1, nil, BandA, "3A090.a.1"},
		{"datacenter unknown, b.2 or Note 2", "2023-10", 2000, 500, -1, nil, InsufficientData, ""},
		{"datacenter unknown, uncontrolled anyway", "2023-10", 1000, 500, -1, nil, NotControlled, ""},
		{"no area but TPP < 1600", "2023-10", 1600 - below, 0, -1, dc, NotControlled, ""},
		{"2022 at both thresholds", "2022-10", 4800, 0, 600, dc, BandA, "3A090.a"},
		{"2022 I/O just under 600", "2022-10", 4800, 0, 599.99, dc, NotControlled, ""},
		{"2022 TPP just under 4800", "2022-10", 4800 - below, 0, 10000, dc, NotControlled, ""},
		{"2022 I/O unknown", "2022-10", 4800, 0, -1, dc, InsufficientData, ""},
		{"2022 I/O unknown, TPP under", "2022-10", 4000, 0, -1, dc, NotControlled, ""},
		{"2022 has no Note 2", "2022-10", 4800, 0, 600, notDC, BandA, "3A090.a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Classify(synth(tc.tpp, tc.area, tc.io, tc.dc), rules(t, tc.rules))
			if r.Classification != tc.band || str(r.Paragraph) != tc.para {
				t.Errorf("got %s %q, want %s %q: %s", r.Classification, str(r.Paragraph), tc.band, tc.para, r.Reason)
			}
			if r.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

// Printed numbers never land on the wrong side of a threshold.
func TestReasonRoundsFaithfully(t *testing.T) {
	r := Classify(synth(4800-0.08, 0, -1, notDC), Latest())
	if !strings.Contains(r.Reason, "TPP 4799.9 < 4800") || deref(r.TPP) != 4799.9 {
		t.Errorf("TPP printed as %v: %s", deref(r.TPP), r.Reason)
	}
	r = Classify(synth(1600, 500.1, -1, dc), Latest())
	if pd := deref(r.PerformanceDensity); pd >= 3.2 || !strings.Contains(r.Reason, "PD 3.199 < 3.2") {
		t.Errorf("PD printed as %v: %s", pd, r.Reason)
	}
	if got := Round(15831.2, 0, []float64{4800}); got != 15831 {
		t.Errorf("Round = %v", got)
	}
}

func TestLowerBoundTPP(t *testing.T) {
	// Only fp32 known: TPP is a lower bound.
	c := accel.Chip{ID: "x", Name: "x", Datacenter: dc, TOPS: map[fleet.Precision]float64{fleet.FP32: 200}}
	if r := Classify(c, Latest()); r.Classification != BandA || !r.TPPLowerBound {
		t.Errorf("lower bound 6400 ≥ 4800 should be a.1: %+v", r)
	}
	c.TOPS[fleet.FP32] = 15 // MetaX C500's only known rate
	r := Classify(c, Latest())
	if r.Classification != InsufficientData || !strings.Contains(r.Reason, "TPP at least 480") {
		t.Errorf("got %s: %s", r.Classification, r.Reason)
	}
	if r.PerformanceDensity != nil {
		t.Error("PD of a lower-bound TPP should be unknown")
	}
}

func TestTF32IsFlagged(t *testing.T) {
	// Enflame T20: int8 320 → 2560, tf32 160 × 32 → 5120.
	c, err := accel.Default().Resolve("T20")
	if err != nil {
		t.Fatal(err)
	}
	r := Classify(c, Latest())
	if deref(r.TPP) != 5120 || !strings.Contains(r.Reason, "without TF32, TPP 2560") {
		t.Errorf("TPP %v: %s", deref(r.TPP), r.Reason)
	}
}

func TestInterconnectIsAnIOLowerBound(t *testing.T) {
	c, err := accel.Default().Resolve("MI250X")
	if err != nil {
		t.Fatal(err)
	}
	r := Classify(c, rules(t, "2022-10"))
	if r.Classification != BandA || !strings.Contains(r.Reason, "I/O at least 800 GB/s") {
		t.Errorf("got %s: %s", r.Classification, r.Reason)
	}
	if r.IOBandwidthGBps != nil {
		t.Error("io_bandwidth_gbs must stay unknown")
	}
}

func TestLookupRuleSet(t *testing.T) {
	for _, n := range []string{"2022-10", "2022-10-07", "2022"} {
		if rs, err := LookupRuleSet(n); err != nil || rs.Date != "2022-10-07" {
			t.Errorf("%s: %v %v", n, rs.Date, err)
		}
	}
	if rs, _ := LookupRuleSet(""); rs.Date != "2023-10-17" {
		t.Errorf("default rule set is %s, want the newest", rs.Date)
	}
	if _, err := LookupRuleSet("2021-01"); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "2023-10") {
		t.Errorf("unknown rule set: %v", err)
	}
	prev := ""
	for _, rs := range RuleSets() {
		if rs.Date <= prev || rs.Citation == "" || rs.Source == "" {
			t.Errorf("rule sets must be dated, in order, with sources: %+v", rs)
		}
		prev = rs.Date
	}
}

func TestNotices(t *testing.T) {
	ids := map[string]bool{}
	for _, c := range accel.Default().All() {
		ids[c.ID] = true
	}
	for _, n := range Notices() {
		for _, id := range n.Chips {
			if !ids[id] {
				t.Errorf("notice %s names %q, not a catalog id", n.ID, id)
			}
		}
		if n.Source == "" || n.Date == "" {
			t.Errorf("notice %s needs a date and a source", n.ID)
		}
	}
	if got := NoticesFor("h100-sxm5-80gb"); got == nil || len(got) != 0 {
		t.Errorf("NoticesFor should be empty and non-nil: %#v", got)
	}
}
