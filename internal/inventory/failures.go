package inventory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
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
	f := newFailureFold(bands)
	f.addDevices(devs)
	f.add(events, until)
	return f.stats(until, conf)
}

// failureFold is ComputeFailures' state after the events so far (in Seq
// order): each device's age start and in-service stretch, and per model and
// band the exposure of the closed stretches, the failures and the devices.
// Adding the next events and reading the rates at any later until give
// what ComputeFailures gives for the whole history, so the ledger service
// keeps one and reads only the events since (Service.Failures).
type failureFold struct {
	bands []float64
	names []string
	devs  map[string]*foldDevice
	order []*foldDevice // the devices in the order they were added
	accs  map[[2]string]*failAcc
	fails map[string][]FailureEvent // per model, in Seq order
	// cut: an event later than the until it was added with was passed
	// over (with the device's later ones, as ComputeFailures does), so
	// the fold is only good for that until.
	cut bool
	// last is the latest until events were added with: stats before it
	// would count stretches closed after it.
	last time.Time
}

type foldDevice struct {
	Device
	seen  bool      // has had an event: born is set
	born  time.Time // bornAt
	in    bool      // in service since since
	since time.Time
	cut   bool // passed over its events from one later than until
}

type failAcc struct {
	devices  map[string]bool
	failures int
	exposure float64 // device-years (a time.Duration overflows at 292 years)
}

func newFailureFold(bands []float64) *failureFold {
	return &failureFold{bands: bands, names: bandNames(bands), devs: map[string]*foldDevice{},
		accs: map[[2]string]*failAcc{}, fails: map[string][]FailureEvent{}}
}

// addDevices makes devs known; events of devices not known are passed over.
func (f *failureFold) addDevices(devs []Device) {
	for _, d := range devs {
		if f.devs[d.Serial] == nil {
			fd := &foldDevice{Device: d}
			f.devs[d.Serial] = fd
			f.order = append(f.order, fd)
		}
	}
}

func (f *failureFold) acc(model, band string) *failAcc {
	k := [2]string{model, band}
	if f.accs[k] == nil {
		f.accs[k] = &failAcc{devices: map[string]bool{}}
	}
	return f.accs[k]
}

// band is the index of the band of a device born at born, at.
func (f *failureFold) band(born, at time.Time) int { return ageBand(f.bands, at.Sub(born)) }

// exposure calls add for each piece of [from, to) split at d's band
// boundaries, with the piece's band and length in device-years.
func (f *failureFold) exposure(d *foldDevice, from, to time.Time, add func(band string, years float64)) {
	for from.Before(to) {
		b := f.band(d.born, from)
		end := to
		if b < len(f.bands) {
			edge := d.born.Add(time.Duration(f.bands[b] * float64(DeviceYear)))
			if edge.Before(end) {
				end = edge
			}
		}
		years := end.Sub(from).Hours() / DeviceYear.Hours()
		add("all", years)
		add(f.names[b], years)
		from = end
	}
}

// add folds events (in Seq order, after those added before) up to until.
func (f *failureFold) add(events []Event, until time.Time) {
	if until.After(f.last) {
		f.last = until
	}
	for _, e := range events {
		d := f.devs[e.Serial]
		if d == nil || d.cut {
			continue
		}
		if e.At.After(until) {
			d.cut, f.cut = true, true
			continue
		}
		if !d.seen {
			d.seen, d.born = true, bornAt(d.Device, e)
		}
		if d.in && e.To != fleet.InService {
			f.exposure(d, d.since, e.At, func(band string, years float64) {
				a := f.acc(d.Model, band)
				a.exposure += years
				a.devices[d.Serial] = true
			})
			d.in = false
		}
		if isFailure(e) {
			age := e.At.Sub(d.born)
			b := f.names[ageBand(f.bands, age)]
			f.acc(d.Model, "all").failures++
			f.acc(d.Model, b).failures++
			f.fails[d.Model] = append(f.fails[d.Model], FailureEvent{Event: e, Model: d.Model, Band: b, AgeYears: age.Hours() / DeviceYear.Hours()})
		}
		if !d.in && e.To == fleet.InService {
			d.since, d.in = e.At, true
		}
	}
}

// stats are the rates with the open in-service stretches counted up to
// until (not before the last event added).
func (f *failureFold) stats(until time.Time, conf float64) FailureStats {
	type row struct {
		devices  int
		failures int
		exposure float64
	}
	rows := make(map[[2]string]*row, len(f.accs))
	for k, a := range f.accs {
		rows[k] = &row{devices: len(a.devices), failures: a.failures, exposure: a.exposure}
	}
	var touched [][2]string
	for _, d := range f.order {
		if !d.in {
			continue
		}
		touched = touched[:0]
		f.exposure(d, d.since, until, func(band string, years float64) {
			k := [2]string{d.Model, band}
			r := rows[k]
			if r == nil {
				r = &row{}
				rows[k] = r
			}
			r.exposure += years
			if !slices.Contains(touched, k) {
				touched = append(touched, k)
				if a := f.accs[k]; a == nil || !a.devices[d.Serial] {
					r.devices++
				}
			}
		})
	}
	out := FailureStats{Until: until, Confidence: conf, Models: []ModelRate{}}
	order := append([]string{"all"}, f.names...)
	keys := make([][2]string, 0, len(rows))
	for k, r := range rows {
		if r.exposure > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y [2]string) int {
		if c := cmp.Compare(x[0], y[0]); c != 0 {
			return c
		}
		return slices.Index(order, x[1]) - slices.Index(order, y[1])
	})
	for _, k := range keys {
		a := rows[k]
		t := a.exposure
		r := ModelRate{Model: k[0], Band: k[1], Devices: a.devices, Failures: a.failures, DeviceYears: t, Rate: float64(a.failures) / t}
		r.RateLow, r.RateHigh = PoissonInterval(a.failures, t, conf)
		r.AFR, r.AFRLow, r.AFRHigh = -math.Expm1(-r.Rate), -math.Expm1(-r.RateLow), -math.Expm1(-r.RateHigh)
		out.Models = append(out.Models, r)
	}
	return out
}

// failures are the failures of model in band ("all" or a band's name), in
// Seq order.
func (f *failureFold) failures(model, band string) []FailureEvent {
	var out []FailureEvent
	for _, e := range f.fails[model] {
		if band == "all" || e.Band == band {
			out = append(out, e)
		}
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
	f := newFailureFold(bands)
	f.addDevices(devs)
	f.add(events, until)
	return f.failures(model, band)
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
// confidence conf (in (0, 1)), split into DefaultAgeBands. It folds only
// the events since the last call (failureCache); the first call, and any
// call that finds the ledger changed otherwise, reads the whole history.
func (s *Service) Failures(ctx context.Context, conf float64) (FailureStats, error) {
	if !(conf > 0 && conf < 1) {
		return FailureStats{}, &fleet.InputError{Pos: fleet.Position{Field: "confidence"}, Msg: fmt.Sprintf("confidence %v is not in (0, 1)", conf)}
	}
	var out FailureStats
	err := s.fails.with(ctx, s.store, s.clock(), func(f *failureFold, until time.Time) { out = f.stats(until, conf) })
	return out, err
}

// FailureEvents lists the failures Failures counts for one model (a
// catalog id) in one band (AgeBands), up to now.
func (s *Service) FailureEvents(ctx context.Context, model, band string) ([]FailureEvent, error) {
	if !slices.Contains(AgeBands(), band) {
		return nil, fmt.Errorf("%w: band %q is not an age band (valid: %s)", fleet.ErrInvalid, band, strings.Join(AgeBands(), ", "))
	}
	var out []FailureEvent
	err := s.fails.with(ctx, s.store, s.clock(), func(f *failureFold, _ time.Time) { out = f.failures(model, band) })
	return out, err
}

// failureCache keeps the ledger's failure fold between requests: the
// failures page and the runway's --afr-from-ledger read rates often, the
// history only grows.
type failureCache struct {
	mu     sync.Mutex
	fold   *failureFold
	seq    int64 // the last event folded
	events int   // how many events are folded
}

// with runs read on a fold of every event up to until. The cache folds the
// events after the last one it saw, when the ledger holds exactly those
// more (an event of a lower Seq that committed late, as PostgreSQL's
// sequences allow, makes the count differ) and none is later than until;
// otherwise it folds the whole history again.
func (c *failureCache) with(ctx context.Context, st Store, until time.Time, read func(*failureFold, time.Time)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fold != nil && !c.fold.cut && !until.Before(c.fold.last) {
		evs, err := st.Events(ctx, EventFilter{AfterSeq: c.seq})
		if err != nil {
			return err
		}
		n, err := st.CountEvents(ctx)
		if err != nil {
			return err
		}
		if n == c.events+len(evs) {
			if err := c.addNew(ctx, st, evs, until); err != nil {
				return err
			}
			if !c.fold.cut {
				read(c.fold, until)
				return nil
			}
		}
	}
	c.fold = nil
	devs, err := st.Devices(ctx, Filter{})
	if err != nil {
		return err
	}
	evs, err := st.Events(ctx, EventFilter{})
	if err != nil {
		return err
	}
	f := newFailureFold(DefaultAgeBands)
	f.addDevices(devs)
	f.add(evs, until)
	read(f, until)
	if !f.cut {
		c.fold, c.events = f, len(evs)
		if len(evs) > 0 {
			c.seq = evs[len(evs)-1].Seq
		}
	}
	return nil
}

// addNew folds evs, first reading the devices the fold does not know yet.
func (c *failureCache) addNew(ctx context.Context, st Store, evs []Event, until time.Time) error {
	for _, e := range evs {
		if c.fold.devs[e.Serial] == nil {
			devs, err := st.Devices(ctx, Filter{})
			if err != nil {
				return err
			}
			c.fold.addDevices(devs)
			break
		}
	}
	c.fold.add(evs, until)
	c.events += len(evs)
	if len(evs) > 0 {
		c.seq = evs[len(evs)-1].Seq
	}
	return nil
}
