package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/buildinfo"
	"github.com/granaryhq/granary/internal/cli/console"
)

// newVersion is `granary version`: the build's version and VCS info
// (also `granary --version`).
func newVersion(env *console.Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			f, err := console.ParseFormat(output, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			b := buildinfo.Read()
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(env.Stdout, f, b)
			}
			_, err = fmt.Fprintln(env.Stdout, b)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}
