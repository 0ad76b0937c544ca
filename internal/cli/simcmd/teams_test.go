package simcmd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Teams and a fleet with nodes: bad input exits 2 naming file, line, field
// and the numbers; a good pair of teams files compares per-team figures.
func TestSimTeamsAndNodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fleetFile := write("fleet.yaml", "nodes:\n  - {id: v0, model: v100, devices: 4, site: bj, switch: s1}\n  - {id: v1, model: v100, devices: 4, site: bj, switch: s2}\n  - {id: p0, model: p100, devices: 4, site: sh}\n  - {id: k0, model: k80, devices: 4, site: sh}\n")
	now := write("now.yaml", "- name: research\n  guarantees: {v100: 4}\n- name: prod\n  weight: 2\n")
	whatif := write("whatif.yaml", "- name: research\n  guarantees: {p100: 4}\n- name: prod\n  weight: 2\n")
	base := []string{"sim", "--trace", "testdata/small.trace", "--throughputs", "testdata/tput.csv"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"guarantees over capacity", []string{"--fleet", fleetFile, "--teams", write("over.yaml", "- name: a\n  guarantees: {v100: 6}\n- name: b\n  guarantees:\n    v100: 3\n")},
			`over.yaml:5: teams[1]: field "guarantees.v100": guarantees of v100-sxm2-32gb add up to 9 ([a 6 b 3]) but the fleet has 8`},
		{"weight not a number", []string{"--fleet", fleetFile, "--teams", write("nan.yaml", "- name: a\n- name: b\n  weight: .nan\n")},
			`nan.yaml:3: teams[1]: field "weight": weight NaN: want a finite number ≥ 0`},
		{"guarantee key with a dot", []string{"--fleet", fleetFile, "--teams", write("dot.yaml", "- name: a\n- {name: b, guarantees: {\"v100.x\": 1}}\n")},
			`dot.yaml:2: teams[1]: field "guarantees.v100.x": unknown accelerator model`},
		{"unknown model node", []string{"--fleet", write("unk.yaml", "nodes:\n  - {id: x, model: v100, devices: 4}\n  - {id: y, model: q999, devices: 4}\n")},
			`unk.yaml:3: nodes[1]: field "model": unknown accelerator model`},
		{"duplicate node", []string{"--fleet", write("dup.yaml", "nodes:\n  - {id: x, model: v100, devices: 4}\n  - {id: x, model: k80, devices: 4}\n")},
			`dup.yaml:3: nodes[1]: field "id": node "x" given twice (first at line 2)`},
		{"gang no site holds", []string{"--fleet", write("small.yaml", "nodes:\n  - {id: v0, model: v100, devices: 1, site: a}\n  - {id: v1, model: v100, devices: 1, site: b}\n  - {id: k0, model: k80, devices: 1, site: a}\n  - {id: p0, model: p100, devices: 1, site: a}\n")},
			`small.trace:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runCLI(t, append(base, tc.args...)...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, errs, tc.want)
			}
		})
	}
	plotFile := filepath.Join(dir, "w.svg")
	out, errs, code := runCLI(t, append(base, "--fleet", fleetFile, "--teams", now, "--teams", whatif, "--plot", plotFile)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"las-hetero @ now.yaml", "las-hetero @ whatif.yaml", "TEAM", "research", "v100-sxm2-32gb=4", "p100-sxm2-16gb=4"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "w-teams.svg")); err != nil {
		t.Errorf("no per-team plot: %v", err)
	}
}
