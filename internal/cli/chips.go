package cli

import "github.com/spf13/cobra"

// newChipsCmd builds `granary chips`. (Subcommands: list, show, compare, classify.)
func newChipsCmd(env *Env) *cobra.Command {
	return &cobra.Command{Use: "chips", Short: "The accelerator catalog and the export-control classifier"}
}
