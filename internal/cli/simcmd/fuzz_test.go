package simcmd

import (
	"errors"
	"math"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
)

// FuzzFleetYAML: a fleet file never panics or stalls the parser, and an
// accepted fleet stays within MaxFleetDevices per model.
func FuzzFleetYAML(f *testing.F) {
	cat := accel.Default()
	for _, s := range []string{
		"models:\n  v100: 2\n  k80: 4\n",
		"nodes:\n  - {model: v100, devices: 8}\n  - {id: n2, model: k80, devices: 4}\n",
		"models: &m {v100: 1}\nnodes: [*m]\n",
		"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nmodels: {v100: *b}\n",
		"models:\n  v100: 999999999999\n",
		"nodes:\n  - {model: v100, devices: -1}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := parseFleetYAML("f.yaml", data, cat)
		if err != nil {
			return
		}
		for m, n := range spec.Devices {
			if n < 0 || n > MaxFleetDevices*MaxFleetDevices {
				t.Fatalf("accepted %q: %s × %d", data, m, n)
			}
		}
	})
}

// FuzzTeamsYAML: a teams file never panics or stalls the parser; a refused
// file is an InputError naming the file, and, when it names a field, the
// entry and a line of the file; an accepted file has named, distinct teams
// with finite weights ≥ 0 and guarantees on the fleet's models that add up
// to at most each model's devices.
func FuzzTeamsYAML(f *testing.F) {
	cat := accel.Default()
	fl, err := parseFleetYAML("fleet.yaml", []byte("models:\n  v100: 8\n  k80: 4\n"), cat)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"- name: research\n  weight: 1\n  guarantees: {v100: 4}\n- name: prod\n  weight: 2\n",
		"- name: a\n  guarantees: {v100: 6}\n- name: b\n  guarantees:\n    v100: 3\n",
		"- name: a\n  weight: -1\n",
		"- name: a\n  weight: .nan\n",
		"- name: a\n  weight: .inf\n",
		"- name: a\n- name: a\n",
		"- {name: a, guarantees: {h100: 1}}\n",
		"- {name: a, guarantees: {\"v100.x\": 1}}\n",
		"- {name: a, guarantees: {v100: -2}}\n",
		"- {name: a, guarantees: {v100: 99999999999999999999}}\n",
		"- name: a\n  running: 3\n  use: {v100: 2}\n",
		"[]\n",
		"- &t {name: a}\n- *t\n",
		"- name: a\n  colour: red\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		teams, err := parseTeamsYAML("teams.yaml", data, cat, fl)
		if err != nil {
			var ie *fleet.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("%q: error %T %v, want an InputError", data, err, err)
			}
			if ie.Pos.File != "teams.yaml" {
				t.Fatalf("%q: error %v does not name the file", data, err)
			}
			if ie.Pos.Field != "" && (ie.Pos.Line < 1 || ie.Pos.Entry == "") {
				t.Fatalf("%q: error on field %q without its entry or line: %v", data, ie.Pos.Field, err)
			}
			return
		}
		seen := map[string]bool{}
		total := map[string]int{}
		for _, tm := range teams {
			if tm.Name == "" || seen[tm.Name] {
				t.Fatalf("%q: accepted team name %q (empty or twice)", data, tm.Name)
			}
			seen[tm.Name] = true
			if math.IsNaN(tm.Weight) || math.IsInf(tm.Weight, 0) || tm.Weight < 0 {
				t.Fatalf("%q: accepted weight %v", data, tm.Weight)
			}
			for m, n := range tm.Guarantees {
				if n < 0 {
					t.Fatalf("%q: accepted guarantee %s: %d", data, m, n)
				}
				total[m] += n
			}
		}
		for m, n := range total {
			if n > fl.Devices[m] {
				t.Fatalf("%q: accepted guarantees of %s adding up to %d on %d devices", data, m, n, fl.Devices[m])
			}
		}
	})
}
