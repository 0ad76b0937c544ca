package cli

import "github.com/spf13/cobra"

// newInventoryCmd builds `granary inventory` (not yet implemented: returns nil).
func newInventoryCmd(env *Env) *cobra.Command { return nil }
