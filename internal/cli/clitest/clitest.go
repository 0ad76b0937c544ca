// Package clitest runs the CLI's commands in tests, with buffers for their
// streams, and compares their output with golden files under testdata/.
// Only tests import it.
package clitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
)

// Run executes `granary ARGS…` with the command mk builds under a root
// built like internal/cli.NewRoot (persistent --catalog, flag errors are
// usage errors), with an empty environment. It returns stdout, stderr and
// the exit code.
func Run(t testing.TB, mk func(*console.Env) *cobra.Command, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	root := &cobra.Command{Use: "granary", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&out)
	root.SetErr(&errb)
	root.PersistentFlags().StringVar(&env.CatalogFile, "catalog", "", "catalog file")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return console.UsageError{Err: err} })
	root.AddCommand(mk(env))
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(&errb, "granary:", err)
	}
	return out.String(), errb.String(), console.ExitCode(err)
}

// Command executes the command mk builds, on its own (no root), with args
// and the environment env (GRANARY_SERVER, GRANARY_TOKEN, HOME…). Its
// usage goes to stderr; flag errors are usage errors. It returns stdout,
// stderr and the exit code.
func Command(t testing.TB, env map[string]string, mk func(*console.Env) *cobra.Command, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	cmd := mk(e)
	cmd.SetArgs(args)
	cmd.SetOut(&errb)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return console.UsageError{Err: err} })
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("granary: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), console.ExitCode(err)
}

// Golden compares got with testdata/name; with update (the package's
// -update flag) it rewrites the file instead.
func Golden(t testing.TB, update bool, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, d)
	}
}

// Buffer is a bytes.Buffer safe to write from a server or a child process
// and read from the test at the same time.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
