package chipscmd_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/chipscmd"
	"github.com/granaryhq/granary/internal/cli/clitest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The product contracts: exact output, kept under testdata/.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"classify-2022.json", []string{"chips", "classify", "H100", "H20", "A800", "--rules", "2022-10", "-o", "json"}},
		{"classify-2023.json", []string{"chips", "classify", "H100", "H20", "A800", "--rules", "2023-10", "-o", "json"}},
		{"classify-worked.txt", []string{"chips", "classify", "H100", "H20", "A800", "H800", "L20", "RTX 4090D", "910B4", "K100", "MI308X"}},
		{"classify-specs.json", []string{"chips", "classify", "H20", "--specs", "testdata/specs/good.yaml", "-o", "json"}},
		{"list.csv", []string{"chips", "list", "-o", "csv"}},
		{"list-huawei.txt", []string{"chips", "list", "--vendor", "huawei"}},
		{"compare.txt", []string{"chips", "compare", "H800", "910B3", "H20"}},
		{"compare.json", []string{"chips", "compare", "H800", "910B3", "H20", "-o", "json"}},
		{"show-h800.txt", []string{"chips", "show", "NVIDIA-H800"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errs, code := clitest.Run(t, chipscmd.New, tc.args...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d: %s", code, errs)
			}
			clitest.Golden(t, *update, tc.file, out)
		})
	}
}

// The classify JSON contract, checked field by field (independently of the
// golden file): the bands of the "done when".
func TestClassifyJSONContract(t *testing.T) {
	for _, tc := range []struct {
		rules, date string
		bands       []string
	}{
		{"2022-10", "2022-10-07", []string{"3A090.a", "not-3A090", "not-3A090"}},
		{"2023-10", "2023-10-17", []string{"3A090.a", "not-3A090", "3A090.a"}},
	} {
		out, errs, code := clitest.Run(t, chipscmd.New, "chips", "classify", "H100", "H20", "A800", "--rules", tc.rules, "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("want 3 objects, got %d", len(got))
		}
		for i, id := range []string{"h100-sxm5-80gb", "h20-96gb", "a800-sxm4-80gb"} {
			o := got[i]
			for _, k := range []string{"chip", "name", "tpp", "performance_density", "io_bandwidth_gbs", "datacenter", "classification", "paragraph", "rule_set", "reason", "notices"} {
				if _, ok := o[k]; !ok {
					t.Errorf("%s: field %q missing", id, k)
				}
			}
			if o["chip"] != id || o["classification"] != tc.bands[i] || o["rule_set"] != tc.date {
				t.Errorf("%s under %s: %v %v %v", id, tc.rules, o["chip"], o["classification"], o["rule_set"])
			}
			if _, ok := o["notices"].([]any); !ok {
				t.Errorf("%s: notices must be a list, got %v", id, o["notices"])
			}
		}
		if n := got[1]["notices"].([]any); len(n) != 1 {
			t.Errorf("H20 should carry the April 2025 notice: %v", n)
		}
		if got[0]["tpp"] != 15831.0 || got[0]["performance_density"] != 19.45 {
			t.Errorf("H100 TPP/PD: %v %v", got[0]["tpp"], got[0]["performance_density"])
		}
	}
	// Spec chips follow the named ones in file order, named by their name;
	// unknown values are null.
	out, _, code := clitest.Run(t, chipscmd.New, "chips", "classify", "A800", "H100", "--specs", "testdata/specs/good.yaml", "-o", "json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatal(err, code)
	}
	var order []any
	for _, o := range got {
		order = append(order, o["chip"])
	}
	if d := cmp.Diff([]any{"a800-sxm4-80gb", "h100-sxm5-80gb", "Test Chip B1", "Test Edge Chip"}, order); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	if got[2]["paragraph"] != "3A090.b.1" || got[2]["io_bandwidth_gbs"] != nil {
		t.Errorf("spec 1: %v", got[2])
	}
	if got[3]["classification"] != "not-3A090" || got[3]["performance_density"] != nil || got[3]["exclusion"] != "Note 2" {
		t.Errorf("spec 2: %v", got[3])
	}
}

// Every testdata/specs/*.bad.* fixture is rejected with exit 2 and an error
// naming the file, the entry and the field, as its "# want:" lines (or its
// .want file) say.
func TestBadSpecs(t *testing.T) {
	files, err := filepath.Glob("testdata/specs/*.bad.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".want") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				w, err := os.ReadFile(f + ".want")
				if err != nil {
					t.Fatalf("fixture has no '# want:' line and no .want file: %v", err)
				}
				wants = strings.Split(strings.TrimSpace(string(w)), "\n")
			}
			out, errs, code := clitest.Run(t, chipscmd.New, "chips", "classify", "H100", "--specs", f, "-o", "json")
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("nothing may be printed on stdout on bad input, got %q", out)
			}
			for _, w := range wants {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q\nlacks %q", errs, w)
				}
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d bad fixtures", n)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	badCatalog := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badCatalog, []byte("- name: Mine\n  memory_gb: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lotsCatalog := filepath.Join(dir, "lots.json")
	if err := os.WriteFile(lotsCatalog, []byte(`[{"name": "Mine", "tdp_w": "lots"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"list", []string{"chips", "list"}, 0, nil},
		{"unknown chip lists nearest", []string{"chips", "classify", "H900"}, 2, []string{`unknown chip "H900"`, "nearest:", "h800-sxm5-80gb"}},
		{"every unknown name is reported", []string{"chips", "compare", "H900", "Z999"}, 2, []string{`"H900"`, `"Z999"`}},
		{"ambiguous chip lists candidates", []string{"chips", "show", "ascend"}, 2, []string{"matches", "ascend-910b3 (Ascend 910B3)"}},
		{"no names", []string{"chips", "classify"}, 2, []string{"needs chip names or --specs"}},
		{"compare needs two", []string{"chips", "compare", "H100"}, 2, []string{"at least two"}},
		{"show needs one", []string{"chips", "show"}, 2, []string{"exactly one chip name"}},
		{"bad format", []string{"chips", "list", "-o", "xml"}, 2, []string{`unknown output format "xml"`}},
		{"classify has no csv", []string{"chips", "classify", "H100", "-o", "csv"}, 2, []string{"valid: table, json"}},
		{"bad rule set", []string{"chips", "classify", "H100", "--rules", "2021-01"}, 2, []string{`unknown rule set "2021-01"`, "2022-10, 2023-10"}},
		{"unknown flag", []string{"chips", "list", "--colour"}, 2, []string{"unknown flag"}},
		{"missing specs file", []string{"chips", "classify", "--specs", filepath.Join(dir, "nope.yaml")}, 2, []string{"nope.yaml", "cannot read specs"}},
		{"unknown vendor", []string{"chips", "list", "--vendor", "acme"}, 2, []string{`no chips of vendor "acme"`, "Huawei"}},
		{"bad catalog", []string{"--catalog", badCatalog, "chips", "list"}, 2, []string{"bad.yaml:2: entry 1 (Mine): field \"memory_gb\""}},
		{"non-numeric catalog", []string{"--catalog", lotsCatalog, "chips", "show", "H100"}, 2, []string{"lots.json:1:", "entry 1 (Mine): field \"tdp_w\": must be a number, got \"lots\""}},
		{"vendor by part of its name", []string{"chips", "list", "--vendor", "baidu"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := clitest.Run(t, chipscmd.New, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (%s)", code, tc.code, errs)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr %q lacks %q", errs, s)
				}
			}
		})
	}
}

// `chips list -o yaml` and `-o json` are valid --catalog files that give back
// the catalog they came from.
func TestListRoundTrips(t *testing.T) {
	want := accel.Default().All()
	for _, f := range []string{"yaml", "json"} {
		out, errs, code := clitest.Run(t, chipscmd.New, "chips", "list", "-o", f)
		if code != 0 {
			t.Fatal(errs)
		}
		got, err := accel.Parse("list."+f, []byte(out))
		if err != nil {
			t.Fatalf("%s output is not a valid catalog: %v", f, err)
		}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s round trip (-want +got):\n%s", f, d)
		}
	}
}

// --catalog overrides reach the classifier: an H20 with more bf16 moves band.
func TestCatalogOverrideReachesClassify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "over.yaml")
	// bf16 200 × 16 = 3200 > fp8 296 × 8; PD 3200 / 814 = 3.93 → 3A090.b.1.
	if err := os.WriteFile(path, []byte("- id: h20-96gb\n  tops: {bf16: 200}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := clitest.Run(t, chipscmd.New, "--catalog", path, "chips", "classify", "NVIDIA-H20", "-o", "json")
	if code != 0 {
		t.Fatal(errs)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got[0]["tpp"] != 3200.0 || got[0]["paragraph"] != "3A090.b.1" {
		t.Errorf("override not applied: %v", got[0])
	}
}

// Compare's ratios are value / first chip's value, and the relative speeds
// follow the 16-bit rate (prefill) and memory bandwidth (decode).
func TestCompareRatios(t *testing.T) {
	out, _, code := clitest.Run(t, chipscmd.New, "chips", "compare", "H800", "910B3", "H20", "-o", "json")
	if code != 0 {
		t.Fatal(code)
	}
	var got struct {
		Baseline string
		Metrics  []struct {
			Metric string
			Values []*float64
			Ratios []*float64
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]float64{
		// H20 / H800: 148 / 989.4, 4000 / 3350; 910B3: 313 / 989.4, 1600 / 3350.
		"prefill_speed": {1, 0.3164, 0.1496},
		"decode_speed":  {1, 0.4776, 1.194},
		"memory_gb":     {1, 0.8, 1.2},
	}
	seen := 0
	for _, m := range got.Metrics {
		w, ok := want[m.Metric]
		if !ok {
			continue
		}
		seen++
		for i := range w {
			if m.Ratios[i] == nil || *m.Ratios[i] != w[i] {
				t.Errorf("%s ratio %d = %v, want %v", m.Metric, i, m.Ratios[i], w[i])
			}
		}
	}
	if seen != len(want) || got.Baseline != "h800-sxm5-80gb" {
		t.Errorf("metrics missing or baseline %q", got.Baseline)
	}
}
