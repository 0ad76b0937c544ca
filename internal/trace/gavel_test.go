package trace

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"

	"github.com/granaryhq/granary/internal/sharedtest"
)

func TestReadGavelAnchors(t *testing.T) {
	dir := gavelAnchor(t, "traces")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.trace"))
	if len(files) == 0 {
		sharedtest.Missing(t, "no Gavel traces under %s", dir)
	}
	want := map[string]int{ // job counts from the anchors README
		"small_60jobs_lam1800_seed0.trace":          60,
		"small_60jobs_lam1800_seed0_multigpu.trace": 60,
		"max_min_fairness.trace":                    96,
		"minimize_makespan.trace":                   100,
		"artifact_evaluation.trace":                 15,
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := ReadGavel(bytes.NewReader(data), f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if n, ok := want[filepath.Base(f)]; ok && n != len(jobs) {
			t.Errorf("%s: %d jobs, want %d", f, len(jobs), n)
		}
		for i, j := range jobs {
			if j.ID != i || j.Gang < 1 || j.Steps < 1 || j.Weight <= 0 {
				t.Fatalf("%s: job %d: %+v", f, i, j)
			}
		}
	}
	// The first job of the generated trace, field by field.
	gen := filepath.Join(dir, "generated", "small_60jobs_lam1800_seed0_multigpu.trace")
	data, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ReadGavel(bytes.NewReader(data), gen)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) < 2 {
		t.Fatalf("%s: %d jobs, want 60", gen, len(jobs))
	}
	got := jobs[0]
	want0 := Job{ID: 0, Line: 1, Class: "Transformer (batch size 128)", Gang: 1, Steps: 19605, Weight: 1, Arrival: 0}
	if diff := cmp.Diff(want0, got); diff != "" {
		t.Errorf("first job (-want +got):\n%s", diff)
	}
	if jobs[1].Arrival != 259 || jobs[1].Class != "A3C" {
		t.Errorf("second job: %+v", jobs[1])
	}
}

const goodGavel = "ResNet-18 (batch size 128)\tpython3 main.py\tdir\t--num_steps\t1\t925982\t4\t1\t-1.000000\t0\n" +
	"A3C\tpython3 main.py\trl\t--max-steps\t0\t25832\t1\t1\t-1.000000\t259\r\n" +
	"\n" +
	"LM (batch size 5)\tcmd\tdir\t-s\t0\t12\t2\t5\t1.5\t259.5\n"

func TestReadGavel(t *testing.T) {
	jobs, err := ReadGavel(strings.NewReader(goodGavel), "t.trace")
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{ID: 0, Line: 1, Class: "ResNet-18 (batch size 128)", Gang: 4, Steps: 925982, Weight: 1, Arrival: 0},
		{ID: 1, Line: 2, Class: "A3C", Gang: 1, Steps: 25832, Weight: 1, Arrival: 259},
		{ID: 2, Line: 4, Class: "LM (batch size 5)", Gang: 2, Steps: 12, Weight: 5, SLO: 1.5, Arrival: 259.5},
	}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadGavelErrors(t *testing.T) {
	line := func(f ...string) string { return strings.Join(f, "\t") + "\n" }
	ok := line("A3C", "c", "d", "-s", "0", "100", "1", "1", "-1", "10")
	for _, tc := range []struct {
		name, in, want string
	}{
		{"fields", ok + "A3C\tc\td\n", `t.trace:2: want 10 tab-separated fields`},
		{"msr then current", line("a", "b", "c", "1", "10", "0", "1") + ok, `t.trace:2: want 7 tab-separated fields like the first line`},
		{"msr gang", line("a", "b", "c", "1", "10", "0", "x"), `t.trace:1: field "scale_factor"`},
		{"steps", ok + line("A3C", "c", "d", "-s", "0", "1e5", "1", "1", "-1", "10"), `t.trace:2: field "total_steps": "1e5" is not an integer`},
		{"steps0", line("A3C", "c", "d", "-s", "0", "0", "1", "1", "-1", "10"), `t.trace:1: field "total_steps": 0 is out of range`},
		{"gang", line("A3C", "c", "d", "-s", "0", "10", "x", "1", "-1", "10"), `field "scale_factor": "x" is not an integer`},
		{"weight", line("A3C", "c", "d", "-s", "0", "10", "1", "0", "-1", "10"), `field "priority_weight": must be > 0`},
		{"nan", line("A3C", "c", "d", "-s", "0", "10", "1", "NaN", "-1", "10"), `field "priority_weight": "NaN" is not a finite number`},
		{"slo", line("A3C", "c", "d", "-s", "0", "10", "1", "1", "-3", "10"), `field "SLO"`},
		{"arrival", line("A3C", "c", "d", "-s", "0", "10", "1", "1", "-1", "ten"), `t.trace:1: field "arrival_time": "ten" is not a finite number`},
		{"order", ok + line("A3C", "c", "d", "-s", "0", "10", "1", "1", "-1", "5"), `t.trace:2: field "arrival_time": 5 s is before the previous job's 10 s`},
		{"neg", line("A3C", "c", "d", "-s", "0", "10", "1", "1", "-1", "-5"), `must be between 0 and 315360000 s (10 years, the trace limit), got -5`},
		{"arrival huge", line("A3C", "c", "d", "-s", "0", "10", "1", "1", "-1", "1e308"), `field "arrival_time": must be between 0 and 315360000 s (10 years, the trace limit), got 1e308`},
		{"steps huge", line("A3C", "c", "d", "-s", "0", "100000000000000000", "1", "1", "-1", "1"), `field "total_steps": 100000000000000000 is out of range [1, 1000000000000000]`},
		{"weight huge", line("A3C", "c", "d", "-s", "0", "10", "1", "1e9", "-1", "1"), `field "priority_weight": must be > 0 and at most 1e+06`},
		{"datadir", line("A3C", "c", "d", "-s", "2", "10", "1", "1", "-1", "5"), `field "needs_data_dir"`},
		{"class", line("", "c", "d", "-s", "0", "10", "1", "1", "-1", "5"), `field "job_type": empty`},
		{"empty", "\n\n", `t.trace: no jobs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadGavel(strings.NewReader(tc.in), "t.trace")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("error %v does not wrap fleet.ErrInvalid", err)
			}
		})
	}
}

func TestGavelRoundTrip(t *testing.T) {
	jobs, err := ReadGavel(strings.NewReader(goodGavel), "t.trace")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteGavel(&b, jobs); err != nil {
		t.Fatal(err)
	}
	again, err := ReadGavel(&b, "again")
	if err != nil {
		t.Fatal(err)
	}
	for i := range jobs {
		jobs[i].Line, again[i].Line = 0, 0
	}
	if diff := cmp.Diff(jobs, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzReadGavel(f *testing.F) {
	f.Add(goodGavel)
	f.Add("a\tb\tc\td\t1\t2\t3\t4\t5\t6\n")
	f.Add("a\tb\n\t\t")
	f.Add("A3C\tcmd\t-n\t1\t100\t6.5\t2\n")
	f.Fuzz(func(t *testing.T, s string) {
		jobs, err := ReadGavel(strings.NewReader(s), "fuzz")
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		prev := 0.0
		for i, j := range jobs {
			if j.ID != i || j.Gang < 1 || !(j.Steps >= 1) || !(j.Weight > 0) || j.Arrival < prev || j.Class == "" {
				t.Fatalf("job %d violates invariants: %+v", i, j)
			}
			prev = j.Arrival
		}
	})
}

func TestReadGavelMSR(t *testing.T) {
	in := "Transformer (batch size 128)\tcd %s && python3 train.py\t-step\t1\t95121\t0.000000\t1\n" +
		"Recommendation (batch size 8192)\tcmd\t-n\t1\t10000\t6.000000\t4\n"
	jobs, err := ReadGavel(strings.NewReader(in), "vc.trace")
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{ID: 0, Line: 1, Class: "Transformer (batch size 128)", Gang: 1, Steps: 95121, Weight: 1},
		{ID: 1, Line: 2, Class: "Recommendation (batch size 8192)", Gang: 4, Steps: 10000, Weight: 1, Arrival: 6},
	}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Every MSR trace in ../shared reads.
	dir := filepath.Join(sharedtest.Dir(t), "traces", "microsoft-philly-2017", "gavel_msr_seed0")
	files, _ := filepath.Glob(filepath.Join(dir, "*.trace"))
	if len(files) == 0 {
		sharedtest.Missing(t, "no MSR traces in %s", dir)
	}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := ReadGavel(bytes.NewReader(data), f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(jobs)
	}
	if total != 15264 { // the shared README's count
		t.Errorf("%d MSR jobs, want 15264", total)
	}
}
