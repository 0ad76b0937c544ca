package forecast

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
)

// Every file in testdata/bad is a plan that must be rejected with the
// message in its "# want:" line: the line, the field and what is wrong.
func TestBadPlans(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatal("no fixtures", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("%s: first line must be # want: <message>", f)
			}
			err = check("bad.yaml", data)
			if err == nil {
				t.Fatalf("accepted, want %q", want)
			}
			if !errors.Is(err, fleet.ErrInvalid) && !errors.Is(err, fleet.ErrNotFound) && !errors.Is(err, fleet.ErrAmbiguous) {
				t.Errorf("error %v does not wrap ErrInvalid/ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n  %v\nwant it to contain:\n  %s", err, want)
			}
		})
	}
}

// check parses and compiles a plan the way Run does, without simulating.
func check(file string, data []byte) error {
	p, err := ParsePlan(file, data)
	if err != nil {
		return err
	}
	_, err = compile(&p, accel.Default())
	return err
}

// Several problems are reported together, each with its line.
func TestBadPlanReportsAll(t *testing.T) {
	err := check("p.yaml", []byte(`start: 2027-01
utilization: 2
fleet:
  - {model: H800, in_service: -1}
demand: {inference: {pflops: 10, growth_per_year: -1}}
`))
	var es fleet.InputErrors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i, line := range []int{2, 4, 5} {
		if es[i].Pos.Line != line {
			t.Errorf("error %d at line %d, want %d: %v", i, es[i].Pos.Line, line, es[i])
		}
	}
}

// The documented defaults are applied to a minimal plan.
func TestDefaults(t *testing.T) {
	p := mustParse(t, `
start: 2027-01
fleet: [{model: H800, in_service: 10}]
demand: {inference: {pflops: 10}}
`)
	if p.HorizonMonths != 72 || p.Precision != "bf16" || p.Utilization != 0.4 || p.Paths != 10000 || p.Seed != 1 ||
		p.UsefulLifeYears != 6 || p.AFR.Default != 0.06 || p.EfficiencyGainPerYear != 1 ||
		p.Demand.Inference.GrowthPerYear != 1 || p.Fleet[0].Acquired != nil ||
		p.Levers != (LeverSizes{0.1, 1.1, 0.5, 250, ""}) {
		t.Fatalf("defaults: %+v", p)
	}
}

// The example plan in docs parses, and JSON (which is YAML) works too.
func TestExamplePlanAndJSON(t *testing.T) {
	p := examplePlan(t)
	if len(p.Fleet) != 4 || p.Fleet[0].Reserve != 512 || *p.Fleet[0].PFLOPSPerDevice != 0.99 ||
		p.Deliveries[0].CV != 0.4 || p.Deliveries[0].From != NewMonth(2027, 4) ||
		p.AFR.ByModel["H800"] != 0.09 || len(p.Demand.Runs()) != 5 {
		t.Fatalf("example: %+v", p)
	}
	j := `{"start": "2027-01", "horizon_months": 12, "paths": 5,
	  "fleet": [{"model": "H800", "in_service": 100}],
	  "demand": {"inference": {"pflops": 10}}}`
	q, err := ParsePlan("body", []byte(j))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), q, accel.Default(), Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestParseMonth(t *testing.T) {
	for s, want := range map[string]Month{"2027-01": NewMonth(2027, 1), "1999-12": NewMonth(1999, 12)} {
		if m, err := ParseMonth(s); err != nil || m != want || m.String() != s {
			t.Errorf("%s: %v %v", s, m, err)
		}
	}
	for _, s := range []string{"2027-1", "2027-00", "2027-13", "27-01", "2027/01", "+027-01", "2027--1", "", "2027-01-01"} {
		if _, err := ParseMonth(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// FuzzParsePlan: no input makes the parser or a short run panic, and every
// rejection is an input error.
func FuzzParsePlan(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, file := range files[:min(6, len(files))] {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Add([]byte("start: 2027-01\nhorizon_months: 12\nfleet: [{model: H800, in_service: 10, reserve: 3}]\ndeliveries: [{model: 910C, units_per_quarter: 5, cv: 2}]\ndemand: {inference: {pflops: 10, growth_per_year: 3}, generations: {start: 2027-02, flop: 1e22, count: 3, cadence_months: 2}}\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("start: [\n"))
	cat := accel.Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("parse error without ErrInvalid: %v", err)
			}
			return
		}
		if p.HorizonMonths > 240 {
			p.HorizonMonths = 240
			p.Demand = Demand{Inference: p.Demand.Inference}
		}
		_, err = Run(context.Background(), p, cat, Options{Paths: 2, Workers: 1})
		if err != nil && !errors.Is(err, fleet.ErrInvalid) && !errors.Is(err, fleet.ErrNotFound) &&
			!errors.Is(err, fleet.ErrAmbiguous) && !strings.Contains(err.Error(), "domestic") {
			t.Fatalf("run error without an input kind: %v", err)
		}
	})
}

// A plan cannot ask for more path-months than the memory bound.
func TestPathMonthsBound(t *testing.T) {
	p := mustParse(t, "start: 2027-01\nhorizon_months: 1200\npaths: 1000000\nfleet: [{model: H800, in_service: 1}]\ndemand: {inference: {pflops: 1}}\n")
	_, err := Run(context.Background(), p, accel.Default(), Options{})
	if !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "use fewer paths") || !strings.Contains(err.Error(), "test.yaml:3") {
		t.Fatalf("err %v", err)
	}
}
