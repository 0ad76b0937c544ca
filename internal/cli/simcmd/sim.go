// Package simcmd implements `granary sim`: simulate a job trace on a fleet
// under one or more scheduling policies, side by side, and `granary sim
// generate`: synthetic traces from Gavel's job generator.
package simcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/plot"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/sim"
	"github.com/granaryhq/granary/internal/trace"
)

type options struct {
	trace, format, throughputs, fleet, policies string
	round, restart, window, cost, output, plot  string
	seed                                        uint64
	estimateNoise                               float64
	gavelCompat                                 bool
	openb                                       openbOptions
	teams                                       []string
	sharePacker                                 string
}

// New builds `granary sim`.
func New(env *console.Env) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate a job trace on a fleet under scheduling policies, side by side",
		Long: `Simulate a job trace on a fleet of accelerators under one or more scheduling
policies, in virtual time, round by round as Gavel (OSDI 2020) does, and print
one row per policy: job completion times, makespan, utilization, throughput
and finish-time fairness. See docs/simulator.md.`,
		Example: `  granary sim --trace small.trace --throughputs simulation_throughputs.json \
      --fleet v100=4,p100=4,k80=4 --policy las,las-hetero
  granary sim --trace jobs.jsonl --throughputs tput.csv --fleet fleet.yaml \
      --policy fifo-hetero,ftf-hetero -o json --plot sim.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), env, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.trace, "trace", "", "job trace: Gavel .trace or Granary JSONL (required)")
	f.StringVar(&o.format, "format", "", "trace format: gavel, jsonl or openb (default: by extension, .trace = gavel); openb runs the fractional-GPU packing experiment (docs/sharing.md)")
	f.StringVar(&o.throughputs, "throughputs", "", "throughput table: Gavel .json, or Granary .csv/.yaml (required)")
	f.StringVar(&o.fleet, "fleet", "", "fleet: model=count[,model=count…] or a fleet .yaml (required)")
	f.StringVar(&o.policies, "policy", sched.LASHetero, "policies to compare, comma-separated: "+strings.Join(sched.PolicyNames(), ", "))
	f.StringVar(&o.round, "round", "360s", "round length (Gavel: 360s)")
	f.StringVar(&o.restart, "restart-cost", "0s", "time a job loses when moved or resumed (Gavel: 0)")
	f.Uint64Var(&o.seed, "seed", 0, "random seed (fifo's model choice, agnostic policies' model order)")
	f.Float64Var(&o.estimateNoise, "estimate-noise", 1, "each job's submitted length estimate (the only length policies see) is its true length × a factor drawn log-uniformly from [1/X, X], seeded by --seed; 1: exact")
	f.StringVar(&o.window, "window", "", "measure only jobs FIRST-LAST (ids) and stop when they finish, e.g. 4000-4999")
	f.StringVar(&o.cost, "cost", "", "price per device-hour for max-throughput-per-cost, model=price[,…] (default: catalog purchase cost)")
	f.BoolVar(&o.gavelCompat, "gavel-compat", false, "reproduce Gavel's simulator loop quirks (for side-by-side comparisons)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	f.StringArrayVar(&o.teams, "teams", nil, "teams file (schema of `granary teams list -o yaml`): weights and guarantees; repeat to compare scenarios. Jobs without a team in the trace are dealt to teams by id")
	f.StringVar(&o.plot, "plot", "", "also draw the JCT CDF and utilization over time to FILE.svg or FILE.png")
	f.StringVar(&o.sharePacker, "share-packer", share.Granary, "packer of the trace's jobs that ask for a share of a device (device_milli): "+strings.Join(share.Names(), ", ")+" (docs/sharing.md)")
	addOpenBFlags(f, &o.openb)
	cmd.AddCommand(newGenerate(env))
	return cmd
}

// jobJSON is one job of the JSON output.
type jobJSON struct {
	ID         int     `json:"id"`
	Name       string  `json:"name,omitempty"`
	Arrival    float64 `json:"arrival_s"`
	Start      float64 `json:"start_s"`
	Completion float64 `json:"completion_s"`
	JCT        float64 `json:"jct_s"`
	Restarts   int     `json:"restarts"`
	FTF        float64 `json:"ftf_rho"`
}

type unrunnableJSON struct {
	ID     int    `json:"id"`
	Name   string `json:"name,omitempty"`
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

// resultJSON is one policy's row: the JSON contract of `granary sim -o json`.
type resultJSON struct {
	Policy      string             `json:"policy"`
	TeamsFile   string             `json:"teams_file,omitempty"`
	Teams       []sim.TeamResult   `json:"teams,omitempty"`
	Jobs        int                `json:"jobs"`
	AvgJCT      float64            `json:"avg_jct_s"`
	P50JCT      float64            `json:"p50_jct_s"`
	P90JCT      float64            `json:"p90_jct_s"`
	P99JCT      float64            `json:"p99_jct_s"`
	Makespan    float64            `json:"makespan_s"`
	Utilization float64            `json:"utilization"`
	ByModel     map[string]float64 `json:"utilization_by_model"`
	Throughput  float64            `json:"effective_throughput_jobs_per_h"`
	FTFAvg      float64            `json:"ftf_rho_avg"`
	FTFMax      float64            `json:"ftf_rho_max"`
	FTFUnfair   float64            `json:"ftf_unfair_fraction"`
	Rounds      int                `json:"rounds"`
	Allocations int                `json:"allocations"`
	Unfinished  int                `json:"unfinished"`
	Dropped     []int              `json:"dropped,omitempty"` // --gavel-compat: ids dropped after 5 failed rounds
	Unrunnable  []unrunnableJSON   `json:"unrunnable"`
	PerJob      []jobJSON          `json:"per_job"`
}

func run(ctx context.Context, env *console.Env, o *options) error {
	if strings.EqualFold(o.format, "openb") {
		return runOpenB(ctx, env, o)
	}
	st, err := o.settings()
	if err != nil {
		return err
	}
	in, err := o.load(env, st)
	if err != nil {
		return err
	}
	runs, err := o.variants(st, in)
	if err != nil {
		return err
	}
	results, err := simulate(ctx, env, o, st, in, runs)
	if err != nil {
		return err
	}
	return report(env, o, st, in, runs, results)
}

// settings are the checked flags of a run.
type settings struct {
	out        console.Format
	round      float64 // s
	restart    float64 // s
	plotFormat string  // svg, png or ""
	window     *sim.Window
	policies   []string
}

// settings checks the flags that need no file.
func (o *options) settings() (settings, error) {
	var st settings
	var err error
	if st.out, err = console.ParseFormat(o.output, console.Table, console.JSON, console.YAML); err != nil {
		return st, err
	}
	for _, req := range []struct{ flag, v string }{{"--trace", o.trace}, {"--throughputs", o.throughputs}, {"--fleet", o.fleet}} {
		if req.v == "" {
			return st, console.Usagef("%s is required", req.flag)
		}
	}
	if st.round, err = seconds("--round", o.round); err != nil {
		return st, err
	}
	if st.round < MinRoundSeconds || st.round > MaxRoundSeconds {
		return st, console.Usagef("--round %s: must be between %g s and %g s (a day)", o.round, MinRoundSeconds, MaxRoundSeconds)
	}
	if st.restart, err = seconds("--restart-cost", o.restart); err != nil {
		return st, err
	}
	if o.plot != "" {
		st.plotFormat = strings.TrimPrefix(strings.ToLower(filepath.Ext(o.plot)), ".")
		if st.plotFormat != "svg" && st.plotFormat != "png" {
			return st, console.Usagef("--plot %s: want a .svg or .png file", o.plot)
		}
	}
	if o.window != "" {
		a, b, ok := strings.Cut(o.window, "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		hi, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return st, console.Usagef("--window %q: want FIRST-LAST job ids, e.g. 4000-4999", o.window)
		}
		st.window = &sim.Window{First: lo, Last: hi}
	}
	for _, p := range strings.Split(o.policies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			st.policies = append(st.policies, p)
		}
	}
	if len(st.policies) == 0 {
		return st, console.Usagef("--policy: name at least one policy (%s)", strings.Join(sched.PolicyNames(), ", "))
	}
	// The name only (the target comes with the trace).
	if _, err := newSharer(o.sharePacker, 0, []share.Shape{{Req: share.Request{Devices: 1, Milli: share.MilliPerDevice}, Freq: 1}}); err != nil {
		return st, err
	}
	return st, nil
}

// inputs are the files of a run, read and checked against each other.
type inputs struct {
	fl          *fleetSpec
	scenarios   [][]sched.Team // one per --teams file
	tt          *trace.ThroughputTable
	jobs        []trace.Job
	gavelFormat bool
	cost        map[string]float64
	order       []string
	simJobs     []sim.Job
}

// load reads the fleet, the teams, the throughput table and the trace, and
// refuses the run before any work when they do not go together.
func (o *options) load(env *console.Env, st settings) (*inputs, error) {
	cat, err := env.Catalog()
	if err != nil {
		return nil, err
	}
	in := &inputs{}
	if in.fl, err = parseFleet(o.fleet, cat); err != nil {
		return nil, err
	}
	for _, file := range o.teams {
		ts, err := parseTeams(file, cat, in.fl)
		if err != nil {
			return nil, err
		}
		in.scenarios = append(in.scenarios, ts)
	}
	tdata, err := os.ReadFile(o.throughputs)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: o.throughputs}, Msg: err.Error()}
	}
	if in.tt, err = trace.ReadThroughputs(tdata, o.throughputs, cat); err != nil {
		return nil, err
	}
	if in.jobs, in.gavelFormat, err = readTrace(o.trace, o.format); err != nil {
		return nil, err
	}
	if in.cost, err = costs(o.cost, in.fl, cat, st.policies); err != nil {
		return nil, err
	}
	if err := boundDurations(in.jobs, in.tt, in.fl, o.trace, in.gavelFormat, st.round); err != nil {
		return nil, err
	}
	in.order = modelOrder(in.tt, in.fl)
	in.simJobs = make([]sim.Job, len(in.jobs))
	for i, j := range in.jobs {
		in.simJobs[i] = sim.Job{ID: j.ID, Name: j.Name, Arrival: j.Arrival, Class: j.Class, Gang: j.Gang, Steps: j.Steps, Weight: j.Weight, Team: j.Team,
			Milli: j.DeviceMilli, DevMem: j.DeviceMemoryMiB, CPU: j.CPUMilli, Mem: j.MemoryMiB}
		if j.Team == "" && len(in.scenarios) > 0 {
			in.simJobs[i].Team = in.scenarios[0][j.ID%len(in.scenarios[0])].Name
		}
	}
	if err := checkGangs(o.trace, in.jobs, in.tt.Table, in.fl); err != nil {
		return nil, err
	}
	if err := sim.NoisyEstimates(in.simJobs, o.estimateNoise, rand.New(rand.NewPCG(o.seed, 3))); err != nil {
		return nil, console.UsageError{Err: fmt.Errorf("--estimate-noise: %w", err)}
	}
	return in, nil
}

// variant is one simulation of the run: a policy under a teams scenario.
type variant struct {
	policy    sched.Policy
	teams     []sched.Team
	teamsFile string
}

// variants builds every policy (one instance per teams scenario: policies
// keep state) before any work, so a bad name fails first.
func (o *options) variants(st settings, in *inputs) ([]variant, error) {
	scenarios := in.scenarios
	if len(scenarios) == 0 {
		scenarios = [][]sched.Team{nil}
	}
	var vs []variant
	for _, name := range st.policies {
		for si, ts := range scenarios {
			p, err := sched.PolicyByName(name, sched.Options{Rand: rand.New(rand.NewPCG(o.seed, 1)), Cost: in.cost})
			if err != nil {
				return nil, console.UsageError{Err: fmt.Errorf("--policy: %w", err)}
			}
			v := variant{policy: p, teams: ts}
			if len(o.teams) > 0 {
				v.teamsFile = o.teams[si]
			}
			vs = append(vs, v)
		}
	}
	return vs, nil
}

// simulate runs the variants in parallel (at most GOMAXPROCS at once), with
// one progress bar over all of them on a terminal, never with -o json.
func simulate(ctx context.Context, env *console.Env, o *options, st settings, in *inputs, vs []variant) ([]*sim.Result, error) {
	var prog *multiProgress
	if st.out == console.Table && env.Terminal(env.Stderr) {
		prog = newMultiProgress(env, fmt.Sprintf("simulating %d jobs × %d policies", len(in.jobs), len(vs)), len(vs))
	}
	results := make([]*sim.Result, len(vs))
	errs := make([]error, len(vs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cfg := sim.Config{
				Fleet: in.fl.Devices, Nodes: in.fl.Nodes, Teams: v.teams, RoundSeconds: st.round, RestartCost: st.restart,
				Rand: rand.New(rand.NewPCG(o.seed, 2)), Window: st.window, GavelCompat: o.gavelCompat,
				ModelOrder: in.order,
				Cancel:     ctx.Err,
			}
			if prog != nil {
				cfg.Progress = func(pr sim.Progress) { prog.set(i, pr.Finished, pr.Total) }
			}
			if cfg.Sharer, errs[i] = sharerFor(o, in); errs[i] != nil {
				return
			}
			results[i], errs[i] = sim.Run(v.policy, in.tt.Table, in.simJobs, cfg)
		}()
	}
	wg.Wait()
	if prog != nil {
		prog.finish()
	}
	for i, err := range errs {
		if err != nil {
			return nil, jobError(err, o.trace, in.jobs, in.gavelFormat, vs[i].policy.Name())
		}
	}
	return results, nil
}

// multiProgress is one progress bar over several simulations.
type multiProgress struct {
	mu          sync.Mutex
	done, total []int
	bar         *progressbar.ProgressBar
}

func newMultiProgress(env *console.Env, desc string, n int) *multiProgress {
	return &multiProgress{done: make([]int, n), total: make([]int, n),
		bar: progressbar.NewOptions(1,
			progressbar.OptionSetWriter(env.Stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)}
}

// set records that simulation i finished done of its total jobs.
func (m *multiProgress) set(i, done, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total[i], m.done[i] = total, done
	t, d := 0, 0
	for k := range m.total {
		t += m.total[k]
		d += m.done[k]
	}
	if m.bar.GetMax() != t {
		m.bar.ChangeMax(t)
	}
	m.bar.Set(d)
}

func (m *multiProgress) finish() { m.bar.Finish() }

// report warns about jobs that could run nowhere, draws the plots and
// prints one row per variant.
func report(env *console.Env, o *options, st settings, in *inputs, vs []variant, results []*sim.Result) error {
	rows := make([]resultJSON, len(results))
	for i, r := range results {
		rows[i] = toJSON(r, in.jobs)
		rows[i].TeamsFile = vs[i].teamsFile
	}
	if un := results[0].Unrunnable; len(un) > 0 {
		fmt.Fprintf(env.Stderr, "granary: warning: %d job(s) can run nowhere on this fleet and were not simulated:\n", len(un))
		for k, u := range un {
			if k == 10 {
				fmt.Fprintf(env.Stderr, "  … and %d more (see -o json)\n", len(un)-10)
				break
			}
			j := in.jobs[u.ID]
			fmt.Fprintf(env.Stderr, "  %s:%d: job %d (%s, gang %d): %s (%s)\n", o.trace, j.Line, u.ID, j.Class, j.Gang, u.Reason.Message(), u.Reason)
		}
	}
	if st.plotFormat != "" {
		if err := writePlot(o.plot, st.plotFormat, results, in.fl); err != nil {
			return err
		}
		if len(o.teams) > 0 {
			if err := writeTeamsPlot(o.plot, st.plotFormat, rows); err != nil {
				return err
			}
		}
	}
	switch st.out {
	case console.JSON, console.YAML:
		return console.Encode(env.Stdout, st.out, rows)
	}
	return writeTable(env, rows, results)
}

func writeTable(env *console.Env, rows []resultJSON, results []*sim.Result) error {
	h := func(s float64) string { return fmt.Sprintf("%.2f", s/3600) }
	table := [][]string{{"POLICY", "JOBS", "AVG JCT (h)", "P50 (h)", "P90 (h)", "P99 (h)", "MAKESPAN (h)", "UTIL", "JOBS/h", "FTF ρ AVG", "ρ>1", "UNRUNNABLE"}}
	for _, r := range rows {
		label := r.Policy
		if r.TeamsFile != "" {
			label += " @ " + filepath.Base(r.TeamsFile)
		}
		table = append(table, []string{
			label, strconv.Itoa(r.Jobs), h(r.AvgJCT), h(r.P50JCT), h(r.P90JCT), h(r.P99JCT), h(r.Makespan),
			fmt.Sprintf("%.3f", r.Utilization), fmt.Sprintf("%.2f", r.Throughput),
			fmt.Sprintf("%.2f", r.FTFAvg), fmt.Sprintf("%.0f%%", 100*r.FTFUnfair), strconv.Itoa(len(r.Unrunnable)),
		})
	}
	if err := console.WriteTable(env.Stdout, table); err != nil {
		return err
	}
	if n := results[0].Unfinished; n > 0 {
		fmt.Fprintf(env.Stdout, "(window run: %d jobs outside the window were still running or queued at the end)\n", n)
	}
	for _, r := range results {
		if len(r.Dropped) > 0 {
			fmt.Fprintf(env.Stdout, "(%s: %d job(s) dropped after %d failed rounds, as Gavel does, and left out of the figures: %v)\n", r.Policy, len(r.Dropped), sim.MaxFailedRounds, r.Dropped)
		}
	}
	return writeTeamsTable(env, rows)
}

func toJSON(r *sim.Result, jobs []trace.Job) resultJSON {
	s := r.Summary
	out := resultJSON{
		Policy: r.Policy, Teams: r.Teams, Jobs: s.Jobs, AvgJCT: s.AvgJCT, P50JCT: s.P50JCT, P90JCT: s.P90JCT, P99JCT: s.P99JCT,
		Makespan: s.Makespan, Utilization: s.Utilization, ByModel: s.ByModel, Throughput: s.Throughput,
		FTFAvg: s.AvgFTF, FTFMax: s.MaxFTF, FTFUnfair: s.UnfairFrac,
		Rounds: r.Rounds, Allocations: r.Allocations, Unfinished: r.Unfinished, Dropped: r.Dropped,
		Unrunnable: []unrunnableJSON{}, PerJob: make([]jobJSON, 0, len(r.Jobs)),
	}
	for _, u := range r.Unrunnable {
		out.Unrunnable = append(out.Unrunnable, unrunnableJSON{ID: u.ID, Name: u.Name, Line: jobs[u.ID].Line, Reason: string(u.Reason)})
	}
	for _, j := range r.Jobs {
		out.PerJob = append(out.PerJob, jobJSON{ID: j.ID, Name: j.Name, Arrival: j.Arrival, Start: j.Start, Completion: j.Completion, JCT: j.JCT, Restarts: j.Restarts, FTF: j.FTF})
	}
	return out
}

// modelOrder is the fixed order in which rounds fill the fleet's models
// (heterogeneity-aware policies; agnostic ones shuffle it each round):
// fastest first, by total steps/s over the whole throughput table. For
// Gavel's table this is Gavel's hard-coded v100, p100, k80.
func modelOrder(tt *trace.ThroughputTable, fl *fleetSpec) []string {
	total := map[string]float64{}
	for _, e := range tt.Entries {
		total[e.Model] += e.StepsPerSecond
	}
	order := append([]string(nil), fl.Order...)
	sort.SliceStable(order, func(a, b int) bool {
		if total[order[a]] != total[order[b]] {
			return total[order[a]] > total[order[b]]
		}
		return order[a] < order[b]
	})
	return order
}

// readTrace reads the trace in the given or guessed format.
func readTrace(path, format string) ([]trace.Job, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: err.Error()}
	}
	if format == "" {
		format = "jsonl"
		if strings.EqualFold(filepath.Ext(path), ".trace") {
			format = "gavel"
		}
	}
	switch strings.ToLower(format) {
	case "gavel":
		j, err := trace.ReadGavel(bytes.NewReader(data), path)
		return j, true, err
	case "jsonl":
		j, err := trace.ReadJSONL(bytes.NewReader(data), path)
		return j, false, err
	}
	return nil, false, console.Usagef("--format %q: want gavel, jsonl or openb", format)
}

// Bounds of a simulation beyond the trace's own (trace.MaxJobs, …): the
// round length, and how long one job may take on the fastest model of the
// fleet it can run on — together with trace.MaxArrivalSeconds they bound
// the simulated time, hence the rounds and the memory.
const (
	MinRoundSeconds = 1.0
	MaxRoundSeconds = 86400.0
	MaxJobSeconds   = 365 * 24 * 3600.0 // a year
	// MaxRounds bounds the rounds the trace needs at least (its last
	// job's arrival plus its duration alone on the fastest model, over the
	// round length): the simulator keeps a utilization sample per round.
	MaxRounds = 2_000_000
)

// boundDurations refuses a job that would run longer than MaxJobSeconds
// even on the fastest model of the fleet (jobs that can run nowhere are
// the simulator's to report).
func boundDurations(jobs []trace.Job, tt *trace.ThroughputTable, fl *fleetSpec, file string, gavel bool, round float64) error {
	field := "steps"
	if gavel {
		field = "total_steps"
	}
	end := 0.0
	for _, j := range jobs {
		best, on := 0.0, ""
		for _, m := range fl.Order {
			if v, _ := tt.Table.Lookup(j.Class, j.Gang, m); v > best {
				best, on = v, m
			}
		}
		if j.DeviceMilli > 0 { // a share runs at its part of a device's throughput
			best *= float64(j.DeviceMilli) / 1000
		}
		if best > 0 && j.Steps/best > MaxJobSeconds {
			return &fleet.InputError{Pos: fleet.Position{File: file, Line: j.Line, Field: field},
				Msg: fmt.Sprintf("%g steps take %.3g years at %g steps/s on %s, the fastest model of the fleet for it; a job may take at most a year (the simulator's limit)", j.Steps, j.Steps/best/MaxJobSeconds, best, on)}
		}
		if best > 0 {
			end = max(end, j.Arrival+j.Steps/best)
		}
	}
	if n := end / round; n > MaxRounds {
		return &fleet.InputError{Pos: fleet.Position{File: file},
			Msg: fmt.Sprintf("the trace needs at least %.0f rounds of %g s (last arrival + longest job, %.3g days); the simulator's limit is %d rounds: use a longer --round", n, round, end/86400, MaxRounds)}
	}
	return nil
}

// jobError points a simulator error about one job at its trace line.
func jobError(err error, file string, jobs []trace.Job, gavel bool, policy string) error {
	var je *sim.JobError
	if errors.As(err, &je) && je.Job >= 0 && je.Job < len(jobs) {
		field := je.Field
		if gavel {
			field = map[string]string{"class": "job_type", "gang": "scale_factor", "steps": "total_steps", "arrival": "arrival_time", "weight": "priority_weight"}[field]
		}
		return &fleet.InputError{Pos: fleet.Position{File: file, Line: jobs[je.Job].Line, Field: field}, Msg: je.Msg, Kind: je.Kind}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", policy, err)
}

// seconds parses a duration flag: "360s", "6m", or a bare number of seconds.
func seconds(flag, s string) (float64, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 {
		return v, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, console.Usagef("%s %q: want a duration such as 360s or 6m", flag, s)
	}
	return d.Seconds(), nil
}

// costs returns the price per device-hour for max-throughput-per-cost: from
// --cost, or the catalog's purchase cost (only the ratios matter).
func costs(arg string, fl *fleetSpec, cat *accel.Catalog, policies []string) (map[string]float64, error) {
	need := false
	for _, p := range policies {
		if strings.EqualFold(strings.TrimSpace(p), sched.MaxThroughputPerCost) {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	c := map[string]float64{}
	if arg != "" {
		for _, part := range strings.Split(arg, ",") {
			name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			price, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if !ok || err != nil || !(price > 0) {
				return nil, console.Usagef("--cost %q: want model=price[,…] with prices > 0", part)
			}
			chip, err := cat.Resolve(strings.TrimSpace(name))
			if err != nil {
				return nil, &fleet.InputError{Pos: fleet.Position{File: "--cost", Field: name}, Msg: "unknown accelerator model: " + err.Error(), Kind: fleet.ErrNotFound}
			}
			c[chip.ID] = price
		}
	}
	var missing []string
	for _, m := range fl.Order {
		if _, ok := c[m]; ok || fl.Devices[m] == 0 {
			continue
		}
		chip, ok := cat.Get(m)
		if ok && chip.CostUSD != nil && *chip.CostUSD > 0 {
			c[m] = *chip.CostUSD
			continue
		}
		missing = append(missing, m)
	}
	if len(missing) > 0 {
		return nil, console.Usagef("max-throughput-per-cost: no price for %s: give --cost model=price", strings.Join(missing, ", "))
	}
	return c, nil
}

func writePlot(path, format string, results []*sim.Result, fl *fleetSpec) error {
	total := 0
	for _, n := range fl.Devices {
		total += n
	}
	series := make([]plot.SimSeries, len(results))
	for i, r := range results {
		s := plot.SimSeries{Policy: r.Policy}
		for _, j := range r.Jobs {
			s.JCTs = append(s.JCTs, j.JCT)
		}
		for _, u := range r.Util {
			if u.End <= u.Start {
				continue
			}
			b := 0.0
			for _, v := range u.Busy {
				b += v
			}
			s.Util = append(s.Util, plot.UtilPoint{Start: u.Start, End: u.End, Busy: b / (float64(total) * (u.End - u.Start))})
		}
		series[i] = s
	}
	var buf bytes.Buffer
	if err := plot.SimFigure(&buf, format, series); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}
