package trace

import (
	"bytes"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

const (
	v100 = "v100-sxm2-32gb"
	p100 = "p100-sxm2-16gb"
	k80  = "k80"
)

func TestReadGavelThroughputsAnchor(t *testing.T) {
	path := gavelAnchor(t, "throughputs/simulation_throughputs.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := ReadThroughputs(data, path, accel.Default())
	if err != nil {
		t.Fatal(err)
	}
	// 26 classes at gang 1 + 19 distributed classes at gangs 2, 4, 8 = 83
	// keys per worker type (anchors README), 3 worker types read.
	if got := len(tt.Entries); got != 3*83 {
		t.Errorf("%d entries, want %d", got, 3*83)
	}
	if diff := cmp.Diff([]string{k80, p100, v100}, tt.Table.Models()); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		class string
		gang  int
		model string
		want  float64
	}{
		{"ResNet-18 (batch size 16)", 1, k80, 4.795294551566172}, // first value in the file
		{"ResNet-18 (batch size 16)", 1, v100, 32.353384328946916},
		{"ResNet-50 (batch size 128)", 2, k80, 0},
	} {
		got, ok := tt.Table.Lookup(c.class, c.gang, c.model)
		if !ok || got != c.want {
			t.Errorf("Lookup(%q, %d, %s) = %v, %v; want %v", c.class, c.gang, c.model, got, ok, c.want)
		}
	}
	n1 := 0
	for _, cg := range tt.Classes() {
		if cg.Gang == 1 {
			n1++
		}
	}
	if n1 != 26 {
		t.Errorf("%d classes at gang 1, want 26", n1)
	}
	// Pairs: 5,277 (this job, other job) entries over the 3 worker types
	// (counted in the file with Python), each in both orders.
	if len(tt.Pairs) != 5277 {
		t.Errorf("%d pair entries, want 5277", len(tt.Pairs))
	}
	v, ok := tt.Table.PairLookup("ResNet-18 (batch size 16)", "ResNet-18 (batch size 64)", 1, v100)
	if want := [2]float64{32.353384328946916, 24.093231895382736}; !ok || v != want {
		t.Errorf("PairLookup(ResNet-18 bs16, bs64, v100) = %v, %v; want %v (the file's value)", v, ok, want)
	}
	if r, _ := tt.Table.PairLookup("ResNet-18 (batch size 64)", "ResNet-18 (batch size 16)", 1, v100); r != [2]float64{v[1], v[0]} {
		t.Errorf("reverse pair %v, want %v", r, [2]float64{v[1], v[0]})
	}
}

func TestOwnThroughputFormats(t *testing.T) {
	var got [][]sched.ThroughputEntry
	for _, f := range []string{"testdata/throughputs.csv", "testdata/throughputs.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tt, err := ReadThroughputs(data, f, accel.Default())
		if err != nil {
			t.Fatal(err)
		}
		e := tt.Entries
		sort.Slice(e, func(i, j int) bool {
			a, b := e[i], e[j]
			if a.Class != b.Class {
				return a.Class < b.Class
			}
			if a.Gang != b.Gang {
				return a.Gang < b.Gang
			}
			return a.Model < b.Model
		})
		got = append(got, e)
		if v, ok := tt.Table.Lookup("ResNet-50 (batch size 64)", 4, k80); !ok || v != 0 {
			t.Errorf("%s: k80 gang 4 = %v, %v; want 0 (cannot run), present", f, v, ok)
		}
	}
	if len(got[0]) != 9 {
		t.Errorf("%d entries, want 9", len(got[0]))
	}
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Errorf("CSV and YAML differ (-csv +yaml):\n%s", diff)
	}
}

func TestThroughputErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, in, want string }{
		{"csv model", "t.csv", "class,gang,v100,h9000\nA3C,1,1,2\n", `t.csv:1: field "h9000": unknown accelerator model`},
		{"csv header", "t.csv", "model,gang,v100\n", `t.csv:1: header must be class,gang`},
		{"csv number", "t.csv", "class,gang,v100\nA3C,1,fast\n", `t.csv:2: field "v100": want steps/s`},
		{"csv negative", "t.csv", "class,gang,v100\nA3C,1,-1\n", `t.csv:2: field "v100"`},
		{"csv gang", "t.csv", "class,gang,v100\nA3C,two,1\n", `t.csv:2: field "gang"`},
		{"csv count", "t.csv", "class,gang,v100\nA3C,1,1,2\n", `t.csv:2`},
		{"csv dup", "t.csv", "class,gang,v100\nA3C,1,1\nA3C,1,2\n", `t.csv:3: field "class": (A3C, gang 1) already given on line 2`},
		{"csv empty", "t.csv", "", `empty file`},
		{"yaml model", "t.yaml", "throughputs:\n  - class: A3C\n    gang: 1\n    steps_per_s: {v100: 1, tpu9: 2}\n", `t.yaml:4: throughputs[0] (A3C): field "steps_per_s.tpu9": unknown accelerator model`},
		{"yaml gang", "t.yaml", "throughputs:\n  - class: A3C\n    steps_per_s: {v100: 1}\n", `throughputs[0] (A3C): field "gang": required`},
		{"yaml unknown", "t.yaml", "throughputs:\n  - class: A3C\n    gang: 1\n    gpus: 3\n", `t.yaml:4`},
		{"yaml type", "t.yaml", "throughputs:\n  - class: A3C\n    gang: many\n", `t.yaml:3`},
		{"gavel model", "t.json", `{"tpu9": {}}`, `t.json:1: tpu9: unknown accelerator model`},
		{"gavel key", "t.json", "{\"v100\": {\n\"A3C\": {\"null\": 1}}}", `t.json:2: v100: key "A3C"`},
		{"gavel null", "t.json", "{\"v100\": {\n\"('A3C', 1)\": {\"('A3C', 1)\": [1, 2]}}}", `field "null": missing`},
		{"gavel pair key", "t.json", "{\"v100\": {\"('A3C', 1)\": {\n\"other\": [1, 2]}}}", `t.json:2: v100 ('A3C', 1): pair: key "other"`},
		{"gavel pair short", "t.json", "{\"v100\": {\"('A3C', 1)\": {\"null\": 1, \n\"('A3C', 1)\": [1]}}}", `field "('A3C', 1)": want a pair of steps/s [this job, other job], got fewer than 2`},
		{"gavel pair long", "t.json", "{\"v100\": {\"('A3C', 1)\": {\"null\": 1, \"('A3C', 1)\": [1, 2, 3]}}}", `got more than 2`},
		{"gavel pair value", "t.json", "{\"v100\": {\"('A3C', 1)\": {\"null\": 1, \"('A3C', 1)\": [1, -2]}}}", `want a finite number ≥ 0`},
		{"gavel pair number", "t.json", "{\"v100\": {\"('A3C', 1)\": {\"null\": 1, \"('A3C', 1)\": 3}}}", `want a pair of steps/s`},
		{"gavel pair no single", "t.json", "{\"v100\": {\"('A3C', 1)\": {\"null\": 1, \"('LM', 1)\": [1, 2]}}}", `no single-job throughput for LM`},
		{"gavel value", "t.json", "{\"v100\": {\"('A3C', 1)\": {\n\"null\": \"fast\"}}}", `t.json:2: v100 ('A3C', 1): field "null": want a number`},
		{"gavel negative", "t.json", `{"v100": {"('A3C', 1)": {"null": -2}}}`, `want a finite number ≥ 0`},
		{"gavel syntax", "t.json", `{"v100": {"('A3C', 1)": {"null": 1,}}}`, `t.json:1: invalid JSON`},
		{"gavel top", "t.json", `[]`, `want a JSON object at the top level`},
		{"gavel empty", "t.json", `{}`, `no throughputs`},
		{"ext", "t.txt", `x`, `unknown throughput file type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadThroughputs([]byte(tc.in), tc.file, accel.Default())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("error %v does not wrap fleet.ErrInvalid", err)
			}
		})
	}
}

func TestParseGavelKey(t *testing.T) {
	for _, tc := range []struct {
		in    string
		class string
		gang  int
	}{
		{"('ResNet-18 (batch size 16)', 1)", "ResNet-18 (batch size 16)", 1},
		{`("Bob's model", 8)`, "Bob's model", 8},
		{`('a\'b', 2)`, "a'b", 2},
	} {
		c, g, err := parseGavelKey(tc.in)
		if err != nil || c != tc.class || g != tc.gang {
			t.Errorf("parseGavelKey(%q) = %q, %d, %v", tc.in, c, g, err)
		}
	}
	for _, in := range []string{"", "()", "('a')", "('a', 0)", "('a', x)", "('', 1)", "(a, 1)", "('a' 1)", "('a"} {
		if _, _, err := parseGavelKey(in); err == nil {
			t.Errorf("parseGavelKey(%q) succeeded", in)
		}
	}
}

func fuzzThroughputs(f *testing.F, file string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	cat := accel.Default()
	f.Fuzz(func(t *testing.T, s string) {
		tt, err := ReadThroughputs([]byte(s), file, cat)
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for _, e := range tt.Entries {
			if v, ok := tt.Table.Lookup(e.Class, e.Gang, e.Model); !ok || v != e.StepsPerSecond || v < 0 {
				t.Fatalf("entry %+v: table has %v, %v", e, v, ok)
			}
		}
	})
}

func FuzzThroughputsCSV(f *testing.F) {
	data, _ := os.ReadFile("testdata/throughputs.csv")
	fuzzThroughputs(f, "f.csv", string(data), "class,gang,v100\nA3C,1,\n", "class,gang,k80,k80\n")
}

func FuzzThroughputsYAML(f *testing.F) {
	data, _ := os.ReadFile("testdata/throughputs.yaml")
	fuzzThroughputs(f, "f.yaml", string(data), "throughputs: []\n", "throughputs:\n- {class: a, gang: 1, steps_per_s: {v100: .5}}\n")
}

func FuzzGavelThroughputs(f *testing.F) {
	fuzzThroughputs(f, "f.json",
		`{"v100": {"('A3C', 1)": {"null": 2.5, "('A3C', 1)": [1, 1]}}, "k80_unconsolidated": {"x": [1, {"a": 2}]}}`,
		`{"k80": {"('a', 2)": {"null": 0}}, "p100": {}}`,
		`{"v100": {"('A3C', 1)": {"null": 1e400}}}`)
}

func TestGavelThroughputsBytesReader(t *testing.T) {
	// The io.Reader entry point works on its own too.
	e, err := ReadGavelThroughputs(bytes.NewReader([]byte(`{"v100": {"('A3C', 1)": {"null": 2.5}}}`)), "x.json", accel.Default())
	if err != nil || len(e) != 1 || e[0].Model != v100 || e[0].StepsPerSecond != 2.5 {
		t.Fatalf("%+v %v", e, err)
	}
}
