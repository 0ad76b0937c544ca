package share

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// tinyNodes is a cluster small enough to enumerate every eviction.
func tinyNodes(rng *rand.Rand) []Node {
	models := []string{"T4", "V100"}
	var nodes []Node
	for i := range 2 + rng.IntN(2) {
		nodes = append(nodes, Node{Name: string(rune('a' + i)), CPU: 4000 + rng.Int64N(12000), Mem: 64000,
			Model: models[rng.IntN(2)], Devices: 1 + rng.IntN(4)})
	}
	return nodes
}

// tinyRequest draws a request of the openb kinds: CPU only, a share of
// one device, or one to four whole devices.
func tinyRequest(rng *rand.Rand) Request {
	r := Request{CPU: 500 * rng.Int64N(8), Mem: 1000 * rng.Int64N(4)}
	switch rng.IntN(6) {
	case 0:
	case 1, 2, 3:
		r.Devices, r.Milli = 1, []int64{110, 230, 320, 470, 650, 810}[rng.IntN(6)]
	default:
		r.Devices, r.Milli = 1+rng.IntN(4), MilliPerDevice
	}
	if rng.IntN(5) == 0 {
		r.Models = []string{"T4"}
	}
	return r
}

// TestCheapestEvictionAgainstBruteForce: on random tiny clusters filled
// with preemptible and other requests, for a request that fits nowhere,
// evictor.cheapest finds exactly the eviction that enumerating every
// subset of every node's preemptible tenants finds: the least device
// capacity evicted, then the fewest pods, then the least CPU, below the
// request's device capacity, ties to the lowest-ranked node; and its set
// does make room. Earlier queries at earlier states of the cluster fill
// the evictor's per-node cache, so the comparison also covers its
// invalidation.
func TestCheapestEvictionAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	compared, none := 0, 0
	for trial := 0; compared < 3000; trial++ {
		c, err := NewCluster(tinyNodes(rng))
		if err != nil {
			t.Fatal(err)
		}
		ev := newEvictor(c.Len(), rng)
		probes := []Request{tinyRequest(rng), tinyRequest(rng), tinyRequest(rng)}
		for range 40 {
			// Fill the per-node cache at earlier states of the cluster.
			ev.cheapest(c, probes[rng.IntN(len(probes))])
			r := tinyRequest(rng)
			r.Preemptible = rng.IntN(2) == 0
			var fitting []int
			for i := range c.Len() {
				if c.Fits(i, r) {
					fitting = append(fitting, i)
				}
			}
			if len(fitting) == 0 {
				continue
			}
			i := fitting[rng.IntN(len(fitting))]
			var devs []int
			if r.Devices > 0 {
				for _, d := range rng.Perm(c.nodes[i].Devices) {
					if len(devs) < r.Devices && c.deviceFits(i, d, r) {
						devs = append(devs, d)
					}
				}
			}
			pl := Placement{Node: i, Devices: devs}
			if err := c.Assign(r, pl); err != nil {
				t.Fatal(err)
			}
			ev.add(r, pl)
		}
		r := tinyRequest(rng)
		if rng.IntN(2) == 0 {
			r = probes[rng.IntN(len(probes))]
		}
		if slices.ContainsFunc(rng.Perm(c.Len()), func(i int) bool { return c.Fits(i, r) }) {
			continue
		}
		got, ok := ev.cheapest(c, r)
		want, wantOK := bruteCheapest(c, ev, r)
		compared++
		if ok != wantOK {
			t.Fatalf("trial %d: request %+v: found %v, brute force %v (%+v)", trial, r, ok, wantOK, want)
		}
		if !ok {
			none++
			continue
		}
		if got.node != want.node || got.cost != want.cost {
			t.Fatalf("trial %d: request %+v: node %d cost %+v, brute force node %d cost %+v", trial, r, got.node, got.cost, want.node, want.cost)
		}
		d := c.Clone()
		var cost evictionCost
		for _, k := range got.victims {
			v := ev.onNode[got.node][k]
			if err := d.Release(v.req, v.pl); err != nil {
				t.Fatal(err)
			}
			cost = evictionCost{cost.milli + v.req.TotalMilli(), cost.pods + 1, cost.cpu + v.req.CPU}
		}
		if !d.Fits(got.node, r) || cost != got.cost || cost.milli >= r.TotalMilli() {
			t.Fatalf("trial %d: evicting %v (cost %+v, stated %+v) does not make room for %+v below its %d milli", trial, got.victims, cost, got.cost, r, r.TotalMilli())
		}
	}
	t.Logf("%d requests that fit nowhere compared, %d with no eviction that raises the allocation", compared, none)
	if none == 0 || none == compared {
		t.Fatalf("the cases must include both outcomes (%d of %d without an eviction)", none, compared)
	}
}

// bruteCheapest enumerates every non-empty subset of every node's
// preemptible tenants.
func bruteCheapest(c *Cluster, ev *evictor, r Request) (eviction, bool) {
	var best eviction
	found := false
	if r.TotalMilli() == 0 {
		return best, false
	}
	rank := make([]int, c.Len())
	for k, i := range ev.byRank {
		rank[i] = k
	}
	for i := range c.Len() {
		ts := ev.onNode[i]
		for mask := 1; mask < 1<<len(ts); mask++ {
			d := c.Clone()
			var cost evictionCost
			for k, v := range ts {
				if mask&(1<<k) != 0 {
					if err := d.Release(v.req, v.pl); err != nil {
						panic(err)
					}
					cost = evictionCost{cost.milli + v.req.TotalMilli(), cost.pods + 1, cost.cpu + v.req.CPU}
				}
			}
			if cost.milli >= r.TotalMilli() || !d.Fits(i, r) {
				continue
			}
			if !found || cost.less(best.cost) || cost == best.cost && rank[i] < rank[best.node] {
				best, found = eviction{node: i, cost: cost}, true
			}
		}
	}
	return best, found
}

// TestPreemptionRaisesAllocation: in random experiments on small clusters
// with every packer, each arrival that evicts raises the allocated device
// capacity, only preemptible requests are evicted, the counts add up, and
// the cluster's allocation equals what the running requests hold.
func TestPreemptionRaisesAllocation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	evictions := 0
	for trial := range 60 {
		nodes := smallNodes()
		var workload []Request
		for range 30 {
			r := tinyRequest(rng)
			r.Preemptible = rng.IntN(2) == 0
			workload = append(workload, r)
		}
		name := Names()[trial%len(Names())]
		c, err := NewCluster(nodes)
		if err != nil {
			t.Fatal(err)
		}
		target := TargetShapes(workload, 0.95)
		arrivals := Inflate(rng, workload, c.CapacityMilli(), 1.5)
		p, err := New(name, Options{Rand: rng, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		ev := newEvictor(c.Len(), rng)
		tr := run(c, p, arrivals, target, ev)
		for _, j := range tr.EvictedAt {
			before := 0.0
			if j > 0 {
				before = tr.Alloc[j-1]
			}
			if tr.Alloc[j] <= before || arrivals[j].Preemptible {
				t.Fatalf("%s trial %d: arrival %d (%+v) evicted; allocation %.3f → %.3f %%", name, trial, j, arrivals[j], before, tr.Alloc[j])
			}
		}
		if tr.Placed+tr.Failed != len(arrivals)+tr.Evicted-tr.Moved || len(tr.EvictedAt) > tr.Evicted {
			t.Fatalf("%s trial %d: placed %d + failed %d, %d arrivals, %d evicted, %d moved, %d evicting arrivals", name, trial,
				tr.Placed, tr.Failed, len(arrivals), tr.Evicted, tr.Moved, len(tr.EvictedAt))
		}
		var be int64
		for _, ts := range ev.onNode {
			for _, v := range ts {
				if !v.req.Preemptible {
					t.Fatalf("%s: a request that is not preemptible is an eviction candidate", name)
				}
				be += v.req.TotalMilli()
			}
		}
		// Releasing every preemptible tenant must succeed and leave the
		// others' capacity.
		d := c.Clone()
		for _, ts := range ev.onNode {
			for _, v := range ts {
				if err := d.Release(v.req, v.pl); err != nil {
					t.Fatalf("%s: a recorded tenant does not hold its placement: %v", name, err)
				}
			}
		}
		if d.UsedMilli() != c.UsedMilli()-be {
			t.Fatalf("%s: used %d after releasing %d of preemptible tenants from %d", name, d.UsedMilli(), be, c.UsedMilli())
		}
		evictions += tr.Evicted
	}
	if evictions == 0 {
		t.Fatal("no eviction happened: the test checks nothing")
	}
	t.Logf("%d evictions", evictions)
}

// TestPreemptionWithoutBEIsRun: when no request is preemptible, the
// preempting run is the plain run, point for point.
func TestPreemptionWithoutBEIsRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var workload []Request
	for range 40 {
		workload = append(workload, tinyRequest(rng))
	}
	for _, name := range []string{FGD, Granary, BestFit} {
		a, b := Setup{Nodes: smallNodes(), Workload: workload, Ratio: 1.3, Popularity: 0.95}, Setup{}
		b = a
		b.PreemptBE = true
		ta, err := a.RunSeed(name, 5)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := b.RunSeed(name, 5)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ta.Alloc, tb.Alloc) || ta.Failed != tb.Failed || tb.Evicted != 0 || ta.Failed == 0 {
			t.Fatalf("%s: without BE requests the preempting run differs (failed %d vs %d, evicted %d) or nothing failed", name, ta.Failed, tb.Failed, tb.Evicted)
		}
	}
}
