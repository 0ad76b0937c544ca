package cli

import "github.com/spf13/cobra"

// subcommands lists the constructors of the top-level commands, in help order.
// Each lives in its own file; a constructor returning nil is skipped.
var subcommands = []func(*Env) *cobra.Command{
	newServeCmd,     // serve.go: the control plane
	newInventoryCmd, // inventory.go: the stockpile ledger client
	newTokenCmd,     // token.go: API tokens
	newChipsCmd,     // chips.go: catalog and export-control classifier
	newFitCmd,       // fit.go: fit advisor
	newSimCmd,       // sim.go: trace-driven simulator
	newRunwayCmd,    // runway.go: reserve runway forecast
}
