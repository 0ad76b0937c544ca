package exportctl

import (
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
)

// naive2023 is the reference classifier, written independently from the
// pseudocode in export-rules.md §4 with plain comparisons: complete data only.
func naive2023(tpp, pd float64, datacenter bool) Band {
	if !datacenter && tpp < 4800 {
		return NotControlled
	}
	if tpp >= 4800 {
		return BandA
	}
	if tpp >= 1600 && pd >= 5.92 {
		return BandA
	}
	if tpp >= 2400 && tpp < 4800 && pd >= 1.6 && pd < 5.92 {
		return BandB
	}
	if tpp >= 1600 && pd >= 3.2 && pd < 5.92 {
		return BandB
	}
	return NotControlled
}

// naive2022: 3A090.a needs both TPP ≥ 4800 and I/O ≥ 600 GB/s.
func naive2022(tpp, io float64) Band {
	if tpp >= 4800 && io >= 600 {
		return BandA
	}
	return NotControlled
}

// naiveUnknown completes the unknown inputs every way that matters (values
// at, just below and far from every threshold) and answers a band only when
// all completions agree — the definition of "the data decide".
func naiveUnknown(tpp float64, area, io *float64, datacenter *bool, year int) Band {
	pds := []float64{0, 1.6, 1.59, 3.2, 3.19, 5.92, 5.91, 100}
	ios := []float64{0, 599.9, 600, 1e5}
	dcs := []bool{true, false}
	if area != nil {
		pds = []float64{tpp / *area}
	}
	if io != nil {
		ios = []float64{*io}
	}
	if datacenter != nil {
		dcs = []bool{*datacenter}
	}
	seen := map[Band]bool{}
	for _, pd := range pds {
		for _, i := range ios {
			for _, d := range dcs {
				if year == 2022 {
					seen[naive2022(tpp, i)] = true
				} else {
					seen[naive2023(tpp, pd, d)] = true
				}
			}
		}
	}
	if len(seen) != 1 {
		return InsufficientData
	}
	for b := range seen {
		return b
	}
	return ""
}

// randomValue favours values at and around the thresholds.
func randomValue(r *rand.Rand, marks []float64, max float64) float64 {
	switch r.IntN(4) {
	case 0:
		return marks[r.IntN(len(marks))]
	case 1:
		return marks[r.IntN(len(marks))] - 0.08*float64(1+r.IntN(3))
	case 2:
		return marks[r.IntN(len(marks))] + 0.08*float64(1+r.IntN(3))
	}
	return r.Float64() * max
}

func TestClassifierAgreesWithNaiveReference(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2023))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		tpp := randomValue(r, []float64{1600, 2400, 4800}, 20000)
		if tpp <= 0 {
			tpp = 1
		}
		var area, io *float64
		var dcp *bool
		if r.IntN(4) > 0 {
			// Pick a PD near a threshold and derive the area, or a random area.
			pd := randomValue(r, []float64{1.6, 3.2, 5.92}, 20)
			a := tpp / pd
			if pd <= 0 || r.IntN(3) == 0 {
				a = 50 + r.Float64()*2000
			}
			area = &a
		}
		if r.IntN(4) > 0 {
			v := randomValue(r, []float64{600}, 2000)
			if v < 0 {
				v = 0
			}
			io = &v
		}
		if r.IntN(6) > 0 {
			dcp = accel.Bool(r.IntN(3) > 0)
		}
		a := 0.0
		if area != nil {
			a = *area
		}
		iov := -1.0
		if io != nil {
			iov = *io
		}
		c := synth(tpp, a, iov, dcp)
		for _, tc := range []struct {
			rules string
			year  int
		}{{"2023-10", 2023}, {"2022-10", 2022}} {
			got := Classify(c, rules(t, tc.rules))
			want := naiveUnknown(tpp, area, io, dcp, tc.year)
			if got.Classification != want {
				t.Fatalf("%s: TPP %v area %v io %v dc %v: got %s, naive %s (%s)",
					tc.rules, tpp, fp(area), fp(io), dcp, got.Classification, want, got.Reason)
			}
			if (got.Paragraph != nil) != (want == BandA || want == BandB) && got.Classification != InsufficientData {
				t.Fatalf("paragraph %v for band %s", str(got.Paragraph), want)
			}
		}
	}
}

func fp(p *float64) any {
	if p == nil {
		return "unknown"
	}
	return *p
}
