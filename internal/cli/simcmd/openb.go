package simcmd

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/plot"
	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/trace"
)

// openbOptions are the flags of `granary sim --format openb`: the packing
// experiment of the FGD paper (USENIX ATC'23) on Alibaba's openb trace.
type openbOptions struct {
	nodes, packers, seeds, replay string
	inflate, popularity           float64
	preemptBE                     bool
}

func addOpenBFlags(f *pflag.FlagSet, o *openbOptions) {
	f.StringVar(&o.nodes, "nodes", "", "openb node list CSV (--format openb; required there)")
	f.StringVar(&o.packers, "packer", share.FGD+","+share.Granary, "--format openb: packers to compare, comma-separated: "+strings.Join(share.Names(), ", "))
	f.Float64Var(&o.inflate, "inflate", 1.3, "--format openb: device capacity that arrives, as a multiple of the cluster's")
	f.StringVar(&o.seeds, "seeds", "42-51", "--format openb: seeds, FIRST-LAST or a comma-separated list")
	f.StringVar(&o.replay, "replay", "", "--format openb: \"time\" replays the pods from creation to deletion (waiting time, utilisation) instead of the inflation experiment")
	f.Float64Var(&o.popularity, "target-popularity", 0.95, "--format openb: share of the pods whose shapes form FGD's target distribution")
	f.BoolVar(&o.preemptBE, "preempt-be", false, "--format openb: a pod that is not qos BE and fits nowhere evicts the cheapest set of BE pods that lets it fit, when that raises the GPU allocated; evicted pods are placed again if they fit, else fail (changes the experiment's rules: docs/sharing.md)")
}

// openbSeedJSON is one seed's curves.
type openbSeedJSON struct {
	Seed        uint64    `json:"seed"`
	AllocPct    []jsonNum `json:"alloc_pct"`
	FragPct     []jsonNum `json:"frag_pct"`
	Placed      int       `json:"placed"`
	Failed      int       `json:"failed"`
	Unallocated float64   `json:"unallocated_gpus"`
	// Evictions and Moves (--preempt-be): BE pods evicted, and evicted
	// pods placed again elsewhere.
	Evictions *int `json:"evictions,omitempty"`
	Moves     *int `json:"moves,omitempty"`
}

// openbJSON is one packer's result: mean curves over the seeds, index =
// % of device capacity arrived.
type openbJSON struct {
	Packer            string    `json:"packer"`
	AllocPct          []jsonNum `json:"alloc_pct"`
	FragPct           []jsonNum `json:"frag_pct"`
	FinalAllocPct     jsonNum   `json:"final_alloc_pct"`
	UnallocatedMean   float64   `json:"unallocated_gpus_mean"`
	UnallocatedMedian float64   `json:"unallocated_gpus_median"`
	// PreemptBE, EvictionsMean and MovesMean are set with --preempt-be.
	PreemptBE     bool            `json:"preempt_be,omitempty"`
	EvictionsMean *float64        `json:"evictions_mean,omitempty"`
	MovesMean     *float64        `json:"moves_mean,omitempty"`
	Seeds         []openbSeedJSON `json:"seeds"`
}

// jsonNum is a number rounded to 4 decimals; NaN (no arrival at that %)
// is null.
type jsonNum float64

func (n jsonNum) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(float64(n)*1e4)/1e4, 'f', -1, 64), nil
}

func nums(v []float64) []jsonNum {
	out := make([]jsonNum, len(v))
	for i, x := range v {
		out[i] = jsonNum(x)
	}
	return out
}

// runOpenB replays an openb pod list on an openb node list: every packer,
// every seed, the workload inflated to --inflate × capacity.
func runOpenB(ctx context.Context, env *console.Env, o *options) error {
	args, err := parseOpenBArgs(o)
	if err != nil {
		return err
	}
	setup, pods, err := loadOpenBSetup(o)
	if err != nil {
		return err
	}
	if o.openb.replay == "time" {
		return runOpenBReplay(env, o.trace, args, setup, pods)
	}
	trials, err := runOpenBTrials(ctx, setup, args.packers, args.seeds)
	if err != nil {
		return err
	}
	upto := int(math.Round(100 * o.openb.inflate))
	results := summariseOpenB(setup, args, trials, upto)
	if args.plotFormat != "" {
		if err := writeOpenBPlot(o.plot, results); err != nil {
			return err
		}
	}
	return printOpenB(env, args, results, upto)
}

// openbArgs are the validated flags of one openb run.
type openbArgs struct {
	format     console.Format
	seeds      []uint64
	packers    []string
	plotFormat string
}

// parseOpenBArgs checks the flags before any file is read.
func parseOpenBArgs(o *options) (openbArgs, error) {
	var a openbArgs
	var err error
	if a.format, err = console.ParseFormat(o.output, console.Table, console.JSON, console.YAML); err != nil {
		return a, err
	}
	ob := &o.openb
	for _, req := range []struct{ flag, v string }{{"--trace", o.trace}, {"--nodes", ob.nodes}} {
		if req.v == "" {
			return a, console.Usagef("%s is required with --format openb", req.flag)
		}
	}
	if !(ob.inflate > 0 && ob.inflate <= 10) {
		return a, console.Usagef("--inflate %v: want a multiple of capacity in (0, 10]", ob.inflate)
	}
	if !(ob.popularity > 0 && ob.popularity <= 1) {
		return a, console.Usagef("--target-popularity %v: want (0, 1]", ob.popularity)
	}
	if a.seeds, err = parseSeeds(ob.seeds); err != nil {
		return a, err
	}
	for _, p := range strings.Split(ob.packers, ",") {
		if p = strings.TrimSpace(strings.ToLower(p)); p != "" {
			if !slices.Contains(share.Names(), p) {
				return a, console.Usagef("--packer %q: want one of %s", p, strings.Join(share.Names(), ", "))
			}
			a.packers = append(a.packers, p)
		}
	}
	if len(a.packers) == 0 {
		return a, console.Usagef("--packer: name at least one of %s", strings.Join(share.Names(), ", "))
	}
	if ob.replay != "" && ob.replay != "time" {
		return a, console.Usagef("--replay %q: want time", ob.replay)
	}
	if ob.preemptBE && ob.replay != "" {
		return a, console.Usagef("--preempt-be applies to the inflation experiment, not to --replay %s", ob.replay)
	}
	if o.plot != "" {
		if a.plotFormat, err = plot.FormatOf(o.plot); err != nil {
			return a, console.Usagef("--plot: %v", err)
		}
	}
	return a, nil
}

// loadOpenBSetup reads the node and pod lists into an experiment setup.
func loadOpenBSetup(o *options) (share.Setup, []trace.OpenBPod, error) {
	ob := &o.openb
	setup, pods, err := readOpenB(ob.nodes, o.trace)
	if err != nil {
		return setup, nil, err
	}
	setup.Ratio, setup.Popularity, setup.PreemptBE = ob.inflate, ob.popularity, ob.preemptBE
	if ob.preemptBE && !slices.ContainsFunc(pods, func(p trace.OpenBPod) bool { return p.QoS != "" }) {
		return setup, nil, &fleet.InputError{Pos: fleet.Position{File: o.trace, Line: 1, Field: "qos"},
			Msg: "--preempt-be needs each pod's qos (LS, BE, …): no pod has one (column absent or empty)"}
	}
	if !slices.ContainsFunc(setup.Nodes, func(n share.Node) bool { return n.Devices > 0 }) {
		return setup, nil, &fleet.InputError{Pos: fleet.Position{File: ob.nodes, Field: "gpu"}, Msg: "no node has a GPU: the experiment measures GPU allocation"}
	}
	return setup, pods, nil
}

// runOpenBTrials runs every (packer, seed) pair on GOMAXPROCS workers;
// trials[p][s] is packer p's trial with seed s.
func runOpenBTrials(ctx context.Context, setup share.Setup, packers []string, seeds []uint64) ([][]share.Trial, error) {
	trials := make([][]share.Trial, len(packers))
	for i := range trials {
		trials[i] = make([]share.Trial, len(seeds))
	}
	type job struct{ p, s int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				t, err := setup.RunSeed(packers[j.p], seeds[j.s])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				trials[j.p][j.s] = t
				mu.Unlock()
			}
		}()
	}
feed:
	for p := range packers {
		for s := range seeds {
			select {
			case jobs <- job{p, s}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return trials, firstErr
}

// summariseOpenB resamples each trial at every 1 % arrived (0..upto) and
// averages the seeds per packer.
func summariseOpenB(setup share.Setup, a openbArgs, trials [][]share.Trial, upto int) []openbJSON {
	capacity := 0.0
	for _, n := range setup.Nodes {
		capacity += float64(n.Devices)
	}
	results := make([]openbJSON, len(a.packers))
	for p, name := range a.packers {
		r := openbJSON{Packer: name}
		var allocs, frags [][]float64
		var unalloc []float64
		var evictions, moves float64
		for s, t := range trials[p] {
			al, f := t.Curve(t.Alloc, upto), t.Curve(t.Frag, upto)
			allocs, frags = append(allocs, al), append(frags, f)
			final := 0.0
			if n := len(t.Alloc); n > 0 {
				final = t.Alloc[n-1]
			}
			u := capacity * (100 - final) / 100
			unalloc = append(unalloc, u)
			sj := openbSeedJSON{Seed: a.seeds[s], AllocPct: nums(al), FragPct: nums(f), Placed: t.Placed, Failed: t.Failed, Unallocated: math.Round(u*100) / 100}
			if setup.PreemptBE {
				sj.Evictions, sj.Moves = &t.Evicted, &t.Moved
				evictions += float64(t.Evicted)
				moves += float64(t.Moved)
			}
			r.Seeds = append(r.Seeds, sj)
		}
		if setup.PreemptBE {
			em, mm := evictions/float64(len(trials[p])), moves/float64(len(trials[p]))
			r.PreemptBE, r.EvictionsMean, r.MovesMean = true, &em, &mm
		}
		mean := share.MeanCurve(allocs)
		r.AllocPct, r.FragPct = nums(mean), nums(share.MeanCurve(frags))
		r.FinalAllocPct = jsonNum(mean[upto])
		r.UnallocatedMean = math.Round(meanOf(unalloc)*100) / 100
		r.UnallocatedMedian = math.Round(medianOf(unalloc)*100) / 100
		results[p] = r
	}
	return results
}

// printOpenB writes the results as JSON/YAML or as a table.
func printOpenB(env *console.Env, a openbArgs, results []openbJSON, upto int) error {
	switch a.format {
	case console.JSON, console.YAML:
		return console.Encode(env.Stdout, a.format, results)
	}
	rows := [][]string{{"PACKER", fmt.Sprintf("ALLOC@%d%%", upto), "UNALLOCATED GPUs (mean)", "(median)", "FRAG%", "SEEDS"}}
	preempt := len(results) > 0 && results[0].PreemptBE
	if preempt {
		rows[0] = append(rows[0], "EVICTIONS/SEED", "MOVES/SEED")
	}
	for _, r := range results {
		row := []string{r.Packer, fmt.Sprintf("%.2f", float64(r.FinalAllocPct)), fmt.Sprintf("%.1f", r.UnallocatedMean),
			fmt.Sprintf("%.1f", r.UnallocatedMedian), fmt.Sprintf("%.2f", float64(r.FragPct[upto])), strconv.Itoa(len(a.seeds))}
		if preempt {
			row = append(row, fmt.Sprintf("%.1f", *r.EvictionsMean), fmt.Sprintf("%.1f", *r.MovesMean))
		}
		rows = append(rows, row)
	}
	return console.WriteTable(env.Stdout, rows)
}

// readOpenB reads the node list and the pod list.
func readOpenB(nodesPath, podsPath string) (share.Setup, []trace.OpenBPod, error) {
	nf, err := os.Open(nodesPath)
	if err != nil {
		return share.Setup{}, nil, &fleet.InputError{Pos: fleet.Position{File: nodesPath}, Msg: err.Error()}
	}
	defer nf.Close()
	nodes, err := trace.ReadOpenBNodes(nf, nodesPath)
	if err != nil {
		return share.Setup{}, nil, err
	}
	pf, err := os.Open(podsPath)
	if err != nil {
		return share.Setup{}, nil, &fleet.InputError{Pos: fleet.Position{File: podsPath}, Msg: err.Error()}
	}
	defer pf.Close()
	pods, err := trace.ReadOpenBPods(pf, podsPath)
	if err != nil {
		return share.Setup{}, nil, err
	}
	s := share.Setup{Nodes: nodes, Workload: make([]share.Request, len(pods))}
	for i, p := range pods {
		s.Workload[i] = p.Req
		s.Workload[i].Preemptible = p.QoS == "BE"
	}
	return s, pods, nil
}

// parseSeeds reads FIRST-LAST or a comma-separated list.
func parseSeeds(s string) ([]uint64, error) {
	bad := console.Usagef("--seeds %q: want FIRST-LAST (e.g. 42-51) or a comma-separated list", s)
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 64)
		hi, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		if err1 != nil || err2 != nil || hi < lo || hi-lo >= 1000 {
			return nil, bad
		}
		var out []uint64
		for v := lo; v <= hi; v++ {
			out = append(out, v)
		}
		return out, nil
	}
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return nil, bad
		}
		out = append(out, v)
	}
	return out, nil
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// writeOpenBPlot draws the mean allocation-rate curves of the packers
// against the capacity arrived, and their fragmentation below.
func writeOpenBPlot(path string, results []openbJSON) error {
	var alloc, frag []plot.Band
	for _, r := range results {
		alloc = append(alloc, curveBand(r.Packer, r.AllocPct))
		frag = append(frag, curveBand(r.Packer, r.FragPct))
	}
	pa, err := plot.Fan("GPU allocation rate", "GPU capacity arrived (%)", "allocated (% of capacity)", nil, alloc...)
	if err != nil {
		return err
	}
	pf, err := plot.Fan("Fragmented GPU capacity (FGD's measure)", "GPU capacity arrived (%)", "fragmented (% of capacity)", nil, frag...)
	if err != nil {
		return err
	}
	if err := plot.Save(path, plot.Width, plot.Height, pa, pf); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}

// curveBand is a curve indexed by % arrived as a line, leaving out the
// percentages at which nothing arrived (small traces).
func curveBand(name string, v []jsonNum) plot.Band {
	var x, y []float64
	for k, n := range v {
		if !math.IsNaN(float64(n)) {
			x, y = append(x, float64(k)), append(y, float64(n))
		}
	}
	return plot.Band{Name: name, X: x, Lo: y, Mid: y, Hi: y}
}
