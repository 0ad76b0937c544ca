package cli

import "github.com/spf13/cobra"

// newSimCmd builds `granary sim` (not yet implemented: returns nil).
func newSimCmd(env *Env) *cobra.Command { return nil }
