// Package simbackend is a virtual cluster behind the control loop: it
// "runs" each placed job by advancing its steps at its throughput on the
// placed model, pays a restart cost whenever a job (re)starts, checkpoints
// at a fixed interval of run time, and injects device failures at an annual
// failure rate. Its time is whatever the loop's clock says, so it runs as
// fast as the clock does.
package simbackend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// Config configures the virtual cluster.
type Config struct {
	// RestartCost is the wall time a job spends (re)starting before it makes
	// progress: loading its checkpoint, warming up. Default 0 (Gavel).
	RestartCost time.Duration
	// CheckpointEvery is the run time between two checkpoints; default 30 min.
	CheckpointEvery time.Duration
	// AFR is the annual failure rate per device (0.05 = 5 % of devices fail
	// per year); 0 = no failures.
	AFR float64
	// Rand drives failures; required when AFR > 0.
	Rand *rand.Rand
}

const year = 365.25 * 24 * 3600

type run struct {
	control.Run
	restartLeft float64 // seconds
	sinceCkpt   float64 // seconds of progress since the last checkpoint
}

// Backend is the virtual cluster. Safe for concurrent use.
type Backend struct {
	cfg     Config
	mu      sync.Mutex
	last    time.Time
	runs    map[string]*run
	devices []jobs.Device
	failed  map[string]bool
	stats   Stats
}

var _ control.Backend = (*Backend)(nil)

// New builds a backend.
func New(cfg Config) (*Backend, error) {
	if cfg.AFR < 0 || math.IsNaN(cfg.AFR) || cfg.AFR > 1000 {
		return nil, fmt.Errorf("simbackend: annual failure rate %v must be in [0, 1000]", cfg.AFR)
	}
	if cfg.AFR > 0 && cfg.Rand == nil {
		return nil, errors.New("simbackend: failure injection needs a seeded Rand")
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 30 * time.Minute
	}
	if cfg.RestartCost < 0 {
		return nil, fmt.Errorf("simbackend: negative restart cost %v", cfg.RestartCost)
	}
	return &Backend{cfg: cfg, runs: map[string]*run{}, failed: map[string]bool{},
		stats: Stats{Busy: map[string]float64{}, Capacity: map[string]float64{}}}, nil
}

// Stats accumulate device-seconds per model over every observed interval.
type Stats struct {
	Busy     map[string]float64 // device-seconds running a job (restarts included)
	Capacity map[string]float64 // device-seconds in service
	Failures int
}

// Utilization is Busy ÷ Capacity per model.
func (s Stats) Utilization() map[string]float64 {
	out := map[string]float64{}
	for m, c := range s.Capacity {
		if c > 0 {
			out[m] = s.Busy[m] / c
		}
	}
	return out
}

// Stats returns a copy of the accumulated statistics.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := Stats{Busy: map[string]float64{}, Capacity: map[string]float64{}, Failures: b.stats.Failures}
	for k, v := range b.stats.Busy {
		out.Busy[k] = v
	}
	for k, v := range b.stats.Capacity {
		out.Capacity[k] = v
	}
	return out
}

// Enact implements control.Backend.
func (b *Backend) Enact(_ context.Context, in control.Enactment) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := make(map[string]*run, len(in.Runs))
	for _, r := range in.Runs {
		cur, ok := b.runs[r.Job]
		nr := &run{Run: r}
		if ok && !r.Restart {
			nr.restartLeft, nr.sinceCkpt = cur.restartLeft, cur.sinceCkpt
		} else {
			nr.restartLeft = b.cfg.RestartCost.Seconds()
		}
		next[r.Job] = nr
	}
	b.runs = next
	b.devices = append(b.devices[:0], in.Devices...)
	if b.last.IsZero() {
		b.last = in.Now
	}
	return nil
}

// Observe implements control.Backend.
func (b *Backend) Observe(_ context.Context, now time.Time) (control.Observation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var obs control.Observation
	if b.last.IsZero() || !now.After(b.last) {
		if b.last.IsZero() {
			b.last = now
		}
		return obs, nil
	}
	dt := now.Sub(b.last).Seconds()
	// Failures first: they cut the affected jobs' interval short.
	failAt := map[string]float64{} // serial → seconds after b.last
	if b.cfg.AFR > 0 && len(b.devices) > 0 {
		k := poisson(b.cfg.Rand, float64(len(b.devices))*b.cfg.AFR*dt/year)
		for i := 0; i < k && len(failAt) < len(b.devices); {
			d := b.devices[b.cfg.Rand.IntN(len(b.devices))]
			if _, dup := failAt[d.Serial]; dup || b.failed[d.Serial] {
				if len(failAt)+len(b.failed) >= len(b.devices) {
					break
				}
				continue
			}
			failAt[d.Serial] = b.cfg.Rand.Float64() * dt
			b.failed[d.Serial] = true
			obs.Failed = append(obs.Failed, control.Failure{Serial: d.Serial,
				Reason: fmt.Sprintf("simulated failure (annual failure rate %.3g) at %s", b.cfg.AFR, b.last.Add(time.Duration(failAt[d.Serial]*float64(time.Second))).UTC().Format(time.RFC3339))})
			i++
		}
		sort.Slice(obs.Failed, func(a, c int) bool { return obs.Failed[a].Serial < obs.Failed[c].Serial })
		b.stats.Failures += len(obs.Failed)
	}
	for _, d := range b.devices {
		w := dt
		if t, ok := failAt[d.Serial]; ok {
			w = t
		}
		b.stats.Capacity[d.Model] += w
	}
	ids := make([]string, 0, len(b.runs))
	for id := range b.runs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := b.runs[id]
		w := dt
		for _, d := range r.Devices {
			if t, ok := failAt[d]; ok {
				w = min(w, t)
			}
		}
		p := b.advance(r, w)
		if p.Completed {
			p.CompletedAt = b.last.Add(time.Duration(p.RanSeconds * float64(time.Second)))
			delete(b.runs, id)
		}
		busy := float64(len(r.Devices))
		switch {
		case r.Milli > 0: // a share of one device
			busy = float64(r.Milli) / 1000
		case r.With != "": // a pair: each keeps the devices half busy
			busy /= 2
		}
		b.stats.Busy[r.Model] += p.RanSeconds * busy
		obs.Progress = append(obs.Progress, p)
	}
	b.last = now
	return obs, nil
}

// advance runs r for w seconds of wall time.
func (b *Backend) advance(r *run, w float64) jobs.Progress {
	p := jobs.Progress{JobID: r.Job, Model: r.Model}
	ran := w
	rs := min(w, r.restartLeft)
	r.restartLeft -= rs
	eff := w - rs
	v := r.StepsPerSecond
	if v > 0 && r.StepsDone+v*eff >= r.TotalSteps {
		eff = max(0, (r.TotalSteps-r.StepsDone)/v)
		ran = rs + eff
		p.Completed = true
	}
	ck := b.cfg.CheckpointEvery.Seconds()
	if n := math.Floor((r.sinceCkpt + eff) / ck); n >= 1 {
		r.CheckpointSteps = r.StepsDone + v*(n*ck-r.sinceCkpt)
		r.sinceCkpt = r.sinceCkpt + eff - n*ck
	} else {
		r.sinceCkpt += eff
	}
	r.StepsDone = min(r.TotalSteps, r.StepsDone+v*eff)
	if p.Completed {
		r.StepsDone = r.TotalSteps
		r.CheckpointSteps = r.TotalSteps
	}
	p.StepsDone, p.CheckpointSteps, p.RanSeconds = r.StepsDone, r.CheckpointSteps, ran
	return p
}

// poisson samples a Poisson(λ) count (Knuth for small λ, normal
// approximation above 50).
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
