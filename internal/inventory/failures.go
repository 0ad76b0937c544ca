package inventory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/granaryhq/granary/internal/fleet"
)

// DeviceYear is the unit of exposure: 365.25 days of one device in service.
const DeviceYear = 8766 * time.Hour

// DefaultAgeBands are the age bands failure rates are split into, in
// years since acquisition (or first seen): 0–1, 1–3, 3 and older.
var DefaultAgeBands = []float64{1, 3}

// FailureStats are failure rates learned from the ledger's own history.
type FailureStats struct {
	Until      time.Time   `json:"until"`      // exposure is counted up to here
	Confidence float64     `json:"confidence"` // of the intervals, e.g. 0.9
	Models     []ModelRate `json:"models"`     // per model: band "all" first, then each age band
}

// ModelRate is the failure rate of one model (in one age band).
//
// Rate is failures per device-year in service (Failures / DeviceYears);
// RateLow and RateHigh are the exact Poisson (Garwood) interval at the
// stats' confidence. AFR is the annualized failure probability 1−e^(−Rate)
// — what granary runway's afr means — with its interval mapped the same way.
type ModelRate struct {
	Model       string  `json:"model"`
	Band        string  `json:"band"` // "all", "0-1y", "1-3y", "3y+"
	Devices     int     `json:"devices"`
	Failures    int     `json:"failures"`
	DeviceYears float64 `json:"device_years"`
	Rate        float64 `json:"rate"`
	RateLow     float64 `json:"rate_low"`
	RateHigh    float64 `json:"rate_high"`
	AFR         float64 `json:"afr"`
	AFRLow      float64 `json:"afr_low"`
	AFRHigh     float64 `json:"afr_high"`
}

// PoissonInterval is the exact (Garwood) two-sided interval at confidence
// conf for the rate of a Poisson process that produced k events in exposure
// t: [χ²(α/2; 2k)/2t, χ²(1−α/2; 2k+2)/2t] with α = 1−conf; the lower bound
// is 0 when k is 0. t must be positive.
func PoissonInterval(k int, t, conf float64) (lo, hi float64) {
	a := 1 - conf
	if k > 0 {
		lo = distuv.ChiSquared{K: float64(2 * k)}.Quantile(a/2) / (2 * t)
	}
	hi = distuv.ChiSquared{K: float64(2*k + 2)}.Quantile(1-a/2) / (2 * t)
	return lo, hi
}

// ComputeFailures derives failure rates from devices and their events (in
// Seq order, as the store returns them), counting exposure up to until.
//
// Exposure is the time each device spent in service. A failure is an
// event into failed from in service or from maintenance (the agent sends a
// device to maintenance first when a signal needs a reset; if it then
// fails, the failure began in service). A device's age is counted from its
// acquisition day, or from its first event when the ledger has none; the
// exposure of an interval that crosses a band boundary is split there, and
// a failure falls in the band of the device's age when it happened. Models
// are in id order; bands with no exposure are left out.
func ComputeFailures(devs []Device, events []Event, until time.Time, conf float64, bands []float64) FailureStats {
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

// ageBand is the index of the band (bands' upper edges in years) of a
// device of this age.
func ageBand(bands []float64, age time.Duration) int {
	y := age.Hours() / DeviceYear.Hours()
	return sort.SearchFloat64s(bands, math.Nextafter(y, math.Inf(1)))
}

// bornAt is when a device's age starts: its acquisition, or its first
// event when that is earlier or the acquisition is unknown.
func bornAt(d Device, first Event) time.Time {
	if d.Acquired.IsZero() || d.Acquired.After(first.At) {
		return first.At
	}
	return d.Acquired
}

// isFailure tells whether an event is a failure: a device leaving service
// (or maintenance) for failed.
func isFailure(e Event) bool {
	return e.To == fleet.Failed && (e.From == fleet.InService || e.From == fleet.Maintenance)
}

// FailureEvent is one failure ComputeFailures counts: the event, the
// device's model, and its age band and age in years then.
type FailureEvent struct {
	Event
	Model    string  `json:"model"`
	Band     string  `json:"band"`
	AgeYears float64 `json:"age_years"`
}

// FailureEvents lists the failures ComputeFailures counts for model in
// band ("all", or one of the bands' names such as "1-3y"), ordered by Seq:
// as many as that row's Failures.
func FailureEvents(devs []Device, events []Event, until time.Time, bands []float64, model, band string) []FailureEvent {
	names := bandNames(bands)
	byDev := map[string][]Event{}
	for _, e := range events {
		byDev[e.Serial] = append(byDev[e.Serial], e)
	}
	var out []FailureEvent
	for _, d := range devs {
		evs := byDev[d.Serial]
		if d.Model != model || len(evs) == 0 {
			continue
		}
		born := bornAt(d, evs[0])
		for _, e := range evs {
			if e.At.After(until) {
				break
			}
			if !isFailure(e) {
				continue
			}
			age := e.At.Sub(born)
			if b := names[ageBand(bands, age)]; band == "all" || band == b {
				out = append(out, FailureEvent{Event: e, Model: d.Model, Band: b, AgeYears: age.Hours() / DeviceYear.Hours()})
			}
		}
	}
	slices.SortFunc(out, func(x, y FailureEvent) int { return cmp.Compare(x.Seq, y.Seq) })
	return out
}

// AgeBands are the names of DefaultAgeBands, with "all" first: the bands
// FailureEvents takes.
func AgeBands() []string { return append([]string{"all"}, bandNames(DefaultAgeBands)...) }

func bandNames(bands []float64) []string {
	names := make([]string, len(bands)+1)
	lo := 0.0
	for i, b := range bands {
		names[i] = fmt.Sprintf("%g-%gy", lo, b)
		lo = b
	}
	names[len(bands)] = fmt.Sprintf("%gy+", lo)
	return names
}

// Failures computes failure rates from the whole ledger up to now, at
// confidence conf (in (0, 1)), split into DefaultAgeBands.
func (s *Service) Failures(ctx context.Context, conf float64) (FailureStats, error) {
	if !(conf > 0 && conf < 1) {
		return FailureStats{}, &fleet.InputError{Pos: fleet.Position{Field: "confidence"}, Msg: fmt.Sprintf("confidence %v is not in (0, 1)", conf)}
	}
	devs, err := s.store.Devices(ctx, Filter{})
	if err != nil {
		return FailureStats{}, err
	}
	evs, err := s.store.Events(ctx, EventFilter{})
	if err != nil {
		return FailureStats{}, err
	}
	return ComputeFailures(devs, evs, s.clock(), conf, DefaultAgeBands), nil
}

// FailureEvents lists the failures Failures counts for one model (a
// catalog id) in one band (AgeBands), up to now.
func (s *Service) FailureEvents(ctx context.Context, model, band string) ([]FailureEvent, error) {
	if !slices.Contains(AgeBands(), band) {
		return nil, fmt.Errorf("%w: band %q is not an age band (valid: %s)", fleet.ErrInvalid, band, strings.Join(AgeBands(), ", "))
	}
	devs, err := s.store.Devices(ctx, Filter{Model: model})
	if err != nil {
		return nil, err
	}
	evs, err := s.store.Events(ctx, EventFilter{})
	if err != nil {
		return nil, err
	}
	return FailureEvents(devs, evs, s.clock(), DefaultAgeBands, model, band), nil
}
