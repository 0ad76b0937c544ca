package chipscmd

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
)

func newClassify(env *console.Env) *cobra.Command {
	var rules, specs, out string
	ids := make([]string, 0, len(exportctl.RuleSets()))
	for _, rs := range exportctl.RuleSets() {
		ids = append(ids, rs.ID)
	}
	cmd := &cobra.Command{
		Use:   "classify [NAME...] [--specs FILE]",
		Short: "Classify chips under the US export-control rule for AI chips (ECCN 3A090)",
		Long: "Classify chips under ECCN 3A090: TPP = dense TOPS × bit length (the maximum over the chip's\n" +
			"precisions), PD = TPP / die area (mm²). The band is exactly one of 3A090.a, 3A090.b, not-3A090\n" +
			"and insufficient-data, with the paragraph and the arithmetic. Licence requirements imposed by\n" +
			"notice (H20, MI308: April 2025) are listed as notices. Research aid, not legal advice.\n\n" +
			"Rule sets: " + strings.Join(ids, ", ") + " (default: the newest).\n" +
			"--specs FILE: YAML or JSON chips in the catalog schema; each needs name, datacenter and tops\n" +
			"(precision → dense TOPS/TFLOPS), optionally die_area_mm2 and io_bandwidth_gbs.",
		Example: "  granary chips classify H100 H20 A800 --rules 2022-10 -o json\n" +
			"  granary chips classify H800 --specs mychips.yaml",
		RunE: func(cmd *cobra.Command, a []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			if len(a) == 0 && specs == "" {
				return console.Usagef("%s needs chip names or --specs FILE", cmd.CommandPath())
			}
			rs, err := exportctl.LookupRuleSet(rules)
			if err != nil {
				return console.UsageError{Err: err}
			}
			cat, err := env.Catalog()
			if err != nil {
				return err
			}
			chips, err := resolveAll(cat, a)
			if err != nil {
				return err
			}
			results := make([]exportctl.Result, 0, len(chips))
			for _, c := range chips {
				results = append(results, exportctl.Classify(c, rs))
			}
			if specs != "" {
				spec, err := readSpecs(specs)
				if err != nil {
					return err
				}
				for _, c := range spec {
					r := exportctl.Classify(c, rs)
					r.Chip = c.Name // the contract: the spec's name
					results = append(results, r)
				}
			}
			if f.Structured() {
				return console.Encode(cmd.OutOrStdout(), f, results)
			}
			return writeClassifyTable(cmd.OutOrStdout(), rs, results)
		},
	}
	cmd.Flags().StringVar(&rules, "rules", exportctl.Latest().ID, "rule set: "+strings.Join(ids, " or "))
	cmd.Flags().StringVar(&specs, "specs", "", "YAML or JSON file of chip specs to classify after the named chips")
	cmd.Flags().StringVarP(&out, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

func readSpecs(path string) ([]accel.Chip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: "cannot read specs: " + strings.TrimPrefix(err.Error(), "open "+path+": ")}
	}
	return accel.ParseSpecs(path, data)
}

func writeClassifyTable(w io.Writer, rs exportctl.RuleSet, results []exportctl.Result) error {
	fmt.Fprintf(w, "Rule set %s (%s; %s)\n\n", rs.Date, rs.Citation, rs.Effective)
	rows := [][]string{{"CHIP", "TPP", "PD", "I/O GB/s", "DATACENTER", "CLASSIFICATION", "PARAGRAPH", "REASON"}}
	for _, r := range results {
		dc := "unknown"
		if r.Datacenter != nil {
			dc = map[bool]string{true: "yes", false: "no"}[*r.Datacenter]
		}
		para := "-"
		if r.Paragraph != nil {
			para = *r.Paragraph
		} else if r.Exclusion != nil {
			para = *r.Exclusion
		}
		rows = append(rows, []string{r.Chip, tppText(r), console.NumPtr(r.PerformanceDensity), console.NumPtr(r.IOBandwidthGBps),
			dc, string(r.Classification), para, r.Reason})
	}
	if err := console.WriteTable(w, rows); err != nil {
		return err
	}
	first := true
	for _, r := range results {
		for _, n := range r.Notices {
			if first {
				fmt.Fprintln(w, "\nNotices (licence requirements by notice, not by 3A090 thresholds):")
				first = false
			}
			fmt.Fprintf(w, "  %s: %s\n", r.Chip, noticeText(n))
		}
	}
	return nil
}
