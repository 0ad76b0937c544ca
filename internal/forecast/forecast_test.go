package forecast

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
)

func mustParse(t testing.TB, src string) Plan {
	t.Helper()
	p, err := ParsePlan("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	return p
}

func mustRun(t testing.TB, p Plan, opts Options) Result {
	t.Helper()
	r, err := Run(context.Background(), p, accel.Default(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func ip(v int) *int { return &v }

func equalQ(t *testing.T, what string, got IntQuantiles, want *int) {
	t.Helper()
	for _, g := range []*int{got.P10, got.P50, got.P90} {
		if (g == nil) != (want == nil) || (g != nil && *g != *want) {
			t.Fatalf("%s: got %s, want all quantiles %s", what, fmtQ(got), fmtP(want))
		}
	}
}

func fmtP(p *int) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(*p)
}

func fmtQ(q IntQuantiles) string {
	return "{" + fmtP(q.P10) + " " + fmtP(q.P50) + " " + fmtP(q.P90) + "}"
}

// Constant supply against exponentially growing demand: 1000 devices ×
// 1 PFLOP/s × 0.5 = 500 PFLOP/s; demand 100·2^(m/12) exceeds 500 first when
// m/12 > log2(5) = 2.3219, i.e. m = 28 (2029-05 from 2027-01).
func TestConstantSupplyExponentialDemand(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 72
utilization: 0.5
paths: 50
fleet:
  - {model: H100, in_service: 1000, pflops_per_device: 1.0}
afr: {default: 0}
demand:
  inference: {pflops: 100, growth_per_year: 2}
`)
	want := int(math.Floor(12*math.Log2(5))) + 1
	if want != 28 {
		t.Fatalf("hand computation: %d", want)
	}
	r := mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway", r.RunwayMonths, ip(28))
	if *r.FirstShortfall.P50 != "2029-05" {
		t.Errorf("first shortfall %s, want 2029-05", *r.FirstShortfall.P50)
	}
	for m, s := range r.Series {
		if s.Supply != (Band{500, 500, 500}) {
			t.Fatalf("month %d supply %+v, want 500 flat", m, s.Supply)
		}
		d := round3(100 * math.Pow(2, float64(m)/12))
		if s.Demand.P50 != d {
			t.Fatalf("month %d demand %v, want %v", m, s.Demand.P50, d)
		}
	}
	if r.RunwayP50StdError == nil || *r.RunwayP50StdError != 0 {
		t.Errorf("std error of a deterministic runway: %v, want 0", r.RunwayP50StdError)
	}

	// Efficiency divides demand: 100·(2/1.25)^(m/12) > 500 first at
	// m/12 > ln 5 / ln 1.6 = 3.4243, m = 42.
	p.EfficiencyGainPerYear = 1.25
	r = mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway with efficiency", r.RunwayMonths, ip(int(math.Floor(12*math.Log(5)/math.Log(1.6)))+1))
	equalQ(t, "runway with efficiency (hand)", r.RunwayMonths, ip(42))

	// No shortfall within the horizon: every quantile is null.
	p.HorizonMonths = 40
	r = mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "beyond the horizon", r.RunwayMonths, nil)
	if r.FirstShortfall.P50 != nil || r.RunwayP50StdError != nil || r.NoShortfallShare != 1 {
		t.Errorf("beyond horizon: %+v %v %v", r.FirstShortfall, r.RunwayP50StdError, r.NoShortfallShare)
	}
}

// Failures only: E[in service at m] = N0 (1-afr)^(m/12). The mean over
// 4,000 paths must be within 5 standard errors of it in every month.
func TestFailuresOnlyExpectedValue(t *testing.T) {
	for _, tc := range []struct {
		n   int
		afr float64
	}{{10000, 0.2}, {300, 0.06}, {50000, 0.9}} { // small means (exact walk), large means, beyond the table
		p := mustParse(t, `
start: 2027-01
horizon_months: 60
utilization: 1
paths: 4000
fleet:
  - {model: H100, in_service: 1, pflops_per_device: 1.0}
demand:
  inference: {pflops: 0}
`)
		p.Fleet[0].InService = tc.n
		p.AFR.Default = tc.afr
		md, err := compile(&p, accel.Default())
		if err != nil {
			t.Fatal(err)
		}
		seeds := make([][2]uint64, (p.Paths+BlockSize-1)/BlockSize)
		for i := range seeds {
			seeds[i] = [2]uint64{uint64(i), 99}
		}
		o, err := simulate(context.Background(), md, p.Paths, seeds, 2, true, &progress{})
		if err != nil {
			t.Fatal(err)
		}
		for m := 0; m < md.horizon; m++ {
			var sum, sum2 float64
			for i := 0; i < p.Paths; i++ {
				v := o.supply[i*md.horizon+m]
				sum += v
				sum2 += v * v
			}
			mean := sum / float64(p.Paths)
			sd := math.Sqrt(math.Max(sum2/float64(p.Paths)-mean*mean, 0))
			want := float64(tc.n) * math.Pow(1-tc.afr, float64(m)/12)
			se := sd / math.Sqrt(float64(p.Paths))
			if m == 0 && mean != float64(tc.n) {
				t.Fatalf("n=%d: month 0 mean %v, want %d (failures start in month 1)", tc.n, mean, tc.n)
			}
			if math.Abs(mean-want) > 5*se+1e-9 {
				t.Fatalf("n=%d afr=%v month %d: mean %.3f, want %.3f ± %.3f (5 SE)", tc.n, tc.afr, m, mean, want, 5*se)
			}
			// The binomial variance: Var N(m) = N0 s (1-s), s = (1-afr)^(m/12).
			s := math.Pow(1-tc.afr, float64(m)/12)
			wantSD := math.Sqrt(float64(tc.n) * s * (1 - s))
			if m > 0 && math.Abs(sd-wantSD) > 0.1*wantSD+0.5 {
				t.Fatalf("n=%d month %d: sd %.3f, want %.3f", tc.n, m, sd, wantSD)
			}
		}
	}
}

// Deliveries only: 100 units a quarter from month 0 give 100·(⌊m/3⌋+1)
// PFLOP/s; demand 50·2^(m/12) first exceeds it at m = 67 (2300 vs 2395.0;
// at m = 66 2300 vs 2262.7).
func TestDeliveriesOnly(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 72
utilization: 1
paths: 20
fleet:
  - {model: H100, in_service: 0, pflops_per_device: 1.0}
afr: {default: 0}
deliveries:
  - {model: H100, units_per_quarter: 100, pflops_per_device: 1.0}
demand:
  inference: {pflops: 50, growth_per_year: 2}
`)
	r := mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway", r.RunwayMonths, ip(67))
	for m, s := range r.Series {
		if want := float64(100 * (m/3 + 1)); s.Supply.P50 != want || s.Supply.P10 != want {
			t.Fatalf("month %d supply %+v, want %v", m, s.Supply, want)
		}
	}
	// until stops deliveries: the last arrives in 2028-01 (month 12), so
	// supply stays 500 and 50·2^(m/12) > 500 first at m/12 > log2 10, m = 40.
	until := NewMonth(2028, 2)
	p.Deliveries[0].Until = &until
	r = mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway with until", r.RunwayMonths, ip(40))
	// from shifts the schedule: first arrival 2027-03 (month 2), so month
	// 0 already has a shortfall.
	p.Deliveries[0].From = NewMonth(2027, 3)
	r = mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway with from", r.RunwayMonths, ip(0))
}

// Reserve entering service: 100 in service and 50 boxed, 1 PFLOP/s each;
// demand 80·1.5^(m/12) passes 100 at m = 7 (101.33 → 2 units come out) and
// passes 150 — reserve exhausted — at m = 19 (151.0).
func TestReserveEntersService(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 36
utilization: 1
paths: 10
fleet:
  - {model: H100, in_service: 100, reserve: 50, pflops_per_device: 1.0}
afr: {default: 0}
demand:
  inference: {pflops: 80, growth_per_year: 1.5}
  training:
    - {name: early, start: 2027-06, months: 6, flop: 1}
    - {name: late, start: 2028-06, months: 6, flop: 1}
`)
	r := mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway", r.RunwayMonths, ip(19))
	for m, s := range r.Series {
		d := 80 * math.Pow(1.5, float64(m)/12)
		want := math.Min(150, math.Max(100, math.Ceil(d)))
		if s.Supply.P50 != want {
			t.Fatalf("month %d: supply %v, want %v (demand %.3f)", m, s.Supply.P50, want, d)
		}
	}
	if r.Series[7].Supply.P50 != 102 {
		t.Errorf("month 7 supply %v, want 102", r.Series[7].Supply.P50)
	}
	// early (months 5-10) is served; late (17-22) hits the shortfall.
	if r.TrainingOnTime[0].Share != 1 || r.TrainingOnTime[1].Share != 0 {
		t.Errorf("training on time: %+v", r.TrainingOnTime)
	}
	// Without the reserve the runway is the month demand passes 100.
	p.Fleet[0].Reserve = 0
	r = mustRun(t, p, Options{NoLevers: true})
	equalQ(t, "runway without reserve", r.RunwayMonths, ip(7))
}

// Retirement at the end of useful life: 100 units acquired 4 years before
// the start with a 6-year life leave service in month 24.
func TestRetirement(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 36
utilization: 1
paths: 5
fleet:
  - {model: H100, in_service: 100, acquired: 2023-01, pflops_per_device: 1.0}
  - {model: H100, in_service: 10, pflops_per_device: 1.0}
useful_life_years: 6
afr: {default: 0}
demand:
  inference: {pflops: 50}
`)
	r := mustRun(t, p, Options{NoLevers: true})
	for m, s := range r.Series {
		want := 110.0
		if m >= 24 {
			want = 10
		}
		if s.Supply.P50 != want {
			t.Fatalf("month %d supply %v, want %v", m, s.Supply.P50, want)
		}
	}
	equalQ(t, "runway", r.RunwayMonths, ip(24))
}

// The semantics with the catalog's rate: 2048 H800 × 989.4 TFLOPS bf16 ×
// 0.4 = 810.3 PFLOP/s at month 0.
func TestCatalogRate(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 2
paths: 1
fleet: [{model: H800, in_service: 2048}]
demand: {inference: {pflops: 1}}
`)
	r := mustRun(t, p, Options{NoLevers: true})
	if got, want := r.Series[0].Supply.P50, round3(2048*0.9894*0.4); got != want {
		t.Fatalf("supply %v, want %v", got, want)
	}
	p.Precision = "fp8"
	r = mustRun(t, p, Options{NoLevers: true})
	if got, want := r.Series[0].Supply.P50, round3(2048*1.9789*0.4); got != want {
		t.Fatalf("fp8 supply %v, want %v", got, want)
	}
}

// Training FLOP become PFLOP/s as flop ÷ (months × 2,629,800 s) ÷ 1e15.
func TestTrainingDemand(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 12
paths: 1
fleet: [{model: H800, in_service: 1}]
demand:
  training: [{name: a, start: 2027-03, months: 4, flop: 4e25}]
  generations: {first: g9, start: 2027-02, flop: 1e24, growth: 3, cadence_months: 3, months: 2, count: 3}
efficiency_gain_per_year: 2
`)
	runs := p.Demand.Runs()
	names := []string{runs[1].Name, runs[2].Name, runs[3].Name}
	if !reflect.DeepEqual(names, []string{"g9", "g10", "g11"}) || math.Abs(runs[3].FLOP-9e24) > 1e12 || runs[3].Start != NewMonth(2027, 8) {
		t.Fatalf("generations: %+v", runs)
	}
	d := demandSeries(&p, runs)
	a := 4e25 / (4 * SecondsPerMonth) / 1e15
	g := func(i int) float64 { return 1e24 * math.Pow(3, float64(i)) / (2 * SecondsPerMonth) / 1e15 }
	want := []float64{0, g(0), a + g(0), a, a + g(1), a + g(1), 0, g(2), g(2), 0, 0, 0}
	for m := range want {
		w := want[m] / math.Pow(2, float64(m)/12)
		if math.Abs(d[m]-w) > 1e-9*w {
			t.Fatalf("month %d demand %v, want %v", m, d[m], w)
		}
	}
}

// The same seed gives the same result for any number of workers; another
// seed gives another.
func TestDeterministicAcrossWorkers(t *testing.T) {
	p := examplePlan(t)
	p.Paths = 450
	a := mustRun(t, p, Options{Workers: 1})
	b := mustRun(t, p, Options{Workers: 3})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("results differ between 1 and 3 workers")
	}
	seed := int64(2)
	c := mustRun(t, p, Options{Workers: 2, Seed: &seed, NoLevers: true})
	if reflect.DeepEqual(a.Series, c.Series) {
		t.Fatal("seed 2 gave the same series as seed 1")
	}
	// A generator passed in is used instead of the seed.
	d := mustRun(t, p, Options{Rand: rand.New(rand.NewPCG(1, 2)), NoLevers: true})
	e := mustRun(t, p, Options{Rand: rand.New(rand.NewPCG(1, 2)), NoLevers: true})
	if !reflect.DeepEqual(d, e) || reflect.DeepEqual(d.Series, a.Series) {
		t.Fatal("Options.Rand not honoured")
	}
}

// Each lever equals the plan rerun with that lever applied by hand and the
// same seed; ranks order the gains.
func TestLeversRankedWithSameSeed(t *testing.T) {
	p := examplePlan(t)
	p.Paths = 1000
	r := mustRun(t, p, Options{})
	if len(r.Levers) != 3 {
		t.Fatalf("levers: %+v", r.Levers)
	}
	base := *r.RunwayMonths.P50
	direct := map[string]Plan{}
	rp := p
	rp.Fleet = append([]Holding(nil), p.Fleet...)
	for i := range rp.Fleet {
		rp.Fleet[i].Reserve = int(math.Round(float64(rp.Fleet[i].Reserve) * 1.1))
	}
	direct["reserve"] = rp
	ep := p
	ep.EfficiencyGainPerYear *= 1.1
	direct["efficiency"] = ep
	dp := p
	dp.Deliveries = append([]Delivery(nil), p.Deliveries...)
	dp.Deliveries[0].UnitsPerQuarter *= 1.5 // 910C is the only (domestic) delivery
	direct["domestic"] = dp
	seen := map[int]bool{}
	for _, l := range r.Levers {
		d := mustRun(t, direct[l.Name], Options{NoLevers: true})
		if !reflect.DeepEqual(d.RunwayMonths.P50, l.RunwayMonthsP50) {
			t.Errorf("lever %s: P50 %v, direct rerun %v", l.Name, fmtP(l.RunwayMonthsP50), fmtP(d.RunwayMonths.P50))
		}
		if l.RunwayMonthsP50 != nil && *l.GainMonths != *l.RunwayMonthsP50-base {
			t.Errorf("lever %s: gain %d, want %d", l.Name, *l.GainMonths, *l.RunwayMonthsP50-base)
		}
		seen[l.Rank] = true
		for _, o := range r.Levers {
			if o.Rank < l.Rank && *o.GainMonths < *l.GainMonths {
				t.Errorf("rank %d (%s, %d) below rank %d (%s, %d)", o.Rank, o.Name, *o.GainMonths, l.Rank, l.Name, *l.GainMonths)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("ranks not 1-3: %+v", r.Levers)
	}
	// Efficiency and domestic deliveries both buy time on the example.
	for _, l := range r.Levers {
		if l.Name != "reserve" && *l.GainMonths <= 0 {
			t.Errorf("lever %s gains %d months on the example", l.Name, *l.GainMonths)
		}
	}
}

// With no domestic deliveries the domestic lever adds 250 units a quarter of
// the plan's first domestic model.
func TestDomesticLeverWithoutDomesticDeliveries(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
horizon_months: 60
utilization: 1
paths: 3
fleet:
  - {model: H100, in_service: 100, pflops_per_device: 1.0}
  - {model: 910B3, in_service: 0}
afr: {default: 0}
demand: {inference: {pflops: 90, growth_per_year: 2}}
`)
	pl, desc, err := domesticLever(p, accel.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Deliveries) != 1 || pl.Deliveries[0].Model != "ascend-910b3" || pl.Deliveries[0].UnitsPerQuarter != 250 {
		t.Fatalf("domestic lever: %+v (%s)", pl.Deliveries, desc)
	}
	// 100 + 250·(⌊m/3⌋+1)·0.313 PFLOP/s against 90·2^(m/12).
	r := mustRun(t, p, Options{})
	want := -1
	for m := 0; m < 60 && want < 0; m++ {
		if short(90*math.Pow(2, float64(m)/12), 100+float64(250*(m/3+1))*0.313) {
			want = m
		}
	}
	got := r.Levers[2].RunwayMonthsP50
	if want < 0 && got != nil || want >= 0 && (got == nil || *got != want) {
		t.Fatalf("domestic lever runway %s, want %d", fmtP(got), want)
	}
}

// The Monte Carlo standard error of the P50 runway on the example plan at
// 10,000 paths is at most half a month (the figure).
func TestExampleStdError(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 paths")
	}
	p := examplePlan(t)
	r := mustRun(t, p, Options{NoLevers: true})
	if r.Paths != 10000 || r.RunwayP50StdError == nil {
		t.Fatalf("paths %d, std error %v", r.Paths, r.RunwayP50StdError)
	}
	t.Logf("P50 runway %s months, std error %.3f", fmtP(r.RunwayMonths.P50), *r.RunwayP50StdError)
	if *r.RunwayP50StdError > 0.5 {
		t.Fatalf("std error %.3f > 0.5 month", *r.RunwayP50StdError)
	}
}

// The bootstrap standard error of a median agrees with the asymptotic
// formula sqrt(p(1-p)/n)/f for a continuous-looking integer distribution.
func TestBootstrapMedianSE(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 4000
	xs := make([]int, n)
	for i := range xs {
		xs[i] = min(3000, max(0, int(math.Round(1000+200*r.NormFloat64()))))
	}
	se := bootstrapMedianSE(xs, 3000, rand.New(rand.NewPCG(5, 6)))
	// Normal(1000, 200): f(median) = 1/(200√(2π)); SE = 0.5/√n / f = 3.96.
	want := 0.5 / math.Sqrt(float64(n)) * 200 * math.Sqrt(2*math.Pi)
	if math.Abs(se-want) > 0.2*want {
		t.Fatalf("bootstrap SE %.3f, asymptotic %.3f", se, want)
	}
}

func examplePlan(t testing.TB) Plan {
	t.Helper()
	file := filepath.Join("..", "..", "docs", "examples", "runway-plan.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePlan(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// selectKth agrees with sorting (the oracle) on random data with ties.
func TestSelectKth(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 500; trial++ {
		n := 1 + r.IntN(300)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(r.IntN(1 + r.IntN(50)))
		}
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		k := r.IntN(n)
		selectKth(xs, k)
		if xs[k] != sorted[k] {
			t.Fatalf("n=%d k=%d: %v, want %v", n, k, xs[k], sorted[k])
		}
		for i := range xs {
			if i < k && xs[i] > xs[k] || i > k && xs[i] < xs[k] {
				t.Fatalf("not partitioned at %d", i)
			}
		}
	}
}
