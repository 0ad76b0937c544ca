// Package cli builds the granary command tree from the command packages
// (internal/cli/*cmd). Nothing is registered at import time; cmd/granary
// only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/buildinfo"
	"github.com/granaryhq/granary/internal/cli/agentcmd"
	"github.com/granaryhq/granary/internal/cli/chipscmd"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/fitcmd"
	"github.com/granaryhq/granary/internal/cli/invcmd"
	"github.com/granaryhq/granary/internal/cli/jobscmd"
	"github.com/granaryhq/granary/internal/cli/runwaycmd"
	"github.com/granaryhq/granary/internal/cli/servecmd"
	"github.com/granaryhq/granary/internal/cli/simcmd"
)

// NewRoot builds the whole command tree.
func NewRoot(env *console.Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "granary",
		Short:         "Run AI on the chips you have: stockpile ledger, chip catalog, fit advisor, scheduler, simulator, runway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.PersistentFlags().StringVar(&env.CatalogFile, "catalog", "", "YAML or JSON file of chips that add to or override the embedded catalog")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return console.UsageError{Err: err} })
	for _, c := range []*cobra.Command{
		chipscmd.New(env),     // catalog and export-control classifier
		fitcmd.New(env),       // fit advisor: serve, train, matrix
		servecmd.New(env),     // the control plane: API, first page, metrics
		invcmd.New(env),       // inventory client: import, list, set-state, summary, history
		invcmd.NewToken(env),  // API tokens: create, list
		simcmd.New(env),       // simulator: traces × fleets × policies, side by side
		jobscmd.New(env),      // jobs client: submit, list, describe, cancel
		jobscmd.NewTeams(env), // teams: weights, guarantees, share vs guarantee
		runwaycmd.New(env),    // runway forecast: how long the stockpile lasts, levers
		agentcmd.New(env),     // node agent: vendor tools → devices and health → server
	} {
		if c != nil {
			root.AddCommand(c)
		}
	}
	root.AddCommand(newVersion(env))
	root.Version = buildinfo.Read().String()
	root.SetVersionTemplate("{{.Version}}\n")
	// cobra's `completion bash|zsh|fish|powershell`, added now rather than
	// at Execute so that strictGroups covers it (`completion tcsh` exits 2).
	root.InitDefaultCompletionCmd()
	strictGroups(root)
	completions(root, env)
	return root
}

// strictGroups makes every command that only groups others (no Run of its
// own) refuse an unknown subcommand with exit 2 and the nearest names,
// instead of printing its help and exiting 0 (`granary chips shwo`).
// Without arguments it still prints its help.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if c.Run != nil || c.RunE != nil || !c.HasSubCommands() || !c.HasParent() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, ", ") + "?"
		}
		return console.UsageError{Err: errors.New(msg)}
	}
}

// Run executes the command line and returns the exit code, printing any error
// to stderr.
func Run(ctx context.Context, env *console.Env, args []string) int {
	root := NewRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		err = console.UsageError{Err: err} // cobra's own, at the top level
	}
	if err != nil {
		fmt.Fprintln(env.Stderr, "granary:", err)
	}
	return console.ExitCode(err)
}
