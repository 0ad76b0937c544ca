package forecast

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
)

var propModels = []string{"H100", "A800", "H20", "910B", "910C", "L20"}

// randomPlan builds a plan with distinct fleet models, deliveries, reserves
// and retirements. With det, failures and delivery spread are off.
func randomPlan(r *rand.Rand, det bool) Plan {
	start := NewMonth(2027, 1)
	p := Plan{
		Start: start, HorizonMonths: 12 + r.IntN(60), Precision: "bf16",
		Utilization: 0.2 + 0.8*r.Float64(), Paths: 1, Seed: r.Int64(),
		UsefulLifeYears:       float64(1+r.IntN(6)) + 0.25*float64(r.IntN(4)),
		EfficiencyGainPerYear: 1 + r.Float64(),
		Levers:                LeverSizes{0.1, 1.1, 0.5, 250, ""},
	}
	perm := r.Perm(len(propModels))
	for _, i := range perm[:1+r.IntN(3)] {
		acq := start - Month(r.IntN(80))
		p.Fleet = append(p.Fleet, Holding{Model: propModels[i], InService: r.IntN(400), Reserve: r.IntN(200), Acquired: &acq})
	}
	for k := r.IntN(3); k > 0; k-- {
		d := Delivery{Model: propModels[r.IntN(len(propModels))], UnitsPerQuarter: float64(r.IntN(80)), From: start + Month(r.IntN(20))}
		if r.IntN(2) == 0 {
			u := d.From + Month(r.IntN(40))
			d.Until = &u
		}
		if !det {
			d.CV = r.Float64()
		}
		p.Deliveries = append(p.Deliveries, d)
	}
	if !det {
		p.AFR.Default = 0.3 * r.Float64()
	}
	p.Demand.Inference = Inference{PFLOPS: 10 + 100*r.Float64(), GrowthPerYear: 1 + 3*r.Float64()}
	if r.IntN(2) == 0 {
		p.Demand.Training = []TrainingRun{{Name: "t", Start: start + Month(r.IntN(p.HorizonMonths)), Months: 1, FLOP: 1e23 * r.Float64()}}
		if end := start + Month(p.HorizonMonths); p.Demand.Training[0].Start >= end {
			p.Demand.Training = nil
		}
	}
	return p
}

// refDemand is Demand(m) written from docs/runway.md ("Semantics") alone,
// not from the package: inference growing per year plus the training runs
// active in month m, spread over their months, all over the efficiency gain.
func refDemand(t *testing.T, p Plan, m int) float64 {
	if p.Demand.Generations != nil {
		t.Fatal("refDemand covers explicit training runs only")
	}
	const secondsPerMonth = 365.25 * 86400 / 12
	years := float64(m) / 12
	v := p.Demand.Inference.PFLOPS * math.Pow(p.Demand.Inference.GrowthPerYear, years)
	for _, r := range p.Demand.Training {
		first := int(r.Start - p.Start)
		if m >= first && m < first+r.Months {
			v += r.FLOP / (float64(r.Months) * secondsPerMonth) / 1e15
		}
	}
	return v / math.Pow(p.EfficiencyGainPerYear, years)
}

// refShort is "demand(m) > supply(m)", exact ties (to 10⁻⁹) served.
func refShort(demand, supply float64) bool { return demand > supply*(1+1e-9) }

// naiveRunway is a reference for deterministic plans: one record per
// device, reserve brought out one unit at a time in fleet order. It uses
// nothing of the package but the plan's types.
func naiveRunway(t *testing.T, p Plan, cat *accel.Catalog) (int, []float64) {
	type dev struct {
		pf     float64
		retire int
	}
	rate := func(name string) float64 {
		c, err := cat.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := c.Dense("bf16")
		return v / 1000 * p.Utilization
	}
	life := int(math.Round(p.UsefulLifeYears * 12))
	var devs []dev
	reserve := make([]int, len(p.Fleet))
	for i, h := range p.Fleet {
		for k := 0; k < h.InService; k++ {
			devs = append(devs, dev{rate(h.Model), int(*h.Acquired-p.Start) + life})
		}
		reserve[i] = h.Reserve
	}
	demand := make([]float64, p.HorizonMonths)
	for m := range demand {
		demand[m] = refDemand(t, p, m)
	}
	runway := p.HorizonMonths
	supply := make([]float64, p.HorizonMonths)
	for m := 0; m < p.HorizonMonths; m++ {
		kept := devs[:0]
		for _, d := range devs {
			if d.retire > m {
				kept = append(kept, d)
			}
		}
		devs = kept
		for _, d := range p.Deliveries {
			k := m - int(d.From-p.Start)
			if k >= 0 && k%3 == 0 && (d.Until == nil || p.Start+Month(m) <= *d.Until) {
				for u := 0; u < int(math.Round(d.UnitsPerQuarter)); u++ {
					devs = append(devs, dev{rate(d.Model), m + life})
				}
			}
		}
		s := 0.0
		for _, d := range devs {
			s += d.pf
		}
		for i := range reserve {
			for reserve[i] > 0 && refShort(demand[m], s) {
				reserve[i]--
				devs = append(devs, dev{rate(p.Fleet[i].Model), m + life})
				s += rate(p.Fleet[i].Model)
			}
		}
		supply[m] = s
		if refShort(demand[m], s) && runway == p.HorizonMonths {
			runway = m
		}
	}
	return runway, supply
}

// Deterministic plans (afr 0, cv 0) match the per-device reference exactly.
func TestAgainstNaiveReference(t *testing.T) {
	cat := accel.Default()
	r := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 300; trial++ {
		p := randomPlan(r, true)
		res := mustRun(t, p, Options{NoLevers: true, Paths: 3})
		want, supply := naiveRunway(t, p, cat)
		got := p.HorizonMonths
		if res.RunwayMonths.P50 != nil {
			got = *res.RunwayMonths.P50
		}
		if got != want || !samePtr(res.RunwayMonths.P10, res.RunwayMonths.P90) {
			t.Fatalf("trial %d: runway %d, reference %d\nplan %+v", trial, got, want, p)
		}
		for m, s := range res.Series {
			if math.Abs(s.Supply.P50-supply[m]) > 0.0015 || s.Supply.P10 != s.Supply.P90 {
				t.Fatalf("trial %d month %d: supply %+v, reference %.3f", trial, m, s.Supply, supply[m])
			}
			if d := refDemand(t, p, m); math.Abs(s.Demand.P50-d) > 0.0006 {
				t.Fatalf("trial %d month %d: demand %.3f, reference %.4f", trial, m, s.Demand.P50, d)
			}
		}
	}
}

// Invariants of stochastic plans: quantiles are ordered, supply stays
// within what the fleet could ever field, shares are shares, and pulling a
// lever never shortens a deterministic runway.
func TestInvariants(t *testing.T) {
	cat := accel.Default()
	r := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 60; trial++ {
		p := randomPlan(r, trial%3 == 0)
		res := mustRun(t, p, Options{Paths: 150})
		q := []*int{res.RunwayMonths.P10, res.RunwayMonths.P50, res.RunwayMonths.P90}
		for i := 1; i < 3; i++ {
			if q[i-1] == nil && q[i] != nil || q[i-1] != nil && q[i] != nil && *q[i-1] > *q[i] {
				t.Fatalf("trial %d: runway quantiles out of order %s", trial, fmtQ(res.RunwayMonths))
			}
		}
		bound := 0.0
		for _, h := range p.Fleet {
			c, _ := cat.Resolve(h.Model)
			v, _ := c.Dense("bf16")
			bound += float64(h.InService+h.Reserve) * v / 1000 * p.Utilization
		}
		for _, d := range p.Deliveries {
			c, _ := cat.Resolve(d.Model)
			v, _ := c.Dense("bf16")
			bound += d.UnitsPerQuarter * (1 + 10*d.CV) * float64(p.HorizonMonths/3+1) * v / 1000 * p.Utilization
		}
		for m, s := range res.Series {
			if !(s.Supply.P10 <= s.Supply.P50 && s.Supply.P50 <= s.Supply.P90) || s.Supply.P10 < 0 || s.Supply.P90 > bound+0.0006 {
				t.Fatalf("trial %d month %d: supply band %+v (bound %.1f)", trial, m, s.Supply, bound)
			}
			if m > 0 && s.Demand.P50 < 0 {
				t.Fatal("negative demand")
			}
		}
		for _, tr := range res.TrainingOnTime {
			if tr.Share < 0 || tr.Share > 1 {
				t.Fatalf("share %v", tr.Share)
			}
		}
		if res.NoShortfallShare < 0 || res.NoShortfallShare > 1 {
			t.Fatalf("no-shortfall share %v", res.NoShortfallShare)
		}
		if trial%3 == 0 && res.RunwayMonths.P50 != nil {
			for _, l := range res.Levers {
				if *l.GainMonths < 0 {
					t.Fatalf("trial %d: deterministic lever %s loses %d months", trial, l.Name, *l.GainMonths)
				}
			}
		}
	}
}

// samePtr reports whether two optional values are both absent or equal.
func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
