package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/buildinfo"
	"github.com/granaryhq/granary/internal/cli/console"
)

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"version", "-o", "json"}} {
		var out, errb bytes.Buffer
		env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, IsTerminal: func(io.Writer) bool { return false }}
		if code := Run(context.Background(), env, args); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errb.String())
		}
		if args[len(args)-1] == "json" {
			var b buildinfo.Info
			if err := json.Unmarshal(out.Bytes(), &b); err != nil || b.Go == "" || b.Version == "" {
				t.Errorf("json: %v %s", err, out.String())
			}
		} else if !strings.HasPrefix(out.String(), "granary ") {
			t.Errorf("%v: %q", args, out.String())
		}
	}
}
