package fitcmd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
	"github.com/granaryhq/granary/internal/perf"
)

// MatrixCell is one (model, gang, chip) estimate in `fit matrix -o json`.
type MatrixCell struct {
	Class string `json:"class"`
	Model string `json:"model"`
	Gang  int    `json:"gang"`
	Chip  string `json:"chip"`
	// StepsPerS is output tokens/s of the whole gang (0 = does not fit).
	StepsPerS float64 `json:"steps_per_s"`
	// Relative is StepsPerS over the first chip's, for the same model and gang.
	Relative float64 `json:"relative"`
	Fits     bool    `json:"fits"`
	Reason   string  `json:"reason,omitempty"`
}

type matrixFlags struct {
	models, chips, gangs []string
	precision, format    string
	workload, stepTokens string
	input, output        int
	seqLen               int
}

// matrixSpec is what one matrix estimates: serving (output tokens per
// second; a step is one output token) or training (optimizer steps per
// second of stepTokens tokens each).
type matrixSpec struct {
	train      bool
	precision  fleet.Precision
	in, out    int
	seqLen     int
	stepTokens float64
	stepLabel  string
}

func (s matrixSpec) class(m models.Model) string {
	if s.train {
		return fmt.Sprintf("%s train %s seq %d step %s", m.Name, s.precision, s.seqLen, s.stepLabel)
	}
	return fmt.Sprintf("%s serve %s %d/%d", m.Name, s.precision, s.in, s.out)
}

func (s matrixSpec) header() string {
	if s.train {
		return fmt.Sprintf("granary fit matrix: estimated training steps/s of the whole gang (%s tokens per step, %s, sequence %d, family MFU, ZeRO-1); 0 = does not fit", s.stepLabel, s.precision, s.seqLen)
	}
	return fmt.Sprintf("granary fit matrix: estimated output tokens/s of the whole gang serving at %s, %d input + %d output tokens, concurrency max; 0 = does not fit", s.precision, s.in, s.out)
}

func newMatrix(env *console.Env) *cobra.Command {
	f := &matrixFlags{}
	c := &cobra.Command{
		Use:   "matrix --models A,B --chips X,Y",
		Short: "Relative serving throughput of each model on each chip, as a throughput table for the scheduler",
		Long: `Estimated output tokens/s of each model on each chip for each gang size
(devices per job), written in Granary's throughput-table format
(docs/traces.md) so the scheduler and simulator can read it with
--throughputs: -o csv or -o yaml. One "step" is one output token; 0 means
the model does not fit on that gang. The table (default) shows the exchange
rate against the first chip.`,
		Example: `  granary fit matrix --models Llama-3-70B,Qwen3-30B-A3B --chips H800,910B3,L20
  granary fit matrix --models Llama-3-8B --chips H800,910B3 --gangs 1,8 -o csv > throughputs.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMatrix(env, f) },
	}
	fl := c.Flags()
	fl.StringSliceVar(&f.models, "models", nil, "models (catalog names or config.json paths), comma-separated")
	fl.StringSliceVar(&f.chips, "chips", nil, "chips, comma-separated; the first is the reference for relative throughput")
	fl.StringSliceVar(&f.gangs, "gangs", []string{"1", "2", "4", "8"}, "gang sizes (devices per job)")
	fl.StringVar(&f.precision, "precision", "bf16", "weight precision")
	fl.IntVar(&f.input, "input", 2048, "input tokens per request")
	fl.IntVar(&f.output, "output", 512, "output tokens per request")
	fl.StringVar(&f.workload, "workload", "serve", "serve (steps = output tokens) or train (steps = optimizer steps)")
	fl.StringVar(&f.stepTokens, "step-tokens", "4M", "training: tokens per optimizer step")
	fl.IntVar(&f.seqLen, "seq-len", 4096, "training: sequence length")
	fl.StringVarP(&f.format, "output-format", "o", "table", "output format: table, csv, yaml or json")
	return c
}

func runMatrix(env *console.Env, f *matrixFlags) error {
	format, err := console.ParseFormat(f.format, console.Table, console.CSV, console.YAML, console.JSON)
	if err != nil {
		return err
	}
	if len(f.models) == 0 || len(f.chips) == 0 {
		return console.Usagef("give --models and --chips")
	}
	var ms []models.Model
	for _, n := range f.models {
		m, err := loadModel(strings.TrimSpace(n))
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	chips, err := parseChips(cat, f.chips, false)
	if err != nil {
		return err
	}
	var gangs []int
	for _, g := range f.gangs {
		n, err := strconv.Atoi(strings.TrimSpace(g))
		if err != nil || n < 1 || n > 4096 {
			return console.Usagef("--gangs %q: want device counts in 1..4096", g)
		}
		gangs = append(gangs, n)
	}
	p, err := parsePrecision(f.precision)
	if err != nil {
		return err
	}
	spec := matrixSpec{precision: p, in: f.input, out: f.output, seqLen: f.seqLen, stepLabel: f.stepTokens}
	switch strings.ToLower(f.workload) {
	case "serve":
	case "train":
		spec.train = true
		if spec.stepTokens, err = parseTokens(f.stepTokens); err != nil {
			return console.Usagef("--step-tokens %q: want a positive token count such as 4M", f.stepTokens)
		}
		if f.seqLen < 1 {
			return console.Usagef("--seq-len %d out of range (valid: ≥ 1)", f.seqLen)
		}
	default:
		return console.Usagef("--workload %q (valid: serve, train)", f.workload)
	}
	cells, err := matrix(ms, chips, gangs, spec)
	if err != nil {
		return err
	}
	switch format {
	case console.JSON:
		return console.WriteJSON(env.Stdout, cells)
	case console.CSV:
		return writeMatrixCSV(env, cells, chips, spec)
	case console.YAML:
		return writeMatrixYAML(env, cells, chips, spec)
	}
	return writeMatrixTable(env, cells, chips, spec)
}

// cell estimates one model on one gang of one chip.
func (s matrixSpec) cell(m models.Model, g int, c accel.Chip) (MatrixCell, error) {
	cell := MatrixCell{Class: s.class(m), Model: m.Name, Gang: g, Chip: c.ID}
	r, err := perf.GangRate(perf.RateSpec{Train: s.train, Precision: s.precision, Input: s.in, Output: s.out, SeqLen: s.seqLen, StepTokens: s.stepTokens}, m, g, c)
	if err != nil {
		return cell, console.UsageError{Err: err}
	}
	cell.StepsPerS, cell.Fits, cell.Reason = r.StepsPerS, r.Fits, r.Reason
	return cell, nil
}

func matrix(ms []models.Model, chips []accel.Chip, gangs []int, spec matrixSpec) ([]MatrixCell, error) {
	var cells []MatrixCell
	for _, m := range ms {
		for _, g := range gangs {
			ref := 0.0
			for i, c := range chips {
				cell, err := spec.cell(m, g, c)
				if err != nil {
					return nil, err
				}
				if i == 0 {
					ref = cell.StepsPerS
				}
				if ref > 0 {
					cell.Relative = round(cell.StepsPerS/ref, 3)
				}
				cells = append(cells, cell)
			}
		}
	}
	return cells, nil
}

// writeMatrixCSV writes Granary's throughput CSV (docs/traces.md):
// class,gang,<chip>… with steps/s of the whole job.
func writeMatrixCSV(env *console.Env, cells []MatrixCell, chips []accel.Chip, spec matrixSpec) error {
	fmt.Fprintf(env.Stdout, "# %s\n", spec.header())
	header := []string{"class", "gang"}
	for _, c := range chips {
		header = append(header, c.ID)
	}
	rows := [][]string{header}
	for i := 0; i < len(cells); i += len(chips) {
		row := []string{cells[i].Class, strconv.Itoa(cells[i].Gang)}
		for _, c := range cells[i : i+len(chips)] {
			row = append(row, strconv.FormatFloat(c.StepsPerS, 'f', -1, 64))
		}
		rows = append(rows, row)
	}
	return console.WriteCSV(env.Stdout, rows)
}

// writeMatrixYAML writes Granary's throughput YAML (docs/traces.md).
func writeMatrixYAML(env *console.Env, cells []MatrixCell, chips []accel.Chip, spec matrixSpec) error {
	w := env.Stdout
	fmt.Fprintf(w, "# %s\nthroughputs:\n", spec.header())
	for i := 0; i < len(cells); i += len(chips) {
		fmt.Fprintf(w, "  - class: %s\n    gang: %d\n    steps_per_s: {", strconv.Quote(cells[i].Class), cells[i].Gang)
		for j, c := range cells[i : i+len(chips)] {
			if j > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, "%s: %s", c.Chip, strconv.FormatFloat(c.StepsPerS, 'f', -1, 64))
		}
		fmt.Fprintln(w, "}")
	}
	return nil
}

func writeMatrixTable(env *console.Env, cells []MatrixCell, chips []accel.Chip, spec matrixSpec) error {
	if spec.train {
		fmt.Fprintf(env.Stdout, "Training steps/s of the whole gang (× the first chip), %s tokens per step, %s, sequence %d, family MFU\n", spec.stepLabel, spec.precision, spec.seqLen)
	} else {
		fmt.Fprintf(env.Stdout, "Output tokens/s of the whole gang (× the first chip), %s, %d input + %d output tokens, concurrency max\n", spec.precision, spec.in, spec.out)
	}
	header := []string{"MODEL", "GANG"}
	for _, c := range chips {
		header = append(header, c.ID)
	}
	rows := [][]string{header}
	for i := 0; i < len(cells); i += len(chips) {
		row := []string{cells[i].Model, strconv.Itoa(cells[i].Gang)}
		for j, c := range cells[i : i+len(chips)] {
			switch {
			case !c.Fits:
				row = append(row, "-")
			case j == 0 || cells[i].StepsPerS == 0:
				row = append(row, fmtRate(c.StepsPerS))
			default:
				row = append(row, fmt.Sprintf("%s (×%.2f)", fmtRate(c.StepsPerS), c.Relative))
			}
		}
		rows = append(rows, row)
	}
	if err := console.WriteTable(env.Stdout, rows); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "- = does not fit on that many devices. For the scheduler: -o csv or -o yaml (docs/traces.md).")
	return nil
}
