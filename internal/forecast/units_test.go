package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The alias table draws round(Gamma) with the same distribution as the
// Marsaglia–Tsang sampler rounded (the oracle): a two-sample chi-square
// test on binned counts, and the means and variances of the two samples.
func TestUnitsTableMatchesGamma(t *testing.T) {
	for _, c := range []struct{ mean, cv float64 }{
		{20, 0.3}, {115, 0.3}, {500, 0.4}, {3, 0.5}, {50, 1.5}, {0.7, 0.9}, {2000, 0.05},
	} {
		k, theta := 1/(c.cv*c.cv), c.mean*c.cv*c.cv
		tab := newUnitsTable(k, theta)
		if tab == nil {
			t.Fatalf("%+v: no table", c)
		}
		const draws = 200000
		src := newPCG(uint64(c.mean*1000), 7)
		r := rand.New(src)
		g := newGamma(k)
		got, want := map[int]int{}, map[int]int{}
		var s, s2, o, o2 float64
		for i := 0; i < draws; i++ {
			u := float64(tab.draw(src))
			got[int(u)]++
			s, s2 = s+u, s2+u*u
			w := math.Round(g.draw(src, r) * theta)
			want[int(w)]++
			o, o2 = o+w, o2+w*w
		}
		mean, oMean := s/draws, o/draws
		v, oV := s2/draws-mean*mean, o2/draws-oMean*oMean
		if se := math.Sqrt((v + oV) / draws); math.Abs(mean-oMean) > 5*se {
			t.Errorf("%+v: mean %.4f, gamma sampler %.4f (se of the difference %.4f)", c, mean, oMean, se)
		}
		// The variance of a sample variance is about (κ₄ + 2σ⁴)/n; a 5 %
		// band is many standard errors for these shapes and draws.
		if math.Abs(v-oV) > 0.05*oV {
			t.Errorf("%+v: variance %.3f, gamma sampler %.3f", c, v, oV)
		}
		if c.mean >= 3 {
			// Rounding keeps the mean when the mass near 0 is negligible.
			if se := math.Sqrt(v / draws); math.Abs(mean-c.mean) > 5*se {
				t.Errorf("%+v: mean %.4f, want %.4f ± %.4f", c, mean, c.mean, se)
			}
		}
		chi, dof := chiSquare2(got, want, 20)
		// 99.99th percentile of chi-square is below dof + 6·√(2·dof) + 10.
		if chi > float64(dof)+6*math.Sqrt(2*float64(dof))+10 {
			t.Errorf("%+v: chi-square %.1f on %d dof: table and gamma sampler disagree", c, chi, dof)
		}
	}
}

// chiSquare2 is the two-sample chi-square statistic of equal-size samples,
// over bins merged until each holds at least minCount of both together.
func chiSquare2(a, b map[int]int, minCount int) (float64, int) {
	lo, hi := math.MaxInt, math.MinInt
	for _, m := range []map[int]int{a, b} {
		for k := range m {
			lo, hi = min(lo, k), max(hi, k)
		}
	}
	var chi float64
	bins := 0
	x, y := 0, 0
	flush := func() {
		if x+y > 0 {
			d := float64(x - y)
			chi += d * d / float64(x+y)
			bins++
		}
		x, y = 0, 0
	}
	for k := lo; k <= hi; k++ {
		x += a[k]
		y += b[k]
		if x+y >= 2*minCount {
			flush()
		}
	}
	flush()
	return chi, bins - 1
}

// Wide distributions fall back to the gamma sampler rather than build a
// huge table.
func TestUnitsTableTooWide(t *testing.T) {
	if tab := newUnitsTable(1/(0.5*0.5), 1e6*0.25); tab != nil {
		t.Fatalf("table of %d outcomes for mean 1e6, cv 0.5", len(tab.cut))
	}
}
