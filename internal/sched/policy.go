package sched

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
)

// Policy computes an allocation from a snapshot and a throughput table.
//
// A Policy value may keep state between calls (fifo remembers where each job
// runs, ftf accumulates each job's isolated time, as Gavel's do), so use one
// value per simulation or scheduler, from one goroutine at a time.
type Policy interface {
	// Name is the policy's name as accepted by PolicyByName.
	Name() string
	// Allocate returns X for s.Jobs (row i = s.Jobs[i]) over the fleet's
	// models. It fails (wrapping fleet.ErrNotFound) when the table has no
	// entry for a job's (class, gang) on any model of the fleet, and
	// (wrapping fleet.ErrInvalid) when the snapshot is invalid.
	Allocate(s *Snapshot, tp *Throughputs) (Allocation, error)
}

// Options configure PolicyByName.
type Options struct {
	// Rand drives the agnostic fifo policy's random choice of model (Gavel
	// picks a random worker type). "fifo" needs Rand or Source; the other
	// policies ignore both.
	Rand *rand.Rand
	// Source, when set, is used instead of Rand (as rand.New(Source)), and
	// its state is part of the policy's memory (RoundState.State), so that
	// after a restart the agnostic fifo draws what it would have drawn.
	Source *rand.PCG
	// Cost is the price per device-hour by model id, for
	// "max-throughput-per-cost". Every model of the fleet needs a price > 0.
	Cost map[string]float64
	// Reference is the model whose throughput the agnostic ftf and makespan
	// policies assume on every model (Gavel hard-codes "v100"). Default: the
	// fastest model of the fleet for the active jobs (largest Σ throughput).
	Reference string
}

// Policy names accepted by PolicyByName. "-hetero" variants use the
// throughput table (heterogeneity-aware); the others treat every model as
// equally fast, like Gavel's non-"_perf" policies.
const (
	FIFO                 = "fifo"
	FIFOHetero           = "fifo-hetero"
	LAS                  = "las"
	LASHetero            = "las-hetero"
	FTF                  = "ftf"
	FTFHetero            = "ftf-hetero"
	Makespan             = "makespan"
	MakespanHetero       = "makespan-hetero"
	MaxThroughput        = "max-throughput"
	MaxThroughputPerCost = "max-throughput-per-cost"
)

// PolicyNames lists every valid policy name, in a stable order.
func PolicyNames() []string {
	return []string{FIFO, FIFOHetero, LAS, LASHetero, LASHeteroPacked, Granary, GranaryPacked, FTF, FTFHetero, FTFHeteroPacked, Makespan, MakespanHetero, MaxThroughput, MaxThroughputPerCost}
}

// PolicyByName returns a fresh policy. Names are case-insensitive; Gavel's
// names (max_min_fairness_perf, finish_time_fairness, min_total_duration_perf,
// max_sum_throughput_perf, fifo_perf, …) are accepted as aliases. Unknown names
// and missing options give an error wrapping fleet.ErrInvalid that lists the
// valid names.
func PolicyByName(name string, opt Options) (Policy, error) {
	n := canonicalPolicy(name)
	switch n {
	case FIFO:
		if opt.Source != nil {
			return newFIFO(false, rand.New(opt.Source), opt.Source), nil
		}
		if opt.Rand == nil {
			return nil, fmt.Errorf("%w: policy %q needs a seeded random source (Options.Rand or Options.Source)", fleet.ErrInvalid, n)
		}
		return newFIFO(false, opt.Rand, nil), nil
	case FIFOHetero:
		return newFIFO(true, nil, nil), nil
	case LAS:
		return &lasPolicy{hetero: false}, nil
	case LASHetero:
		return &lasPolicy{hetero: true}, nil
	case LASHeteroPacked:
		return lasPackedPolicy{}, nil
	case Granary:
		return granaryPolicy{}, nil
	case GranaryPacked:
		return granaryPolicy{packed: true}, nil
	case FTF:
		return newFTF(false, opt.Reference), nil
	case FTFHetero:
		return newFTF(true, ""), nil
	case FTFHeteroPacked:
		return newFTFPacked(), nil
	case Makespan:
		return &makespanPolicy{hetero: false, ref: opt.Reference}, nil
	case MakespanHetero:
		return &makespanPolicy{hetero: true}, nil
	case MaxThroughput:
		return &maxThroughputPolicy{}, nil
	case MaxThroughputPerCost:
		if len(opt.Cost) == 0 {
			return nil, fmt.Errorf("%w: policy %q needs a cost per model (Options.Cost)", fleet.ErrInvalid, n)
		}
		c := make(map[string]float64, len(opt.Cost))
		for m, v := range opt.Cost {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: policy %q: cost of %s is %v, want > 0", fleet.ErrInvalid, n, m, v)
			}
			c[m] = v
		}
		return &maxThroughputPolicy{cost: c}, nil
	}
	return nil, fmt.Errorf("%w: unknown policy %q (valid: %s)", fleet.ErrInvalid, name, strings.Join(PolicyNames(), ", "))
}

// canonicalPolicy is name folded to lower case, with Gavel's aliases
// resolved.
func canonicalPolicy(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := gavelAliases[n]; ok {
		n = a
	}
	return n
}

// CanonicalPolicy returns the policy's name as PolicyNames spells it, or
// PolicyByName's error for an unknown name (listing the valid ones). It
// builds nothing, so it needs none of the Options.
func CanonicalPolicy(name string) (string, error) {
	n := canonicalPolicy(name)
	for _, v := range PolicyNames() {
		if n == v {
			return n, nil
		}
	}
	return "", fmt.Errorf("%w: unknown policy %q (valid: %s)", fleet.ErrInvalid, name, strings.Join(PolicyNames(), ", "))
}

var gavelAliases = map[string]string{
	"fifo_perf":                   FIFOHetero,
	"max_min_fairness":            LAS,
	"max_min_fairness_perf":       LASHetero,
	"max_min_fairness_packed":     LASHeteroPacked,
	"finish_time_fairness":        FTF,
	"finish_time_fairness_perf":   FTFHetero,
	"finish_time_fairness_packed": FTFHeteroPacked,
	"min_total_duration":          Makespan,
	"min_total_duration_perf":     MakespanHetero,
	"max_sum_throughput_perf":     MaxThroughput,
	"max_sum_throughput":          MaxThroughput,
}

// problem is the dense view of a snapshot that every policy starts from.
type problem struct {
	jobs    []string    // rows (job ids)
	models  []string    // columns
	cap     []float64   // devices per column
	tput    [][]float64 // tput[i][k] steps/s of job i on models[k] (0 = cannot)
	gang    []float64
	weight  []float64
	ok      []bool // job can run somewhere on this fleet
	reasons []Reason
}

type classKey struct {
	class string
	gang  int
}

// newProblem validates s and looks every job up in tp.
func newProblem(s *Snapshot, tp *Throughputs) (*problem, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	p := &problem{models: s.models()}
	nm, nj := len(p.models), len(s.Jobs)
	p.cap = make([]float64, nm)
	for k, m := range p.models {
		p.cap[k] = float64(s.Fleet[m])
	}
	flat := make([]float64, nj*nm)
	p.tput = make([][]float64, nj)
	p.gang = make([]float64, nj)
	p.weight = make([]float64, nj)
	p.ok = make([]bool, nj)
	p.reasons = make([]Reason, nj)
	p.jobs = make([]string, nj)
	cache := map[classKey][]float64{}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		p.jobs[i] = j.ID
		row := flat[i*nm : (i+1)*nm : (i+1)*nm]
		p.tput[i] = row
		p.gang[i] = float64(j.Gang)
		p.weight[i] = j.weight()
		found, runs, fits := false, false, false
		ck := classKey{j.Class, j.Gang}
		raw, seen := cache[ck]
		if !seen {
			raw = make([]float64, nm)
			for k, m := range p.models {
				v, ok := tp.Lookup(j.Class, j.Gang, m)
				if !ok {
					v = -1 // no entry
				}
				raw[k] = v
			}
			cache[ck] = raw
		}
		for k := range p.models {
			v := raw[k]
			ok := v >= 0
			found = found || ok
			if k < 64 && j.deny&(1<<k) != 0 {
				continue // excluded by the pipeline's filter stage
			}
			if v > 0 {
				runs = true
				if float64(j.Gang) <= p.cap[k] {
					fits = true
					row[k] = v
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: job %s: no throughput entry for class %q with gang size %d on any model of the fleet (%s)",
				fleet.ErrNotFound, j.ID, j.Class, j.Gang, strings.Join(p.models, ", "))
		}
		switch {
		case !runs:
			p.reasons[i] = ReasonNoThroughput
		case !fits:
			p.reasons[i] = ReasonGangTooLarge
		default:
			p.ok[i] = true
		}
	}
	return p, nil
}

func (p *problem) emptyAllocation() Allocation {
	nj, nm := len(p.tput), len(p.models)
	flat := make([]float64, nj*nm)
	x := make([][]float64, nj)
	for i := range x {
		x[i] = flat[i*nm : (i+1)*nm : (i+1)*nm]
	}
	return Allocation{Models: p.models, Jobs: p.jobs, X: x, Reasons: p.reasons, Objective: math.NaN(), Bound: math.NaN()}
}

// fifoOrder returns job indices by (Arrival, index).
func fifoOrder(s *Snapshot) []int {
	ord := make([]int, len(s.Jobs))
	for i := range ord {
		ord[i] = i
	}
	sort.SliceStable(ord, func(a, b int) bool { return s.Jobs[ord[a]].Arrival < s.Jobs[ord[b]].Arrival })
	return ord
}
