package forecast

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
)

// SecondsPerMonth is the average Gregorian month: 365.25 × 86,400 ÷ 12.
const SecondsPerMonth = 2_629_800.0

// model is a plan compiled against the catalog: everything the simulation
// needs, in flat arrays.
type model struct {
	start   Month
	horizon int
	demand  []float64 // PFLOP/s per month
	groups  []group
	// arrivals[m] lists the deliveries arriving in month m.
	arrivals [][]arrival
	runs     []TrainingRun
}

// group is the devices of one model with one per-device rate; failures are
// drawn once per group and month.
type group struct {
	model    string // catalog id
	domestic bool
	pf       float64 // effective PFLOP/s per device (dense × utilization)
	fail     failer  // monthly failures
	initial  []cohort
	reserve  int
	life     int // useful life in months
}

// cohort is units that retire together. w is its weight: its share of the
// group's in-service units is w / Σw (failures thin every cohort alike).
type cohort struct {
	w      float64
	retire int // month index at which the cohort leaves service
}

type arrival struct {
	group int
	life  int // the group's useful life in months
	mean  float64
	cv    float64
	gamma gammaGen // shape 1/cv²
	scale float64  // mean·cv², so gamma × scale has the mean and cv
	// table draws the rounded units directly (nil: draw gamma variates).
	table *unitsTable
}

func newArrival(group int, mean, cv float64, ts *tables) arrival {
	a := arrival{group: group, mean: mean, cv: cv}
	if cv > 0 {
		a.gamma = newGamma(1 / (cv * cv))
		a.scale = mean * cv * cv
		if mean > 0 {
			a.table = ts.unitsTable(1/(cv*cv), a.scale)
		}
	}
	return a
}

// compile resolves models and builds the simulation model.
func compile(p *Plan, cat *accel.Catalog) (*model, error) {
	return compileWith(p, cat, newTables())
}

// compileWith is compile with tables shared through ts.
func compileWith(p *Plan, cat *accel.Catalog, ts *tables) (*model, error) {
	if cat == nil {
		return nil, errors.New("forecast: nil catalog")
	}
	if err := p.sane(); err != nil {
		return nil, err
	}
	var errs fleet.InputErrors
	md := &model{start: p.Start, horizon: p.HorizonMonths}
	life := int(math.Round(p.UsefulLifeYears * 12))
	if life < 1 {
		life = 1
	}
	monthlyP := func(afr float64) float64 { return 1 - math.Pow(1-afr, 1.0/12) }
	afr := map[string]float64{}
	for k, v := range p.AFR.ByModel {
		c, err := cat.Resolve(k)
		if err != nil {
			errs = append(errs, p.errAt("$.afr."+k, "", err.Error()))
			continue
		}
		afr[c.ID] = v
	}
	index := map[string]int{} // id|pf → group
	groupOf := func(path, entry, name string, override *float64) int {
		c, err := cat.Resolve(name)
		if err != nil {
			errs = append(errs, p.errAt(path+".model", entry, err.Error()))
			return -1
		}
		var pf float64
		if override != nil {
			pf = *override
		} else {
			tf, ok := c.Dense(p.Precision)
			if !ok {
				errs = append(errs, p.errAt(path+".model", entry, fmt.Sprintf("the catalog has no dense %s rate for %s: set pflops_per_device or choose another precision", p.Precision, c.Name)))
				return -1
			}
			pf = tf / 1000
		}
		key := fmt.Sprintf("%s|%g", c.ID, pf)
		if i, ok := index[key]; ok {
			return i
		}
		a, ok := afr[c.ID]
		if !ok {
			a = p.AFR.Default
		}
		q := monthlyP(a)
		md.groups = append(md.groups, group{
			model: c.ID, domestic: c.Domestic(), pf: pf * p.Utilization,
			fail: failer{p: q}, life: life,
		})
		index[key] = len(md.groups) - 1
		return len(md.groups) - 1
	}
	if len(p.Fleet) == 0 {
		errs = append(errs, p.errAt("$.fleet", "", "no fleet: list the devices under fleet, or read the live inventory (granary runway --server URL)"))
	}
	for i, h := range p.Fleet {
		path := fmt.Sprintf("$.fleet[%d]", i)
		entry := fmt.Sprintf("fleet[%d] (%s)", i, h.Model)
		g := groupOf(path, entry, h.Model, h.PFLOPSPerDevice)
		if g < 0 {
			continue
		}
		acq := p.Start
		if h.Acquired != nil {
			acq = *h.Acquired
		}
		if h.InService > 0 {
			md.groups[g].initial = append(md.groups[g].initial, cohort{w: float64(h.InService), retire: int(acq-p.Start) + life})
		}
		md.groups[g].reserve += h.Reserve
	}
	md.arrivals = make([][]arrival, p.HorizonMonths)
	for i, d := range p.Deliveries {
		path := fmt.Sprintf("$.deliveries[%d]", i)
		entry := fmt.Sprintf("deliveries[%d] (%s)", i, d.Model)
		g := groupOf(path, entry, d.Model, d.PFLOPSPerDevice)
		if g < 0 || d.UnitsPerQuarter == 0 {
			continue
		}
		last := p.HorizonMonths - 1
		if d.Until != nil && int(*d.Until-p.Start) < last {
			last = int(*d.Until - p.Start)
		}
		a := newArrival(g, d.UnitsPerQuarter, d.CV, ts) // one table for all quarters
		a.life = md.groups[g].life
		for m := int(d.From - p.Start); m <= last; m += 3 {
			if m >= 0 {
				md.arrivals[m] = append(md.arrivals[m], a)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	// Initial cohorts must be in retirement order (later cohorts are
	// appended in order as the simulation runs).
	for gi := range md.groups {
		c := md.groups[gi].initial
		for i := 1; i < len(c); i++ {
			for j := i; j > 0 && c[j].retire < c[j-1].retire; j-- {
				c[j], c[j-1] = c[j-1], c[j]
			}
		}
	}
	// Failure tables sized to the most units a group is likely to hold.
	maxN := make([]float64, len(md.groups))
	for gi, g := range md.groups {
		maxN[gi] = float64(g.reserve) + 64
		for _, c := range g.initial {
			maxN[gi] += c.w
		}
	}
	for _, as := range md.arrivals {
		for _, a := range as {
			maxN[a.group] += a.mean * (1 + 3*a.cv)
		}
	}
	for gi := range md.groups {
		md.groups[gi].fail = newFailer(md.groups[gi].fail.p, int(math.Min(maxN[gi], maxTable)), ts)
	}
	md.runs = p.Demand.Runs()
	md.demand = demandSeries(p, md.runs)
	return md, nil
}

// demandSeries is Demand(m) of the semantics, in PFLOP/s.
func demandSeries(p *Plan, runs []TrainingRun) []float64 {
	d := make([]float64, p.HorizonMonths)
	for m := range d {
		t := float64(m) / 12
		v := p.Demand.Inference.PFLOPS * math.Pow(p.Demand.Inference.GrowthPerYear, t)
		for _, r := range runs {
			k := int(r.Start - p.Start)
			if m >= k && m < k+r.Months {
				v += r.FLOP / (float64(r.Months) * SecondsPerMonth) / 1e15
			}
		}
		d[m] = v / math.Pow(p.EfficiencyGainPerYear, t)
	}
	return d
}

// sane checks the numbers of a plan built in code (ParsePlan has already
// checked parsed ones) so the simulation cannot panic or loop.
func (p *Plan) sane() error {
	var errs fleet.InputErrors
	bad := func(path, msg string) { errs = append(errs, p.errAt(path, "", msg)) }
	if p.HorizonMonths < 1 || p.HorizonMonths > MaxHorizonMonths {
		bad("$.horizon_months", fmt.Sprintf("must be between 1 and %d", MaxHorizonMonths))
	}
	if p.Paths < 1 || p.Paths > MaxPaths {
		bad("$.paths", fmt.Sprintf("must be between 1 and %d", MaxPaths))
	}
	if p.Paths*p.HorizonMonths > MaxPathMonths && p.Paths <= MaxPaths && p.HorizonMonths <= MaxHorizonMonths {
		bad("$.paths", fmt.Sprintf("paths × horizon_months = %d × %d is more than %d: use fewer paths", p.Paths, p.HorizonMonths, MaxPathMonths))
	}
	if !(p.Utilization > 0 && p.Utilization <= 1) {
		bad("$.utilization", "must be in (0, 1]")
	}
	if !(p.UsefulLifeYears > 0 && p.UsefulLifeYears <= 100) {
		bad("$.useful_life_years", "must be in (0, 100]")
	}
	if !(p.EfficiencyGainPerYear > 0) || math.IsInf(p.EfficiencyGainPerYear, 0) {
		bad("$.efficiency_gain_per_year", "must be a positive number")
	}
	if !(p.Demand.Inference.GrowthPerYear > 0) || math.IsInf(p.Demand.Inference.GrowthPerYear, 0) {
		bad("$.demand.inference.growth_per_year", "must be a positive number")
	}
	if p.Precision.Bits() == 0 {
		bad("$.precision", fmt.Sprintf("unknown precision %q", p.Precision))
	}
	if !(p.AFR.Default >= 0 && p.AFR.Default < 1) {
		bad("$.afr.default", "must be in [0, 1)")
	}
	for k, v := range p.AFR.ByModel {
		if !(v >= 0 && v < 1) {
			bad("$.afr."+k, "must be in [0, 1)")
		}
	}
	for i, h := range p.Fleet {
		if h.InService < 0 || h.Reserve < 0 || h.InService > MaxUnits || h.Reserve > MaxUnits {
			bad(fmt.Sprintf("$.fleet[%d]", i), fmt.Sprintf("counts must be in [0, %d]", MaxUnits))
		}
		if h.PFLOPSPerDevice != nil && !(*h.PFLOPSPerDevice > 0) {
			bad(fmt.Sprintf("$.fleet[%d].pflops_per_device", i), "must be positive")
		}
	}
	for i, d := range p.Deliveries {
		if !(d.UnitsPerQuarter >= 0 && d.UnitsPerQuarter <= MaxUnits) || !(d.CV >= 0 && d.CV <= 10) {
			bad(fmt.Sprintf("$.deliveries[%d]", i), fmt.Sprintf("units_per_quarter must be in [0, %d] and cv in [0, 10]", MaxUnits))
		}
		if d.PFLOPSPerDevice != nil && !(*d.PFLOPSPerDevice > 0) {
			bad(fmt.Sprintf("$.deliveries[%d].pflops_per_device", i), "must be positive")
		}
	}
	end := p.Start + Month(p.HorizonMonths)
	for _, r := range p.Demand.Runs() {
		if r.Months < 1 || r.Start < p.Start || r.Start+Month(r.Months) > end || !(r.FLOP >= 0) {
			bad("$.demand", fmt.Sprintf("training run %q is outside the horizon or has no months", r.Name))
		}
	}
	return errs.Err()
}

// domesticLever returns the plan with the domestic-deliveries lever applied
// and a description of it.
func domesticLever(p Plan, cat *accel.Catalog) (Plan, string, error) {
	l := p.Levers
	out := p
	out.Deliveries = append([]Delivery(nil), p.Deliveries...)
	any := false
	for i, d := range out.Deliveries {
		if c, err := cat.Resolve(d.Model); err == nil && c.Domestic() {
			out.Deliveries[i].UnitsPerQuarter = d.UnitsPerQuarter * (1 + l.DomesticDeliveryIncrease)
			any = true
		}
	}
	if any {
		return out, fmt.Sprintf("domestic deliveries +%s%%", pct(l.DomesticDeliveryIncrease)), nil
	}
	name := l.DomesticModel
	if name == "" {
		for _, h := range p.Fleet {
			if c, err := cat.Resolve(h.Model); err == nil && c.Domestic() {
				name = c.ID
				break
			}
		}
	}
	if name == "" {
		for _, c := range cat.All() {
			if _, ok := c.Dense(p.Precision); ok && c.Domestic() {
				name = c.ID
				break
			}
		}
	}
	if name == "" {
		return p, "", fmt.Errorf("no domestic model with a dense %s rate in the catalog for the domestic lever", p.Precision)
	}
	c, err := cat.Resolve(name)
	if err != nil {
		return p, "", p.errAt("$.levers.domestic_model", "levers", err.Error())
	}
	if _, ok := c.Dense(p.Precision); !ok || !c.Domestic() {
		return p, "", p.errAt("$.levers.domestic_model", "levers", fmt.Sprintf("%s is not a domestic model with a dense %s rate", c.Name, p.Precision))
	}
	out.Deliveries = append(out.Deliveries, Delivery{Model: c.ID, UnitsPerQuarter: l.DomesticUnitsPerQuarter, From: p.Start})
	return out, fmt.Sprintf("add %s %s per quarter", num(l.DomesticUnitsPerQuarter), c.Name), nil
}

func pct(f float64) string { return num(f * 100) }

func num(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
