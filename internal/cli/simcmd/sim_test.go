package simcmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, IsTerminal: func(io.Writer) bool { return false }}
	code = cli.Run(context.Background(), env, args)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update if intended):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestSimTableGolden(t *testing.T) {
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv",
		"--fleet", "v100=2,p100=2,k80=2", "--policy", "fifo,fifo-hetero,las,las-hetero,max-throughput")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "small.table.golden", out)
}

func TestSimJSONContract(t *testing.T) {
	plotFile := filepath.Join(t.TempDir(), "sim.svg")
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/jobs.jsonl", "--throughputs", "testdata/tput.csv",
		"--fleet", "testdata/fleet.yaml", "--policy", "las-hetero,las", "-o", "json", "--plot", plotFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "jobs.json.golden", out)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["policy"] != "las-hetero" || rows[1]["policy"] != "las" {
		t.Fatalf("want one object per policy in the order given: %v", rows)
	}
	for _, k := range []string{"policy", "jobs", "avg_jct_s", "p50_jct_s", "p90_jct_s", "p99_jct_s", "makespan_s", "utilization", "per_job"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	pj := rows[0]["per_job"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "arrival_s", "completion_s", "jct_s"} {
		if _, ok := pj[k]; !ok {
			t.Errorf("per_job lacks %q", k)
		}
	}
	if b, err := os.ReadFile(plotFile); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("plot not written: %v", err)
	}
}

func TestSimBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	badTrace := write("bad.trace", "A3C\tc\td\t-s\t0\t100\t1\t1\t-1\t0\nA3C\tc\td\t-s\t0\tmany\t1\t1\t-1\t5\n")
	shortTrace := write("short.trace", "A3C\tc\td\t-s\t0\n")
	noEntry := write("noentry.trace", "A3C\tc\td\t-s\t0\t100\t1\t1\t-1\t0\nBERT\tc\td\t-s\t0\t100\t1\t1\t-1\t5\n")
	nowhere := write("nowhere.trace", "A3C\tc\td\t-s\t0\t100\t1\t1\t-1\t0\nResNet-50\tc\td\t-s\t0\t100\t2\t1\t-1\t5\n")
	base := []string{"sim", "--throughputs", "testdata/tput.csv", "--fleet", "v100=2,p100=2,k80=2"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"non-numeric", append(base, "--trace", badTrace), 2, `bad.trace:2: field "total_steps": "many" is not an integer`},
		{"field count", append(base, "--trace", shortTrace), 2, `short.trace:1: want 10 tab-separated fields`},
		{"no entry", append(base, "--trace", noEntry), 2, `noentry.trace:2: field "job_type": the throughput table has no entry for class "BERT"`},
		{"unknown model", []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv", "--fleet", "v100=2,h900=4"}, 2, `--fleet: field "h900": unknown accelerator model`},
		{"bad policy", append(base, "--trace", "testdata/small.trace", "--policy", "srtf"), 2, `unknown policy "srtf"`},
		{"bad round", append(base, "--trace", "testdata/small.trace", "--round", "soon"), 2, `--round`},
		{"missing flag", []string{"sim", "--trace", "testdata/small.trace"}, 2, `--throughputs is required`},
		{"bad throughputs", []string{"sim", "--trace", "testdata/small.trace", "--throughputs", write("t.csv", "class,gang,v100\nA3C,1,x\n"), "--fleet", "v100=1"}, 2, `t.csv:2: field "v100"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.want)
			}
		})
	}
	// A job that can run nowhere (gang 2 of ResNet-50 runs only on k80 here,
	// where its throughput is 0) is reported, not dropped silently.
	out, errs, code := runCLI(t, "sim", "--trace", nowhere, "--throughputs", "testdata/tput.csv", "--fleet", "k80=4,v100=1", "-o", "json")
	if code != 0 || !strings.Contains(errs, "nowhere.trace:2: job 1 (ResNet-50, gang 2)") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, `"reason": "gang-too-large"`) {
		t.Errorf("JSON does not list the unrunnable job:\n%s", out)
	}
}

func TestGenerate(t *testing.T) {
	out, errs, code := runCLI(t, "sim", "generate", "--throughputs", "testdata/tput.csv", "--jobs", "5", "--rate", "2", "--seed", "3", "--multi-gpu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "generate.jsonl.golden", out)
	// What generate writes, sim reads.
	p := filepath.Join(t.TempDir(), "gen.jsonl")
	os.WriteFile(p, []byte(out), 0o644)
	if _, errs, code := runCLI(t, "sim", "--trace", p, "--throughputs", "testdata/tput.csv", "--fleet", "v100=2,p100=2,k80=2"); code != 0 {
		t.Fatalf("sim on generated trace: exit %d: %s", code, errs)
	}
	if _, errs, code := runCLI(t, "sim", "generate", "--throughputs", "testdata/tput.csv", "--jobs", "0"); code != 2 || !strings.Contains(errs, "--jobs") {
		t.Errorf("--jobs 0: exit %d %s", code, errs)
	}
	if out, _, code := runCLI(t, "sim", "generate", "--throughputs", "testdata/tput.csv", "--jobs", "3", "--format", "gavel"); code != 0 || strings.Count(out, "\t") != 27 {
		t.Errorf("gavel format: exit %d\n%s", code, out)
	}
}

func TestSimNodesAndProgress(t *testing.T) {
	var out, errb bytes.Buffer
	env := &console.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		IsTerminal: func(io.Writer) bool { return true }}
	code := cli.Run(context.Background(), env, []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv",
		"--fleet", "testdata/nodes.yaml", "--policy", "las-hetero,fifo-hetero"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "las-hetero") || !strings.Contains(out.String(), "fifo-hetero") {
		t.Errorf("table:\n%s", out.String())
	}
	// The same fleet as counts gives the same result (one device per node
	// would differ only in packing, and these gangs fit either way).
	flat, _, _ := runCLI(t, "sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv",
		"--fleet", "v100=2,p100=2,k80=2", "--policy", "las-hetero,fifo-hetero")
	if flat != out.String() {
		t.Errorf("nodes fleet and counts fleet differ:\n%s\nvs\n%s", out.String(), flat)
	}
	_, errs, code := runCLI(t, "sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv", "--fleet", "testdata/jobs.jsonl.yaml")
	if code != 2 || !strings.Contains(errs, "jobs.jsonl.yaml") {
		t.Errorf("missing fleet file: exit %d %s", code, errs)
	}
}
