// Command granary is the Granary control plane and its offline tools.
// It only wires the process (streams, environment, signals) to internal/cli.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &console.Env{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		IsTerminal: func(w io.Writer) bool {
			f, ok := w.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
	}
	code := cli.Run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}
