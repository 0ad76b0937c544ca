package cli_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/sharedtest"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		IsTerminal: func(io.Writer) bool { return false }}
	code := cli.Run(context.Background(), env, args)
	return out.String(), errb.String(), code
}

// complete is what `granary __complete ARGS…` (the hidden command the
// generated scripts call) proposes for the last argument.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	out, errs, code := run(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d %s", args, code, errs)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.HasPrefix(l, ":") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return got
}

// Flag values and arguments complete without a server: chips (with the
// --catalog file's), the fit advisor's models, policies (after a comma
// too), store kinds, and the values a flag's help lists.
func TestCompletionValues(t *testing.T) {
	cat := filepath.Join(t.TempDir(), "chips.yaml")
	os.WriteFile(cat, []byte("- {id: zz-acme-9, name: Acme 9}\n"), 0o644)
	for _, tc := range []struct {
		args       []string
		want, miss []string
	}{
		{[]string{"chips", "show", "H8"}, []string{"H800", "h800-sxm5-80gb"}, []string{"A800"}},
		{[]string{"chips", "compare", "h800-sxm5-80gb", "910B"}, []string{"910B3"}, []string{"H800"}},
		{[]string{"--catalog", cat, "chips", "show", "zz"}, []string{"zz-acme-9"}, nil},
		{[]string{"sim", "--policy", "las"}, []string{"las", "las-hetero", "las-hetero-packed"}, []string{"fifo"}},
		{[]string{"sim", "--policy", "fifo,las-h"}, []string{"fifo,las-hetero"}, []string{"las-hetero"}},
		{[]string{"serve", "--policy", ""}, []string{"granary", "fifo", "ftf-hetero"}, nil},
		{[]string{"serve", "--db", ""}, []string{"sqlite:", "postgres://"}, nil},
		{[]string{"token", "create", "--db", "post"}, []string{"postgres://"}, []string{"sqlite:"}},
		{[]string{"inventory", "list", "--model", "A8"}, []string{"A800"}, []string{"Llama-3-8B"}},
		{[]string{"jobs", "submit", "--model", "Llama-3-"}, []string{"Llama-3-8B", "Llama-3-70B"}, []string{"H800"}},
		{[]string{"jobs", "submit", "--allow", "H800,910B"}, []string{"H800,910B3"}, nil},
		{[]string{"teams", "set", "llm", "--guarantee", "H8"}, []string{"H800="}, nil},
		{[]string{"chips", "list", "-o", ""}, []string{"table", "json", "yaml", "csv"}, nil},
		{[]string{"jobs", "list", "-o", ""}, []string{"table", "json", "yaml"}, nil},
		{[]string{"sim", "--format", ""}, []string{"gavel", "jsonl", "openb"}, nil},
		{[]string{"inventory", "import", "--format", ""}, []string{"csv", "json"}, nil},
	} {
		got := complete(t, tc.args...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %q lacks %q", tc.args, got, w)
			}
		}
		for _, m := range tc.miss {
			if slices.Contains(got, m) {
				t.Errorf("%q: %q has %q", tc.args, got, m)
			}
		}
	}
}

// `granary completion SHELL` prints the script for bash, zsh and fish; an
// unknown shell exits 2.
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{"bash": "# bash completion V2 for granary", "zsh": "#compdef granary", "fish": "complete -c granary"} {
		out, errs, code := run(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %q not in %.200s %s", shell, code, want, out, errs)
		}
	}
	if _, errs, code := run(t, "completion", "tcsh"); code != 2 || !strings.Contains(errs, `unknown command "tcsh" for "granary completion"`) {
		t.Errorf("completion tcsh: exit %d %s", code, errs)
	}
}

// The bash script, sourced in a real bash with the built binary on PATH,
// completes `granary chips show H8` and `granary sim --policy las-h`. The
// script needs bash-completion's _get_comp_words_by_ref: the package's
// when installed, else a stand-in that reads COMP_WORDS as it does.
func TestCompletionInBash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		sharedtest.Missing(t, "bash: %v", err)
		return
	}
	helpers := `_get_comp_words_by_ref() { cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }`
	if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err == nil {
		helpers = "source /usr/share/bash-completion/bash_completion"
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "granary")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	script, err := exec.Command(bin, "completion", "bash").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "granary.bash"), script, 0o644)
	for line, want := range map[string]string{
		"granary chips show H8":      "H800",
		"granary sim --policy las-h": "las-hetero",
	} {
		sh := helpers + `
source granary.bash
COMP_LINE="` + line + `"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_granary granary "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "--norc", "-c", sh)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		got := strings.Fields(string(out))
		if err != nil || !slices.Contains(got, want) {
			t.Errorf("%s: %v, COMPREPLY %q, want %q", line, err, got, want)
		}
	}
}
