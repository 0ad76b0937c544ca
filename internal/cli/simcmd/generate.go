package simcmd

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/trace"
)

type genOptions struct {
	throughputs, style, reference, out, format, fixed string
	jobs                                              int
	rate                                              float64
	seed                                              uint64
	multiGPU, multiPriority                           bool
}

func newGenerate(env *console.Env) *cobra.Command {
	var o genOptions
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a synthetic job trace with Gavel's job generator",
		Long: `Generate a synthetic job trace with a Go port of Gavel's job generator:
Poisson arrivals at --rate jobs/hour, Gavel's duration mixture, its gang-size mix
(--multi-gpu), classes drawn uniformly from the throughput table. Writes
Granary's JSONL trace format (or Gavel's .trace with --format gavel).`,
		Example: `  granary sim generate --throughputs simulation_throughputs.json --jobs 6000 --rate 2.8 --seed 1 --out jobs.jsonl`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return generate(env, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.throughputs, "throughputs", "", "throughput table: Gavel .json, or Granary .csv/.yaml (required)")
	f.IntVar(&o.jobs, "jobs", 0, "number of jobs (required)")
	f.Float64Var(&o.rate, "rate", 0, "Poisson arrival rate in jobs/hour (0: all jobs at t = 0)")
	f.BoolVar(&o.multiGPU, "multi-gpu", false, "draw gang sizes from Gavel's mix (1/2/4/8 with p = 0.7/0.1/0.15/0.05)")
	f.BoolVar(&o.multiPriority, "multi-priority", false, "give 20% of jobs priority weight 5")
	f.StringVar(&o.style, "style", trace.StyleSimulator, "generator: simulator (Gavel's generate_job, used for the paper's continuous-load runs) or trace (generate_trace.py)")
	f.StringVar(&o.reference, "reference", "v100", "model whose throughput turns durations into steps")
	f.StringVar(&o.fixed, "fixed-duration", "", "give every job this duration on the reference model (e.g. 2h)")
	f.Uint64Var(&o.seed, "seed", 0, "random seed")
	f.StringVar(&o.out, "out", "", "write the trace to FILE (default: stdout)")
	f.StringVar(&o.format, "format", "jsonl", "trace format to write: jsonl or gavel")
	return cmd
}

func generate(env *console.Env, o *genOptions) error {
	if o.throughputs == "" {
		return console.Usagef("--throughputs is required")
	}
	if o.jobs <= 0 {
		return console.Usagef("--jobs must be > 0")
	}
	format := strings.ToLower(o.format)
	if format != "jsonl" && format != "gavel" {
		return console.Usagef("--format %q: want jsonl or gavel", o.format)
	}
	fixed := 0.0
	if o.fixed != "" {
		v, err := seconds("--fixed-duration", o.fixed)
		if err != nil {
			return err
		}
		fixed = v
	}
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	ref, err := cat.Resolve(o.reference)
	if err != nil {
		return &fleet.InputError{Pos: fleet.Position{File: "--reference", Field: o.reference}, Msg: "unknown accelerator model: " + err.Error(), Kind: fleet.ErrNotFound}
	}
	data, err := os.ReadFile(o.throughputs)
	if err != nil {
		return &fleet.InputError{Pos: fleet.Position{File: o.throughputs}, Msg: err.Error()}
	}
	tt, err := trace.ReadThroughputs(data, o.throughputs, cat)
	if err != nil {
		return err
	}
	jobs, err := trace.Generate(rand.New(rand.NewPCG(o.seed, 0x6a6f6273)), tt, trace.GenerateOptions{
		Jobs: o.jobs, RatePerHour: o.rate, MultiGPU: o.multiGPU, MultiPriority: o.multiPriority,
		Style: o.style, Reference: ref.ID, FixedDuration: fixed,
	})
	if err != nil {
		return console.UsageError{Err: err}
	}
	var w io.Writer = env.Stdout
	var file *os.File
	if o.out != "" {
		if file, err = os.Create(o.out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		w = file
	}
	bw := bufio.NewWriter(w)
	if format == "gavel" {
		err = trace.WriteGavel(bw, jobs)
	} else {
		err = trace.WriteJSONL(bw, jobs)
	}
	if err == nil {
		err = bw.Flush()
	}
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
