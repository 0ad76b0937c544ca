package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
)

// run is `granary args…` in-process: stdout and the exit code.
func runGranary(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		IsTerminal: func(io.Writer) bool { return false }}
	code := cli.Run(context.Background(), env, args)
	if code != 0 {
		t.Errorf("granary %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String(), code
}

// normal is a document as JSON values (float64 numbers, map[string]any),
// whichever encoding it came in.
func normal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every command that prints data takes -o yaml (issue 16: 10 of 17
// refused it), and its YAML is the same data as its JSON.
func TestYAMLOutputIsTheJSONData(t *testing.T) {
	for _, args := range [][]string{
		{"chips", "list"},
		{"chips", "show", "H800"},
		{"chips", "compare", "H800", "H20", "910B3"},
		{"chips", "classify", "H20", "H100", "--rules", "2022-10"},
		{"fit", "models"},
		{"fit", "serve", "--model", "Llama-3-70B", "--precision", "bf16", "--chips", "H800,910B3,L20"},
		{"fit", "train", "--model", "Llama-3-8B", "--chip", "H800", "--devices", "64", "--tokens", "1T"},
		{"runway", "--plan", "../../docs/examples/runway-plan.yaml", "--paths", "200"},
		{"version"},
	} {
		js, c1 := runGranary(t, append(args, "-o", "json")...)
		ys, c2 := runGranary(t, append(args, "-o", "yaml")...)
		if c1 != 0 || c2 != 0 {
			continue
		}
		var fromJSON, fromYAML any
		if err := json.Unmarshal([]byte(js), &fromJSON); err != nil {
			t.Errorf("%v -o json: %v", args, err)
			continue
		}
		if err := yaml.Unmarshal([]byte(ys), &fromYAML); err != nil {
			t.Errorf("%v -o yaml: %v\n%s", args, err, ys)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(ys), "{") || strings.HasPrefix(strings.TrimSpace(ys), "[") {
			t.Errorf("%v -o yaml printed JSON:\n%.200s", args, ys)
		}
		if a, b := normal(t, fromJSON), normal(t, fromYAML); !reflect.DeepEqual(a, b) {
			t.Errorf("%v: YAML and JSON differ\njson: %.400v\nyaml: %.400v", args, a, b)
		}
	}
}
