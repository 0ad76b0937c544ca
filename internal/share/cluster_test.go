package share

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func smallNodes() []Node {
	return []Node{
		{Name: "a", CPU: 16000, Mem: 64000, Model: "T4", Devices: 2, DevMem: 16000},
		{Name: "b", CPU: 32000, Mem: 128000, Model: "V100", Devices: 4},
		{Name: "c", CPU: 8000, Mem: 32000, Model: "T4", Devices: 1},
		{Name: "d", CPU: 64000, Mem: 256000, Model: "A100", Devices: 8},
	}
}

// randomRequest draws a legal request: CPU only, a share, or a gang.
func randomRequest(rng *rand.Rand) Request {
	r := Request{CPU: rng.Int64N(8000), Mem: rng.Int64N(32000)}
	switch rng.IntN(3) {
	case 1:
		r.Devices, r.Milli = 1, 1+rng.Int64N(999)
		if rng.IntN(2) == 0 {
			r.DevMem = rng.Int64N(8000)
		}
	case 2:
		r.Devices, r.Milli = 1<<rng.IntN(4), MilliPerDevice
	}
	if rng.IntN(4) == 0 {
		r.Models = []string{"T4"}
	}
	return r
}

// TestConservation: whatever any packer does, what is allocated plus what
// is free equals capacity on every node and device at every step, and
// releasing everything (in any order) restores the empty cluster.
func TestConservation(t *testing.T) {
	for _, name := range Names() {
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, 1))
			c, err := NewCluster(smallNodes())
			if err != nil {
				t.Fatal(err)
			}
			empty := c.Clone()
			var reqs []Request
			for range 50 {
				reqs = append(reqs, randomRequest(rng))
			}
			p, err := New(name, Options{Rand: rng, Target: TargetShapes(reqs, 1)})
			if err != nil {
				t.Fatal(err)
			}
			type placed struct {
				r Request
				p Placement
			}
			var done []placed
			for _, r := range reqs {
				pl, ok := p.Place(c, r)
				if ok != anyFits(c, r) {
					t.Fatalf("%s seed %d: Place ok=%v but a naive scan says fits=%v for %+v", name, seed, ok, !ok, r)
				}
				if !ok {
					continue
				}
				if err := c.Assign(r, pl); err != nil {
					t.Fatalf("%s seed %d: illegal placement %+v of %+v: %v", name, seed, pl, r, err)
				}
				done = append(done, placed{r, pl})
				checkBooks(t, c, empty)
			}
			rng.Shuffle(len(done), func(i, j int) { done[i], done[j] = done[j], done[i] })
			for _, d := range done {
				if err := c.Release(d.r, d.p); err != nil {
					t.Fatalf("%s: release: %v", name, err)
				}
			}
			if !reflect.DeepEqual(c.cpu, empty.cpu) || !reflect.DeepEqual(c.mem, empty.mem) ||
				!reflect.DeepEqual(c.milli, empty.milli) || !reflect.DeepEqual(c.devMem, empty.devMem) || c.usedMilli != 0 {
				t.Fatalf("%s seed %d: releasing everything did not restore the empty cluster", name, seed)
			}
			for i, k := range c.kinds {
				if len(k) != 0 {
					t.Fatalf("%s: node %d still records request kinds %v", name, i, k)
				}
			}
		}
	}
}

// anyFits is a naive reference for "some node can hold r".
func anyFits(c *Cluster, r Request) bool {
	for i, n := range c.nodes {
		if c.cpu[i] < r.CPU || c.mem[i] < r.Mem {
			continue
		}
		if r.Devices == 0 {
			return true
		}
		ok := 0
		for d := range n.Devices {
			if c.milli[i][d] >= r.Milli && (r.DevMem == 0 || n.DevMem == 0 || c.devMem[i][d] >= r.DevMem) {
				ok++
			}
		}
		if ok >= r.Devices && r.Accepts(n.Model) {
			return true
		}
	}
	return false
}

func checkBooks(t *testing.T, c, empty *Cluster) {
	t.Helper()
	var used int64
	for i := range c.nodes {
		if c.cpu[i] < 0 || c.cpu[i] > empty.cpu[i] || c.mem[i] < 0 || c.mem[i] > empty.mem[i] {
			t.Fatalf("node %d: cpu %d mem %d out of [0, capacity]", i, c.cpu[i], c.mem[i])
		}
		for d, m := range c.milli[i] {
			if m < 0 || m > MilliPerDevice || c.devMem[i][d] < 0 {
				t.Fatalf("node %d device %d: %d milli, %d MiB free", i, d, m, c.devMem[i][d])
			}
			used += MilliPerDevice - m
		}
	}
	if used != c.UsedMilli() {
		t.Fatalf("UsedMilli %d, devices say %d", c.UsedMilli(), used)
	}
}

func TestAssignRejectsAndChangesNothing(t *testing.T) {
	c, _ := NewCluster(smallNodes())
	share := Request{CPU: 1000, Mem: 1000, Devices: 1, Milli: 600}
	if err := c.Assign(share, Placement{Node: 0, Devices: []int{0}}); err != nil {
		t.Fatal(err)
	}
	before := c.Clone()
	bad := []struct {
		r Request
		p Placement
	}{
		{share, Placement{Node: 0, Devices: []int{0}}},                                                             // 400 left < 600
		{Request{CPU: 1, Devices: 1, Milli: 100, Models: []string{"A100"}}, Placement{Node: 0, Devices: []int{1}}}, // model
		{Request{CPU: 1, Devices: 2, Milli: 1000}, Placement{Node: 1, Devices: []int{1, 1}}},                       // duplicate device
		{Request{CPU: 1, Devices: 2, Milli: 500}, Placement{Node: 1, Devices: []int{0, 1}}},                        // gang of shares
		{Request{CPU: 99000}, Placement{Node: 1}},                                                                  // cpu
		{Request{CPU: 1, Devices: 1, Milli: 100}, Placement{Node: 7, Devices: []int{0}}},                           // node
		{Request{CPU: 1, Devices: 1, Milli: 100, DevMem: 20000}, Placement{Node: 0, Devices: []int{1}}},            // device memory
		{Request{CPU: 1, Devices: 1, Milli: 1001}, Placement{Node: 1, Devices: []int{0}}},                          // share > 1000
	}
	for k, b := range bad {
		if err := c.Assign(b.r, b.p); err == nil {
			t.Errorf("case %d: Assign(%+v, %+v) accepted", k, b.r, b.p)
		}
	}
	if !reflect.DeepEqual(c, before) {
		t.Fatal("a rejected Assign changed the cluster")
	}
	if err := c.Release(Request{CPU: 1, Devices: 1, Milli: 500}, Placement{Node: 0, Devices: []int{1}}); err == nil {
		t.Fatal("Release beyond capacity accepted")
	}
	if _, err := NewCluster([]Node{{Name: "z", CPU: 0, Mem: 1}}); err == nil {
		t.Fatal("zero-CPU node accepted")
	}
}
