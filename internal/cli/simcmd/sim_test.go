package simcmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/clitest"
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

func TestSimTableGolden(t *testing.T) {
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv",
		"--fleet", "v100=2,p100=2,k80=2", "--policy", "fifo,fifo-hetero,las,las-hetero,max-throughput")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	clitest.Golden(t, *update, "small.table.golden", out)
}

func TestSimJSONContract(t *testing.T) {
	plotFile := filepath.Join(t.TempDir(), "sim.svg")
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/jobs.jsonl", "--throughputs", "testdata/tput.csv",
		"--fleet", "testdata/fleet.yaml", "--policy", "las-hetero,las", "-o", "json", "--plot", plotFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	clitest.Golden(t, *update, "jobs.json.golden", out)
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
		{"bad policy", append(base, "--trace", "testdata/small.trace", "--policy", "srtf"), 2, `unknown policy "srtf" (valid: fifo, fifo-hetero, las, las-hetero, las-hetero-packed, granary,`},
		// Space sharing needs pair throughputs (Gavel's JSON has them; CSV does not).
		{"packed without pairs", append(base, "--trace", "testdata/small.trace", "--policy", "las-hetero,las-hetero-packed"), 2,
			`las-hetero-packed: not found: space sharing needs pair throughputs: missing pair (A3C, A3C) with gang 1 on k80 (the table has no pair throughputs at all)`},
		{"bad estimate noise", append(base, "--trace", "testdata/small.trace", "--estimate-noise", "0.5"), 2, `--estimate-noise: invalid input: estimate noise must be a finite number ≥ 1, got 0.5`},
		{"bad round", append(base, "--trace", "testdata/small.trace", "--round", "soon"), 2, `--round`},
		// Issue 16: sizes and durations are bounded, with the limit named.
		{"steps 1e11", append(base, "--trace", write("long.jsonl", `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 1e11}`+"\n")), 2,
			`long.jsonl:1: field "steps": 1e+11 steps take 1.06e+03 years at 3 steps/s on v100-sxm2-32gb, the fastest model of the fleet for it; a job may take at most a year`},
		{"arrival 1e308", append(base, "--trace", write("late.jsonl", `{"arrival_s": 1e308, "class": "A3C", "gang": 1, "steps": 100}`+"\n")), 2,
			`late.jsonl:1: field "arrival_s": must be between 0 and 315360000 s (10 years, the trace limit), got 1e+308`},
		{"fleet 999999999999", []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv", "--fleet", "v100=999999999999"}, 2,
			`--fleet: field "v100": 999999999999 devices; the simulator's limit is 1000000`},
		{"fleet total", []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv", "--fleet", "v100=600000,k80=600000"}, 2,
			`the fleet has 1200000 devices; the simulator's limit is 1000000`},
		{"fleet yaml", []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv", "--fleet", write("big.yaml", "nodes:\n  - {model: v100, devices: 2000000}\n")}, 2,
			`big.yaml:2: nodes[0]: field "devices": want 1 to 1000000 devices, got 2000000`},
		{"round tiny", append(base, "--trace", "testdata/small.trace", "--round", "0.001s"), 2, `--round 0.001s: must be between 1 s and 86400 s`},
		{"rounds", append(base, "--trace", write("far.jsonl", `{"arrival_s": 300000000, "class": "A3C", "gang": 1, "steps": 100}`+"\n"), "--round", "1s"), 2,
			`the simulator's limit is 2000000 rounds: use a longer --round`},
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
	clitest.Golden(t, *update, "generate.jsonl.golden", out)
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

// Independent numbers beside the goldens (a golden rewritten with -update
// after a code change proves nothing by itself).

// small.table.golden: under fifo-hetero, job 0 (A3C, 36,000 steps, gang 1,
// first in arrival order) takes the fastest model with room, a V100 at 3
// steps/s, at every round, and keeps it to the end: JCT 36,000 / 3 =
// 12,000 s. The JSON of the same run gives the per-job number, and its mean
// JCT is the table's.
func TestSimTableGoldenByHand(t *testing.T) {
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv",
		"--fleet", "v100=2,p100=2,k80=2", "--policy", "fifo-hetero", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []struct {
		AvgJCT float64 `json:"avg_jct_s"`
		PerJob []struct {
			ID  int     `json:"id"`
			JCT float64 `json:"jct_s"`
		} `json:"per_job"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].PerJob) != 8 || rows[0].PerJob[0].ID != 0 {
		t.Fatalf("want one policy with 8 finished jobs: %s", out)
	}
	if got := rows[0].PerJob[0].JCT; math.Abs(got-12000) > 1e-6 {
		t.Errorf("fifo-hetero job 0: JCT %v s, by hand 36000 / 3 = 12000 s", got)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "small.table.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if row := fmt.Sprintf("fifo-hetero     8     %.2f", rows[0].AvgJCT/3600); !strings.Contains(string(want), row) {
		t.Errorf("small.table.golden lacks %q (the JSON's mean JCT)", row)
	}
}

// jobs.json.golden: job 2 (ResNet-50, gang 2, 100,000 steps) arrives at
// 600 s with jobs 0 and 1 active, so n = 3; its isolated share is
// devices ÷ (n·gang) = 2 / 6 of the V100s (18 steps/s) and of the P100s
// (9 steps/s), the K80s giving it nothing; Σx = 2/3 ≤ 1 needs no scaling
// (docs/simulator.md, FTF ρ). Isolated time 100,000 / (18/3 + 9/3) s, and
// ρ = JCT / that, in both policies of the golden. Job 0 (A3C, gang 1,
// 36,000 steps) at t = 0 gets 2/n ≥ 1 of every model, Σx ≥ 3, scaled to 1/3
// each: isolated time 36,000 / ((3 + 2 + 1)/3) = 18,000 s.
func TestJobsJSONGoldenByHand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "jobs.json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Policy string `json:"policy"`
		PerJob []struct {
			ID  int     `json:"id"`
			JCT float64 `json:"jct_s"`
			Rho float64 `json:"ftf_rho"`
		} `json:"per_job"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	iso := map[int]float64{0: 36000 / ((3.0 + 2 + 1) / 3), 2: 100000 / (18.0/3 + 9.0/3)}
	for _, r := range rows {
		found := 0
		for _, j := range r.PerJob {
			if iso[j.ID] > 0 {
				found++
				if want := j.JCT / iso[j.ID]; math.Abs(j.Rho-want) > 1e-9*want {
					t.Errorf("%s job %d: ρ %v, by hand JCT %v / %v = %v", r.Policy, j.ID, j.Rho, j.JCT, iso[j.ID], want)
				}
			}
		}
		if found != 2 {
			t.Errorf("%s: jobs 0 and 2 did not both finish", r.Policy)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("%d policies in the golden, want 2", len(rows))
	}
}

// generate.jsonl.golden: every job's steps ÷ its class's V100 rate (the
// reference model) is a duration from Gavel's mixture, 60·10^U(1.5, 4) s,
// and arrivals are increasing from 0.
func TestGenerateGoldenByHand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "generate.jsonl.golden"))
	if err != nil {
		t.Fatal(err)
	}
	v100 := map[string]float64{"A3C": 3, "Transformer": 8, "ResNet-50": 10} // testdata/tput.csv, gang 1
	prev := -1.0
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d jobs in the golden, want 5", len(lines))
	}
	for i, l := range lines {
		var j struct {
			Arrival float64 `json:"arrival_s"`
			Class   string  `json:"class"`
			Gang    int     `json:"gang"`
			Steps   float64 `json:"steps"`
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatal(err)
		}
		rate, ok := v100[j.Class]
		if !ok || j.Gang != 1 {
			t.Fatalf("job %d: %s × %d is not a gang-1 class of tput.csv", i, j.Class, j.Gang)
		}
		if d := j.Steps / rate; d < 60*math.Pow(10, 1.5) || d > 60*1e4 {
			t.Errorf("job %d: duration %.0f s outside Gavel's 60·10^U(1.5, 4) s", i, d)
		}
		if (i == 0 && j.Arrival != 0) || j.Arrival <= prev && i > 0 {
			t.Errorf("job %d: arrival %v after %v", i, j.Arrival, prev)
		}
		prev = j.Arrival
	}
}

// granary and las-hetero on one trace with noisy estimates: one row each,
// the same output for the same --seed, and the estimates depend on it.
func TestSimGranaryCompare(t *testing.T) {
	args := []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv",
		"--fleet", "v100=1,p100=1,k80=1", "--policy", "granary,las-hetero", "--estimate-noise", "2", "-o", "json"}
	run := func(seed string) string {
		out, errs, code := runCLI(t, append(args, "--seed", seed)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		return out
	}
	a, b := run("1"), run("1")
	if a != b {
		t.Errorf("same seed, different output")
	}
	if !strings.Contains(a, `"policy": "granary"`) || !strings.Contains(a, `"policy": "las-hetero"`) {
		t.Errorf("want a row per policy:\n%s", a)
	}
}

// `granary sim --policy las-hetero,las-hetero-packed` compares both on one
// trace with Gavel's JSON (pairs included): sharing at 0.9× each must not
// lose to running alone here, and the packed run names its policy.
func TestSimPackedCompare(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for wi, wt := range []string{"v100", "p100", "k80"} {
		if wi > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q: {", wt)
		classes := []struct {
			name string
			gang int
			v    float64
		}{{"A3C", 1, 3}, {"ResNet-50", 1, 10}, {"Transformer", 1, 8}, {"ResNet-50", 2, 18}}
		for ci, c := range classes {
			if ci > 0 {
				b.WriteString(",")
			}
			v := c.v / float64(1+wi)
			fmt.Fprintf(&b, "\"('%s', %d)\": {\"null\": %g", c.name, c.gang, v)
			for _, o := range classes {
				if o.gang == c.gang {
					fmt.Fprintf(&b, ", \"('%s', %d)\": [%g, %g]", o.name, o.gang, 0.9*v, 0.9*o.v/float64(1+wi))
				}
			}
			b.WriteString("}")
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	p := filepath.Join(t.TempDir(), "tput.json")
	os.WriteFile(p, []byte(b.String()), 0o644)
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/small.trace", "--throughputs", p, "--fleet", "v100=1,p100=1,k80=1", "--policy", "las-hetero,las-hetero-packed", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []struct {
		Policy string  `json:"policy"`
		Jobs   int     `json:"jobs"`
		AvgJCT float64 `json:"avg_jct_s"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rows) != 2 || rows[1].Policy != "las-hetero-packed" || rows[1].Jobs != rows[0].Jobs {
		t.Fatalf("rows %+v", rows)
	}
	if !(rows[1].AvgJCT < rows[0].AvgJCT) {
		t.Errorf("packed avg JCT %.0f s ≥ las-hetero's %.0f s with 0.9× pair throughputs on a loaded 3-device fleet", rows[1].AvgJCT, rows[0].AvgJCT)
	}
}
