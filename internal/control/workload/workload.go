// Package workload is the demo workload of live scheduling: a synthetic
// throughput table for the models of a fleet derived from catalog specs,
// demo teams with weights and guarantees, and a generator of jobs arriving
// continuously from several teams (Poisson arrivals, log-uniform durations).
// It also drives a control loop on a manual clock for a given simulated time
// and reports utilization per model and job completion time per team.
//
// The throughput table is an estimate, not a measurement: steps/s scale with
// the chip's dense 16-bit TFLOPS (compute-bound classes) or its memory
// bandwidth (memory-bound classes), times a software-maturity factor per
// vendor; see docs/scheduling-live.md.
package workload

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
)

// Class is a demo workload class.
type Class struct {
	Name    string
	Compute float64 // weight of dense 16-bit TFLOPS in speed (the rest: memory bandwidth)
	Gangs   []int
	// NVIDIAOnly: custom CUDA kernels, zero throughput elsewhere.
	NVIDIAOnly bool
}

// Classes are the demo's workload classes.
var Classes = []Class{
	{Name: "llm-pretrain", Compute: 0.9, Gangs: []int{8}},
	{Name: "llm-finetune", Compute: 0.6, Gangs: []int{1, 2, 4, 8}},
	{Name: "llm-batch-inference", Compute: 0.05, Gangs: []int{1, 2, 4}},
	{Name: "vision-train", Compute: 0.8, Gangs: []int{1, 2, 4, 8}},
	{Name: "recsys-train", Compute: 0.3, Gangs: []int{1, 2, 4}, NVIDIAOnly: true},
	{Name: "speech-train", Compute: 0.7, Gangs: []int{1, 2, 4}},
}

// vendorMaturity is the fraction of peak a typical framework reaches, by
// vendor (an assumption for the demo, not a measurement).
func vendorMaturity(vendor string) float64 {
	switch {
	case strings.Contains(vendor, "NVIDIA"):
		return 1
	case strings.Contains(vendor, "Huawei"):
		return 0.75
	}
	return 0.55
}

// Table builds the demo throughput table for models (catalog ids). A model
// without a 16-bit TFLOPS or memory bandwidth in the catalog gets 0
// everywhere (cannot estimate), as does a non-NVIDIA model for NVIDIA-only
// classes. The unit of work is one step; 1 step/s on one H800 for a fully
// compute-bound class.
func Table(cat *accel.Catalog, models []string) ([]sched.ThroughputEntry, error) {
	ref, err := cat.Resolve("h800-sxm5-80gb")
	if err != nil {
		return nil, err
	}
	refT, _ := ref.Dense16()
	refB := *ref.MemoryBWGBps
	var es []sched.ThroughputEntry
	for _, c := range Classes {
		for _, m := range models {
			ch, err := cat.Resolve(m)
			if err != nil {
				return nil, err
			}
			t, okT := ch.Dense16()
			speed := 0.0
			if okT && t > 0 && ch.MemoryBWGBps != nil && *ch.MemoryBWGBps > 0 && (!c.NVIDIAOnly || strings.Contains(ch.Vendor, "NVIDIA")) {
				// weighted geometric mean of the two ratios
				speed = math.Pow(t/refT, c.Compute) * math.Pow(*ch.MemoryBWGBps/refB, 1-c.Compute) * vendorMaturity(ch.Vendor)
			}
			for _, g := range c.Gangs {
				f := float64(g) * math.Pow(0.92, math.Log2(float64(g)))
				es = append(es, sched.ThroughputEntry{Class: c.Name, Gang: g, Model: ch.ID, StepsPerSecond: round4(speed * f)})
			}
		}
	}
	return es, nil
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// ShortName is the name people use for a chip: the first word of its
// catalog name with a digit in it ("H800 SXM5 80GB" → "H800", "Ascend
// 910B3" → "910B3"), else the id.
func ShortName(cat *accel.Catalog) jobs.Names {
	return func(id string) string {
		ch, ok := cat.Get(id)
		if !ok {
			return id
		}
		for _, w := range strings.Fields(ch.Name) {
			if strings.ContainsFunc(w, unicode.IsDigit) {
				return w
			}
		}
		return id
	}
}

// Team is a demo team and its share of the arrivals.
type Team struct {
	jobs.Team
	// RatePerHour is the team's mean job arrival rate.
	RatePerHour float64
	// Classes the team submits, uniformly.
	Classes []string
}

// Teams returns the demo teams, with arrival rates scaled so that the
// offered load is about load × the capacity of devices (device-hours per
// hour) — with the mean job of the generator (≈ 3.9 devices × 3.2 h on the
// reference model).
func Teams(devices int, load float64) []Team {
	perHour := load * float64(devices) / (3.9 * 3.2)
	share := func(f float64) float64 { return math.Round(f*perHour*100) / 100 }
	return []Team{
		{Team: jobs.Team{Name: "llm", Weight: 3}, RatePerHour: share(0.35), Classes: []string{"llm-pretrain", "llm-finetune", "llm-batch-inference"}},
		{Team: jobs.Team{Name: "search", Weight: 2}, RatePerHour: share(0.25), Classes: []string{"recsys-train", "llm-batch-inference"}},
		{Team: jobs.Team{Name: "vision", Weight: 1}, RatePerHour: share(0.25), Classes: []string{"vision-train", "llm-finetune"}},
		{Team: jobs.Team{Name: "speech", Weight: 1}, RatePerHour: share(0.15), Classes: []string{"speech-train"}},
	}
}

// Generator draws jobs.
type Generator struct {
	Teams []Team
	W     *jobs.Workloads
	Rand  *rand.Rand
	// Reference is the model durations are estimated on.
	Reference string
	n         int
}

// Arrival is one generated job and when it arrives.
type Arrival struct {
	At   time.Time
	Spec jobs.Spec
}

// Between returns the arrivals in [from, to), in time order.
func (g *Generator) Between(from, to time.Time) []Arrival {
	var out []Arrival
	for _, t := range g.Teams {
		if t.RatePerHour <= 0 {
			continue
		}
		at := from
		for {
			at = at.Add(time.Duration(g.Rand.ExpFloat64() / t.RatePerHour * float64(time.Hour)))
			if !at.Before(to) {
				break
			}
			class := t.Classes[g.Rand.IntN(len(t.Classes))]
			gangs := g.W.Gangs(class)
			gang := gangs[g.Rand.IntN(len(gangs))]
			// log-uniform 20 min – 12 h on the reference model (mean ≈ 3.2 h)
			dur := 20 * time.Minute.Seconds() * math.Pow(36, g.Rand.Float64())
			g.n++
			out = append(out, Arrival{At: at, Spec: jobs.Spec{
				Name: fmt.Sprintf("%s-%d", class, g.n), Team: t.Name, Class: class, Gang: gang, Weight: 1,
				DurationSeconds: math.Round(dur), ReferenceModel: g.Reference,
			}})
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].At.Before(out[b].At) })
	return out
}

// Result is a run's outcome.
type Result struct {
	Policy      string
	Simulated   time.Duration
	Submitted   int
	Rejected    int
	Completed   int
	Active      int                // still pending/running at the end
	Utilization map[string]float64 // model → busy ÷ in-service device-time
	// AvgJCT is the mean completion time of completed jobs, per team and
	// "all".
	AvgJCT    map[string]time.Duration
	Completes map[string]int
	// MaxRound is the slowest round's wall time.
	MaxRound time.Duration
	Failures int
}

// Run drives loop for d of simulated time on clock, submitting the
// generator's arrivals through svc at their arrival times, one round every
// round.
func Run(ctx context.Context, loop *control.Loop, svc *jobs.Service, store jobs.Store, be *simbackend.Backend, clock *control.ManualClock, gen *Generator, d, round time.Duration) (Result, error) {
	res := Result{Policy: loop.Policy(), Simulated: d, AvgJCT: map[string]time.Duration{}, Completes: map[string]int{}}
	start := clock.Now()
	end := start.Add(d)
	for now := start; now.Before(end); now = now.Add(round) {
		arr := gen.Between(now, now.Add(round))
		rep, err := loop.Round(ctx)
		if err != nil {
			return res, err
		}
		res.MaxRound = max(res.MaxRound, rep.Round.Duration)
		for _, a := range arr {
			clock.Advance(a.At.Sub(clock.Now()))
			res.Submitted++
			if _, err := svc.Submit(ctx, a.Spec, "demo"); err != nil {
				res.Rejected++
			}
		}
		clock.Advance(now.Add(round).Sub(clock.Now()))
	}
	if _, err := loop.Round(ctx); err != nil {
		return res, err
	}
	all, err := store.Jobs(ctx, jobs.Filter{})
	if err != nil {
		return res, err
	}
	sum := map[string]time.Duration{}
	for _, j := range all {
		switch {
		case j.State == jobs.Completed:
			res.Completed++
			jct := j.FinishedAt.Sub(j.SubmittedAt)
			sum[j.Team] += jct
			sum["all"] += jct
			res.Completes[j.Team]++
			res.Completes["all"]++
		case j.State.Active():
			res.Active++
		}
	}
	for t, s := range sum {
		res.AvgJCT[t] = s / time.Duration(res.Completes[t])
	}
	st := be.Stats()
	res.Utilization = st.Utilization()
	res.Failures = st.Failures
	return res, nil
}
