package chipscmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
)

// comparison is `chips compare -o json`: one row per metric, one value per
// chip in argument order, and each value's ratio to the first chip's.
type comparison struct {
	Baseline string          `json:"baseline"`
	Chips    []comparedChip  `json:"chips"`
	Metrics  []compareMetric `json:"metrics"`
}

type comparedChip struct {
	Chip string `json:"chip"`
	Name string `json:"name"`
}

type compareMetric struct {
	Metric string     `json:"metric"`
	Label  string     `json:"label"`
	Unit   string     `json:"unit"`
	Values []*float64 `json:"values"` // null when unknown
	Ratios []*float64 `json:"ratios"` // value / first chip's value; null when either is unknown
}

// metricDef extracts one metric from a chip.
type metricDef struct {
	key, label, unit string
	get              func(accel.Chip) (float64, bool)
}

func ptr(v *float64) (float64, bool) {
	if v == nil {
		return 0, false
	}
	return *v, true
}

func metricDefs() []metricDef {
	var defs []metricDef
	for _, p := range fleet.Precisions {
		unit := "TFLOPS"
		if strings.HasPrefix(string(p), "int") {
			unit = "TOPS"
		}
		defs = append(defs, metricDef{string(p), strings.ToUpper(string(p)) + " dense", unit,
			func(c accel.Chip) (float64, bool) { return c.Dense(p) }})
	}
	return append(defs,
		metricDef{"memory_gb", "memory", "GB", func(c accel.Chip) (float64, bool) { return ptr(c.MemoryGB) }},
		metricDef{"memory_bw_gbs", "memory bandwidth", "GB/s", func(c accel.Chip) (float64, bool) { return ptr(c.MemoryBWGBps) }},
		metricDef{"interconnect_gbs", "interconnect", "GB/s", func(c accel.Chip) (float64, bool) { return ptr(c.InterconnectGB) }},
		metricDef{"tdp_w", "power (TDP)", "W", func(c accel.Chip) (float64, bool) { return ptr(c.TDPW) }},
		metricDef{"tpp", "TPP", "", func(c accel.Chip) (float64, bool) {
			r := exportctl.Classify(c, exportctl.Latest()) // TPP rounded as the classifier prints it
			if r.TPP == nil || r.TPPLowerBound {
				return 0, false
			}
			return *r.TPP, true
		}},
		// Relative speeds: prefill is compute-bound, so it scales with the
		// dense 16-bit rate; decode at small batch is memory-bound, so it
		// scales with memory bandwidth. Reported as ratios only.
		metricDef{"prefill_speed", "prefill speed (compute-bound: 16-bit dense)", "× first", func(c accel.Chip) (float64, bool) { return c.Dense16() }},
		metricDef{"decode_speed", "decode speed (memory-bound: memory bandwidth)", "× first", func(c accel.Chip) (float64, bool) { return ptr(c.MemoryBWGBps) }},
	)
}

func compare(chips []accel.Chip) comparison {
	cmp := comparison{Baseline: chips[0].ID}
	for _, c := range chips {
		cmp.Chips = append(cmp.Chips, comparedChip{c.ID, c.Name})
	}
	for _, d := range metricDefs() {
		m := compareMetric{Metric: d.key, Label: d.label, Unit: d.unit}
		base, baseOK := d.get(chips[0])
		any := false
		for _, c := range chips {
			v, ok := d.get(c)
			if !ok {
				m.Values = append(m.Values, nil)
				m.Ratios = append(m.Ratios, nil)
				continue
			}
			any = true
			var r *float64
			if baseOK && base > 0 {
				x := exportctl.Round(v/base, 4, nil)
				r = &x
			}
			m.Ratios = append(m.Ratios, r)
			if d.unit == "× first" {
				m.Values = append(m.Values, r)
			} else {
				x := v
				m.Values = append(m.Values, &x)
			}
		}
		if any {
			cmp.Metrics = append(cmp.Metrics, m)
		}
	}
	return cmp
}

func newCompare(env *console.Env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "compare NAME NAME...",
		Short: "Compare chips side by side, with ratios to the first",
		Long: "Compare chips side by side. Every value is followed by its ratio to the first chip's. The last two\n" +
			"rows are relative speeds: prefill (compute-bound) scales with the dense 16-bit rate, decode\n" +
			"(memory-bound) with memory bandwidth.",
		Example: "  granary chips compare H800 910B3 H20\n  granary chips compare H100 H20 -o json",
		Args:    args(2, "at least two chip names"),
		RunE: func(cmd *cobra.Command, a []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			cat, err := env.Catalog()
			if err != nil {
				return err
			}
			chips, err := resolveAll(cat, a)
			if err != nil {
				return err
			}
			cmp := compare(chips)
			if f.Structured() {
				return console.Encode(cmd.OutOrStdout(), f, cmp)
			}
			return console.WriteTable(cmd.OutOrStdout(), compareRows(cmp))
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

func compareRows(cmp comparison) [][]string {
	head := []string{"METRIC"}
	for _, c := range cmp.Chips {
		head = append(head, c.Chip)
	}
	rows := [][]string{head}
	for _, m := range cmp.Metrics {
		label := m.Label
		if m.Unit != "" && m.Unit != "× first" {
			label += " (" + m.Unit + ")"
		}
		row := []string{label}
		for i := range m.Values {
			switch {
			case m.Values[i] == nil:
				row = append(row, "-")
			case m.Unit == "× first":
				row = append(row, fmt.Sprintf("%.2f×", *m.Values[i]))
			case i == 0 || m.Ratios[i] == nil:
				row = append(row, console.Num(*m.Values[i]))
			default:
				row = append(row, fmt.Sprintf("%s (%.2f×)", console.Num(*m.Values[i]), *m.Ratios[i]))
			}
		}
		rows = append(rows, row)
	}
	return rows
}
