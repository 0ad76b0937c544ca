package jobs

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

// Workloads is the loaded throughput table with its job classes: what makes
// the scheduler heterogeneity-aware and what a job's Class must name. Fit
// classes (FitClass) are added to it at submission, so it is safe for
// concurrent use.
type Workloads struct {
	mu      sync.RWMutex
	entries []sched.ThroughputEntry
	pairs   []sched.PairEntry // space sharing (NewWorkloadsWithPairs)
	table   *sched.Throughputs
	classes map[string][]int  // class → sorted gang sizes with entries
	reasons map[fitKey]string // why a fit class does not fit on a model
	advisor *advisor          // nil: the default model and chip catalogs
}

type fitKey struct {
	class string
	gang  int
	model string
}

// NewWorkloads builds the table from its entries (see internal/trace for the
// file readers).
func NewWorkloads(entries []sched.ThroughputEntry) (*Workloads, error) {
	t, err := sched.NewThroughputs(entries)
	if err != nil {
		return nil, err
	}
	w := &Workloads{table: t, entries: slices.Clone(entries), classes: map[string][]int{}, reasons: map[fitKey]string{}}
	w.index(entries)
	return w, nil
}

// NewWorkloadsWithPairs is NewWorkloads with the pair throughputs of jobs
// run two on the same devices (space sharing, the *-packed policies;
// sched.Throughputs.WithPairs checks them). Classes derived later (jobs
// given by model + precision) have no pairs: they always run alone.
func NewWorkloadsWithPairs(entries []sched.ThroughputEntry, pairs []sched.PairEntry) (*Workloads, error) {
	w, err := NewWorkloads(entries)
	if err != nil || len(pairs) == 0 {
		return w, err
	}
	if w.table, err = w.table.WithPairs(pairs); err != nil {
		return nil, err
	}
	w.pairs = slices.Clone(pairs)
	return w, nil
}

// CheckPairs is what a *-packed policy needs of the table, checked when
// the live loop starts: a pair throughput for every two classes of the
// table with the same gang size on every model where both run
// (sched.Throughputs.CheckPairs, which names the first missing pair).
func (w *Workloads) CheckPairs() error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var classes []string
	var gangs []int
	for _, c := range sortedKeys(w.classes) {
		for _, g := range w.classes[c] {
			classes = append(classes, c)
			gangs = append(gangs, g)
		}
	}
	return w.table.CheckPairs(classes, gangs, w.table.Models())
}

func (w *Workloads) index(entries []sched.ThroughputEntry) {
	for _, e := range entries {
		if !slices.Contains(w.classes[e.Class], e.Gang) {
			w.classes[e.Class] = append(w.classes[e.Class], e.Gang)
			slices.Sort(w.classes[e.Class])
		}
	}
}

// Table returns the current throughput table (immutable; fit classes added
// later are in the next call's table).
func (w *Workloads) Table() *sched.Throughputs {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.table
}

// Lookup is Table().Lookup.
func (w *Workloads) Lookup(class string, gang int, model string) (float64, bool) {
	return w.Table().Lookup(class, gang, model)
}

// Classes returns the job classes, sorted.
func (w *Workloads) Classes() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return sortedKeys(w.classes)
}

// Gangs returns the gang sizes a class has throughputs for.
func (w *Workloads) Gangs(class string) []int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return slices.Clone(w.classes[class])
}

// reason returns why a fit class does not fit on model ("" if unknown).
func (w *Workloads) reason(class string, gang int, model string) string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.reasons[fitKey{class, gang, model}]
}

// Device is one in-service device as the scheduler sees it.
type Device struct {
	Serial string
	Model  string // catalog id
	Node   string // hostname; "" = a device alone
	Site   string // datacenter / site; "" = unknown
	Switch string // switch, rack or interconnect domain of its node; "" = unknown
	// NodeCPUMilli (milli-cores) and NodeMemoryMiB are its node's CPU and
	// memory for jobs, as the inventory records them; 0 = not recorded,
	// no limit.
	NodeCPUMilli, NodeMemoryMiB int64
}

// Capacity summarizes in-service devices per model.
type Capacity struct {
	Devices     map[string]int // model → devices
	LargestNode map[string]int // model → devices on its largest node
	LargestSite map[string]int // model → devices in its largest site
	// Nodes are, per model, its nodes with their CPU and memory (a device
	// alone is a node of one device without figures).
	Nodes map[string][]NodeRoom
	// DeviceMemMiB is, per model, each device's memory in MiB (missing or
	// 0: not known, no limit).
	DeviceMemMiB map[string]int64
}

// NodeRoom is a node's devices of one model and the CPU (milli-cores) and
// memory (MiB) it offers jobs; 0 = not recorded, no limit.
type NodeRoom struct {
	Devices  int
	CPU, Mem int64
}

// CapacityOf counts devices per model, per node and per site.
func CapacityOf(devs []Device) Capacity {
	c := Capacity{Devices: map[string]int{}, LargestNode: map[string]int{}, LargestSite: map[string]int{}, Nodes: map[string][]NodeRoom{}}
	perNode := map[[2]string]int{}
	perSite := map[[2]string]int{}
	at := map[[2]string]int{} // (model, node) → index in c.Nodes[model]
	for _, d := range devs {
		c.Devices[d.Model]++
		n := 1
		if d.Node != "" {
			k := [2]string{d.Model, d.Node}
			perNode[k]++
			n = perNode[k]
			if i, ok := at[k]; ok {
				c.Nodes[d.Model][i].Devices++
			} else {
				at[k] = len(c.Nodes[d.Model])
				c.Nodes[d.Model] = append(c.Nodes[d.Model], NodeRoom{Devices: 1, CPU: d.NodeCPUMilli, Mem: d.NodeMemoryMiB})
			}
		} else {
			c.Nodes[d.Model] = append(c.Nodes[d.Model], NodeRoom{Devices: 1})
		}
		c.LargestNode[d.Model] = max(c.LargestNode[d.Model], n)
		k := [2]string{d.Model, d.Site}
		perSite[k]++
		c.LargestSite[d.Model] = max(c.LargestSite[d.Model], perSite[k])
	}
	return c
}

// Holds reports whether the in-service fleet can ever hold a gang of model
// m: on one node, on one site, or (span) anywhere.
func (c Capacity) Holds(m string, gang int, span bool) bool {
	return gang <= c.LargestNode[m] || gang <= c.LargestSite[m] || (span && gang <= c.Devices[m])
}

// Names turns a catalog id into the short name users know ("H800"); nil
// means the id itself.
type Names func(model string) string

func (n Names) of(model string) string {
	if n == nil {
		return model
	}
	return n(model)
}

// Numeric bounds of a submission and a team. They keep every quantity the
// scheduler derives finite — a team's weight × a job's weight ÷ the sum of
// its team's weights, priorities of time received ÷ weight, steps ÷
// throughput, over up to 10^5 jobs — with a margin of hundreds of orders
// of magnitude inside float64, and they are far above any real value
// (docs/limits.md).
const (
	MaxWeight          = 1e6                     // team and job weights
	MaxSteps           = 1e15                    // total_steps, also when derived from duration_s
	MaxDurationSeconds = 100 * 365 * 24 * 3600.0 // duration_s: a century
	MaxGang            = 1 << 20                 // devices in one gang
	MaxGuarantee       = 1 << 30                 // devices guaranteed to a team on one model
	MaxDeviceMemoryMiB = 1 << 24                 // device_memory_mib: 16 TiB, far above any device
	MaxCPUMilli        = 1 << 30                 // cpu_milli: a million cores
	MaxMemoryMiB       = 1 << 34                 // memory_mib: 16 PiB
)

// DefaultWeight is the weight of a job or team that was given none.
const DefaultWeight = 1.0

// weightOK reports whether a weight is inside [0, MaxWeight] (the round's
// admission bound: 0 there is a job row that reads as DefaultWeight).
func weightOK(w float64) bool { return w >= 0 && w <= MaxWeight }

// WeightProblem says why w cannot be a weight someone gave: a weight is a
// share, greater than 0 and at most MaxWeight. A weight of 0 is refused,
// not read as "no share" nor turned into DefaultWeight — the scheduler has
// no zero share, and storing 1 for a 0 said nothing to the user who typed
// it. "" when w is valid.
func WeightProblem(w float64) string {
	if w > 0 && w <= MaxWeight {
		return ""
	}
	return fmt.Sprintf("weight must be greater than 0 and at most %g (omit it for the default, %g), got %v", MaxWeight, DefaultWeight, w)
}

// OutOfRange names the first quantity of an active job, or of its team's
// weight, outside the bounds above (the round's admission step: rows
// stored before the bounds existed survive restarts, and one of them must
// not stop the round for everyone); "" when all are inside.
func OutOfRange(j *Job, teamWeight float64) (field, msg string) {
	switch {
	case !weightOK(j.Weight):
		return "weight", fmt.Sprintf("weight %v is outside [0, %g]", j.Weight, MaxWeight)
	case !weightOK(teamWeight):
		return "team.weight", fmt.Sprintf("team %s's weight %v is outside [0, %g]", j.Team, teamWeight, MaxWeight)
	case !(j.TotalSteps >= 0 && j.TotalSteps <= MaxSteps):
		return "total_steps", fmt.Sprintf("total_steps %v is outside [0, %g]", j.TotalSteps, MaxSteps)
	case !(j.Remaining() >= 0 && j.Remaining() <= MaxSteps):
		return "remaining_steps", fmt.Sprintf("remaining steps %v are outside [0, %g]", j.Remaining(), MaxSteps)
	case j.Gang < 1 || j.Gang > MaxGang:
		return "gang", fmt.Sprintf("gang %d is outside [1, %d]", j.Gang, MaxGang)
	case j.DeviceMilli < 0 || j.DeviceMilli >= 1000 || (j.DeviceMilli > 0 && j.Gang != 1):
		return "device_milli", fmt.Sprintf("device_milli %d with gang %d is not a share of one device (1–999 with gang 1)", j.DeviceMilli, j.Gang)
	case j.DeviceMemoryMiB < 0 || j.CPUMilli < 0 || j.MemoryMiB < 0:
		return "cpu_milli", fmt.Sprintf("negative node or device resources (cpu_milli %d, memory_mib %d, device_memory_mib %d)", j.CPUMilli, j.MemoryMiB, j.DeviceMemoryMiB)
	}
	return "", ""
}

// Resolver turns a user's accelerator name into a catalog id.
type Resolver func(name string) (string, error)

// Check validates a submission against the workloads and the fleet's
// capacity, normalizing it: model names become catalog ids (through
// resolve, when not nil), a Weight not given (0 without WeightGiven)
// becomes DefaultWeight while a given 0 is refused, and a duration on a reference
// model becomes TotalSteps. Every problem is a *fleet.InputError naming the
// field; a job that could never run here is rejected with the reason in
// words.
func Check(sp Spec, w *Workloads, c Capacity, resolve Resolver, names Names) (Spec, error) {
	ck := &checker{w: w, c: c, resolve: resolve, names: names}
	ck.fields(&sp)
	sp.Allowed = ck.resolveAll("allowed", sp.Allowed)
	sp.Forbidden = ck.resolveAll("forbidden", sp.Forbidden)
	ck.class(sp)
	if len(ck.errs) > 0 {
		return sp, ck.errs
	}
	ck.work(&sp)
	if len(ck.errs) > 0 {
		return sp, ck.errs
	}
	ck.runnable(sp)
	return sp, ck.errs.Err()
}

// checker gathers Check's problems, each a *fleet.InputError naming its
// field.
type checker struct {
	w       *Workloads
	c       Capacity
	resolve Resolver
	names   Names
	errs    fleet.InputErrors
}

func (ck *checker) bad(field, format string, args ...any) {
	ck.errs = append(ck.errs, &fleet.InputError{Pos: fleet.Position{Field: field}, Msg: fmt.Sprintf(format, args...)})
}

// fields checks and normalizes the fields that need nothing else: name,
// team, gang, share and weight.
func (ck *checker) fields(sp *Spec) {
	bad := ck.bad
	sp.Name = strings.TrimSpace(sp.Name)
	sp.Team = strings.TrimSpace(sp.Team)
	if sp.Name == "" || len(sp.Name) > 200 {
		bad("name", "a job needs a name of 1–200 characters")
	} else if msg := fleet.CheckText(sp.Name, 200); msg != "" {
		bad("name", "name %s", msg)
	}
	if !validTeamName(sp.Team) {
		bad("team", "team %q: want 1–64 letters, digits, '-', '_' or '.'", sp.Team)
	}
	if sp.Gang < 1 || sp.Gang > MaxGang {
		bad("gang", "gang must be between 1 and %d, got %d", MaxGang, sp.Gang)
	}
	checkShare(sp, bad)
	if sp.Weight == 0 && !sp.WeightGiven {
		sp.Weight = DefaultWeight
	} else if msg := WeightProblem(sp.Weight); msg != "" {
		bad("weight", "%s", msg)
	}
	sp.WeightGiven = false
}

// resolveAll turns the model names of field into sorted catalog ids
// without repeats.
func (ck *checker) resolveAll(field string, in []string) []string {
	var out []string
	for _, n := range in {
		id := n
		if ck.resolve != nil {
			var err error
			if id, err = ck.resolve(n); err != nil {
				ck.bad(field, "%v", err)
				continue
			}
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// class checks that the throughput table knows the class at this gang.
func (ck *checker) class(sp Spec) {
	gangs := ck.w.Gangs(sp.Class)
	switch {
	case sp.Class == "":
		ck.bad("class", "a job needs a class (one of the throughput table's: %s)", listSome(ck.w.Classes(), 8))
	case len(gangs) == 0:
		ck.bad("class", "unknown class %q (known: %s)", sp.Class, listSome(ck.w.Classes(), 8))
	case sp.Gang >= 1 && !slices.Contains(gangs, sp.Gang):
		ck.bad("gang", "class %q has no throughput for a gang of %d (it has: %s)", sp.Class, sp.Gang, joinInts(gangs))
	}
}

// work checks the amount of work and turns a duration on a reference
// model into TotalSteps.
func (ck *checker) work(sp *Spec) {
	bad, w, names := ck.bad, ck.w, ck.names
	switch {
	case !(sp.TotalSteps >= 0 && sp.TotalSteps <= MaxSteps):
		bad("total_steps", "total_steps must be a number > 0 and at most %g, got %v", MaxSteps, sp.TotalSteps)
	case !(sp.DurationSeconds >= 0 && sp.DurationSeconds <= MaxDurationSeconds):
		bad("duration_s", "duration_s must be a number > 0 and at most %g (a century), got %v", MaxDurationSeconds, sp.DurationSeconds)
	case sp.TotalSteps > 0 && sp.DurationSeconds > 0:
		bad("total_steps", "give total_steps or duration_s with reference_model, not both")
	case sp.TotalSteps == 0 && sp.DurationSeconds == 0:
		bad("total_steps", "a job needs its amount of work: total_steps, or duration_s on a reference_model")
	case sp.DurationSeconds > 0:
		ref := sp.ReferenceModel
		if ref == "" {
			bad("reference_model", "duration_s needs the reference_model it was estimated on")
			break
		}
		if ck.resolve != nil {
			id, err := ck.resolve(ref)
			if err != nil {
				bad("reference_model", "%v", err)
				break
			}
			ref = id
		}
		sp.ReferenceModel = ref
		v, _ := w.Lookup(sp.Class, sp.Gang, ref)
		if v <= 0 {
			bad("reference_model", "the throughput table has no throughput for %s × %d on %s, so duration_s cannot be turned into steps", sp.Class, sp.Gang, names.of(ref))
			break
		}
		sp.TotalSteps = sp.DurationSeconds * v
		if sp.TotalSteps > MaxSteps {
			bad("duration_s", "duration_s %v at %v steps/s on %s is %g steps; the limit is %g", sp.DurationSeconds, v, names.of(ref), sp.TotalSteps, MaxSteps)
		}
	}
}

// runnable checks that the job can ever run here: a model it may use that
// has throughput for it and room for its gang.
func (ck *checker) runnable(sp Spec) {
	bad, w, c, names := ck.bad, ck.w, ck.c, ck.names
	var eligible, runs []string
	for _, m := range sortedKeys(c.Devices) {
		if c.Devices[m] == 0 || !allowedOn(sp, m) {
			continue
		}
		eligible = append(eligible, m)
		if v, _ := w.Lookup(sp.Class, sp.Gang, m); v > 0 {
			runs = append(runs, m)
		}
	}
	fleetModels := nameList(sortedKeys(c.Devices), names)
	switch {
	case len(c.Devices) == 0:
		bad("class", "no device is in service, so no job can run")
	case len(eligible) == 0:
		bad("allowed", "allowed and forbidden models leave none of the fleet's models (%s)", fleetModels)
	case len(runs) == 0:
		why := ""
		for _, m := range eligible {
			if r := w.reason(sp.Class, sp.Gang, m); r != "" {
				why = fmt.Sprintf(" (on %s: %s)", names.of(m), r)
				break
			}
		}
		bad("class", "%s × %d has zero throughput on every model it may use (%s): it can never run%s", sp.Class, sp.Gang, nameList(eligible, names), why)
	default:
		fits, largest, on := false, 0, ""
		for _, m := range runs {
			if c.Holds(m, sp.Gang, sp.SpanSites) {
				fits = true
			}
			n := c.LargestSite[m]
			if sp.SpanSites {
				n = c.Devices[m]
			}
			if n > largest {
				largest, on = n, m
			}
		}
		if !fits {
			where := "one site"
			if sp.SpanSites {
				where = "the fleet"
			}
			bad("gang", "a gang of %d exceeds the in-service capacity of every model it can run on (largest: %d × %s in %s)", sp.Gang, largest, names.of(on), where)
			return
		}
		var holds []string
		for _, m := range runs {
			if c.Holds(m, sp.Gang, sp.SpanSites) {
				holds = append(holds, m)
			}
		}
		if msg := NodeRoomProblem(false, sp.CPUMilli, sp.Gang, holds, c.Nodes, names); msg != "" {
			bad("cpu_milli", "%s", msg)
		}
		if msg := NodeRoomProblem(true, sp.MemoryMiB, sp.Gang, holds, c.Nodes, names); msg != "" {
			bad("memory_mib", "%s", msg)
		}
		if msg := DeviceMemoryProblem(sp.DeviceMemoryMiB, holds, c.DeviceMemMiB, names); msg != "" {
			bad("device_memory_mib", "%s", msg)
		}
	}
}

// DeviceMemoryProblem says why a share needing need MiB of its device's
// memory can never fit on a device of models, or "" when it can: some
// model's devices have that much, or their memory is not known.
func DeviceMemoryProblem(need int64, models []string, mem map[string]int64, names Names) string {
	if need <= 0 || len(models) == 0 {
		return ""
	}
	largest, on := int64(0), ""
	for _, m := range models {
		has := mem[m]
		if has == 0 || has >= need {
			return ""
		}
		if has > largest {
			largest, on = has, m
		}
	}
	return fmt.Sprintf("%d MiB is more than a device of any model it may use has (largest: %d MiB on %s)", need, largest, names.of(on))
}

// NodeRoomProblem says why a job of gang devices needing need of CPU
// (memory when mem) can never fit on the nodes of models, or "" when it
// can. A share, or a gang that fits on one node of a model, takes all of
// need on one node holding its gang (sched places it so); a gang larger
// than every node of a model takes ⌈need × d / gang⌉ on a node hosting d
// of its devices, so it fits only if the nodes can host all its devices
// that way (sites aside: this is the clear-cut case). Nodes without a
// recorded figure are no limit. The scheduler would leave such a job
// waiting for ever (no-node-room, no-share-room); this refuses it at the
// door.
func NodeRoomProblem(mem bool, need int64, gang int, models []string, nodes map[string][]NodeRoom, names Names) string {
	if need <= 0 || gang < 1 || len(models) == 0 {
		return ""
	}
	largest, on, hosts, multi := int64(0), "", 0, false
	for _, m := range models {
		most := 0
		for _, n := range nodes[m] {
			most = max(most, n.Devices)
		}
		if most == 0 {
			return "" // no nodes known: nothing to say
		}
		sum := 0
		for _, n := range nodes[m] {
			has := n.CPU
			if mem {
				has = n.Mem
			}
			if gang <= most { // on one node of at least gang devices
				if n.Devices >= gang && (has == 0 || has >= need) {
					return ""
				}
			} else if has == 0 {
				sum += n.Devices
			} else { // ⌈need × d / gang⌉ ≤ has ⟺ d ≤ has × gang / need
				sum += int(min(int64(n.Devices), has*int64(gang)/need))
			}
			if has > largest && (gang > most || n.Devices >= gang) {
				largest, on = has, m
			}
		}
		if gang > most {
			if sum >= gang {
				return ""
			}
			multi, hosts = true, max(hosts, sum)
		}
	}
	if on == "" {
		return ""
	}
	of := names.of(on)
	if len(models) > 1 {
		of = nameList(models, names)
	}
	if multi {
		return fmt.Sprintf("%d for a gang of %d needs ⌈%d × d / %d⌉ on a node hosting d of its devices; the nodes of %s have room for at most %d of its %d devices (largest node: %d on %s)", need, gang, need, gang, of, hosts, gang, largest, names.of(on))
	}
	if len(models) > 1 {
		return fmt.Sprintf("%d is more than any node of %s offers (largest: %d on %s)", need, of, largest, names.of(on))
	}
	return fmt.Sprintf("%d is more than any node of %s offers (%d)", need, of, largest)
}

// checkShare validates the request of a share of one device and of node
// resources (the one place these fields are checked; the API, the CLI and
// Kubernetes pod groups all submit through Check).
func checkShare(sp *Spec, bad func(field, format string, args ...any)) {
	switch {
	case sp.DeviceMilli < 0 || sp.DeviceMilli >= 1000:
		bad("device_milli", "device_milli is a share of one device in thousandths and must be between 1 and 999, got %d (omit it, or give 0, for whole devices: gang of them)", sp.DeviceMilli)
	case sp.DeviceMilli > 0 && sp.Gang != 1:
		bad("device_milli", "a share of a device (device_milli %d) is one device's: gang must be 1, got %d", sp.DeviceMilli, sp.Gang)
	case sp.DeviceMilli > 0 && sp.SpanSites:
		bad("span_sites", "span_sites is for gangs of whole devices, not a share of one device (device_milli %d)", sp.DeviceMilli)
	}
	switch {
	case sp.DeviceMemoryMiB < 0 || sp.DeviceMemoryMiB > MaxDeviceMemoryMiB:
		bad("device_memory_mib", "device_memory_mib must be between 0 and %d MiB, got %d", MaxDeviceMemoryMiB, sp.DeviceMemoryMiB)
	case sp.DeviceMemoryMiB > 0 && sp.DeviceMilli == 0:
		bad("device_memory_mib", "device_memory_mib limits a share of a device: give device_milli (1–999) with it; a whole device has all its memory")
	}
	if sp.CPUMilli < 0 || sp.CPUMilli > MaxCPUMilli {
		bad("cpu_milli", "cpu_milli must be between 0 and %d milli-cores, got %d", MaxCPUMilli, sp.CPUMilli)
	}
	if sp.MemoryMiB < 0 || sp.MemoryMiB > MaxMemoryMiB {
		bad("memory_mib", "memory_mib must be between 0 and %d MiB, got %d", MaxMemoryMiB, sp.MemoryMiB)
	}
}

// allowedOn reports whether the spec's allowed/forbidden lists let it use m.
func allowedOn(sp Spec, m string) bool {
	if len(sp.Allowed) > 0 && !slices.Contains(sp.Allowed, m) {
		return false
	}
	return !slices.Contains(sp.Forbidden, m)
}

func validTeamName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." { // a path segment of /api/v1/teams/{name}
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// CheckTeams validates a whole quota configuration against the fleet: team
// names, weights, and for every model the sum of the guarantees, which may
// not exceed the model's in-service devices. Errors name the team or the
// model and the sum.
func CheckTeams(teams []Team, c Capacity, names Names) error {
	var errs fleet.InputErrors
	sum := map[string]int{}
	who := map[string][]string{}
	seen := map[string]bool{}
	for i, t := range teams {
		pos := fleet.Position{Entry: fmt.Sprintf("teams[%d] (%s)", i, t.Name)}
		add := func(field, format string, args ...any) {
			p := pos
			p.Field = field
			errs = append(errs, &fleet.InputError{Pos: p, Msg: fmt.Sprintf(format, args...)})
		}
		if !validTeamName(t.Name) {
			add("name", "team name %q: want 1–64 letters, digits, '-', '_' or '.'", t.Name)
		}
		if seen[t.Name] {
			add("name", "duplicate team %q", t.Name)
		}
		seen[t.Name] = true
		if msg := WeightProblem(t.Weight); msg != "" {
			add("weight", "%s", msg)
		}
		for _, m := range sortedKeys(t.Guarantees) {
			n := t.Guarantees[m]
			if n < 0 || n > MaxGuarantee {
				add("guarantees."+m, "a guarantee must be between 0 and %d devices, got %d", MaxGuarantee, n)
				continue
			}
			sum[m] += n
			if n > 0 {
				who[m] = append(who[m], fmt.Sprintf("%s %d", t.Name, n))
			}
		}
	}
	for _, m := range sortedKeys(sum) {
		if sum[m] > c.Devices[m] {
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: "guarantees." + m},
				Msg: fmt.Sprintf("guarantees on %s sum to %d devices (%s) but only %d are in service", names.of(m), sum[m], strings.Join(who[m], " + "), c.Devices[m])})
		}
	}
	return errs.Err()
}

func listSome(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(", … (%d more)", len(xs)-n)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

func nameList(ms []string, names Names) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = names.of(m)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
