// Package cli builds the granary command tree. Each command is made by a
// constructor taking the shared Env (streams, catalog loader); nothing is
// registered at import time. cmd/granary only calls NewRoot and Exit.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
)

// Env is what commands share: the streams they write to and the environment
// they read. Tests build one with buffers.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// IsTerminal reports whether w is an interactive terminal (progress bars).
	IsTerminal func(w io.Writer) bool

	catalogFile string // --catalog, a persistent flag
}

// Catalog returns the embedded catalog with the user's --catalog overrides.
func (e *Env) Catalog() (*accel.Catalog, error) {
	cat := accel.Default()
	if e.catalogFile == "" {
		return cat, nil
	}
	data, err := os.ReadFile(e.catalogFile)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: e.catalogFile}, Msg: err.Error()}
	}
	over, err := accel.Parse(e.catalogFile, data)
	if err != nil {
		return nil, err
	}
	return cat.WithOverrides(over)
}

// NewRoot builds the whole command tree.
func NewRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "granary",
		Short:         "Run AI on the chips you have: stockpile ledger, chip catalog, fit advisor, scheduler, simulator, runway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.PersistentFlags().StringVar(&env.catalogFile, "catalog", "", "YAML or JSON file of chips that add to or override the embedded catalog")
	for _, add := range subcommands {
		if c := add(env); c != nil {
			root.AddCommand(c)
		}
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	return root
}

// usageError marks bad flags or arguments (exit 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// Usagef returns an error that exits 2, for bad arguments.
func Usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// ExitCode maps an error to the process exit code: 0 success, 2 bad usage or
// bad input (invalid, not found, ambiguous), 1 anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(usageError)),
		errors.Is(err, fleet.ErrInvalid),
		errors.Is(err, fleet.ErrNotFound),
		errors.Is(err, fleet.ErrAmbiguous):
		return 2
	}
	return 1
}

// Run executes the command line and returns the exit code, printing any error
// to stderr.
func Run(ctx context.Context, env *Env, args []string) int {
	root := NewRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(env.Stderr, "granary:", err)
	}
	return ExitCode(err)
}
