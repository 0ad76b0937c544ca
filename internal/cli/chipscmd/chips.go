// Package chipscmd implements `granary chips`: the catalog and the
// export-control classifier on the command line.
package chipscmd

import (
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
)

// New builds `granary chips`.
func New(env *console.Env) *cobra.Command {
	return &cobra.Command{Use: "chips", Short: "The accelerator catalog and the export-control classifier"}
}
