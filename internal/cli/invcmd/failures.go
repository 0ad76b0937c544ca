package invcmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/inventory"
)

func failuresCmd(c *remote.Conn) *cobra.Command {
	var (
		out  string
		conf float64
	)
	cmd := &cobra.Command{
		Use:   "failures",
		Short: "Failure rates learned from the ledger: per model and age band, with confidence intervals",
		Long: `Per catalog model, overall and by age band (0-1, 1-3 and 3+ years since
acquisition or first seen): failures (events into failed from in service or
maintenance) over device-years in service, the rate's exact Poisson interval,
and the annualized failure probability AFR = 1 - exp(-rate) that granary runway
--afr-from-ledger uses. See docs/agent.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			if !(conf > 0 && conf < 1) {
				return console.Usagef("--confidence %v: want a number in (0, 1), e.g. 0.9", conf)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			st, err := cl.Failures(cmd.Context(), conf)
			if err != nil {
				return err
			}
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(c.Env.Stdout, f, st)
			case console.CSV:
				return console.WriteCSV(c.Env.Stdout, failureRows(st))
			}
			return console.WriteTable(c.Env.Stdout, failureRows(st))
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML, console.CSV)
	cmd.Flags().Float64Var(&conf, "confidence", 0.9, "confidence of the intervals")
	return cmd
}

func failureRows(st inventory.FailureStats) [][]string {
	ci := fmt.Sprintf("%g%% CI", 100*st.Confidence)
	rows := [][]string{{"MODEL", "AGE", "DEVICES", "FAILURES", "DEVICE-YEARS", "AFR", "AFR " + ci}}
	for _, m := range st.Models {
		rows = append(rows, []string{m.Model, m.Band, fmt.Sprint(m.Devices), fmt.Sprint(m.Failures), fmt.Sprintf("%.1f", m.DeviceYears),
			fmt.Sprintf("%.2f%%", 100*m.AFR), fmt.Sprintf("%.2f–%.2f%%", 100*m.AFRLow, 100*m.AFRHigh)})
	}
	return rows
}
