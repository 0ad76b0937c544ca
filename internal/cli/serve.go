package cli

import "github.com/spf13/cobra"

// newServeCmd builds `granary serve` (not yet implemented: returns nil).
func newServeCmd(env *Env) *cobra.Command { return nil }
