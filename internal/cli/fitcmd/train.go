package fitcmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/perf"
)

// TrainMemoryJSON is per device, in GB.
type TrainMemoryJSON struct {
	Weights     float64 `json:"weights"`
	Gradients   float64 `json:"gradients"`
	Optimizer   float64 `json:"optimizer"`
	Activations float64 `json:"activations"`
	Other       float64 `json:"other"`
	Total       float64 `json:"total"`
	Capacity    float64 `json:"capacity"`
}

// TrainJSON is `fit train -o json` (a product contract).
type TrainJSON struct {
	Chip              string          `json:"chip"`
	ChipName          string          `json:"chip_name"`
	Model             string          `json:"model"`
	Precision         string          `json:"precision"`
	Devices           int             `json:"devices"`
	TP                int             `json:"tp"`
	PP                int             `json:"pp"`
	DP                int             `json:"dp"`
	ZeRO              int             `json:"zero"`
	Recompute         string          `json:"recompute"`
	Tokens            float64         `json:"tokens"`
	MFU               float64         `json:"mfu"`
	MFUSource         string          `json:"mfu_source"`
	MemoryGBPerDevice TrainMemoryJSON `json:"memory_gb_per_device"`
	PipelineBubble    float64         `json:"pipeline_bubble"` // 1F1B idle fraction, reported (not applied)
	Fits              bool            `json:"fits"`
	Reason            string          `json:"reason"`
	FLOPs             float64         `json:"flops"`
	Days              float64         `json:"days"`
	DeviceHours       float64         `json:"device_hours"`
}

type trainFlags struct {
	model, chip, precision, tokens, recompute, format string
	globalBatch                                       string
	devices, tp, pp, zero, seqLen, micro              int
	mfu                                               float64
	attention                                         bool
}

func newTrain(env *console.Env) *cobra.Command {
	f := &trainFlags{}
	c := &cobra.Command{
		Use:   "train --model M --tokens 15T --chip C --devices N",
		Short: "Memory per device, days and device-hours to train a model on N devices",
		Example: `  granary fit train --model Llama-3-70B --tokens 15T --chip H800 --devices 2048
  granary fit train --model Qwen3-30B-A3B --tokens 36T --chip 910B3 --devices 1024 --mfu 0.3 --zero 3 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(env, cmd, f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.model, "model", "", "catalog model name or path to a Hugging Face config.json")
	fl.StringVar(&f.tokens, "tokens", "", "training tokens, e.g. 15T, 300B, 2e12")
	fl.StringVar(&f.chip, "chip", "", "chip to train on")
	fl.IntVar(&f.devices, "devices", 0, "number of devices")
	fl.StringVar(&f.precision, "precision", "bf16", "matmul precision: bf16 or fp8 (uses the chip's dense rate at that precision)")
	fl.Float64Var(&f.mfu, "mfu", 0, "model-FLOPs utilisation 0 < mfu ≤ 1 (default: the chip family's estimate)")
	fl.IntVar(&f.tp, "tp", 0, "tensor-parallel size (default: up to 8, dividing the heads)")
	fl.IntVar(&f.pp, "pp", 0, "pipeline-parallel size (default: the smallest power of two that fits)")
	fl.IntVar(&f.zero, "zero", 1, "ZeRO stage 0–3: 1 shards optimizer states, 2 also gradients, 3 also weights")
	fl.StringVar(&f.recompute, "recompute", "selective", "activation recomputation: none, selective, full")
	fl.IntVar(&f.seqLen, "seq-len", 4096, "sequence length (activations; attention FLOPs with --attention-flops)")
	fl.IntVar(&f.micro, "micro-batch", 1, "sequences per micro-batch")
	fl.StringVar(&f.globalBatch, "global-batch", "4M", "tokens per optimizer step (sets the pipeline bubble)")
	fl.BoolVar(&f.attention, "attention-flops", false, "count attention FLOPs as PaLM's MFU does (12·L·H·Q·T per token) on top of 6·N")
	fl.StringVarP(&f.format, "output-format", "o", "table", "output format: table, json or yaml")
	return c
}

func runTrain(env *console.Env, cmd *cobra.Command, f *trainFlags) error {
	format, err := console.ParseFormat(f.format, console.Table, console.JSON, console.YAML)
	if err != nil {
		return err
	}
	m, err := loadModel(f.model)
	if err != nil {
		return err
	}
	if f.tokens == "" {
		return console.Usagef("--tokens is required (e.g. 15T)")
	}
	tokens, err := parseTokens(f.tokens)
	if err != nil {
		return err
	}
	if f.chip == "" {
		return console.Usagef("--chip is required")
	}
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	chip, err := cat.Resolve(f.chip)
	if err != nil {
		return err
	}
	p, err := parsePrecision(f.precision)
	if err != nil {
		return err
	}
	if f.devices < 1 {
		return console.Usagef("--devices %d out of range (valid: 1..1048576)", f.devices)
	}
	if cmd.Flags().Changed("mfu") && !(f.mfu > 0 && f.mfu <= 1) {
		return console.Usagef("--mfu %g out of range (valid: 0 < mfu ≤ 1, e.g. 0.4)", f.mfu)
	}
	if cmd.Flags().Changed("tp") && f.tp < 1 || cmd.Flags().Changed("pp") && f.pp < 1 {
		return console.Usagef("--tp and --pp must be ≥ 1")
	}
	if f.seqLen < 1 || f.micro < 1 {
		return console.Usagef("--seq-len and --micro-batch must be ≥ 1")
	}
	gbt, err := parseTokens(f.globalBatch)
	if err != nil {
		return console.Usagef("--global-batch %q: want a positive token count such as 4M", f.globalBatch)
	}
	est, err := perf.Train(perf.TrainRequest{
		Model: m, Chip: chip, Devices: f.devices, Tokens: tokens, Precision: p, MFU: f.mfu,
		TP: f.tp, PP: f.pp, ZeRO: f.zero, Recompute: perf.Recompute(strings.ToLower(f.recompute)),
		SeqLen: f.seqLen, AttentionFLOPs: f.attention, MicroBatch: f.micro, GlobalBatchTokens: gbt,
	})
	if err != nil {
		return console.UsageError{Err: err}
	}
	mem := est.Memory
	out := TrainJSON{
		Chip: chip.ID, ChipName: chip.Name, Model: m.Name, Precision: string(p), Devices: est.Devices,
		TP: est.TP, PP: est.PP, DP: est.DP, ZeRO: est.ZeRO, Recompute: string(est.Recompute), Tokens: tokens,
		MFU: round(est.MFU, 4), MFUSource: est.MFUSource,
		MemoryGBPerDevice: TrainMemoryJSON{Weights: gb(mem.Weights), Gradients: gb(mem.Gradients), Optimizer: gb(mem.Optimizer),
			Activations: gb(mem.Activations), Other: gb(mem.Other), Total: gb(mem.Total()), Capacity: gb(mem.Capacity)},
		PipelineBubble: round(est.PipelineBubble, 4),
		Fits:           est.Fits, Reason: est.Reason, FLOPs: est.FLOPs,
		Days: round(est.Days, 2), DeviceHours: round(est.DeviceHours, 0),
	}
	if format.Structured() {
		return console.Encode(env.Stdout, format, out)
	}
	w := env.Stdout
	fmt.Fprintf(w, "%s on %d × %s (%s), %s tokens\n", m.Name, est.Devices, chip.Name, p, f.tokens)
	fmt.Fprintf(w, "parallelism   TP %d × PP %d × DP %d, ZeRO-%d, %s recomputation\n", est.TP, est.PP, est.DP, est.ZeRO, est.Recompute)
	if est.PP > 1 {
		fmt.Fprintf(w, "pipeline      1F1B bubble %.0f%% at a %s-token step (included in a measured MFU; not applied)\n", 100*est.PipelineBubble, f.globalBatch)
	}
	fmt.Fprintf(w, "memory/device weights %.1f + gradients %.1f + optimizer %.1f + activations %.1f + other %.1f = %.1f GB of %.1f GB\n",
		out.MemoryGBPerDevice.Weights, out.MemoryGBPerDevice.Gradients, out.MemoryGBPerDevice.Optimizer,
		out.MemoryGBPerDevice.Activations, out.MemoryGBPerDevice.Other, out.MemoryGBPerDevice.Total, out.MemoryGBPerDevice.Capacity)
	if est.Fits {
		fmt.Fprintln(w, "fits          yes")
	} else {
		fmt.Fprintf(w, "fits          no: %s\n", est.Reason)
	}
	fmt.Fprintf(w, "compute       %.3g FLOPs at MFU %.2f (%s)\n", est.FLOPs, est.MFU, est.MFUSource)
	fmt.Fprintf(w, "time          %.1f days, %.0f device-hours\n", est.Days, est.DeviceHours)
	return nil
}
