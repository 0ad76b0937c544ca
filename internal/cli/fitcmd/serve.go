package fitcmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/perf"
	"github.com/granaryhq/granary/internal/plot"
)

// MemoryJSON is a per-device memory breakdown in GB (10⁹ bytes).
type MemoryJSON struct {
	Weights     float64 `json:"weights"`
	KVCache     float64 `json:"kv_cache"`
	Activations float64 `json:"activations"`
	Other       float64 `json:"other"`
	Budget      float64 `json:"budget"` // usable memory × utilization
}

// PlanJSON is one element of `fit serve -o json` (a product contract).
type PlanJSON struct {
	Chip             string     `json:"chip"`
	ChipName         string     `json:"chip_name"`
	Model            string     `json:"model"`
	Precision        string     `json:"precision"`
	ComputePrecision string     `json:"compute_precision,omitempty"`
	KVPrecision      string     `json:"kv_precision"`
	Devices          int        `json:"devices"`
	TP               int        `json:"tp"`
	PP               int        `json:"pp"`
	EP               int        `json:"ep"`
	Fits             bool       `json:"fits"`
	Reason           string     `json:"reason"`
	MemoryGB         MemoryJSON `json:"memory_gb"` // per device
	Concurrency      int        `json:"concurrency"`
	MaxConcurrency   int        `json:"max_concurrency"`
	OutputTokensPerS float64    `json:"output_tokens_per_s"` // all devices together
	PerDevice        float64    `json:"output_tokens_per_s_per_device"`
	TTFTms           float64    `json:"ttft_ms"`
	TPOTms           float64    `json:"tpot_ms"`
	Bound            string     `json:"bound,omitempty"`
	// Hint points at twice the devices when the smallest plan leaves room
	// for only a few requests.
	Hint string `json:"hint,omitempty"`
}

func planJSON(r perf.ServeRequest, p perf.Plan) PlanJSON {
	kv := r.KVPrecision
	if kv == "" {
		kv = perf.DefaultKVPrecision(r.Precision)
	}
	out := PlanJSON{
		Chip: p.Chip.ID, ChipName: p.Chip.Name, Model: r.Model.Name,
		Precision: string(r.Precision), ComputePrecision: string(p.ComputePrecision), KVPrecision: string(kv),
		Devices: p.Devices(), TP: p.Parallelism.TP, PP: p.Parallelism.PP, EP: p.Parallelism.EP,
		Fits: p.Fits, Reason: p.Reason,
		MemoryGB: MemoryJSON{
			Weights: gb(p.Memory.Weights), KVCache: gb(p.Memory.KVCache), Activations: gb(p.Memory.Activations),
			Other: gb(p.Memory.Other), Budget: gb(p.Memory.Budget),
		},
		Concurrency: p.Concurrency, MaxConcurrency: p.MaxConcurrency,
		OutputTokensPerS: round(p.OutputTokensPerS, 1),
		TTFTms:           ms(p.TTFT), TPOTms: ms(p.TPOT), Bound: p.Bound,
	}
	if d := p.Devices(); d > 0 {
		out.PerDevice = round(p.OutputTokensPerS/float64(d), 1)
	}
	return out
}

type serveFlags struct {
	model, precision, kvPrecision string
	chips                         []string
	all                           bool
	devices, maxDevices           int
	input, output                 int
	concurrency                   string
	ttft, tpot                    string
	output_                       string
	plot                          string
}

func newServe(env *console.Env) *cobra.Command {
	f := &serveFlags{}
	c := &cobra.Command{
		Use:   "serve --model M --precision P [--chips A,B|--all] [--devices N]",
		Short: "Per chip: the smallest device count and parallelism that serve the model, memory, tokens/s, TTFT, TPOT",
		Example: `  granary fit serve --model Llama-3-70B --precision bf16 --chips H800,910B3,L20
  granary fit serve --model DeepSeek-V3 --precision fp8 --all -o json
  granary fit serve --model ./config.json --precision int4 --chips H20 --devices 2 --concurrency 32
  granary fit serve --model Qwen3-32B.json --precision bf16 --chips A800 --tpot-slo 50ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(env, cmd, f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.model, "model", "", "catalog model name or path to a Hugging Face config.json")
	fl.StringVar(&f.precision, "precision", "bf16", "weight precision: bf16, fp16, fp8, int8, int4 (AWQ/GPTQ group 128), fp32")
	fl.StringVar(&f.kvPrecision, "kv-precision", "", "KV-cache precision (default: fp8 with fp8 weights, int8 with int8, else bf16)")
	fl.StringSliceVar(&f.chips, "chips", nil, "chips to consider, comma-separated (default: all)")
	fl.BoolVar(&f.all, "all", false, "consider every chip in the catalog")
	fl.IntVar(&f.devices, "devices", 0, "use exactly this many devices (default: the smallest count that fits)")
	fl.IntVar(&f.maxDevices, "max-devices", perf.DefaultMaxDevices, "largest device count the search tries")
	fl.IntVar(&f.input, "input", 2048, "input (prompt) tokens per request")
	fl.IntVar(&f.output, "output", 512, "output tokens per request")
	fl.StringVar(&f.concurrency, "concurrency", "max", "requests in flight, or max (the largest batch the memory allows)")
	fl.StringVar(&f.ttft, "ttft-slo", "", "time-to-first-token target, e.g. 2s (lowers the concurrency with --concurrency max)")
	fl.StringVar(&f.tpot, "tpot-slo", "", "time-per-output-token target, e.g. 50ms")
	fl.StringVarP(&f.output_, "output-format", "o", "table", "output format: table, json or yaml")
	fl.StringVar(&f.plot, "plot", "", "also draw output tokens/s per device of the plans that fit (FILE.svg or FILE.png)")
	return c
}

func (f *serveFlags) request(cmd *cobra.Command) (perf.ServeRequest, error) {
	var r perf.ServeRequest
	m, err := loadModel(f.model)
	if err != nil {
		return r, err
	}
	p, err := parsePrecision(f.precision)
	if err != nil {
		return r, err
	}
	var kv fleet.Precision
	if f.kvPrecision != "" {
		if kv, err = parsePrecision(f.kvPrecision); err != nil {
			return r, err
		}
	}
	if cmd.Flags().Changed("devices") && (f.devices < 1 || f.devices > 65536) {
		return r, console.Usagef("--devices %d out of range (valid: 1..65536)", f.devices)
	}
	if f.maxDevices < 1 || f.maxDevices > 65536 {
		return r, console.Usagef("--max-devices %d out of range (valid: 1..65536)", f.maxDevices)
	}
	conc, err := parseConcurrency(f.concurrency)
	if err != nil {
		return r, err
	}
	ttft, err := parseSLO("ttft-slo", f.ttft)
	if err != nil {
		return r, err
	}
	tpot, err := parseSLO("tpot-slo", f.tpot)
	if err != nil {
		return r, err
	}
	r = perf.ServeRequest{Model: m, Precision: p, KVPrecision: kv, Input: f.input, Output: f.output,
		Concurrency: conc, Devices: f.devices, MaxDevices: f.maxDevices, TTFTSLO: ttft, TPOTSLO: tpot}
	if err := r.Validate(); err != nil {
		return r, console.UsageError{Err: err}
	}
	return r, nil
}

func runServe(env *console.Env, cmd *cobra.Command, f *serveFlags) error {
	format, err := console.ParseFormat(f.output_, console.Table, console.JSON, console.YAML)
	if err != nil {
		return err
	}
	if f.plot != "" {
		if _, err := plot.FormatOf(f.plot); err != nil {
			return console.UsageError{Err: err}
		}
	}
	r, err := f.request(cmd)
	if err != nil {
		return err
	}
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	chips, err := parseChips(cat, f.chips, f.all)
	if err != nil {
		return err
	}
	plans := perf.ServeAll(r, chips)
	if err := impossibleConcurrency(r, plans); err != nil {
		return err
	}
	hints := make([]string, len(plans))
	for i, p := range plans {
		hints[i] = hint(r, p)
	}
	if f.plot != "" {
		if err := plotPlans(f.plot, r, plans); err != nil {
			return err
		}
	}
	if format.Structured() {
		out := make([]PlanJSON, len(plans))
		for i, p := range plans {
			out[i] = planJSON(r, p)
			out[i].Hint = hints[i]
		}
		return console.Encode(env.Stdout, format, out)
	}
	return writeServeTable(env, r, plans, hints)
}

// impossibleConcurrency turns "no chip can hold this many requests" into a
// usage error with the valid range.
func impossibleConcurrency(r perf.ServeRequest, plans []perf.Plan) error {
	if r.Concurrency == 0 {
		return nil
	}
	best := 0
	for _, p := range plans {
		if p.Fits {
			return nil
		}
		best = max(best, p.MaxConcurrency)
	}
	if best == 0 {
		return nil // nothing fits at all; the table says why
	}
	where := "on any chip considered"
	if r.Devices > 0 {
		where = fmt.Sprintf("on %d devices", r.Devices)
	}
	return console.Usagef("--concurrency %d cannot fit %s with %d+%d-token requests (valid: 1..%d)", r.Concurrency, where, r.Input, r.Output, best)
}

func writeServeTable(env *console.Env, r perf.ServeRequest, plans []perf.Plan, hints []string) error {
	conc := "max"
	if r.Concurrency > 0 {
		conc = fmt.Sprint(r.Concurrency)
	}
	kv := r.KVPrecision
	if kv == "" {
		kv = perf.DefaultKVPrecision(r.Precision)
	}
	fmt.Fprintf(env.Stdout, "%s at %s (KV %s), %d input + %d output tokens, concurrency %s; memory in GB per device\n",
		r.Model.Name, r.Precision, kv, r.Input, r.Output, conc)
	rows := [][]string{{"CHIP", "DEVICES", "TP×PP×EP", "WEIGHTS", "KV", "ACT", "OTHER", "BUDGET", "CONC", "OUT TOK/S", "PER DEV", "TTFT ms", "TPOT ms", "NOTE"}}
	for i, p := range plans {
		par := fmt.Sprintf("%d×%d×%d", p.Parallelism.TP, p.Parallelism.PP, p.Parallelism.EP)
		note := p.Bound + "-bound"
		if hints[i] != "" {
			note += "; " + hints[i]
		}
		if !p.Fits {
			note = "does not fit: " + p.Reason
		}
		if !p.Fits && p.Memory.Budget == 0 {
			rows = append(rows, []string{p.Chip.ID, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", note})
			continue
		}
		row := []string{p.Chip.ID, fmt.Sprint(p.Devices()), par,
			fmtNum(p.Memory.Weights / perf.GB), fmtNum(p.Memory.KVCache / perf.GB), fmtNum(p.Memory.Activations / perf.GB),
			fmtNum(p.Memory.Other / perf.GB), fmtNum(p.Memory.Budget / perf.GB)}
		if p.Fits {
			row = append(row, fmt.Sprint(p.Concurrency), fmtNum(p.OutputTokensPerS), fmtNum(p.OutputTokensPerS/float64(p.Devices())),
				fmtNum(ms(p.TTFT)), fmtNum(ms(p.TPOT)), note)
		} else {
			row = append(row, "-", "-", "-", "-", "-", note)
		}
		rows = append(rows, row)
	}
	if err := console.WriteTable(env.Stdout, rows); err != nil {
		return err
	}
	fits := 0
	for _, p := range plans {
		if p.Fits {
			fits++
		}
	}
	fmt.Fprintf(env.Stdout, "%d of %d chips fit; best first (tokens/s per device). Estimates: docs/fit.md.\n", fits, len(plans))
	return nil
}

// plotPlans draws output tokens/s per device of the plans that fit, best first.
func plotPlans(file string, r perf.ServeRequest, plans []perf.Plan) error {
	var bars []plot.Bar
	for _, p := range plans {
		if p.Fits {
			bars = append(bars, plot.Bar{Label: fmt.Sprintf("%s ×%d", p.Chip.ID, p.Devices()), Value: p.OutputTokensPerS / float64(p.Devices())})
		}
	}
	if len(bars) == 0 {
		return fmt.Errorf("--plot: no chip fits, nothing to draw")
	}
	title := fmt.Sprintf("%s at %s, %d+%d tokens: output tokens/s per device", r.Model.Name, r.Precision, r.Input, r.Output)
	chart, err := plot.Bars(title, "output tokens/s per device", bars)
	if err != nil {
		return err
	}
	width := plot.Width
	if n := len(bars); n > 8 {
		width = vg.Length(n) * 1.4 * vg.Inch
	}
	return plot.Save(file, width, plot.Height, chart)
}

// fewRequests is the KV room below which the smallest plan gets a hint.
const fewRequests = 16

// hint says what twice the devices would hold when the smallest plan that
// fits (searched, at concurrency max) has room for only a few requests.
func hint(r perf.ServeRequest, p perf.Plan) string {
	if !p.Fits || r.Devices != 0 || r.Concurrency != 0 || p.MaxConcurrency >= fewRequests {
		return ""
	}
	r.Devices = 2 * p.Devices()
	q := perf.Search(r, p.Chip)
	if !q.Fits {
		return ""
	}
	return fmt.Sprintf("room for %d requests only; %d devices hold %d at %s tok/s", p.MaxConcurrency, q.Devices(), q.MaxConcurrency, fmtNum(q.OutputTokensPerS))
}
