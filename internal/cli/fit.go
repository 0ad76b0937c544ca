package cli

import "github.com/spf13/cobra"

// newFitCmd builds `granary fit` (not yet implemented: returns nil).
func newFitCmd(env *Env) *cobra.Command { return nil }
