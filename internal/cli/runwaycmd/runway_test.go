package runwaycmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/cli"
	"github.com/granaryhq/granary/internal/cli/console"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

const example = "../../../docs/examples/runway-plan.yaml"

func run(t *testing.T, env map[string]string, terminal bool, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &console.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv:     func(k string) string { return env[k] },
		IsTerminal: func(w io.Writer) bool { return terminal },
	}
	code := cli.Run(context.Background(), e, append([]string{"runway"}, args...))
	return code, out.String(), errb.String()
}

// The JSON of the example plan is a product contract (the API returns the
// same document): compare it with the golden file; -update rewrites it.
func TestExampleGoldenJSON(t *testing.T) {
	code, out, stderr := run(t, nil, true, "--plan", example, "--paths", "2000", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("json output wrote to stderr (progress bar?): %q", stderr)
	}
	golden := filepath.Join("testdata", "example.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), out); d != "" {
		t.Errorf("JSON differs from %s (-want +got), rerun with -update if intended:\n%s", golden, d)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"runway_months", "first_shortfall", "training_on_time", "series", "levers", "runway_p50_std_error_months"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	rm := doc["runway_months"].(map[string]any)
	for _, k := range []string{"p10", "p50", "p90"} {
		if _, ok := rm[k]; !ok {
			t.Errorf("runway_months lacks %s", k)
		}
	}
}

func TestTableAndPlot(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "r.svg")
	code, out, stderr := run(t, nil, false, "--plan", example, "--paths", "500", "--seed", "3", "--plot", svg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"500 paths, seed 3", "runway (months)", "first shortfall", "std error", "gen-5", "efficiency", "domestic deliveries +50%", "reserve +10%", "SUPPLY P50"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("P50 runway gained")) {
		t.Errorf("plot: %v, %d bytes", err, len(b))
	}
}

// On a terminal the table output shows a progress bar on stderr; stdout
// stays clean.
func TestProgressBarOnTerminal(t *testing.T) {
	code, out, stderr := run(t, nil, true, "--plan", example, "--paths", "300")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "simulating") || strings.Contains(out, "simulating") {
		t.Errorf("progress bar: stderr %q", stderr)
	}
	_, _, stderr = run(t, nil, false, "--plan", example, "--paths", "300")
	if stderr != "" {
		t.Errorf("not a terminal, yet stderr %q", stderr)
	}
}

func TestBadInputExit2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("start: 2027-01\nfleet:\n  - model: H900\n    in_service: 3\ndemand: {inference: {pflops: 1}}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan", bad}, `bad.yaml:3: fleet[0] (H900): field "fleet[0].model"`},
		{[]string{"--plan", filepath.Join("..", "..", "forecast", "testdata", "bad", "unknown-field.yaml")}, `unknown-field.yaml:5:5: field "in_servce"`},
		{[]string{"--plan", example, "-o", "xml"}, "unknown output format"},
		{[]string{"--plan", example, "--plot", "x.pdf"}, ".svg or .png"},
		{[]string{"--plan", example, "--paths", "0"}, "--paths"},
		{[]string{}, "--plan FILE is required"},
		{[]string{"--plan", "does-not-exist.yaml"}, "does-not-exist.yaml"},
		{[]string{"--plan", example, "--server", "http://localhost:1"}, "remove fleet from the plan"},
	} {
		code, _, stderr := run(t, nil, false, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// --server reads the fleet from GET /api/v1/fleet/summary with the token.
func TestServerFleet(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/fleet/summary" {
			http.NotFound(w, r)
			return
		}
		auth = r.Header.Get("Authorization")
		if auth != "Bearer gry_test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"totals": {}, "models": [
		  {"model": "h800-sxm5-80gb", "by_state": {"in-service": 100, "reserve": 20, "maintenance": 5, "failed": 1, "retired": 9}},
		  {"model": "ascend-910b", "by_state": {"in-service": 0, "reserve": 0, "retired": 4}},
		  {"model": "mlu590", "by_state": {"in-service": 7}},
		  {"model": "gone-from-catalog", "by_state": {"in-service": 3}}]}`)
	}))
	defer srv.Close()
	plan := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(plan, []byte("start: 2027-01\nhorizon_months: 24\nutilization: 1\nafr: {default: 0}\ndemand: {inference: {pflops: 98.94}}\n"), 0o644)
	code, out, stderr := run(t, map[string]string{"GRANARY_TOKEN": "gry_test"}, false, "--plan", plan, "--server", srv.URL, "--paths", "10", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Series []struct {
			Supply struct{ P50 float64 } `json:"supply"`
		} `json:"series"`
	}
	json.Unmarshal([]byte(out), &res)
	// 100 H800 in service × 0.9894 PFLOP/s = 98.94 = demand: no shortfall.
	if len(res.Series) != 24 || res.Series[0].Supply.P50 != 98.94 {
		t.Fatalf("series from the live fleet: %+v", res.Series)
	}
	// Chips without a rate, or unknown to the catalog, are left out with a note.
	if !strings.Contains(stderr, "leaving out 7 in service + 0 reserve of MLU590") || !strings.Contains(stderr, "gone-from-catalog") {
		t.Errorf("stderr: %q", stderr)
	}
	code, _, stderr = run(t, nil, false, "--plan", plan, "--server", srv.URL, "--paths", "10")
	if code != 1 || !strings.Contains(stderr, "GRANARY_TOKEN") {
		t.Errorf("without a token: exit %d, %q", code, stderr)
	}
}

// The alias bomb of issue 16 is refused (exit 2, naming the limit) with a
// bounded allocation.
func TestAliasBombExit2(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, _, stderr := run(t, nil, false, "--plan", filepath.Join("..", "..", "forecast", "testdata", "bad", "alias-bomb.yaml"))
	runtime.ReadMemStats(&after)
	if code != 2 || !strings.Contains(stderr, "alias-bomb.yaml:10:7:") || !strings.Contains(stderr, "more than 100000 nodes once aliases are expanded") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the refused bomb allocated %d MiB", alloc>>20)
	}
}

// TestExampleGoldenByHand checks two numbers of example.golden.json by hand
// from the plan (docs/examples/runway-plan.yaml) and datasheets, so a golden
// rewritten with -update after a code change cannot carry a wrong model:
//
//   - month 0 supply = utilization 0.4 × (2,048 H800 at the plan's 0.99 +
//     1,024 A800 at 312 TFLOP/s + 4,096 H20 at 148 + 1,024 910B at 376, dense
//     BF16) PFLOP/s — no failure happens before month 1, no reserve is needed;
//   - month 2 (2027-03) demand = (400 × 2.5^(2/12) + gen-5's 4e24 FLOP over 4
//     months of 2,629,800 s ÷ 1e15) ÷ 1.5^(2/12) PFLOP/s.
func TestExampleGoldenByHand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "example.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Series []struct {
			Month  string
			Supply struct{ P10, P50, P90 float64 }
			Demand struct{ P50 float64 }
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Series) != 72 {
		t.Fatalf("%d months, want 72", len(doc.Series))
	}
	supply0 := 0.4 * (2048*0.99 + 1024*0.312 + 4096*0.148 + 1024*0.376)
	if s := doc.Series[0].Supply; math.Abs(s.P50-supply0) > 0.0006 || s.P10 != s.P90 {
		t.Errorf("month 0 supply %+v, by hand %.3f on every path", s, supply0)
	}
	demand2 := (400*math.Pow(2.5, 2.0/12) + 4e24/(4*2629800)/1e15) / math.Pow(1.5, 2.0/12)
	if m := doc.Series[2]; m.Month != "2027-03" || math.Abs(m.Demand.P50-demand2) > 0.0006 {
		t.Errorf("month 2 %s demand %.3f, by hand %.3f", m.Month, m.Demand.P50, demand2)
	}
}
