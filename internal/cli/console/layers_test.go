package console

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestLayerPrecedence: for every combination of where a value is given
// (flag, environment, file), the flag beats the variable, which beats the
// file, which beats the default; Sources names the winner.
func TestLayerPrecedence(t *testing.T) {
	for _, tc := range []struct {
		flag, env, file bool
		want, src       string
	}{
		{false, false, false, "default", "--log-level"},
		{false, false, true, "file", "cfg.yaml:2: log-level"},
		{false, true, false, "env", "$GRANARY_LOG_LEVEL (--log-level)"},
		{false, true, true, "env", "$GRANARY_LOG_LEVEL (--log-level)"},
		{true, false, false, "flag", "--log-level"},
		{true, false, true, "flag", "--log-level"},
		{true, true, false, "flag", "--log-level"},
		{true, true, true, "flag", "--log-level"},
	} {
		dir := t.TempDir()
		file := ""
		if tc.file {
			file = filepath.Join(dir, "cfg.yaml")
			if err := os.WriteFile(file, []byte("# serve\nlog-level: file\nround: 90s\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		environ := map[string]string{}
		if tc.env {
			environ["GRANARY_LOG_LEVEL"] = "env"
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		level := fs.String("log-level", "default", "")
		round := fs.Duration("round", time.Minute, "")
		fs.String("config", "", "")
		var args []string
		if tc.flag {
			args = []string{"--log-level", "flag"}
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		src, err := Layer(fs, &Env{Getenv: func(k string) string { return environ[k] }}, file, "config")
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if *level != tc.want || src.Of("log-level") != filepath.Join(dir, tc.src) && src.Of("log-level") != tc.src {
			t.Errorf("%+v: log-level %q from %q, want %q from %q", tc, *level, src.Of("log-level"), tc.want, tc.src)
		}
		if wantRound := map[bool]time.Duration{true: 90 * time.Second, false: time.Minute}[tc.file]; *round != wantRound {
			t.Errorf("%+v: round %v, want %v", tc, *round, wantRound)
		}
	}
}

// TestLayerBadValues: each refusal is a usage error (exit 2) naming the
// source and the field.
func TestLayerBadValues(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		env  map[string]string
		file string
		want []string
	}{
		{map[string]string{"GRANARY_ROUND": "soon"}, "", []string{"$GRANARY_ROUND (--round)", `"soon"`}},
		{nil, write("dur.yaml", "addr: x\nround: soon\n"), []string{"dur.yaml:2: round", `"soon"`}},
		{nil, write("unknown.yaml", "adress: x\n"), []string{"unknown.yaml:1", `unknown field "adress"`, "addr, round"}},
		{nil, write("config.yaml", "config: other.yaml\n"), []string{"config.yaml:1", `unknown field "config"`}},
		{nil, write("nested.yaml", "addr:\n  host: x\n"), []string{"nested.yaml:1: addr", "single value"}},
		{nil, write("null.yaml", "round:\n"), []string{"null.yaml:1: round", "no value"}},
		{nil, write("dup.yaml", "addr: a\naddr: b\n"), []string{"dup.yaml", "[2:1]", "already defined"}},
		{nil, write("list.yaml", "- addr\n"), []string{"list.yaml:1", "mapping"}},
		{nil, write("bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"), []string{"bomb.yaml"}},
		{nil, filepath.Join(dir, "missing.yaml"), []string{"missing.yaml"}},
	} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		fs.String("addr", "", "")
		fs.Duration("round", time.Minute, "")
		fs.String("config", "", "")
		_, err := Layer(fs, &Env{Getenv: func(k string) string { return tc.env[k] }}, tc.file, "config")
		if ExitCode(err) != 2 {
			t.Errorf("%v %s: exit %d (%v), want 2", tc.env, tc.file, ExitCode(err), err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %s: %q lacks %q", tc.env, tc.file, err, w)
			}
		}
	}
}
