package cli_test

import (
	"bytes"
	"context"
	"io"
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
