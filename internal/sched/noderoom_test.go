package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
)

// cpuJob is a gang asking cpu milli-cores and mem MiB in all on its nodes.
func cpuJob(id string, gang int, cpu, mem int64) sched.Job {
	j := job(id, "c", gang)
	j.CPU, j.Mem = cpu, mem
	return j
}

func waitOf(p sched.Placement, id string) (sched.Wait, bool) {
	for _, w := range p.Waiting {
		if w.Job == id {
			return w, true
		}
	}
	return sched.Wait{}, false
}

func lasRound(t *testing.T, s *sched.Snapshot, tp *sched.Throughputs) sched.Placement {
	t.Helper()
	pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	return next(t, sched.NewRoundState(pol, sched.RoundConfig{ResetInterval: -1, Sharer: sharer(t, share.Granary)}), s, tp)
}

// A gang's CPU and memory must fit its node: an 8-device node with 32
// cores refuses an 8-device gang asking 64 cores (no-node-room, though all
// 8 devices are free), takes it at 32 cores, and with a second node of 128
// cores the 64-core gang goes there (best fit alone would take the first).
// Memory counts the same way; a node without recorded figures is no limit.
func TestGangNodeCPU(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 8, Model: "m", StepsPerSecond: 1})
	one := func(cpu, mem int64) *sched.Snapshot {
		return &sched.Snapshot{Fleet: map[string]int{"m": 8}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 8, CPU: 32000, Mem: 1 << 20}},
			Jobs: []sched.Job{cpuJob("g", 8, cpu, mem)}}
	}
	p := lasRound(t, one(64000, 0), tp)
	if w, ok := waitOf(p, "g"); !ok || w.Reason != sched.ReasonNoNodeRoom || w.Model != "m" || w.Free != 8 {
		t.Errorf("64-core gang on a 32-core node: runs %+v waiting %+v, want g no-node-room with 8 free", p.Runs, p.Waiting)
	}
	if p = lasRound(t, one(0, 2<<20), tp); len(p.Waiting) != 1 || p.Waiting[0].Reason != sched.ReasonNoNodeRoom {
		t.Errorf("2 TiB gang on a 1 TiB node: waiting %+v, want no-node-room", p.Waiting)
	}
	if p = lasRound(t, one(32000, 1<<20), tp); len(p.Runs) != 1 {
		t.Errorf("32-core gang on a 32-core node: runs %+v waiting %+v, want it running", p.Runs, p.Waiting)
	}
	s := one(64000, 0)
	s.Nodes[0].CPU = 0
	if p = lasRound(t, s, tp); len(p.Runs) != 1 {
		t.Errorf("64-core gang on a node without recorded CPU: waiting %+v, want it running", p.Waiting)
	}

	s = &sched.Snapshot{Fleet: map[string]int{"m": 16}, Nodes: []sched.Node{
		{ID: "n1", Model: "m", Devices: 8, CPU: 32000}, {ID: "n2", Model: "m", Devices: 8, CPU: 128000}},
		Jobs: []sched.Job{cpuJob("g", 8, 64000, 0)}}
	p = lasRound(t, s, tp)
	if r, ok := p.RunOf("g"); !ok || len(r.Nodes) != 1 || r.Nodes[0] != "n2" {
		t.Errorf("64-core gang, nodes of 32 and 128 cores: %+v %v, want on n2", r, ok)
	}
	// Two such gangs: one per node would need 64 cores on n1; the second
	// waits for the CPU, not for devices.
	s.Jobs = append(s.Jobs, cpuJob("h", 8, 64000, 0))
	p = lasRound(t, s, tp)
	if len(p.Runs) != 1 || len(p.Waiting) != 1 || p.Waiting[0].Reason != sched.ReasonNoNodeRoom {
		t.Errorf("two 64-core gangs, nodes of 32 and 128 cores: runs %+v waiting %+v, want one running, one no-node-room", p.Runs, p.Waiting)
	}
}

// A gang on several nodes takes its CPU in proportion to its devices on
// each: 16 devices on two 8-device nodes of 32 cores fit at 64 cores in
// all (32 each), not at 80.
func TestGangNodeCPUMultiNode(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 16, Model: "m", StepsPerSecond: 1})
	s := &sched.Snapshot{Fleet: map[string]int{"m": 16}, Nodes: []sched.Node{
		{ID: "n1", Model: "m", Devices: 8, CPU: 32000}, {ID: "n2", Model: "m", Devices: 8, CPU: 32000}},
		Jobs: []sched.Job{cpuJob("g", 16, 64000, 0)}}
	if p := lasRound(t, s, tp); len(p.Runs) != 1 || len(p.Runs[0].Nodes) != 2 {
		t.Errorf("64 cores over two 32-core nodes: runs %+v waiting %+v, want running on both", p.Runs, p.Waiting)
	}
	s.Jobs[0].CPU = 80000
	p := lasRound(t, s, tp)
	if w, ok := waitOf(p, "g"); !ok || w.Reason != sched.ReasonNoNodeRoom || !w.Multi {
		t.Errorf("80 cores over two 32-core nodes: runs %+v waiting %+v, want no-node-room (multi)", p.Runs, p.Waiting)
	}
}

// Shares see the CPU the gangs took, and gangs the CPU of the shares held
// before them: on a 2-device node of 8 cores, a 1-device gang asking 6
// cores leaves a 3-core quarter waiting (no-share-room) though the second
// device is free, a 2-core one runs; a quarter holding its device with 6
// cores keeps it, and a new gang asking 4 cores waits for the CPU.
func TestGangCPUAndShares(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	node := []sched.Node{{ID: "n1", Model: "m", Devices: 2, CPU: 8000}}
	q := shareJob("q", 250)
	q.CPU = 3000
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Nodes: node, Jobs: []sched.Job{cpuJob("g", 1, 6000, 0), q}}
	p := lasRound(t, s, tp)
	if _, ok := p.RunOf("g"); !ok {
		t.Fatalf("6-core gang on an 8-core node: waiting %+v, want running", p.Waiting)
	}
	if w, ok := waitOf(p, "q"); !ok || w.Reason != sched.ReasonNoShareRoom {
		t.Errorf("3-core share after a 6-core gang on an 8-core node: runs %+v waiting %+v, want q no-share-room", p.Runs, p.Waiting)
	}
	s.Jobs[1].CPU = 2000
	if p = lasRound(t, s, tp); len(p.Runs) != 2 {
		t.Errorf("2-core share after a 6-core gang on an 8-core node: runs %+v waiting %+v, want both running", p.Runs, p.Waiting)
	}

	held := shareJob("q", 250)
	held.CPU = 6000
	held.Held = &sched.Held{Model: "m", Devices: []int{0}}
	s.Jobs = []sched.Job{cpuJob("g", 1, 4000, 0), held}
	p = lasRound(t, s, tp)
	if r, ok := p.RunOf("q"); !ok || !r.Kept {
		t.Errorf("held 6-core share: %+v %v, want kept", r, ok)
	}
	if w, ok := waitOf(p, "g"); !ok || w.Reason != sched.ReasonNoNodeRoom {
		t.Errorf("4-core gang beside a held 6-core share on an 8-core node: runs %+v waiting %+v, want g no-node-room", p.Runs, p.Waiting)
	}
}

// A gang keeps the devices it holds as before, even when its node has less
// CPU than it asks (the figures changed since it started); shares see that
// node's CPU used up.
func TestGangKeptOverCPU(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1})
	g := cpuJob("g", 1, 16000, 0)
	g.Held = &sched.Held{Model: "m", Devices: []int{1}}
	q := shareJob("q", 250)
	q.CPU = 1000
	s := &sched.Snapshot{Fleet: map[string]int{"m": 2}, Nodes: []sched.Node{{ID: "n1", Model: "m", Devices: 2, CPU: 8000}},
		Jobs: []sched.Job{g, q}}
	p := lasRound(t, s, tp)
	if r, ok := p.RunOf("g"); !ok || !r.Kept || r.Devices[0] != 1 {
		t.Errorf("held gang over its node's CPU: %+v %v, want kept on device 1", r, ok)
	}
	if w, ok := waitOf(p, "q"); !ok || w.Reason != sched.ReasonNoShareRoom {
		t.Errorf("share beside it: runs %+v waiting %+v, want no-share-room", p.Runs, p.Waiting)
	}
}

// Random fleets of two models, nodes with and without recorded CPU and
// memory, gangs of 1–8 devices (8 spans two nodes) and shares asking
// random CPU and memory, arriving, running on (held) and leaving over 30
// rounds: no node is ever given more CPU or memory than it has (a gang's
// part by devices, rounded up), every job runs or waits once, and some
// gangs wait no-node-room (the check ran).
func TestNodeCPURandomInvariants(t *testing.T) {
	var es []sched.ThroughputEntry
	for _, g := range []int{1, 2, 4, 8} {
		es = append(es, sched.ThroughputEntry{Class: "c", Gang: g, Model: "m", StepsPerSecond: float64(2 * g)},
			sched.ThroughputEntry{Class: "c", Gang: g, Model: "n", StepsPerSecond: float64(g)})
	}
	tp := table(t, es...)
	nodes := []sched.Node{
		{ID: "m1", Model: "m", Devices: 4, CPU: 16000, Mem: 64000},
		{ID: "m2", Model: "m", Devices: 4, CPU: 8000},
		{ID: "m3", Model: "m", Devices: 4},
		{ID: "n1", Model: "n", Devices: 4, CPU: 12000, Mem: 32000},
		{ID: "n2", Model: "n", Devices: 4, Mem: 16000},
	}
	noRoom := 0
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		s := &sched.Snapshot{Fleet: map[string]int{"m": 12, "n": 8}, Nodes: nodes}
		pol, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
		st := sched.NewRoundState(pol, sched.RoundConfig{Sharer: sharer(t, share.Granary)})
		n := 0
		for r := range 30 {
			s.Now = float64(r) * 360
			for range rng.IntN(4) {
				var j sched.Job
				if rng.IntN(2) == 0 {
					j = shareJob(fmt.Sprintf("s%d", n), int64(100+100*rng.IntN(9)))
				} else {
					j = job(fmt.Sprintf("g%d", n), "c", []int{1, 2, 4, 8}[rng.IntN(4)])
				}
				j.CPU, j.Mem = int64(rng.IntN(4))*3000, int64(rng.IntN(3))*10000
				j.Arrival = s.Now
				s.Jobs = append(s.Jobs, j)
				n++
			}
			p := next(t, st, s, tp)
			if len(p.Runs)+len(p.Waiting) != len(s.Jobs) {
				t.Fatalf("seed %d round %d: %d runs + %d waiting for %d jobs", seed, r, len(p.Runs), len(p.Waiting), len(s.Jobs))
			}
			runs := map[string]sched.Run{}
			for _, run := range p.Runs {
				runs[run.Job] = run
				st.Charge(run.Job, run.Model, 360)
			}
			if over := overNode(s, p); over != "" {
				t.Fatalf("seed %d round %d: %s: %+v", seed, r, over, p.Runs)
			}
			for _, w := range p.Waiting {
				if w.Reason == sched.ReasonNoNodeRoom {
					noRoom++
				}
			}
			var left []sched.Job
			for _, j := range s.Jobs {
				if rng.IntN(8) == 0 {
					continue // finished
				}
				j.Held = nil
				if run, ok := runs[j.ID]; ok {
					j.Held = &sched.Held{Model: run.Model, Devices: run.Devices, Since: s.Now}
				}
				left = append(left, j)
			}
			s.Jobs = left
		}
	}
	if noRoom == 0 {
		t.Error("no gang waited no-node-room: the CPU and memory check never decided")
	}
	t.Logf("%d waits no-node-room", noRoom)
}

// nodeUse is the CPU and memory p's runs take on each node of s (a
// gang's part by devices, rounded up), by snapshot node index, and
// nodeAt maps a model's pool device to its snapshot node index.
func nodeUse(s *sched.Snapshot, p sched.Placement) (cpu, mem []int64, nodeAt map[string][]int) {
	nodeAt = map[string][]int{}
	for i, nd := range s.Nodes {
		for range nd.Devices {
			nodeAt[nd.Model] = append(nodeAt[nd.Model], i)
		}
	}
	jobs := map[string]*sched.Job{}
	for i := range s.Jobs {
		jobs[s.Jobs[i].ID] = &s.Jobs[i]
	}
	cpu, mem = make([]int64, len(s.Nodes)), make([]int64, len(s.Nodes))
	for _, run := range p.Runs {
		j := jobs[run.Job]
		per := map[int]int64{}
		for _, d := range run.Devices {
			per[nodeAt[run.Model][d]]++
		}
		g := int64(len(run.Devices))
		for nd, d := range per {
			cpu[nd] += (j.CPU*d + g - 1) / g
			mem[nd] += (j.Mem*d + g - 1) / g
		}
	}
	return cpu, mem, nodeAt
}

// overNode names a node of s that p gives more CPU or memory than it has
// ("" when none).
func overNode(s *sched.Snapshot, p sched.Placement) string {
	cpu, mem, _ := nodeUse(s, p)
	for i, nd := range s.Nodes {
		if (nd.CPU > 0 && cpu[i] > nd.CPU) || (nd.Mem > 0 && mem[i] > nd.Mem) {
			return fmt.Sprintf("%s given %d milli-cores and %d MiB, has %d and %d", nd.ID, cpu[i], mem[i], nd.CPU, nd.Mem)
		}
	}
	return ""
}

// A gang on whole nodes whose CPU does not fit the nodes the packer picks
// by devices goes on other whole free nodes that hold it: 16 devices
// asking 64 cores skip two 16-core nodes for two 32-core ones; 12 asking
// 48 cores take a 32-core node whole and 4 devices (16 cores) of a 16-core
// node; in another site, or over switches of one site, when the first
// switch lacks it; over sites only when the job may span them, else it
// waits no-node-room. No node is given more CPU than it has.
func TestGangNodeCPUOtherNodes(t *testing.T) {
	var es []sched.ThroughputEntry
	for _, g := range []int{12, 16} {
		es = append(es, sched.ThroughputEntry{Class: "c", Gang: g, Model: "m", StepsPerSecond: 1})
	}
	tp := table(t, es...)
	node := func(id, site, sw string, cpu int64) sched.Node {
		return sched.Node{ID: id, Model: "m", Devices: 8, CPU: cpu, Site: site, Switch: sw}
	}
	for _, c := range []struct {
		name  string
		nodes []sched.Node
		gang  int
		cpu   int64
		span  bool
		want  []string // nodes it runs on, in order; nil: waits no-node-room
	}{
		{"other nodes", []sched.Node{node("n1", "", "", 16000), node("n2", "", "", 16000), node("n3", "", "", 32000), node("n4", "", "", 32000)}, 16, 64000, false, []string{"n3", "n4"}},
		{"part of a node", []sched.Node{node("n1", "", "", 16000), node("n2", "", "", 32000)}, 12, 48000, false, []string{"n2", "n1"}},
		{"other site", []sched.Node{node("a1", "a", "", 16000), node("a2", "a", "", 16000), node("b1", "b", "", 32000), node("b2", "b", "", 32000)}, 16, 64000, false, []string{"b1", "b2"}},
		{"over switches", []sched.Node{node("x1", "s", "x", 16000), node("x2", "s", "x", 16000), node("y1", "s", "y", 32000), node("z1", "s", "z", 32000)}, 16, 64000, false, []string{"y1", "z1"}},
		{"no site", []sched.Node{node("a1", "a", "", 32000), node("a2", "a", "", 16000), node("b1", "b", "", 32000), node("b2", "b", "", 16000)}, 16, 64000, false, nil},
		{"span", []sched.Node{node("a1", "a", "", 32000), node("a2", "a", "", 16000), node("b1", "b", "", 32000), node("b2", "b", "", 16000)}, 16, 64000, true, []string{"a1", "b1"}},
	} {
		g := cpuJob("g", c.gang, c.cpu, 0)
		g.SpanSites = c.span
		s := &sched.Snapshot{Fleet: map[string]int{"m": 8 * len(c.nodes)}, Nodes: c.nodes, Jobs: []sched.Job{g}}
		p := lasRound(t, s, tp)
		if over := overNode(s, p); over != "" {
			t.Errorf("%s: %s", c.name, over)
		}
		r, ok := p.RunOf("g")
		if c.want == nil {
			if w, waits := waitOf(p, "g"); !waits || w.Reason != sched.ReasonNoNodeRoom {
				t.Errorf("%s: runs %+v waiting %+v, want g no-node-room", c.name, p.Runs, p.Waiting)
			}
			continue
		}
		if !ok || fmt.Sprint(r.Nodes) != fmt.Sprint(c.want) || len(r.Devices) != c.gang {
			t.Errorf("%s: runs %+v waiting %+v, want g on %v", c.name, p.Runs, p.Waiting, c.want)
		}
	}
}

// oracleFleet is a random fleet of one model for TestGangNodeCPUOracle:
// 3–6 nodes of 2 or 4 devices over two sites and two switches, with and
// without recorded CPU and memory; each node holds a one-device gang
// (asking some CPU and memory) with probability 1/3; then a gang larger
// than every node asking CPU and memory, spanning sites or not.
func oracleFleet(rng *rand.Rand) *sched.Snapshot {
	s := &sched.Snapshot{Fleet: map[string]int{}}
	largest, total := 0, 0
	for n := range 3 + rng.IntN(4) {
		nd := sched.Node{ID: fmt.Sprintf("n%d", n), Model: "m", Devices: 2 + 2*rng.IntN(2),
			Site: []string{"a", "b"}[rng.IntN(2)], Switch: []string{"x", "y"}[rng.IntN(2)],
			CPU: []int64{0, 4000, 8000, 16000}[rng.IntN(4)], Mem: []int64{0, 16000, 32000}[rng.IntN(3)]}
		if rng.IntN(3) == 0 {
			f := cpuJob(fmt.Sprintf("f%d", n), 1, int64(rng.IntN(3))*2000, int64(rng.IntN(2))*8000)
			f.Held = &sched.Held{Model: "m", Devices: []int{total}}
			s.Jobs = append(s.Jobs, f)
		}
		s.Nodes = append(s.Nodes, nd)
		largest, total = max(largest, nd.Devices), total+nd.Devices
	}
	s.Fleet["m"] = total
	if largest >= total {
		return nil
	}
	g := cpuJob("g", largest+1+rng.IntN(total-largest), int64(1+rng.IntN(6))*6000, int64(rng.IntN(3))*24000)
	g.SpanSites = rng.IntN(2) == 0
	s.Jobs = append(s.Jobs, g)
	return s
}

// gangRoom reports, by brute force over the sets of nodes of s that no
// other job uses in p, whether gang job g could run on some of them in
// full and at most one in part, with each node's CPU and memory left
// holding its part: in one group (site and switch), in one site, and
// anywhere its sites rule allows.
func gangRoom(s *sched.Snapshot, p sched.Placement, g *sched.Job) (group, site, any bool) {
	cpu, mem, nodeAt := nodeUse(s, p)
	busy := make([]bool, len(s.Nodes))
	for _, run := range p.Runs {
		for _, d := range run.Devices {
			busy[nodeAt[run.Model][d]] = run.Job != g.ID || busy[nodeAt[run.Model][d]]
		}
	}
	fits := func(n, d int) bool {
		nd := s.Nodes[n]
		part := func(need int64) int64 { return (need*int64(d) + int64(g.Gang) - 1) / int64(g.Gang) }
		return (nd.CPU == 0 || cpu[n]+part(g.CPU) <= nd.CPU) && (nd.Mem == 0 || mem[n]+part(g.Mem) <= nd.Mem)
	}
	// Runs count g's own use: take it off when g runs.
	if r, ok := p.RunOf(g.ID); ok {
		per := map[int]int{}
		for _, d := range r.Devices {
			per[nodeAt[r.Model][d]]++
		}
		for n, d := range per {
			gg := int64(g.Gang)
			cpu[n] -= (g.CPU*int64(d) + gg - 1) / gg
			mem[n] -= (g.Mem*int64(d) + gg - 1) / gg
		}
	}
	nn := len(s.Nodes)
	for set := 1; set < 1<<nn; set++ {
		sites, groups := map[string]bool{}, map[string]bool{}
		ok, size := true, 0
		for n := range nn {
			if set>>n&1 == 1 {
				ok = ok && !busy[n]
				sites[s.Nodes[n].Site] = true
				groups[s.Nodes[n].Site+"/"+s.Nodes[n].Switch] = true
				size += s.Nodes[n].Devices
			}
		}
		if !ok || (len(sites) > 1 && !g.SpanSites) {
			continue
		}
		// part: the node used in part (-1 none), with what is left of
		// the gang after the others in full.
		for part := -1; part < nn; part++ {
			if part >= 0 && set>>part&1 == 0 {
				continue
			}
			rest := g.Gang - size
			if part >= 0 {
				rest += s.Nodes[part].Devices
			}
			if (part < 0 && rest != 0) || (part >= 0 && (rest < 1 || rest > s.Nodes[part].Devices)) {
				continue
			}
			fit := true
			for n := range nn {
				if set>>n&1 == 1 {
					d := s.Nodes[n].Devices
					if n == part {
						d = rest
					}
					fit = fit && fits(n, d)
				}
			}
			if fit {
				any = true
				site = site || len(sites) == 1
				group = group || len(groups) == 1
			}
		}
	}
	return group, site, any
}

// fillersKept reports whether p keeps the fillers of an oracleFleet (all
// runs but g's kept, nfill of them) and g runs or waits for room.
func fillersKept(p sched.Placement, nfill int) bool {
	kept := 0
	for _, r := range p.Runs {
		if r.Job != "g" && r.Kept {
			kept++
		}
	}
	w, waits := waitOf(p, "g")
	_, runs := p.RunOf("g")
	return kept == nfill && (runs || (waits && (w.Reason == sched.ReasonNoNodeRoom || w.Reason == sched.ReasonFragmented)))
}

// Random small fleets (oracleFleet): a gang on whole nodes runs exactly
// when some set of free nodes holds its devices (all but one in full) and
// its CPU and memory (brute force, gangRoom); it runs on nodes no one else
// uses, at most one in part, in one switch when some switch holds it, in
// one site when some site does, and no node is given more than it has.
func TestGangNodeCPUOracle(t *testing.T) {
	var es []sched.ThroughputEntry
	for g := 1; g <= 24; g++ {
		es = append(es, sched.ThroughputEntry{Class: "c", Gang: g, Model: "m", StepsPerSecond: float64(g)})
	}
	tp := table(t, es...)
	ran, waited := 0, 0
	for seed := uint64(1); seed <= 1000; seed++ {
		s := oracleFleet(rand.New(rand.NewPCG(seed, 5)))
		if s == nil {
			continue
		}
		p := lasRound(t, s, tp)
		g := &s.Jobs[len(s.Jobs)-1]
		if !fillersKept(p, len(s.Jobs)-1) {
			continue // a filler not kept, or g not chosen: not this test's case
		}
		if over := overNode(s, p); over != "" {
			t.Fatalf("seed %d: %s", seed, over)
		}
		group, site, any := gangRoom(s, p, g)
		r, runs := p.RunOf("g")
		if runs != any {
			t.Fatalf("seed %d: g runs %v (%+v, waiting %+v), brute force finds room %v; snapshot %+v", seed, runs, r, p.Waiting, any, s)
		}
		if !runs {
			waited++
			continue
		}
		ran++
		_, _, nodeAt := nodeUse(s, p)
		per := map[int]int{}
		for _, d := range r.Devices {
			per[nodeAt["m"][d]]++
		}
		for _, run := range p.Runs {
			for _, d := range run.Devices {
				if run.Job != "g" && per[nodeAt["m"][d]] > 0 {
					t.Fatalf("seed %d: g on node %s beside %s", seed, s.Nodes[nodeAt["m"][d]].ID, run.Job)
				}
			}
		}
		sites, groups, parts := map[string]bool{}, map[string]bool{}, 0
		for n, d := range per {
			sites[s.Nodes[n].Site] = true
			groups[s.Nodes[n].Site+"/"+s.Nodes[n].Switch] = true
			if d < s.Nodes[n].Devices {
				parts++
			}
		}
		if parts > 1 || (group && len(groups) > 1) || (site && len(sites) > 1) {
			t.Fatalf("seed %d: g on %v (%d nodes in part), brute force finds room in one group %v, one site %v; snapshot %+v", seed, r.Nodes, parts, group, site, s)
		}
	}
	if ran < 50 || waited < 50 {
		t.Errorf("%d fleets where g ran, %d where it waited: want both ≥ 50", ran, waited)
	}
	t.Logf("%d ran, %d waited", ran, waited)
}
