package cli_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
)

// Unknown commands and flags exit 2 with the nearest names (issue 16:
// `granary chips shwo` printed help and exited 0); a group without
// arguments still prints its help and exits 0.
func TestUnknownCommandsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"chips", "shwo"}, 2, `unknown command "shwo" for "granary chips"; did you mean show?`},
		{[]string{"shwo"}, 2, `unknown command "shwo" for "granary"`},
		{[]string{"chips", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"token", "nope"}, 2, `unknown command "nope" for "granary token"`},
		{[]string{"chips"}, 0, ""},
	} {
		var out, errb bytes.Buffer
		env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
			IsTerminal: func(io.Writer) bool { return false }}
		code := cli.Run(context.Background(), env, tc.args)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

// A --catalog file with an id twice is refused by every command that reads
// the catalog: exit 2 naming the file, the line, the field and where the
// id came first (issue 16: the second entry replaced the first).
func TestCatalogDuplicateID(t *testing.T) {
	f := filepath.Join(t.TempDir(), "chips.yaml")
	os.WriteFile(f, []byte("chips:\n  - {id: acme-1, name: Acme One, memory_gb: 64}\n  - {id: acme-2, name: Acme Two}\n  - {id: ACME-1, name: Acme Again}\n"), 0o644)
	for _, args := range [][]string{{"chips", "list"}, {"chips", "show", "acme-1"}} {
		var out, errb bytes.Buffer
		env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
			IsTerminal: func(io.Writer) bool { return false }}
		code := cli.Run(context.Background(), env, append([]string{"--catalog", f}, args...))
		want := f + `:4: entry 3 (Acme Again): field "id": duplicate id "ACME-1" (first in entry 1, line 2)`
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", args, code, errb.String(), want)
		}
	}
}
