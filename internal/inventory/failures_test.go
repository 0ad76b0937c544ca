package inventory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/granaryhq/granary/internal/fleet"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func years(y float64) time.Time { return t0.Add(time.Duration(y * float64(DeviceYear))) }

func ev(serial string, at float64, from, to fleet.DeviceState) Event {
	return Event{Serial: serial, From: from, To: to, At: years(at)}
}

// TestFailuresByHand: a ledger whose exposure and failures are counted by
// hand, with the 90 % interval from a printed χ² table.
func TestFailuresByHand(t *testing.T) {
	const is, mt, fd, rs = fleet.InService, fleet.Maintenance, fleet.Failed, fleet.Reserve
	devs := []Device{
		{Serial: "A", Model: "h800"}, {Serial: "B", Model: "h800"}, {Serial: "C", Model: "h800"},
		{Serial: "D", Model: "h800"}, {Serial: "E", Model: "910b", Acquired: years(-2.5)},
	}
	evs := []Event{
		ev("A", 0, "", is),                       // A: in service 0 → 2: 2 years, no failure
		ev("B", 0, "", is), ev("B", 0.5, is, fd), // B: 0.5 years, fails
		ev("C", 0, "", rs), ev("C", 1, rs, is), // C: reserve a year, then in service 1 → 2: 1 year
		ev("D", 0, "", is), ev("D", 0.25, is, mt), // D: 0.25 in service, maintenance,
		ev("D", 0.5, mt, fd), ev("D", 0.75, fd, mt), //    failure from maintenance counts,
		ev("D", 1, mt, is),                     //    back in service 1 → 2: 1 more year
		ev("E", 0, "", is), ev("E", 1, is, fd), // E: acquired 2.5 years before: 1 year, ages 2.5 → 3.5, fails at 3.5
		ev("Z", 0, "", is), ev("Z", 3, is, fd), // Z: events after until are ignored
	}
	devs = append(devs, Device{Serial: "Z", Model: "h800"})
	got := ComputeFailures(devs, evs, years(2), 0.9, DefaultAgeBands)
	// h800: exposure A 2 + B 0.5 + C 1 + D 1.25 + Z 2 = 6.75 device-years,
	// failures B and D = 2; bands by age since first event: 0–1y: A 1, B
	// 0.5, C 0 (reserve), D 0.25, Z 1 = 2.75 with both failures; 1–3y: A 1,
	// C 1, D 1, Z 1 = 4.
	// 910b: 1 year, one failure, all of it in 3y+ except 0.5 in 1–3y.
	want := []struct {
		model, band string
		failures    int
		years       float64
	}{
		{"910b", "all", 1, 1}, {"910b", "1-3y", 0, 0.5}, {"910b", "3y+", 1, 0.5},
		{"h800", "all", 2, 6.75}, {"h800", "0-1y", 2, 2.75}, {"h800", "1-3y", 0, 4},
	}
	if len(got.Models) != len(want) {
		t.Fatalf("got %d rows: %+v", len(got.Models), got.Models)
	}
	for i, w := range want {
		g := got.Models[i]
		if g.Model != w.model || g.Band != w.band || g.Failures != w.failures || math.Abs(g.DeviceYears-w.years) > 1e-9 {
			t.Errorf("row %d: got %s %s %d failures in %.6f, want %s %s %d in %v", i, g.Model, g.Band, g.Failures, g.DeviceYears, w.model, w.band, w.failures, w.years)
		}
	}
	// The failures each row counts, listed: B and D (from maintenance) at
	// 0.5 in h800's 0-1y, E at age 3.5 in 910b's 3y+; none in 1-3y.
	serials := func(model, band string) (out []string) {
		for _, f := range FailureEvents(devs, evs, years(2), DefaultAgeBands, model, band) {
			if f.Model != model || (band != "all" && f.Band != band) || !isFailure(f.Event) {
				t.Errorf("%s %s lists %+v", model, band, f)
			}
			out = append(out, fmt.Sprintf("%s@%.2f", f.Serial, f.AgeYears))
		}
		return out
	}
	for _, c := range []struct {
		model, band string
		want        []string
	}{
		{"h800", "all", []string{"B@0.50", "D@0.50"}}, {"h800", "0-1y", []string{"B@0.50", "D@0.50"}}, {"h800", "1-3y", nil},
		{"910b", "all", []string{"E@3.50"}}, {"910b", "3y+", []string{"E@3.50"}}, {"910b", "1-3y", nil}, {"k80", "all", nil},
	} {
		if diff := cmp.Diff(c.want, serials(c.model, c.band)); diff != "" {
			t.Errorf("FailureEvents(%s, %s) (-want +got):\n%s", c.model, c.band, diff)
		}
	}
	for _, r := range got.Models {
		if n := len(FailureEvents(devs, evs, years(2), DefaultAgeBands, r.Model, r.Band)); n != r.Failures {
			t.Errorf("%s %s: %d failures counted, %d listed", r.Model, r.Band, r.Failures, n)
		}
	}
	h := got.Models[3]
	if math.Abs(h.Rate-2/6.75) > 1e-12 || h.Devices != 5 {
		t.Errorf("h800 rate %v over %d devices, want %v over 5", h.Rate, h.Devices, 2/6.75)
	}
	// χ² table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4): χ²(0.05; 4) = 0.711,
	// χ²(0.95; 6) = 12.592; χ²(0.95; 2) = 5.991.
	lo, hi := PoissonInterval(2, 4, 0.9)
	if math.Abs(lo-0.711/8) > 1e-3 || math.Abs(hi-12.592/8) > 1e-3 {
		t.Errorf("PoissonInterval(2, 4, 0.9) = %v, %v; want 0.0889, 1.574", lo, hi)
	}
	lo, hi = PoissonInterval(0, 1, 0.9)
	if lo != 0 || math.Abs(hi-5.991/2) > 1e-3 {
		t.Errorf("PoissonInterval(0, 1, 0.9) = %v, %v; want 0, 2.996", lo, hi)
	}
	if a := got.Models[0].AFR; math.Abs(a-(1-math.Exp(-1))) > 1e-12 {
		t.Errorf("910b AFR %v, want 1-e^-1", a)
	}
}

// TestFailureIntervalCoverage: on synthetic ledgers with known per-model
// rates — exponential lifetimes, and Weibull lifetimes (wear-out and infant
// mortality) whose average hazard over the observed exposure is computed by
// numerical integration — the 90 % interval covers the truth in at least
// 85 % of 200 seeded trials, for every model.
func TestFailureIntervalCoverage(t *testing.T) {
	const (
		trials  = 200
		devices = 400
		window  = 2.0 // years observed
	)
	type model struct {
		name   string
		shape  float64 // Weibull k; 1 = exponential
		scale  float64 // Weibull λ in years
		starts []float64
	}
	models := []model{
		{name: "exp-6pct", shape: 1, scale: 1 / 0.06},
		{name: "exp-20pct", shape: 1, scale: 1 / 0.20},
		{name: "weibull-wearout", shape: 2, scale: 6},
		{name: "weibull-infant", shape: 0.6, scale: 40},
	}
	// Devices enter service uniformly over the first year of the window.
	for i := range models {
		models[i].starts = make([]float64, devices)
		for j := range devices {
			models[i].starts[j] = float64(j) / devices
		}
	}
	truth := map[string]float64{}
	for _, m := range models {
		surv := func(x float64) float64 { return math.Exp(-math.Pow(x/m.scale, m.shape)) }
		var fails, exposure float64
		for _, s := range m.starts {
			w := window - s
			fails += 1 - surv(w)
			// ∫0^w S(x) dx by Simpson's rule.
			const n = 2000
			h := w / n
			sum := surv(0) + surv(w)
			for k := 1; k < n; k++ {
				c := 2.0
				if k%2 == 1 {
					c = 4
				}
				sum += c * surv(float64(k)*h)
			}
			exposure += sum * h / 3
		}
		truth[m.name] = fails / exposure
	}
	covered := map[string]int{}
	for trial := range trials {
		rng := rand.New(rand.NewPCG(uint64(trial), 15))
		var devs []Device
		var evs []Event
		for _, m := range models {
			for j, s := range m.starts {
				serial := fmt.Sprintf("%s-%d", m.name, j)
				devs = append(devs, Device{Serial: serial, Model: m.name})
				evs = append(evs, ev(serial, s, "", fleet.InService))
				life := m.scale * math.Pow(-math.Log(1-rng.Float64()), 1/m.shape)
				if s+life < window {
					evs = append(evs, ev(serial, s+life, fleet.InService, fleet.Failed))
				}
			}
		}
		st := ComputeFailures(devs, evs, years(window), 0.9, nil)

		for _, r := range st.Models {
			if r.Band == "all" && r.RateLow <= truth[r.Model] && truth[r.Model] <= r.RateHigh {
				covered[r.Model]++
			}
		}
	}
	for _, m := range models {
		c := float64(covered[m.name]) / trials
		t.Logf("%-16s true rate %.4f/device-year: 90%% interval covered it in %.1f%% of %d trials", m.name, truth[m.name], 100*c, trials)
		if c < 0.85 {
			t.Errorf("%s: coverage %.3f < 0.85", m.name, c)
		}
	}
}

func TestCohorts(t *testing.T) {
	devs := []Device{
		{Serial: "A", Model: "h800", State: fleet.InService, Acquired: time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)},
		{Serial: "B", Model: "h800", State: fleet.Reserve, Acquired: time.Date(2023, 5, 20, 0, 0, 0, 0, time.UTC)},
		{Serial: "C", Model: "h800", State: fleet.InService},
		{Serial: "D", Model: "h800", State: fleet.Failed},
		{Serial: "E", Model: "910b", State: fleet.InService},
	}
	evs := []Event{ev("C", 0.1, "", fleet.InService), ev("D", 0, "", fleet.InService), ev("E", 1.1, "", fleet.Reserve), ev("E", 1.5, fleet.Reserve, fleet.InService)}
	got := ComputeCohorts(devs, evs)
	want := []Cohort{
		{Model: "910b", Month: "2025-02", Source: "first-seen", InService: 1},
		{Model: "h800", Month: "2023-05", Source: "acquired", InService: 1, Reserve: 1},
		{Model: "h800", Month: "2024-02", Source: "first-seen", InService: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cohorts (-want +got):\n%s", diff)
	}
}

// TestFailureFoldIncremental: a fold fed the history in chunks, read at a
// later time after each chunk, gives what ComputeFailures gives for the
// whole history so far — the rates Service.Failures serves from its cache.
func TestFailureFoldIncremental(t *testing.T) {
	states := []fleet.DeviceState{fleet.InService, fleet.Reserve, fleet.Maintenance, fleet.Failed}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var devs []Device
		var evs []Event
		at, seq := 0.0, int64(0)
		f := newFailureFold(DefaultAgeBands)
		folded, known := 0, 0
		state := map[string]fleet.DeviceState{}
		for step := range 40 {
			// A few new devices (some acquired years ago), then state changes.
			for range rng.IntN(3) {
				d := Device{Serial: fmt.Sprintf("D%d-%d", step, len(devs)), Model: []string{"h800", "910b"}[rng.IntN(2)]}
				if rng.IntN(2) == 0 {
					d.Acquired = years(at - 4*rng.Float64())
				}
				devs = append(devs, d)
				seq++
				to := states[rng.IntN(2)]
				evs = append(evs, Event{Seq: seq, Serial: d.Serial, To: to, At: years(at)})
				state[d.Serial] = to
			}
			for range rng.IntN(6) {
				if len(devs) == 0 {
					break
				}
				at += rng.Float64() / 4
				d := devs[rng.IntN(len(devs))]
				to := states[rng.IntN(len(states))]
				if to == state[d.Serial] {
					continue
				}
				seq++
				evs = append(evs, Event{Seq: seq, Serial: d.Serial, From: state[d.Serial], To: to, At: years(at)})
				state[d.Serial] = to
			}
			until := years(at + rng.Float64())
			f.addDevices(devs[known:])
			f.add(evs[folded:], until)
			known, folded = len(devs), len(evs)
			got, want := f.stats(until, 0.9), referenceFailures(devs, evs, until, 0.9, DefaultAgeBands)
			if len(got.Models) != len(want.Models) {
				t.Fatalf("seed %d step %d: %d rows, want %d", seed, step, len(got.Models), len(want.Models))
			}
			for i, w := range want.Models {
				g := got.Models[i]
				if g.Model != w.Model || g.Band != w.Band || g.Devices != w.Devices || g.Failures != w.Failures ||
					math.Abs(g.DeviceYears-w.DeviceYears) > 1e-9*w.DeviceYears {
					t.Fatalf("seed %d step %d row %d: got %+v, want %+v", seed, step, i, g, w)
				}
			}
			if batch := ComputeFailures(devs, evs, until, 0.9, DefaultAgeBands); !cmp.Equal(batch.Models, got.Models, cmpopts.EquateApprox(1e-9, 0)) {
				t.Fatalf("seed %d step %d: ComputeFailures and the fold differ:\n%s", seed, step, cmp.Diff(got.Models, batch.Models))
			}
			for _, band := range AgeBands() {
				if g, w := f.failures("h800", band), FailureEvents(devs, evs, until, DefaultAgeBands, "h800", band); !cmp.Equal(g, w) {
					t.Fatalf("seed %d step %d: failures of h800 %s differ:\n%s", seed, step, band, cmp.Diff(w, g))
				}
			}
		}
	}
}

// referenceFailures is ComputeFailures as it was before the fold: each
// device's events in one pass, the open stretch closed at until. The fold
// (and so ComputeFailures) must give the same rows.
func referenceFailures(devs []Device, events []Event, until time.Time, conf float64, bands []float64) FailureStats {
	byDev := map[string][]Event{}
	for _, e := range events {
		byDev[e.Serial] = append(byDev[e.Serial], e)
	}
	type acc struct {
		devices  map[string]bool
		failures int
		exposure float64 // device-years (a time.Duration overflows at 292 years)
	}
	accs := map[[2]string]*acc{}
	get := func(model, band string) *acc {
		k := [2]string{model, band}
		if accs[k] == nil {
			accs[k] = &acc{devices: map[string]bool{}}
		}
		return accs[k]
	}
	names := bandNames(bands)
	bandOf := func(age time.Duration) int { return ageBand(bands, age) }
	for _, d := range devs {
		evs := byDev[d.Serial]
		if len(evs) == 0 {
			continue
		}
		born := bornAt(d, evs[0])
		// addExposure splits [from, to) at band boundaries.
		addExposure := func(from, to time.Time) {
			for from.Before(to) {
				b := bandOf(from.Sub(born))
				end := to
				if b < len(bands) {
					edge := born.Add(time.Duration(bands[b] * float64(DeviceYear)))
					if edge.Before(end) {
						end = edge
					}
				}
				for _, band := range []string{"all", names[b]} {
					a := get(d.Model, band)
					a.exposure += end.Sub(from).Hours() / DeviceYear.Hours()
					a.devices[d.Serial] = true
				}
				from = end
			}
		}
		var since time.Time // start of the current in-service stretch
		in := false
		for _, e := range evs {
			if e.At.After(until) {
				break
			}
			if in && e.To != fleet.InService {
				addExposure(since, e.At)
				in = false
			}
			if isFailure(e) {
				for _, band := range []string{"all", names[bandOf(e.At.Sub(born))]} {
					get(d.Model, band).failures++
				}
			}
			if !in && e.To == fleet.InService {
				since, in = e.At, true
			}
		}
		if in {
			addExposure(since, until)
		}
	}
	out := FailureStats{Until: until, Confidence: conf, Models: []ModelRate{}}
	order := append([]string{"all"}, names...)
	for k, a := range accs {
		if a.exposure <= 0 {
			delete(accs, k)
		}
	}
	keys := make([][2]string, 0, len(accs))
	for k := range accs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]string) int {
		if x[0] != y[0] {
			if x[0] < y[0] {
				return -1
			}
			return 1
		}
		return slices.Index(order, x[1]) - slices.Index(order, y[1])
	})
	for _, k := range keys {
		a := accs[k]
		t := a.exposure
		r := ModelRate{Model: k[0], Band: k[1], Devices: len(a.devices), Failures: a.failures, DeviceYears: t, Rate: float64(a.failures) / t}
		r.RateLow, r.RateHigh = PoissonInterval(a.failures, t, conf)
		r.AFR, r.AFRLow, r.AFRHigh = -math.Expm1(-r.Rate), -math.Expm1(-r.RateLow), -math.Expm1(-r.RateHigh)
		out.Models = append(out.Models, r)
	}
	return out
}
