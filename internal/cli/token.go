package cli

import "github.com/spf13/cobra"

// newTokenCmd builds `granary token` (not yet implemented: returns nil).
func newTokenCmd(env *Env) *cobra.Command { return nil }
