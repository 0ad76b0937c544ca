package forecast

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/granaryhq/granary/internal/accel"
)

// BlockSize is the number of paths that share one random stream. Paths are
// split into fixed blocks, each with its own seed drawn in order from the
// run's generator, so results do not depend on the number of workers.
const BlockSize = 100

// bootstrapReps is the number of bootstrap resamples behind the standard
// error of the P50 runway.
const bootstrapReps = 400

// Options tune a run without changing what the plan means.
type Options struct {
	// Paths and Seed override the plan's when non-zero / non-nil.
	Paths int
	Seed  *int64
	// Rand, when set, is the source of every random number (block seeds are
	// drawn from it); otherwise a PCG generator seeded with the plan's seed.
	Rand *rand.Rand
	// Workers run blocks of paths in parallel; ≤ 0 means GOMAXPROCS.
	// Results are identical for any value.
	Workers int
	// NoLevers skips the three lever reruns.
	NoLevers bool
	// Progress, when set, is called (from one goroutine at a time) as blocks
	// finish, with the blocks done and the total over all reruns.
	Progress func(done, total int)
}

// Result is the forecast. Its JSON is the contract of granary runway -o json
// and POST /api/v1/runway.
type Result struct {
	Start         string `json:"start"`
	HorizonMonths int    `json:"horizon_months"`
	Paths         int    `json:"paths"`
	Seed          int64  `json:"seed"`
	// RunwayMonths is the first month with a shortfall, over paths (P10 the
	// pessimistic end); a quantile is null when it has no shortfall within
	// the horizon.
	RunwayMonths   IntQuantiles   `json:"runway_months"`
	FirstShortfall MonthQuantiles `json:"first_shortfall"`
	// RunwayP50StdError is the Monte Carlo standard error of the P50 runway
	// in months (bootstrap over paths); null when the P50 is null.
	RunwayP50StdError *float64 `json:"runway_p50_std_error_months"`
	// NoShortfallShare is the share of paths with no shortfall in the horizon.
	NoShortfallShare float64         `json:"no_shortfall_share"`
	TrainingOnTime   []TrainingShare `json:"training_on_time"`
	Series           []SeriesPoint   `json:"series"`
	Levers           []Lever         `json:"levers"`
}

// IntQuantiles are P10/P50/P90 in months; nil = beyond the horizon.
type IntQuantiles struct {
	P10 *int `json:"p10"`
	P50 *int `json:"p50"`
	P90 *int `json:"p90"`
}

// MonthQuantiles are P10/P50/P90 as YYYY-MM; nil = beyond the horizon.
type MonthQuantiles struct {
	P10 *string `json:"p10"`
	P50 *string `json:"p50"`
	P90 *string `json:"p90"`
}

// Band is P10/P50/P90 of a quantity in PFLOP/s.
type Band struct {
	P10 float64 `json:"p10"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
}

// SeriesPoint is one month of supply and demand, in effective PFLOP/s.
type SeriesPoint struct {
	Month  string `json:"month"`
	Supply Band   `json:"supply"`
	Demand Band   `json:"demand"`
}

// TrainingShare is the share of paths on which a run completes on time
// (supply ≥ demand in every month it is active).
type TrainingShare struct {
	Name   string  `json:"name"`
	Start  string  `json:"start"`
	Months int     `json:"months"`
	Share  float64 `json:"share_on_time"`
}

// Lever is the P50 runway with one lever pulled, rerun with the same seed.
type Lever struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// RunwayMonthsP50 is null when the lever's P50 has no shortfall.
	RunwayMonthsP50 *int `json:"runway_months_p50"`
	// GainMonths is the P50 runway gained over the plan as is. When the
	// lever pushes the P50 past the horizon it is the lower bound
	// horizon − P50 and AtLeast is true; null when the plan's own P50 has no
	// shortfall.
	GainMonths *int `json:"gain_months"`
	AtLeast    bool `json:"gain_is_lower_bound,omitempty"`
	Rank       int  `json:"rank"`
}

// outcome is one simulation's raw per-path results.
type outcome struct {
	runway []int     // per path; horizon = none
	onTime [][]bool  // per run, per path
	supply []float64 // path-major, paths × horizon (nil when not kept)
}

// Run forecasts the plan: the runway distribution, training runs on time,
// the supply and demand series, and (unless opts.NoLevers) the three levers,
// each rerun with the same block seeds. Bad plans give *fleet.InputError
// values wrapping fleet.ErrInvalid; a cancelled ctx gives ctx.Err().
func Run(ctx context.Context, plan Plan, cat *accel.Catalog, opts Options) (Result, error) {
	if opts.Paths > 0 {
		plan.Paths = opts.Paths
	}
	if opts.Seed != nil {
		plan.Seed = *opts.Seed
	}
	ts := newTables()
	md, err := compileWith(&plan, cat, ts)
	if err != nil {
		return Result{}, err
	}
	variants := []struct {
		name, desc string
		md         *model
	}{{md: md}}
	if !opts.NoLevers {
		l := plan.Levers
		rp := plan
		rp.Fleet = append([]Holding(nil), plan.Fleet...)
		for i := range rp.Fleet {
			rp.Fleet[i].Reserve = int(math.Round(float64(rp.Fleet[i].Reserve) * (1 + l.ReserveIncrease)))
		}
		ep := plan
		ep.EfficiencyGainPerYear = plan.EfficiencyGainPerYear * l.EfficiencyFactor
		dp, ddesc, err := domesticLever(plan, cat)
		if err != nil {
			return Result{}, err
		}
		for _, v := range []struct {
			name, desc string
			p          Plan
		}{
			{"reserve", fmt.Sprintf("reserve +%s%% of every model", pct(l.ReserveIncrease)), rp},
			{"efficiency", fmt.Sprintf("efficiency gain per year ×%s", num(l.EfficiencyFactor)), ep},
			{"domestic", ddesc, dp},
		} {
			vm, err := compileWith(&v.p, cat, ts)
			if err != nil {
				return Result{}, err
			}
			variants = append(variants, struct {
				name, desc string
				md         *model
			}{v.name, v.desc, vm})
		}
	}

	rng := opts.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(uint64(plan.Seed), 0x9e3779b97f4a7c15))
	}
	nblocks := (plan.Paths + BlockSize - 1) / BlockSize
	seeds := make([][2]uint64, nblocks)
	for i := range seeds {
		seeds[i] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	bootSeed := [2]uint64{rng.Uint64(), rng.Uint64()}

	prog := &progress{fn: opts.Progress, total: nblocks * len(variants)}
	outs := make([]outcome, len(variants))
	for i, v := range variants {
		o, err := simulate(ctx, v.md, plan.Paths, seeds, opts.Workers, i == 0, prog)
		if err != nil {
			return Result{}, err
		}
		outs[i] = o
	}

	res := Result{
		Start: plan.Start.String(), HorizonMonths: plan.HorizonMonths,
		Paths: plan.Paths, Seed: plan.Seed,
	}
	base := outs[0]
	sorted := slices.Clone(base.runway)
	slices.Sort(sorted)
	h := plan.HorizonMonths
	q := func(p float64) *int { return nonHorizon(quantileInt(sorted, p), h) }
	res.RunwayMonths = IntQuantiles{P10: q(0.1), P50: q(0.5), P90: q(0.9)}
	ym := func(m *int) *string {
		if m == nil {
			return nil
		}
		s := (plan.Start + Month(*m)).String()
		return &s
	}
	res.FirstShortfall = MonthQuantiles{ym(res.RunwayMonths.P10), ym(res.RunwayMonths.P50), ym(res.RunwayMonths.P90)}
	none := len(sorted) - sortSearch(sorted, h)
	res.NoShortfallShare = float64(none) / float64(len(sorted))
	if res.RunwayMonths.P50 != nil {
		se := bootstrapMedianSE(base.runway, h, rand.New(rand.NewPCG(bootSeed[0], bootSeed[1])))
		res.RunwayP50StdError = &se
	}
	for i, r := range md.runs {
		ok := 0
		for _, b := range base.onTime[i] {
			if b {
				ok++
			}
		}
		res.TrainingOnTime = append(res.TrainingOnTime, TrainingShare{
			Name: r.Name, Start: r.Start.String(), Months: r.Months,
			Share: float64(ok) / float64(plan.Paths),
		})
	}
	res.Series = series(md, base.supply, plan.Paths)

	for i := 1; i < len(variants); i++ {
		s := slices.Clone(outs[i].runway)
		slices.Sort(s)
		lv := Lever{Name: variants[i].name, Description: variants[i].desc, RunwayMonthsP50: nonHorizon(quantileInt(s, 0.5), h)}
		if b := res.RunwayMonths.P50; b != nil {
			g := h - *b
			if lv.RunwayMonthsP50 != nil {
				g = *lv.RunwayMonthsP50 - *b
			} else {
				lv.AtLeast = true
			}
			lv.GainMonths = &g
		}
		res.Levers = append(res.Levers, lv)
	}
	rankLevers(res.Levers)
	return res, nil
}

// rankLevers numbers levers 1… by gain (a lower-bound gain past the horizon
// counts as its bound; ties share the order of the list).
func rankLevers(ls []Lever) {
	idx := make([]int, len(ls))
	for i := range idx {
		idx[i] = i
	}
	val := func(l Lever) float64 {
		if l.GainMonths == nil {
			return math.Inf(-1)
		}
		return float64(*l.GainMonths)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		va, vb := val(ls[a]), val(ls[b])
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for r, i := range idx {
		ls[i].Rank = r + 1
	}
}

type progress struct {
	mu    sync.Mutex
	fn    func(done, total int)
	done  int
	total int
}

func (p *progress) tick() {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	p.done++
	p.fn(p.done, p.total)
	p.mu.Unlock()
}

// simulate runs every path of md. Block b uses seeds[b]; paths of a block
// run in order on one worker, so the outcome depends only on the seeds.
func simulate(ctx context.Context, md *model, paths int, seeds [][2]uint64, workers int, keepSupply bool, prog *progress) (outcome, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > len(seeds) {
		workers = len(seeds)
	}
	o := outcome{runway: make([]int, paths), onTime: make([][]bool, len(md.runs))}
	for i := range o.onTime {
		o.onTime[i] = make([]bool, paths)
	}
	if keepSupply {
		o.supply = make([]float64, paths*md.horizon)
	}
	// Workers take blocks in order from a shared counter (no hand-off
	// through a channel, so no goroutine wakes per block).
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := newPathState(md)
			for {
				b := int(next.Add(1) - 1)
				if b >= len(seeds) || ctx.Err() != nil {
					return
				}
				src := newPCG(seeds[b][0], seeds[b][1])
				r := rand.New(src)
				hi := min((b+1)*BlockSize, paths)
				for i := b * BlockSize; i < hi; i++ {
					var sup []float64
					if keepSupply {
						sup = o.supply[i*md.horizon : (i+1)*md.horizon]
					}
					o.runway[i] = md.path(r, src, st, sup)
					for k, run := range md.runs {
						from := int(run.Start - md.start)
						ok := true
						for m := from; m < from+run.Months; m++ {
							if st.short[m] {
								ok = false
								break
							}
						}
						o.onTime[k][i] = ok
					}
				}
				prog.tick()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return outcome{}, err
	}
	return o, nil
}

// series computes the per-month bands of supply (over paths) and demand
// (deterministic, so its band is a line), rounded to 0.001 PFLOP/s.
func series(md *model, supply []float64, paths int) []SeriesPoint {
	out := make([]SeriesPoint, md.horizon)
	col := make([]float64, paths)
	for m := range out {
		for i := 0; i < paths; i++ {
			col[i] = supply[i*md.horizon+m]
		}
		d := round3(md.demand[m])
		// Select the three order statistics in place, low to high, each
		// search limited to the part not yet partitioned.
		i10, i50, i90 := quantileIndex(paths, 0.1), quantileIndex(paths, 0.5), quantileIndex(paths, 0.9)
		selectKth(col, i10)
		selectKth(col[i10:], i50-i10)
		selectKth(col[i50:], i90-i50)
		out[m] = SeriesPoint{
			Month:  (md.start + Month(m)).String(),
			Supply: Band{round3(col[i10]), round3(col[i50]), round3(col[i90])},
			Demand: Band{d, d, d},
		}
	}
	return out
}

// selectKth reorders xs so that xs[k] is the value a sort would put there,
// with nothing larger before it and nothing smaller after it (Hoare's
// selection with a median-of-three pivot).
func selectKth(xs []float64, k int) {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// quantileIndex is the nearest-rank index of quantile p in n sorted values:
// the smallest value with at least p·n values at or below it.
func quantileIndex(n int, p float64) int {
	i := int(math.Ceil(p*float64(n))) - 1
	return max(0, min(i, n-1))
}

func quantileInt(sorted []int, p float64) int { return sorted[quantileIndex(len(sorted), p)] }

func nonHorizon(v, h int) *int {
	if v >= h {
		return nil
	}
	return &v
}

func sortSearch(sorted []int, v int) int {
	i, _ := slices.BinarySearch(sorted, v)
	return i
}

// bootstrapMedianSE is the standard deviation of the nearest-rank median
// over bootstrap resamples of the per-path runways (Efron & Tibshirani, An
// Introduction to the Bootstrap, ch. 6). Runways are integers in [0, h], so
// each resample is a histogram.
func bootstrapMedianSE(runway []int, h int, r *rand.Rand) float64 {
	n := len(runway)
	counts := make([]int, h+1)
	k := quantileIndex(n, 0.5) + 1 // the median is the k-th smallest
	var sum, sum2 float64
	for rep := 0; rep < bootstrapReps; rep++ {
		clear(counts)
		for i := 0; i < n; i++ {
			counts[runway[r.IntN(n)]]++
		}
		acc, med := 0, h
		for v, c := range counts {
			acc += c
			if acc >= k {
				med = v
				break
			}
		}
		sum += float64(med)
		sum2 += float64(med) * float64(med)
	}
	mean := sum / bootstrapReps
	v := sum2/bootstrapReps - mean*mean
	if v < 0 {
		v = 0
	}
	return math.Sqrt(v * bootstrapReps / (bootstrapReps - 1))
}
