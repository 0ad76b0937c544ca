// Package chipscmd implements `granary chips`: the catalog and the
// export-control classifier on the command line.
package chipscmd

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
)

// New builds `granary chips`.
func New(env *console.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chips",
		Short: "The accelerator catalog and the export-control classifier",
		Long: "The accelerator catalog (sourced specs of every chip granary knows, plus your --catalog file),\n" +
			"side-by-side comparison, and the ECCN 3A090 classifier under each rule set.",
	}
	cmd.AddCommand(newList(env), newShow(env), newCompare(env), newClassify(env))
	return cmd
}

// args checks the positional argument count, as a usage error (exit 2).
func args(min int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < min {
			return console.Usagef("%s needs %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) != n {
			return console.Usagef("%s needs exactly %s, got %d arguments", cmd.CommandPath(), what, len(a))
		}
		return nil
	}
}

// resolveAll resolves every name, reporting every unknown or ambiguous one.
func resolveAll(cat *accel.Catalog, names []string) ([]accel.Chip, error) {
	var chips []accel.Chip
	var errs []error
	for _, n := range names {
		c, err := cat.Resolve(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		chips = append(chips, c)
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	if len(errs) > 1 {
		return nil, joined(errs)
	}
	return chips, nil
}

// joined is several errors on separate lines; errors.Is sees each.
type joined []error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, e := range j {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func (j joined) Unwrap() []error { return j }

func newList(env *console.Env) *cobra.Command {
	var vendor, out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the chips of the catalog",
		Example: "  granary chips list\n  granary chips list --vendor huawei -o json\n" +
			"  granary chips list -o yaml > mine.yaml   # a valid --catalog file",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			cat, err := env.Catalog()
			if err != nil {
				return err
			}
			chips, err := byVendor(cat.All(), vendor)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(w, f, chips)
			case console.CSV:
				return console.WriteCSV(w, csvRows(chips))
			}
			return console.WriteTable(w, listRows(chips))
		},
	}
	cmd.Flags().StringVar(&vendor, "vendor", "", "only chips whose vendor contains this (case-insensitive, e.g. nvidia, huawei, baidu)")
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output format: table, json, yaml or csv")
	return cmd
}

func byVendor(chips []accel.Chip, vendor string) ([]accel.Chip, error) {
	if vendor == "" {
		return chips, nil
	}
	want := accel.Normalize(vendor)
	var out []accel.Chip
	vendors := map[string]bool{}
	for _, c := range chips {
		vendors[c.Vendor] = true
		if v := accel.Normalize(c.Vendor); strings.Contains(v, want) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		names := make([]string, 0, len(vendors))
		for v := range vendors {
			names = append(names, v)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: no chips of vendor %q (vendors: %s)", fleet.ErrNotFound, vendor, strings.Join(names, ", "))
	}
	return out, nil
}

// tppText is the TPP for tables: "15831", "≥480" for a lower bound, "-".
func tppText(r exportctl.Result) string {
	switch {
	case r.TPP == nil:
		return "-"
	case r.TPPLowerBound:
		return "≥" + console.Num(*r.TPP)
	}
	return console.Num(*r.TPP)
}

// bandShort is the short band under the newest rule set: "a.1", "not", "?".
func bandShort(r exportctl.Result) string {
	switch r.Classification {
	case exportctl.NotControlled:
		if r.Exclusion != nil {
			return "not (" + *r.Exclusion + ")"
		}
		return "not"
	case exportctl.InsufficientData:
		return "?"
	}
	if r.Paragraph != nil {
		return strings.TrimPrefix(*r.Paragraph, "3A090.")
	}
	return strings.TrimPrefix(string(r.Classification), "3A090.")
}

func best8(c accel.Chip) (float64, bool) {
	v, ok := c.Dense(fleet.FP8)
	if w, ok2 := c.Dense(fleet.INT8); ok2 && (!ok || w > v) {
		return w, true
	}
	return v, ok
}

func optNum(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return console.Num(v)
}

func listRows(chips []accel.Chip) [][]string {
	latest := exportctl.Latest()
	rows := [][]string{{"ID", "NAME", "VENDOR", "YEAR", "16-BIT", "8-BIT", "MEM GB", "BW GB/s", "LINK GB/s", "TDP W", "TPP", "3A090 (" + latest.ID + ")"}}
	for _, c := range chips {
		year := "-"
		if c.Year != nil {
			year = fmt.Sprint(*c.Year)
		}
		d16, ok16 := c.Dense16()
		d8, ok8 := best8(c)
		r := exportctl.Classify(c, latest)
		rows = append(rows, []string{
			c.ID, c.Name, c.Vendor, year, optNum(d16, ok16), optNum(d8, ok8),
			console.NumPtr(c.MemoryGB), console.NumPtr(c.MemoryBWGBps), console.NumPtr(c.InterconnectGB), console.NumPtr(c.TDPW),
			tppText(r), bandShort(r),
		})
	}
	return rows
}

// csvRows flattens chips: one column per field, unknown values empty.
func csvRows(chips []accel.Chip) [][]string {
	head := []string{"id", "name", "vendor", "origin", "year", "datacenter"}
	for _, p := range fleet.Precisions {
		head = append(head, string(p))
	}
	head = append(head, "memory_gb", "memory_type", "memory_bw_gbs", "interconnect", "interconnect_gbs", "io_bandwidth_gbs",
		"tdp_w", "die_area_mm2", "cost_usd", "tpp", "tpp_lower_bound", "performance_density", "confidence", "aliases", "source")
	rows := [][]string{head}
	cell := func(v *float64) string {
		if v == nil {
			return ""
		}
		return console.Num(*v)
	}
	for _, c := range chips {
		r := []string{c.ID, c.Name, c.Vendor, c.Origin, "", ""}
		if c.Year != nil {
			r[4] = fmt.Sprint(*c.Year)
		}
		if c.Datacenter != nil {
			r[5] = fmt.Sprint(*c.Datacenter)
		}
		for _, p := range fleet.Precisions {
			if v, ok := c.Dense(p); ok {
				r = append(r, console.Num(v))
			} else {
				r = append(r, "")
			}
		}
		res := exportctl.Classify(c, exportctl.Latest())
		tpp, lb := "", ""
		if res.TPP != nil {
			tpp, lb = console.Num(*res.TPP), fmt.Sprint(res.TPPLowerBound)
		}
		pd := cell(res.PerformanceDensity)
		r = append(r, cell(c.MemoryGB), c.MemoryType, cell(c.MemoryBWGBps), c.Interconnect, cell(c.InterconnectGB),
			cell(c.IOBandwidthGBps), cell(c.TDPW), cell(c.DieAreaMM2), cell(c.CostUSD), tpp, lb, pd, c.Confidence,
			strings.Join(c.Aliases, ";"), c.Source)
		rows = append(rows, r)
	}
	return rows
}

// showView is `chips show -o json`: the chip in the catalog schema plus what
// granary computes from it.
type showView struct {
	Chip               accel.Chip         `json:"chip"`
	TPP                *float64           `json:"tpp"`
	PerformanceDensity *float64           `json:"performance_density"`
	Export             []exportctl.Result `json:"export"`
}

func newShow(env *console.Env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show one chip: specs, sources, TPP and its 3A090 band under each rule set",
		Example: "  granary chips show H800\n  granary chips show NVIDIA-A800-SXM4-80GB -o json",
		Args:    exactArgs(1, "one chip name"),
		RunE: func(cmd *cobra.Command, a []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			cat, err := env.Catalog()
			if err != nil {
				return err
			}
			c, err := cat.Resolve(a[0])
			if err != nil {
				return err
			}
			v := showView{Chip: c}
			for _, rs := range exportctl.RuleSets() {
				v.Export = append(v.Export, exportctl.Classify(c, rs))
			}
			last := v.Export[len(v.Export)-1]
			v.TPP, v.PerformanceDensity = last.TPP, last.PerformanceDensity
			w := cmd.OutOrStdout()
			if f.Structured() {
				return console.Encode(w, f, v)
			}
			return console.WriteTable(w, showRows(v))
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

func showRows(v showView) [][]string {
	c := v.Chip
	rows := [][]string{{"FIELD", "VALUE"}}
	add := func(k, val string) {
		if val != "" && val != "-" {
			rows = append(rows, []string{k, val})
		}
	}
	add("id", c.ID)
	add("name", c.Name)
	add("vendor", c.Vendor)
	add("origin", c.Origin)
	add("aliases", strings.Join(c.Aliases, ", "))
	if c.Year != nil {
		add("year", fmt.Sprint(*c.Year))
	}
	add("form factor", c.FormFactor)
	if c.Datacenter != nil {
		add("datacenter", fmt.Sprint(*c.Datacenter))
	} else {
		add("datacenter", "unknown")
	}
	for _, p := range fleet.Precisions {
		if r, ok := c.Dense(p); ok {
			unit := "TFLOPS"
			if strings.HasPrefix(string(p), "int") {
				unit = "TOPS"
			}
			add(string(p)+" dense", console.Num(r)+" "+unit)
		}
	}
	if len(c.TOPS) == 0 {
		add("dense rates", "unknown")
	}
	withUnit := func(v *float64, unit string) string {
		if v == nil {
			return "unknown"
		}
		return console.Num(*v) + " " + unit
	}
	mem := withUnit(c.MemoryGB, "GB")
	if c.MemoryType != "" {
		mem += " " + c.MemoryType
	}
	add("memory", mem)
	add("memory bandwidth", withUnit(c.MemoryBWGBps, "GB/s"))
	link := withUnit(c.InterconnectGB, "GB/s")
	if c.Interconnect != "" {
		link = c.Interconnect + ", " + link
	}
	add("interconnect", link)
	io := withUnit(c.IOBandwidthGBps, "GB/s")
	if c.IOBandwidthNote != "" {
		io += " (" + c.IOBandwidthNote + ")"
	}
	add("aggregate I/O", io)
	add("TDP", withUnit(c.TDPW, "W"))
	add("die area", withUnit(c.DieAreaMM2, "mm²"))
	if c.CostUSD != nil {
		add("indicative cost", "$"+console.Num(*c.CostUSD))
	}
	last := v.Export[len(v.Export)-1]
	tpp := "unknown"
	if last.TPP != nil {
		tpp = console.Num(*last.TPP) + " (" + last.TPPBasis + ")"
		if last.TPPLowerBound {
			tpp = "at least " + tpp
		}
	}
	add("TPP", tpp)
	add("performance density", console.NumPtr(last.PerformanceDensity))
	for _, r := range v.Export {
		band := string(r.Classification)
		if r.Paragraph != nil {
			band = *r.Paragraph
		}
		add("3A090 ("+r.RuleSet+" rule)", band+": "+r.Reason)
	}
	for _, n := range last.Notices {
		add("notice", noticeText(n))
	}
	add("confidence", c.Confidence)
	add("uncertain fields", strings.Join(c.UncertainFields, ", "))
	add("source", c.Source)
	add("notes", c.Notes)
	return rows
}

func noticeText(n exportctl.Notice) string {
	return n.Date + " " + n.Kind + ": " + n.Summary + " (source: " + n.Source + ")"
}
