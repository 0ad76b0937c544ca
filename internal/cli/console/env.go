// Package console is what every granary command shares: the streams and
// environment (Env), output formats (-o), and the mapping of errors to exit
// codes. Command packages (internal/cli/*cmd) build on it.
package console

import (
	"errors"
	"fmt"
	"io"
	"os"

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

	// CatalogFile is the persistent --catalog flag.
	CatalogFile string
}

// Terminal reports whether w is an interactive terminal.
func (e *Env) Terminal(w io.Writer) bool { return e.IsTerminal != nil && e.IsTerminal(w) }

// Env returns the environment variable k ("" when unset or no Getenv).
func (e *Env) Env(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// Catalog returns the embedded catalog with the user's --catalog overrides.
func (e *Env) Catalog() (*accel.Catalog, error) {
	cat := accel.Default()
	if e.CatalogFile == "" {
		return cat, nil
	}
	data, err := os.ReadFile(e.CatalogFile)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: e.CatalogFile}, Msg: err.Error()}
	}
	over, err := accel.Parse(e.CatalogFile, data)
	if err != nil {
		return nil, err
	}
	return cat.WithOverrides(over)
}

// UsageError marks bad flags or arguments (exit 2).
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// Usagef returns an error that exits 2, for bad arguments.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// ExitCode maps an error to the process exit code: 0 success, 2 bad usage or
// bad input (invalid, not found, ambiguous), 1 anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(UsageError)),
		errors.Is(err, fleet.ErrInvalid),
		errors.Is(err, fleet.ErrNotFound),
		errors.Is(err, fleet.ErrAmbiguous):
		return 2
	}
	return 1
}
