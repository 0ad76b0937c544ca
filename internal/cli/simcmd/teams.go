package simcmd

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/plot"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sim"
	"github.com/granaryhq/granary/internal/trace"
)

// teamEntry is one team of a --teams file: the schema of `granary teams
// list -o yaml` (its status fields are accepted and ignored).
type teamEntry struct {
	Name       string         `yaml:"name"`
	Weight     float64        `yaml:"weight"`
	Guarantees map[string]int `yaml:"guarantees"`
	// Status fields of `granary teams list`, ignored.
	Recorded bool           `yaml:"recorded"`
	Running  int            `yaml:"running"`
	Waiting  int            `yaml:"waiting"`
	Use      map[string]int `yaml:"use"`
	Borrowed map[string]int `yaml:"borrowed"`
	Lent     map[string]int `yaml:"lent"`
}

// parseTeams reads a teams file and checks it against the fleet: known
// models, weights ≥ 0, and guarantees that the fleet can honour (their sum
// per model ≤ the model's devices).
func parseTeams(file string, cat *accel.Catalog, fl *fleetSpec) ([]sched.Team, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: err.Error()}
	}
	return parseTeamsYAML(file, data, cat, fl)
}

// parseTeamsYAML is parseTeams on the file's contents.
func parseTeamsYAML(file string, data []byte, cat *accel.Catalog, fl *fleetSpec) ([]sched.Team, error) {
	f, err := decode.ParseYAML(file, data, decode.Default)
	if err != nil {
		return nil, yamlErr(file, err)
	}
	var doc []teamEntry
	if err := decode.Strict(file, data, &doc); err != nil {
		return nil, yamlErr(file, err)
	}
	if len(doc) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "no teams: want a list of {name, weight, guarantees: {MODEL: DEVICES}}"}
	}
	var teams []sched.Team
	seen := map[string]bool{}
	total := map[string]int{}
	where := map[string][]string{}
	for i, e := range doc {
		pos := fleet.Position{File: file, Line: lineAt(f, fmt.Sprintf("$[%d]", i)), Entry: fmt.Sprintf("teams[%d]", i)}
		switch {
		case e.Name == "":
			pos.Field = "name"
			return nil, &fleet.InputError{Pos: pos, Msg: "a team needs a name"}
		case seen[e.Name]:
			pos.Field = "name"
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("team %q given twice", e.Name)}
		case !(e.Weight >= 0) || math.IsInf(e.Weight, 1):
			pos.Field = "weight"
			if l := lineAt(f, fmt.Sprintf("$[%d].weight", i)); l > 0 {
				pos.Line = l
			}
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("weight %v: want a finite number ≥ 0", e.Weight)}
		}
		seen[e.Name] = true
		t := sched.Team{Name: e.Name, Weight: e.Weight}
		names := make([]string, 0, len(e.Guarantees))
		for m := range e.Guarantees {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, m := range names {
			n := e.Guarantees[m]
			gpos := pos
			// A key the path syntax cannot name (a dot, a quote) is
			// placed at its entry.
			if l := lineAt(f, fmt.Sprintf("$[%d].guarantees.%s", i, m)); l > 0 {
				gpos.Line = l
			}
			gpos.Field = "guarantees." + m
			chip, err := cat.Resolve(m)
			if err != nil {
				return nil, &fleet.InputError{Pos: gpos, Msg: "unknown accelerator model: " + err.Error(), Kind: fleet.ErrNotFound}
			}
			if _, ok := fl.Devices[chip.ID]; !ok {
				return nil, &fleet.InputError{Pos: gpos, Msg: fmt.Sprintf("the fleet has no %s (it has: %v)", chip.ID, fl.Order)}
			}
			if n < 0 {
				return nil, &fleet.InputError{Pos: gpos, Msg: fmt.Sprintf("guarantee %d < 0", n)}
			}
			if t.Guarantees == nil {
				t.Guarantees = map[string]int{}
			}
			t.Guarantees[chip.ID] += n
			total[chip.ID] += n
			where[chip.ID] = append(where[chip.ID], fmt.Sprintf("%s %d", e.Name, n))
			if total[chip.ID] > fl.Devices[chip.ID] {
				return nil, &fleet.InputError{Pos: gpos, Msg: fmt.Sprintf("guarantees of %s add up to %d (%v) but the fleet has %d", chip.ID, total[chip.ID], where[chip.ID], fl.Devices[chip.ID])}
			}
		}
		teams = append(teams, t)
	}
	return teams, nil
}

// checkGangs refuses, on a fleet with nodes, a job whose gang no node and
// no site of any model it runs on can hold (it would wait forever).
func checkGangs(file string, jobs []trace.Job, tp *sched.Throughputs, fl *fleetSpec) error {
	if fl.Nodes == nil {
		return nil
	}
	holds := sim.Holds(fl.Devices, fl.Nodes)
	for _, j := range jobs {
		runs, fits, largest, on := false, false, 0, ""
		for _, m := range fl.Order {
			if v, _ := tp.Lookup(j.Class, j.Gang, m); v > 0 {
				runs = true
				fits = fits || j.Gang <= holds[m]
				if holds[m] > largest {
					largest, on = holds[m], m
				}
			}
		}
		if runs && !fits {
			return &fleet.InputError{Pos: fleet.Position{File: file, Line: j.Line, Field: "gang"},
				Msg: fmt.Sprintf("job %d (%s): a gang of %d fits no node and no site of the models it runs on (largest: %d × %s)", j.ID, j.Class, j.Gang, largest, on)}
		}
		if err := checkNodeRoom(file, j, tp, fl, holds); err != nil {
			return err
		}
	}
	return nil
}

// checkNodeRoom refuses a job whose cpu_milli or memory_mib no node of the
// models it runs on could ever give it, or whose device_memory_mib no
// device of them has, by the live API's rules (jobs.NodeRoomProblem,
// jobs.DeviceMemoryProblem): it would wait for ever.
func checkNodeRoom(file string, j trace.Job, tp *sched.Throughputs, fl *fleetSpec, holds map[string]int) error {
	if j.CPUMilli <= 0 && j.MemoryMiB <= 0 && j.DeviceMemoryMiB <= 0 {
		return nil
	}
	var models []string
	for _, m := range fl.Order {
		if v, _ := tp.Lookup(j.Class, j.Gang, m); v > 0 && j.Gang <= holds[m] {
			models = append(models, m)
		}
	}
	nodes := map[string][]jobs.NodeRoom{}
	devMem := map[string]int64{}
	for _, n := range fl.Nodes {
		nodes[n.Model] = append(nodes[n.Model], jobs.NodeRoom{Devices: n.Devices, CPU: n.CPU, Mem: n.Mem})
		devMem[n.Model] = n.DevMem
	}
	if msg := jobs.DeviceMemoryProblem(j.DeviceMemoryMiB, models, devMem, nil); msg != "" {
		return &fleet.InputError{Pos: fleet.Position{File: file, Line: j.Line, Field: "device_memory_mib"},
			Msg: fmt.Sprintf("job %d (%s): %s", j.ID, j.Class, msg)}
	}
	for _, c := range []struct {
		field string
		need  int64
		mem   bool
	}{{"cpu_milli", j.CPUMilli, false}, {"memory_mib", j.MemoryMiB, true}} {
		if msg := jobs.NodeRoomProblem(c.mem, c.need, j.Gang, models, nodes, nil); msg != "" {
			return &fleet.InputError{Pos: fleet.Position{File: file, Line: j.Line, Field: c.field},
				Msg: fmt.Sprintf("job %d (%s): %s", j.ID, j.Class, msg)}
		}
	}
	return nil
}

func writeTeamsTable(env *console.Env, rows []resultJSON) error {
	h := func(s float64) string { return fmt.Sprintf("%.2f", s/3600) }
	table := [][]string{{"TEAMS FILE", "POLICY", "TEAM", "JOBS", "AVG JCT (h)", "AVG WAIT (h)", "AVG USE", "GUARANTEED"}}
	for _, r := range rows {
		for _, t := range r.Teams {
			table = append(table, []string{r.TeamsFile, r.Policy, t.Name, strconv.Itoa(t.Jobs), h(t.AvgJCT), h(t.AvgWait), useString(t.Use), guarString(t.Guarantees)})
		}
	}
	if len(table) == 1 {
		return nil
	}
	fmt.Fprintln(env.Stdout)
	return console.WriteTable(env.Stdout, table)
}

func useString(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%.1f", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func guarString(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// writeTeamsPlot draws each team's average JCT per teams file and policy
// beside the --plot file (FILE-teams.svg): the what-if chart.
func writeTeamsPlot(path, format string, rows []resultJSON) error {
	var bars []plot.Bar
	for _, r := range rows {
		for _, t := range r.Teams {
			bars = append(bars, plot.Bar{Label: fmt.Sprintf("%s %s\n%s", t.Name, r.Policy, filepath.Base(r.TeamsFile)), Value: t.AvgJCT / 3600})
		}
	}
	if len(bars) == 0 {
		return nil
	}
	chart, err := plot.Bars("Average JCT per team", "hours", bars)
	if err != nil {
		return err
	}
	out := strings.TrimSuffix(path, filepath.Ext(path)) + "-teams." + format
	w := vg.Length(max(6, len(bars))) * vg.Inch
	if err := plot.Save(out, w, 4*vg.Inch, chart); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}
