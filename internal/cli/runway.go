package cli

import "github.com/spf13/cobra"

// newRunwayCmd builds `granary runway` (not yet implemented: returns nil).
func newRunwayCmd(env *Env) *cobra.Command { return nil }
