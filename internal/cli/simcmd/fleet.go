package simcmd

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/trace"
)

// fleetSpec is the parsed --fleet.
type fleetSpec struct {
	Devices map[string]int // catalog id → devices
	Nodes   []sched.Node
	Order   []string // models in the order given
}

// MaxFleetDevices bounds the simulated fleet (the simulator keeps state
// per device; the scheduler core is benchmarked to 100,000).
const MaxFleetDevices = 1_000_000

// parseFleet reads --fleet: either "v100=36,p100=36,k80=36" (catalog names
// or ids) or a YAML file (see docs/simulator.md).
func parseFleet(arg string, cat *accel.Catalog) (*fleetSpec, error) {
	s, err := readFleet(arg, cat)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, n := range s.Devices {
		total += n // each ≤ MaxFleetDevices (add, parseFleetYAML): no overflow
	}
	if total > MaxFleetDevices {
		return nil, &fleet.InputError{Pos: fleet.Position{File: arg}, Msg: fmt.Sprintf("the fleet has %d devices; the simulator's limit is %d", total, MaxFleetDevices)}
	}
	return s, nil
}

func readFleet(arg string, cat *accel.Catalog) (*fleetSpec, error) {
	if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, &fleet.InputError{Pos: fleet.Position{File: arg}, Msg: err.Error()}
		}
		return parseFleetYAML(arg, data, cat)
	}
	spec := &fleetSpec{Devices: map[string]int{}}
	pos := fleet.Position{File: "--fleet"}
	for _, part := range strings.Split(arg, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, count, ok := strings.Cut(part, "=")
		if !ok {
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("%q: want model=count, e.g. v100=36 (or a fleet .yaml file)", part)}
		}
		n, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil || n < 0 {
			return nil, &fleet.InputError{Pos: fleet.Position{File: "--fleet", Field: name}, Msg: fmt.Sprintf("device count %q is not a whole number ≥ 0", count)}
		}
		if err := spec.add(strings.TrimSpace(name), n, cat, pos); err != nil {
			return nil, err
		}
	}
	if len(spec.Devices) == 0 {
		return nil, &fleet.InputError{Pos: pos, Msg: "empty fleet: want model=count[,model=count…]"}
	}
	return spec, nil
}

func (s *fleetSpec) add(name string, n int, cat *accel.Catalog, pos fleet.Position) error {
	if n > MaxFleetDevices {
		pos.Field = name
		return &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("%d devices; the simulator's limit is %d", n, MaxFleetDevices)}
	}
	chip, err := cat.Resolve(name)
	if err != nil {
		pos.Field = name
		return &fleet.InputError{Pos: pos, Msg: "unknown accelerator model: " + err.Error(), Kind: fleet.ErrNotFound}
	}
	if _, dup := s.Devices[chip.ID]; dup {
		pos.Field = name
		return &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("model %s given twice", chip.ID)}
	}
	s.Devices[chip.ID] = n
	s.Order = append(s.Order, chip.ID)
	return nil
}

// fleetFile is the YAML fleet format: device counts per model, or nodes.
type fleetFile struct {
	Models map[string]int `yaml:"models"`
	Nodes  []struct {
		ID      string `yaml:"id"`
		Model   string `yaml:"model"`
		Devices int    `yaml:"devices"`
		Site    string `yaml:"site"`
		Switch  string `yaml:"switch"`
		// CPU (milli-cores) and memory (MiB) the node offers jobs: bound
		// the shares on it (docs/sharing.md); 0 or absent: no limit.
		CPUMilli  int64 `yaml:"cpu_milli"`
		MemoryMiB int64 `yaml:"memory_mib"`
	} `yaml:"nodes"`
}

func parseFleetYAML(file string, data []byte, cat *accel.Catalog) (*fleetSpec, error) {
	f, err := decode.ParseYAML(file, data, decode.Default)
	if err != nil {
		return nil, yamlErr(file, err)
	}
	var doc fleetFile
	if err := decode.Strict(file, data, &doc); err != nil {
		return nil, yamlErr(file, err)
	}
	spec := &fleetSpec{Devices: map[string]int{}}
	if len(doc.Models) > 0 && len(doc.Nodes) > 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "give either models (counts) or nodes, not both"}
	}
	names := make([]string, 0, len(doc.Models))
	for m := range doc.Models {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		pos := fleet.Position{File: file, Line: lineAt(f, "$.models."+m), Field: "models." + m}
		if doc.Models[m] < 0 {
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("device count %d < 0", doc.Models[m])}
		}
		if err := spec.add(m, doc.Models[m], cat, fleet.Position{File: file, Line: pos.Line}); err != nil {
			return nil, err
		}
	}
	ids := map[string]int{}
	for i, n := range doc.Nodes {
		path := fmt.Sprintf("$.nodes[%d]", i)
		pos := fleet.Position{File: file, Line: lineAt(f, path), Entry: fmt.Sprintf("nodes[%d]", i)}
		if n.Devices < 1 || n.Devices > MaxFleetDevices {
			pos.Field = "devices"
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("want 1 to %d devices, got %d", MaxFleetDevices, n.Devices)}
		}
		if len(spec.Nodes) >= MaxFleetDevices {
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("more than %d nodes", MaxFleetDevices)}
		}
		chip, err := cat.Resolve(n.Model)
		if err != nil {
			pos.Field = "model"
			return nil, &fleet.InputError{Pos: pos, Msg: "unknown accelerator model: " + err.Error(), Kind: fleet.ErrNotFound}
		}
		id := n.ID
		if id == "" {
			id = fmt.Sprintf("node-%d", i)
		}
		if first, dup := ids[id]; dup {
			pos.Field = "id"
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("node %q given twice (first at line %d)", id, first)}
		}
		ids[id] = pos.Line
		if _, seen := spec.Devices[chip.ID]; !seen {
			spec.Order = append(spec.Order, chip.ID)
		}
		spec.Devices[chip.ID] += n.Devices
		if n.CPUMilli < 0 || n.CPUMilli > trace.MaxCPUMilli {
			pos.Field = "cpu_milli"
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("want 0 (no limit) to %d milli-cores, got %d", trace.MaxCPUMilli, n.CPUMilli)}
		}
		if n.MemoryMiB < 0 || n.MemoryMiB > trace.MaxMemoryMiB {
			pos.Field = "memory_mib"
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("want 0 (no limit) to %d MiB, got %d", trace.MaxMemoryMiB, n.MemoryMiB)}
		}
		nd := sched.Node{ID: id, Model: chip.ID, Devices: n.Devices, Site: n.Site, Switch: n.Switch, CPU: n.CPUMilli, Mem: n.MemoryMiB}
		if chip.MemoryGB != nil { // device memory as the live loop counts it (memory_gb × 1024 MiB)
			nd.DevMem = int64(*chip.MemoryGB * 1024)
		}
		spec.Nodes = append(spec.Nodes, nd)
	}
	if len(spec.Devices) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "empty fleet: want models: {v100: 36, …} or nodes: [{model: v100, devices: 8}, …]"}
	}
	return spec, nil
}

func lineAt(f *ast.File, path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(f)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func yamlErr(file string, err error) error {
	var ie *fleet.InputError
	if errors.As(err, &ie) {
		return err
	}
	if ye, ok := err.(yaml.Error); ok {
		pos := fleet.Position{File: file}
		if tk := ye.GetToken(); tk != nil {
			pos.Line, pos.Column = tk.Position.Line, tk.Position.Column
		}
		return &fleet.InputError{Pos: pos, Msg: ye.GetMessage()}
	}
	return &fleet.InputError{Pos: fleet.Position{File: file}, Msg: err.Error()}
}
