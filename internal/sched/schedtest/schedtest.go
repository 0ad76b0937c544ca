// Package schedtest has builders for scheduler tests and benchmarks: a
// synthetic Gavel-like throughput table, random job sets, Gavel's benchmark
// shape, and checkers for the invariants every allocation and placement must
// satisfy. Everything is deterministic given the *rand.Rand passed in.
package schedtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/granaryhq/granary/internal/sched"
)

// GavelModels returns the three accelerator models of Gavel's experiments,
// by catalog id.
func GavelModels() []string { return []string{"k80", "p100-sxm2-16gb", "v100-sxm2-32gb"} }

// Class is a synthetic job class.
type Class struct {
	Name        string
	Distributed bool // may run with gang 2, 4, 8
}

// Classes returns n synthetic job classes; like Gavel's 26, about three in
// four are "distributed" (gang sizes 1, 2, 4, 8), the rest single-device.
func Classes(n int) []Class {
	cs := make([]Class, n)
	for i := range cs {
		cs[i] = Class{Name: fmt.Sprintf("class-%02d", i), Distributed: i%4 != 3}
	}
	return cs
}

// Table builds a throughput table for classes × gangs × models, shaped like
// Gavel's measurements: each class has a base speed (log-uniform over
// 0.3–300 steps/s), model k is about 1.6^k times faster than model 0 with a
// per-class factor in [0.6, 1.4] (so the best model differs between classes),
// and a gang of g devices runs g·0.85^log2(g) times faster. A small fraction
// of (class, model) pairs are 0 ("cannot run there") when zeros is true.
func Table(r *rand.Rand, classes []Class, models []string, zeros bool) *sched.Throughputs {
	var es []sched.ThroughputEntry
	for _, c := range classes {
		base := 0.3 * math.Pow(1000, r.Float64())
		gangs := []int{1}
		if c.Distributed {
			gangs = []int{1, 2, 4, 8}
		}
		speed := make([]float64, len(models))
		for k := range models {
			speed[k] = base * math.Pow(1.6, float64(k)) * (0.6 + 0.8*r.Float64())
			if zeros && k < len(models)-1 && r.IntN(20) == 0 {
				speed[k] = 0
			}
		}
		for _, g := range gangs {
			f := float64(g) * math.Pow(0.85, math.Log2(float64(g)))
			for k, m := range models {
				es = append(es, sched.ThroughputEntry{Class: c.Name, Gang: g, Model: m, StepsPerSecond: speed[k] * f})
			}
		}
	}
	tp, err := sched.NewThroughputs(es)
	if err != nil {
		panic(err) // builders only produce valid tables
	}
	return tp
}

// Jobs draws n jobs: class uniform, gang 1/2/4 with probability 0.7/0.1/0.2
// for distributed classes when multi is true (Gavel's generator -m), 1
// otherwise; duration uniform over 1–4 h on the fastest model; weight 1;
// arrivals spaced by meanGap seconds on average (0 = all at time 0).
func Jobs(r *rand.Rand, n int, classes []Class, tp *sched.Throughputs, multi bool, meanGap float64) []sched.Job {
	models := tp.Models()
	jobs := make([]sched.Job, n)
	at := 0.0
	for i := range jobs {
		c := classes[r.IntN(len(classes))]
		g := 1
		if multi && c.Distributed {
			switch u := r.Float64(); {
			case u < 0.7:
				g = 1
			case u < 0.8:
				g = 2
			default:
				g = 4
			}
		}
		best := 0.0
		for _, m := range models {
			v, _ := tp.Lookup(c.Name, g, m)
			best = math.Max(best, v)
		}
		steps := math.Round(best * 3600 * float64(1+r.IntN(4)))
		jobs[i] = sched.Job{ID: fmt.Sprint(i), Class: c.Name, Gang: g, Weight: 1, Arrival: at, TotalSteps: steps, RemainingSteps: steps}
		if meanGap > 0 {
			at += r.ExpFloat64() * meanGap
		}
	}
	return jobs
}

// GavelShape is the instance of Gavel's policy-runtime sweep: n active jobs
// drawn from 26 classes (multi-device mix) on n/4 devices of each of its
// three models.
func GavelShape(r *rand.Rand, n int) (*sched.Snapshot, *sched.Throughputs) {
	cs := Classes(26)
	tp := Table(r, cs, GavelModels(), false)
	fleet := map[string]int{}
	for _, m := range GavelModels() {
		fleet[m] = max(1, n/4)
	}
	return &sched.Snapshot{Fleet: fleet, Jobs: Jobs(r, n, cs, tp, true, 0)}, tp
}

// Wide is a large heterogeneous instance: n jobs from 26 classes on
// devicesPerModel devices of each of nModels models.
func Wide(r *rand.Rand, n, nModels, devicesPerModel int) (*sched.Snapshot, *sched.Throughputs) {
	models := make([]string, nModels)
	for k := range models {
		models[k] = fmt.Sprintf("model-%02d", k)
	}
	cs := Classes(26)
	tp := Table(r, cs, models, true)
	fleet := map[string]int{}
	for _, m := range models {
		fleet[m] = devicesPerModel
	}
	return &sched.Snapshot{Fleet: fleet, Jobs: Jobs(r, n, cs, tp, true, 0)}, tp
}

// Small is a random small instance for property tests: 1–nMax jobs of up to
// 5 classes with random gangs (1–4), weights (1, 2 or 5) and remaining work,
// on 1–3 models with 1–6 devices each; some throughputs are 0.
func Small(r *rand.Rand, nMax int) (*sched.Snapshot, *sched.Throughputs) {
	nm := 1 + r.IntN(3)
	models := make([]string, nm)
	fleet := map[string]int{}
	for k := range models {
		models[k] = fmt.Sprintf("m%d", k)
		fleet[models[k]] = 1 + r.IntN(6)
	}
	nc := 1 + r.IntN(5)
	var es []sched.ThroughputEntry
	for c := 0; c < nc; c++ {
		for g := 1; g <= 4; g++ {
			for _, m := range models {
				v := math.Round(100*(0.1+10*r.Float64())) / 100
				if r.IntN(6) == 0 {
					v = 0
				}
				es = append(es, sched.ThroughputEntry{Class: fmt.Sprintf("c%d", c), Gang: g, Model: m, StepsPerSecond: v})
			}
		}
	}
	tp, err := sched.NewThroughputs(es)
	if err != nil {
		panic(err)
	}
	// Pair throughputs (30–95 % of alone; 0 for one pair in five) for the
	// *-packed policies, from their own source so that r's stream, and so
	// every other instance, is what it was before pairs existed.
	pr := rand.New(rand.NewPCG(uint64(len(es)), uint64(nc*10+nm)))
	var pairs []sched.PairEntry
	for i, a := range es {
		for _, b := range es[i:] {
			if a.Gang != b.Gang || a.Model != b.Model {
				continue
			}
			f := [2]float64{0.3 + 0.65*pr.Float64(), 0.3 + 0.65*pr.Float64()}
			if pr.IntN(5) == 0 {
				f = [2]float64{}
			}
			pairs = append(pairs, sched.PairEntry{Class: a.Class, Other: b.Class, Gang: a.Gang, Model: a.Model, Steps: [2]float64{f[0] * a.StepsPerSecond, f[1] * b.StepsPerSecond}})
		}
	}
	if tp, err = tp.WithPairs(pairs); err != nil {
		panic(err)
	}
	n := 1 + r.IntN(nMax)
	weights := []float64{1, 1, 1, 2, 5}
	s := &sched.Snapshot{Now: float64(r.IntN(10000)), Fleet: fleet}
	for i := 0; i < n; i++ {
		steps := float64(100 + r.IntN(100000))
		g := 1
		if r.IntN(3) == 0 {
			g = 1 + r.IntN(4)
		}
		s.Jobs = append(s.Jobs, sched.Job{
			ID: fmt.Sprint(i), Class: fmt.Sprintf("c%d", r.IntN(nc)), Gang: g, Weight: weights[r.IntN(len(weights))],
			Arrival: s.Now * r.Float64(), TotalSteps: steps * 2, RemainingSteps: steps,
		})
	}
	return s, tp
}

// CheckAllocation returns an error when a violates Gavel's base constraints
// for s: one row per job in order, X ≥ 0, Σ_k X ≤ 1 per job,
// Σ_i gang·X ≤ devices per model, and rows of jobs that can run nowhere are 0.
// A pair's share (space sharing) counts in both jobs' Σ and once in its
// model's devices, and pairs only join jobs of equal gangs.
func CheckAllocation(s *sched.Snapshot, a *sched.Allocation) error {
	const eps = 1e-7
	if len(a.X) != len(s.Jobs) || len(a.Jobs) != len(s.Jobs) {
		return fmt.Errorf("allocation has %d rows and %d ids for %d jobs", len(a.X), len(a.Jobs), len(s.Jobs))
	}
	use := make([]float64, len(a.Models))
	inPairs := make([]float64, len(a.X))
	for _, p := range a.Pairs {
		if p.A < 0 || p.B >= len(a.X) || p.A >= p.B || len(p.X) != len(a.Models) {
			return fmt.Errorf("pair (%d, %d) with %d shares: bad rows or width", p.A, p.B, len(p.X))
		}
		if s.Jobs[p.A].Gang != s.Jobs[p.B].Gang {
			return fmt.Errorf("pair (%s, %s) joins gangs %d and %d", a.Jobs[p.A], a.Jobs[p.B], s.Jobs[p.A].Gang, s.Jobs[p.B].Gang)
		}
		for k, v := range p.X {
			if !(v >= -eps) {
				return fmt.Errorf("pair (%s, %s) share on %s = %v < 0", a.Jobs[p.A], a.Jobs[p.B], a.Models[k], v)
			}
			inPairs[p.A] += v
			inPairs[p.B] += v
			use[k] += v * float64(s.Jobs[p.A].Gang)
		}
	}
	for i, row := range a.X {
		if a.Jobs[i] != s.Jobs[i].ID {
			return fmt.Errorf("row %d is job %q, want %q", i, a.Jobs[i], s.Jobs[i].ID)
		}
		sum := inPairs[i]
		for k, v := range row {
			if !(v >= -eps) {
				return fmt.Errorf("allocation X[%s][%s] = %v < 0", a.Jobs[i], a.Models[k], v)
			}
			sum += v
			use[k] += v * float64(s.Jobs[i].Gang)
		}
		if sum > 1+eps {
			return fmt.Errorf("job %s: Σ_k X = %v > 1", a.Jobs[i], sum)
		}
		if i < len(a.Reasons) && a.Reasons[i].Never() && sum > 0 {
			return fmt.Errorf("job %s can run nowhere (%s) but has share %v", a.Jobs[i], a.Reasons[i], sum)
		}
	}
	for k, m := range a.Models {
		if use[k] > float64(s.Fleet[m])+eps*(1+float64(s.Fleet[m])) {
			return fmt.Errorf("model %s: Σ gang·X = %v > %d devices", m, use[k], s.Fleet[m])
		}
	}
	return nil
}

// CheckPlacement returns an error when p breaks a placement invariant: every
// job of s appears exactly once (running or waiting), a running job has
// exactly Gang distinct devices of one model that exist in the fleet and the
// throughput table gives it > 0 there, and no device is used twice — except
// by two runs that name each other (Run.With) on the same devices, with a
// pair throughput > 0 for both there.
func CheckPlacement(s *sched.Snapshot, tp *sched.Throughputs, p sched.Placement) error {
	seen := map[string]int{}
	jobs := map[string]*sched.Job{}
	for i := range s.Jobs {
		jobs[s.Jobs[i].ID] = &s.Jobs[i]
	}
	used := map[string]map[int]string{}
	shared := map[string]map[int]int64{} // model → device → milli of shares
	for _, r := range p.Runs {
		seen[r.Job]++
		j, ok := jobs[r.Job]
		if !ok {
			return fmt.Errorf("run of unknown job %q", r.Job)
		}
		if len(r.Devices) != j.Gang {
			return fmt.Errorf("job %s has gang %d but got %d devices", r.Job, j.Gang, len(r.Devices))
		}
		if v, _ := tp.Lookup(j.Class, j.Gang, r.Model); v <= 0 {
			return fmt.Errorf("job %s placed on %s where its throughput is 0", r.Job, r.Model)
		}
		if r.Milli != j.Milli {
			return fmt.Errorf("job %s asks for %d milli of a device but got %d", r.Job, j.Milli, r.Milli)
		}
		if used[r.Model] == nil {
			used[r.Model] = map[int]string{}
			shared[r.Model] = map[int]int64{}
		}
		if r.Milli > 0 { // a share: shares of a device sum to at most a whole one, never beside a gang
			d := r.Devices[0]
			if d < 0 || d >= s.Fleet[r.Model] {
				return fmt.Errorf("job %s: device %s/%d does not exist (%d devices)", r.Job, r.Model, d, s.Fleet[r.Model])
			}
			if other, dup := used[r.Model][d]; dup {
				return fmt.Errorf("device %s/%d given to %s whole and to %s as a share", r.Model, d, other, r.Job)
			}
			if shared[r.Model][d] += r.Milli; shared[r.Model][d] > 1000 {
				return fmt.Errorf("device %s/%d: shares sum to %d milli (job %s)", r.Model, d, shared[r.Model][d], r.Job)
			}
			continue
		}
		for _, d := range r.Devices {
			if shared[r.Model][d] > 0 {
				return fmt.Errorf("device %s/%d given to %s whole while shares use it", r.Model, d, r.Job)
			}
			if d < 0 || d >= s.Fleet[r.Model] {
				return fmt.Errorf("job %s: device %s/%d does not exist (%d devices)", r.Job, r.Model, d, s.Fleet[r.Model])
			}
			if other, dup := used[r.Model][d]; dup && (r.With == "" || other != r.With) {
				return fmt.Errorf("device %s/%d given to both %s and %s", r.Model, d, other, r.Job)
			}
			used[r.Model][d] = r.Job
		}
		if r.With != "" {
			o, ok := p.RunOf(r.With)
			if !ok || o.With != r.Job || o.Model != r.Model || !slices.Equal(o.Devices, r.Devices) || jobs[r.With] == nil {
				return fmt.Errorf("job %s shares with %s, which does not run on the same devices naming it", r.Job, r.With)
			}
			if v, ok := tp.PairLookup(j.Class, jobs[r.With].Class, j.Gang, r.Model); !ok || v[0] <= 0 || v[1] <= 0 {
				return fmt.Errorf("jobs %s and %s share %s without a pair throughput > 0 (%v)", r.Job, r.With, r.Model, v)
			}
		}
	}
	for _, w := range p.Waiting {
		seen[w.Job]++
		if _, ok := jobs[w.Job]; !ok {
			return fmt.Errorf("unknown job %q waiting", w.Job)
		}
		if !slices.Contains(sched.Reasons, w.Reason) {
			return fmt.Errorf("job %s waits with reason %q, not one of sched.Reasons", w.Job, w.Reason)
		}
	}
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if seen[id] != 1 {
			return fmt.Errorf("job %s appears %d times in the placement", id, seen[id])
		}
	}
	return nil
}
