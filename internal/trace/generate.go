package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// Generator styles: the two job generators in Gavel (commit c4fa400).
const (
	// StyleSimulator is scheduler/utils.py generate_job, which Gavel's
	// simulator uses for its continuous-load experiments (the paper's
	// Fig. 8-10): duration 60·10^U(1.5,3) s with probability 0.8 and
	// 60·10^U(3,4) s with probability 0.2; gang 1/2/4/8 with probability
	// 0.7/0.1/0.15/0.05 (multi-GPU only), class uniform among the classes
	// that have that gang; steps = duration × reference throughput.
	StyleSimulator = "simulator"
	// StyleTrace is scripts/utils/generate_trace.py, which made the traces
	// in the Gavel anchors: class uniform over all classes, duration uniform
	// over {1,2,3,4} h, gang 1/2/4 with probability 0.7/0.1/0.2 for classes
	// that can run distributed (multi-GPU only), steps = ⌊duration ×
	// reference throughput⌋ (at least 1).
	StyleTrace = "trace"
)

// GenerateOptions configure Generate.
type GenerateOptions struct {
	// Jobs is how many jobs to generate (> 0).
	Jobs int
	// RatePerHour is the Poisson arrival rate in jobs per hour; the first
	// job arrives at 0 and inter-arrival times are exponential with mean
	// 3600/RatePerHour seconds. 0 puts every job at t = 0 (a static trace).
	RatePerHour float64
	// MultiGPU draws gang sizes from Gavel's mix; otherwise every gang is 1.
	MultiGPU bool
	// MultiPriority gives 20% of jobs weight 5 (Gavel's
	// generate_multi_priority_jobs); otherwise every weight is 1.
	MultiPriority bool
	// Style is StyleSimulator (default) or StyleTrace.
	Style string
	// Reference is the catalog id of the model whose throughput converts a
	// duration into steps (Gavel: v100). Required.
	Reference string
	// FixedDuration, when > 0, replaces the duration draw (seconds on the
	// reference model), as Gavel's fixed_job_duration.
	FixedDuration float64
}

// Generate ports Gavel's job generator: it draws opt.Jobs jobs over the
// classes of tt using rng (seeded by the caller), and returns them in
// arrival order with ids 0…Jobs-1. Arrivals, durations, gangs and classes
// come from four independent streams derived from rng, as Gavel seeds four
// generators, so the arrival times do not depend on the job mix.
func Generate(rng *rand.Rand, tt *ThroughputTable, opt GenerateOptions) ([]Job, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: generate: %s", fleet.ErrInvalid, fmt.Sprintf(format, a...))
	}
	if opt.Style == "" {
		opt.Style = StyleSimulator
	}
	switch {
	case opt.Jobs <= 0 || opt.Jobs > MaxJobs:
		return nil, bad("number of jobs must be between 1 and %d (the trace limit), got %d", MaxJobs, opt.Jobs)
	case !(opt.RatePerHour >= 0) || math.IsInf(opt.RatePerHour, 0):
		return nil, bad("rate must be a finite number of jobs/hour ≥ 0, got %v", opt.RatePerHour)
	case opt.Style != StyleSimulator && opt.Style != StyleTrace:
		return nil, bad("unknown style %q (valid: %s, %s)", opt.Style, StyleSimulator, StyleTrace)
	case !(opt.FixedDuration >= 0 && opt.FixedDuration <= MaxArrivalSeconds):
		return nil, bad("fixed duration must be between 0 and %d s, got %v", MaxArrivalSeconds, opt.FixedDuration)
	case rng == nil:
		return nil, bad("no random source")
	}
	// byGang[g] = classes runnable as gang g on the reference model, sorted.
	byGang := map[int][]string{}
	ref := map[ClassGang]float64{}
	for _, cg := range tt.Classes() {
		v, ok := tt.Table.Lookup(cg.Class, cg.Gang, opt.Reference)
		if ok && v > 0 {
			byGang[cg.Gang] = append(byGang[cg.Gang], cg.Class)
			ref[cg] = v
		}
	}
	if len(byGang[1]) == 0 {
		return nil, bad("the throughput table has no class with gang 1 and a throughput > 0 on the reference model %q", opt.Reference)
	}
	for g := range byGang {
		sort.Strings(byGang[g])
	}
	distributed := map[string]bool{} // classes with some gang > 1
	for g, cs := range byGang {
		if g > 1 {
			for _, c := range cs {
				distributed[c] = true
			}
		}
	}

	sub := func() *rand.Rand { return rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) }
	arrivals, durations, gangs, classes := sub(), sub(), sub(), sub()

	jobs := make([]Job, 0, opt.Jobs)
	t := 0.0
	for i := 0; i < opt.Jobs; i++ {
		if i > 0 && opt.RatePerHour > 0 {
			// Gavel: -log(1 - U) · lam, lam = mean inter-arrival seconds.
			t += -math.Log(1-arrivals.Float64()) * 3600 / opt.RatePerHour
		}
		var (
			class string
			gang  = 1
			dur   float64
		)
		switch opt.Style {
		case StyleSimulator:
			if opt.MultiGPU {
				gang = gavelScaleFactor(gangs.Float64())
				if len(byGang[gang]) == 0 {
					gang = 1 // the table has no class with this gang
				}
			}
			cs := byGang[gang]
			class = cs[classes.IntN(len(cs))]
			if durations.Float64() >= 0.8 {
				dur = 60 * math.Pow(10, 3+durations.Float64())
			} else {
				dur = 60 * math.Pow(10, 1.5+1.5*durations.Float64())
			}
		case StyleTrace:
			all := byGang[1]
			class = all[classes.IntN(len(all))]
			if opt.MultiGPU && distributed[class] {
				r := gangs.Float64()
				switch {
				case r >= 0.8:
					gang = 4
				case r >= 0.7:
					gang = 2
				}
				if _, ok := ref[ClassGang{class, gang}]; !ok {
					gang = 1
				}
			}
			dur = float64(1+durations.IntN(4)) * 3600
		}
		if opt.FixedDuration > 0 {
			dur = opt.FixedDuration
		}
		steps := dur * ref[ClassGang{class, gang}]
		if opt.Style == StyleTrace {
			steps = math.Max(1, math.Floor(steps))
		}
		w := 1.0
		if opt.MultiPriority && classes.Float64() <= 0.2 {
			w = 5
		}
		if !(t <= MaxArrivalSeconds) {
			return nil, bad("job %d would arrive at %g s, after the trace limit of %d s (10 years): raise the rate", i, t, MaxArrivalSeconds)
		}
		jobs = append(jobs, Job{ID: i, Arrival: t, Class: class, Gang: gang, Steps: steps, Weight: w})
	}
	return jobs, nil
}

// gavelScaleFactor maps a uniform draw to Gavel's scale-factor mix
// (utils.py _generate_scale_factor, "sampled from the Philly distribution").
func gavelScaleFactor(r float64) int {
	switch {
	case r >= 0.95:
		return 8
	case r >= 0.8:
		return 4
	case r >= 0.7:
		return 2
	}
	return 1
}
