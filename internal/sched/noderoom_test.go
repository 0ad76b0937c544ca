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
	// nodeOf[model][device] is the snapshot node index.
	nodeOf := map[string][]int{}
	for i, nd := range nodes {
		for range nd.Devices {
			nodeOf[nd.Model] = append(nodeOf[nd.Model], i)
		}
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
			jobs := map[string]sched.Job{}
			for _, j := range s.Jobs {
				jobs[j.ID] = j
			}
			cpu, mem := make([]int64, len(nodes)), make([]int64, len(nodes))
			runs := map[string]sched.Run{}
			for _, run := range p.Runs {
				runs[run.Job] = run
				st.Charge(run.Job, run.Model, 360)
				j := jobs[run.Job]
				per := map[int]int{}
				for _, d := range run.Devices {
					per[nodeOf[run.Model][d]]++
				}
				for nd, d := range per {
					g := int64(len(run.Devices))
					cpu[nd] += (j.CPU*int64(d) + g - 1) / g
					mem[nd] += (j.Mem*int64(d) + g - 1) / g
				}
			}
			for i, nd := range nodes {
				if (nd.CPU > 0 && cpu[i] > nd.CPU) || (nd.Mem > 0 && mem[i] > nd.Mem) {
					t.Fatalf("seed %d round %d: node %s given %d milli-cores and %d MiB, has %d and %d: %+v", seed, r, nd.ID, cpu[i], mem[i], nd.CPU, nd.Mem, p.Runs)
				}
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
