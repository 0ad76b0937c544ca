package trace

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
)

func TestJSONLRoundTrip(t *testing.T) {
	jobs, err := ReadGavel(strings.NewReader(goodGavel), "t.trace")
	if err != nil {
		t.Fatal(err)
	}
	jobs[1].Name = "rl-agent"
	var b bytes.Buffer
	if err := WriteJSONL(&b, jobs); err != nil {
		t.Fatal(err)
	}
	again, err := ReadJSONL(bytes.NewReader(b.Bytes()), "t.jsonl")
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	for i := range jobs {
		jobs[i].Line = i + 1
	}
	if diff := cmp.Diff(jobs, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestReadJSONL(t *testing.T) {
	in := `# a comment
{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100}

{"id": 1, "name": "big", "arrival_s": 30.5, "class": "ResNet-50 (batch size 64)", "gang": 4, "steps": 1e6, "weight": 2, "slo": 1.2}
`
	jobs, err := ReadJSONL(strings.NewReader(in), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{ID: 0, Line: 2, Class: "A3C", Gang: 1, Steps: 100, Weight: 1},
		{ID: 1, Line: 4, Name: "big", Arrival: 30.5, Class: "ResNet-50 (batch size 64)", Gang: 4, Steps: 1e6, Weight: 2, SLO: 1.2},
	}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadJSONLErrors(t *testing.T) {
	ok := `{"arrival_s": 10, "class": "A3C", "gang": 1, "steps": 100}` + "\n"
	for _, tc := range []struct{ name, in, want string }{
		{"syntax", ok + `{"arrival_s": 10,` + "\n", `t.jsonl:2`},
		{"type", ok + `{"arrival_s": "soon", "class": "A3C", "gang": 1, "steps": 100}`, `t.jsonl:2:`},
		{"typefield", `{"arrival_s": 1, "class": "A3C", "gang": 1.5, "steps": 100}`, `field "gang"`},
		{"unknown", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 100, "gpus": 2}`, `t.jsonl:1: field "gpus": unknown field`},
		{"missing", `{"arrival_s": 1, "gang": 1, "steps": 100}`, `t.jsonl:1: field "class": required field is missing`},
		{"steps", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 0}`, `field "steps": must be a number > 0 and at most 1e+15 (the trace limit), got 0`},
		{"steps huge", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1e16}`, `field "steps": must be a number > 0 and at most 1e+15 (the trace limit), got 1e+16`},
		{"arrival huge", `{"arrival_s": 1e308, "class": "A3C", "gang": 1, "steps": 1}`, `field "arrival_s": must be between 0 and 315360000 s (10 years, the trace limit), got 1e+308`},
		{"weight huge", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "weight": 1e308}`, `field "weight": must be a number > 0 and at most 1e+06`},
		{"slo huge", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "slo": 1e308}`, `field "slo": must be a number between 0 (none) and 1e+06`},
		{"gang huge", `{"arrival_s": 1, "class": "A3C", "gang": 999999999999, "steps": 1}`, `field "gang": must be between 1 and 1048576`},
		{"gang", `{"arrival_s": 1, "class": "A3C", "gang": 0, "steps": 1}`, `field "gang": must be between 1 and 1048576, got 0`},
		{"order", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 100}`, `t.jsonl:2: field "arrival_s": 1 s is before`},
		{"id", ok + `{"id": 7, "arrival_s": 11, "class": "A3C", "gang": 1, "steps": 100}`, `t.jsonl:2: field "id": id 7 but this is job 1`},
		{"trailing", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1} {}`, `trailing data`},
		{"weight", `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "weight": -1}`, `field "weight"`},
		{"array", `[1,2]`, `t.jsonl:1`},
		{"empty", "# nothing\n", "no jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSONL(strings.NewReader(tc.in), "t.jsonl")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("error %v does not wrap fleet.ErrInvalid", err)
			}
		})
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100}`)
	f.Add(`{"id": 0, "name": "x", "arrival_s": 1e3, "class": "c", "gang": 2, "steps": 1.5, "weight": 2, "slo": 0}` + "\n#\n")
	f.Add(`{"arrival_s": [}`)
	f.Fuzz(func(t *testing.T, s string) {
		jobs, err := ReadJSONL(strings.NewReader(s), "fuzz")
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var b bytes.Buffer
		if err := WriteJSONL(&b, jobs); err != nil {
			t.Fatal(err)
		}
		again, err := ReadJSONL(&b, "again")
		if err != nil {
			t.Fatalf("re-reading written jobs: %v", err)
		}
		if len(again) != len(jobs) {
			t.Fatalf("%d jobs became %d", len(jobs), len(again))
		}
	})
}
