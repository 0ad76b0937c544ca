package share

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func mustPlace(t *testing.T, c *Cluster, name string, r Request, target []Shape) Placement {
	t.Helper()
	p, err := New(name, Options{Rand: rand.New(rand.NewPCG(1, 2)), Target: target})
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := p.Place(c, r)
	if !ok {
		t.Fatalf("%s: %+v placed nowhere", name, r)
	}
	return pl
}

// twoNodes: node 0 has a device 40 % used and little CPU left; node 1 is idle.
func twoNodes(t *testing.T) *Cluster {
	t.Helper()
	c, err := NewCluster([]Node{
		{Name: "used", CPU: 32000, Mem: 64000, Model: "T4", Devices: 2},
		{Name: "idle", CPU: 32000, Mem: 64000, Model: "T4", Devices: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Assign(Request{CPU: 24000, Mem: 1000, Devices: 1, Milli: 400}, Placement{Node: 0, Devices: []int{1}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Exact small cases, worked out by hand from each policy's rule.
func TestPoliciesSmallCases(t *testing.T) {
	share300 := Request{CPU: 2000, Mem: 1000, Devices: 1, Milli: 300}
	whole := Request{CPU: 2000, Mem: 1000, Devices: 1, Milli: 1000}
	cases := []struct {
		name   string
		r      Request
		node   int
		device []int
	}{
		// best-fit: node 0 leaves 6000/128000·½ + 1300/8000·½ ≈ 0.105,
		// node 1 leaves 30000/128000·½ + 1700/8000·½ ≈ 0.223.
		{BestFit, share300, 0, []int{1}}, // the device with least room that fits
		// gpu-packing: a device in use (score 100−6=94) beats an idle node (33−2).
		{GPUPacking, share300, 0, []int{1}},
		// gpu-packing: a whole device on a used node (50−1) beats an idle node.
		{GPUPacking, whole, 0, []int{0}},
		// gpu-clustering: the node holding shares (75 + 25·(8000−1600)/8000 = 95)
		// beats the idle one (25 + 25·6000/8000 = 43).
		{GPUClustering, share300, 0, []int{1}},
	}
	for _, tc := range cases {
		c := twoNodes(t)
		pl := mustPlace(t, c, tc.name, tc.r, nil)
		if pl.Node != tc.node || !slices.Equal(pl.Devices, tc.device) {
			t.Errorf("%s %+v: got node %d devices %v, want node %d devices %v", tc.name, tc.r, pl.Node, pl.Devices, tc.node, tc.device)
		}
	}
}

// dot-product: the request (8000 milli-cores, one device) against free
// vectors (128000, 8000) and (8000, 1000): products ½(1·1/16 + 1·1/8) =
// 0.094 → score 90, and ½(1/16·1/16 + 1/8·1/8) = 0.0098 → 99; the node
// that aligns least wins.
func TestDotProductSmallCase(t *testing.T) {
	c, _ := NewCluster([]Node{
		{Name: "big", CPU: 128000, Mem: 1 << 20, Model: "G2", Devices: 8},
		{Name: "small", CPU: 8000, Mem: 1 << 16, Model: "G2", Devices: 1},
	})
	r := Request{CPU: 8000, Mem: 1000, Devices: 1, Milli: 1000}
	if got, want := dotProductScore(c, 0, r), int64(90); got != want {
		t.Fatalf("score(big) = %d, want %d", got, want)
	}
	if pl := mustPlace(t, c, DotProduct, r, nil); pl.Node != 1 {
		t.Fatalf("dot-product chose node %d, want 1", pl.Node)
	}
}

func TestNodeFragByHand(t *testing.T) {
	target := []Shape{
		{Req: Request{CPU: 4000, Devices: 1, Milli: 500}, Freq: 0.5},
		{Req: Request{CPU: 4000, Devices: 2, Milli: 1000}, Freq: 0.25},
		{Req: Request{CPU: 1000}, Freq: 0.25},
	}
	free := []int64{1000, 300, 600}
	// share 500: hostable, the 300 device is a fragment → 0.5·300
	// gang of 2: only one whole device → all 1900 → 0.25·1900
	// CPU-only: all free device capacity counts → 0.25·1900
	want := 0.5*300 + 0.25*1900 + 0.25*1900
	if got := NodeFrag("T4", 8000, free, target); math.Abs(got-want) > 1e-9 {
		t.Fatalf("NodeFrag = %v, want %v", got, want)
	}
	// Too little CPU for the GPU shapes: everything is fragmented.
	if got := NodeFrag("T4", 3000, free, target); math.Abs(got-1900) > 1e-9 {
		t.Fatalf("NodeFrag without CPU = %v, want 1900", got)
	}
	// A model the shapes do not accept: likewise.
	target[0].Req.Models = []string{"A100"}
	if got := NodeFrag("T4", 8000, free, target); math.Abs(got-(0.5*1900+0.25*1900+0.25*1900)) > 1e-9 {
		t.Fatalf("NodeFrag with a foreign model = %v", got)
	}
}

// TestFGDAgainstNaiveReference: on random clusters, the node FGD chooses
// has the best score among all placements, where each placement's
// fragmentation growth is computed naively: clone the cluster, assign,
// and recompute the whole cluster's fragmentation.
func TestFGDAgainstNaiveReference(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 9))
		c, _ := NewCluster(smallNodes())
		var reqs []Request
		for range 40 {
			reqs = append(reqs, randomRequest(rng))
		}
		target := TargetShapes(reqs, 1)
		p, _ := New(FGD, Options{Rand: rng, Target: target})
		for _, r := range reqs {
			pl, ok := p.Place(c, r)
			if !ok {
				continue
			}
			before := ClusterFrag(c, target)
			score := func(q Placement) int64 {
				d := c.Clone()
				if err := d.Assign(r, q); err != nil {
					return -1
				}
				return int64(maxScore / (1 + math.Exp((ClusterFrag(d, target)-before)/1000)))
			}
			got := score(pl)
			for i := range c.Len() {
				for _, q := range allPlacements(c, i, r) {
					if s := score(q); s > got {
						t.Fatalf("seed %d: FGD chose %+v (score %d) but %+v scores %d", seed, pl, got, q, s)
					}
				}
			}
			if err := c.Assign(r, pl); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestGranaryFeedsPartlyUsedDevices: the deficit counts the free capacity
// of partly used devices too. Both nodes have two devices half used, so no
// whole-device shape fits either and FGD's growth for a one-core CPU-only
// pod is 0 on both (the half-device shape still fits: a tie). On the node
// with 10.5 cores left, the 1.0 device free would be fed by 0.95 devices'
// worth of CPU afterwards (deficit 0 → 0.05, cost 50, band 49 against
// 50); granary always takes the node with 40 cores, FGD either.
//
// With a target of shares only (5 cores per half device), the CPU per
// device is the shares' — 10 cores per device's worth — and the case is
// the same.
func TestGranaryFeedsPartlyUsedDevices(t *testing.T) {
	for _, target := range [][]Shape{
		{
			{Req: Request{CPU: 10000, Devices: 1, Milli: MilliPerDevice}, Freq: 0.5},
			{Req: Request{CPU: 1000, Devices: 1, Milli: 500}, Freq: 0.5},
		},
		{{Req: Request{CPU: 5000, Devices: 1, Milli: 500}, Freq: 1}},
	} {
		feedsPartlyUsed(t, target)
	}
}

func feedsPartlyUsed(t *testing.T, target []Shape) {
	t.Helper()
	nodes := []Node{
		{Name: "lean", CPU: 12500, Mem: 1 << 16, Model: "T4", Devices: 2},
		{Name: "fat", CPU: 42000, Mem: 1 << 16, Model: "T4", Devices: 2},
	}
	half := Request{CPU: 1000, Mem: 100, Devices: 1, Milli: 500}
	r := Request{CPU: 1000, Mem: 100}
	fgdLean := 0
	for seed := range uint64(16) {
		c, _ := NewCluster(nodes)
		for i := range nodes {
			for d := range 2 {
				if err := c.Assign(half, Placement{Node: i, Devices: []int{d}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		g, _ := New(Granary, Options{Rand: rand.New(rand.NewPCG(seed, 0)), Target: target})
		if pl, _ := g.Place(c, r); pl.Node != 1 {
			t.Fatalf("seed %d: granary chose %s", seed, nodes[pl.Node].Name)
		}
		f, _ := New(FGD, Options{Rand: rand.New(rand.NewPCG(seed, 0)), Target: target})
		if pl, _ := f.Place(c, r); pl.Node == 0 {
			fgdLean++
		}
	}
	if fgdLean == 0 {
		t.Fatal("FGD never chose the lean node: the case does not separate the packers")
	}
}

// TestGranaryAgainstNaiveReference: on random clusters, the placement
// granary chooses has the best band among all placements, and among the
// nodes in that band the fewest wholly free devices, where each
// placement's cost is computed naively: clone the cluster, assign,
// recompute the whole cluster's fragmentation and every node's CPU
// deficit from scratch (free capacity on devices with at least 200 free;
// CPU per device: the target's mean over its whole-device shapes).
func TestGranaryAgainstNaiveReference(t *testing.T) {
	decided := 0 // placements whose band the deficit changes
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 11))
		c, _ := NewCluster(smallNodes())
		var reqs []Request
		for range 40 {
			r := randomRequest(rng)
			r.CPU *= 3 // CPU scarce enough for the deficit to decide
			reqs = append(reqs, r)
		}
		target := TargetShapes(reqs, 1)
		cpd := naiveCPUPerDevice(target)
		p, _ := New(Granary, Options{Rand: rng, Target: target})
		for _, r := range reqs {
			pl, ok := p.Place(c, r)
			if !ok {
				continue
			}
			frag, def := ClusterFrag(c, target), naiveDeficit(c, cpd)
			bandOf := func(q Placement, alpha float64) int64 {
				d := c.Clone()
				if err := d.Assign(r, q); err != nil {
					return -1
				}
				return naiveBand(ClusterFrag(d, target) - frag + alpha*1000*(naiveDeficit(d, cpd)-def))
			}
			band := func(q Placement) int64 { return bandOf(q, 1) }
			got := band(pl)
			if got < 0 {
				t.Fatalf("seed %d: granary chose an illegal placement %+v", seed, pl)
			}
			for i := range c.Len() {
				for _, q := range allPlacements(c, i, r) {
					b := band(q)
					if b != bandOf(q, 0) {
						decided++
					}
					checkBest(t, c, seed, pl, got, q, b)
				}
			}
			if err := c.Assign(r, pl); err != nil {
				t.Fatal(err)
			}
		}
	}
	if decided == 0 {
		t.Fatal("the deficit never changed a band: the cases do not test it")
	}
	t.Logf("%d placements whose band the deficit changes", decided)
}

// TestGranaryPreemptBEReclaimsCPU: with Options.PreemptBE, granary ranks
// the nodes as the naive reference does on a view of the cluster without
// its preemptible CPU-only requests (their CPU counts as free: a request
// that fits nowhere evicts them at no device cost), and placing such a
// request costs nothing. Without the reclaim (granary as it ranks with
// the mode off), it chooses differently in some of these cases and the
// test fails.
func TestGranaryPreemptBEReclaimsCPU(t *testing.T) {
	differ := 0 // placements where the view's band differs from the cluster's
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 12))
		c, _ := NewCluster(smallNodes())
		var reqs []Request
		for range 40 {
			r := randomRequest(rng)
			r.CPU *= 3
			r.Preemptible = rng.IntN(2) == 0
			reqs = append(reqs, r)
		}
		target := TargetShapes(reqs, 1)
		cpd := naiveCPUPerDevice(target)
		p, _ := New(Granary, Options{Rand: rng, Target: target, PreemptBE: true})
		var reclaimable []tenant // preemptible CPU-only requests placed
		for _, r := range reqs {
			pl, ok := p.Place(c, r)
			if !ok {
				continue
			}
			view := c.Clone()
			for _, x := range reclaimable {
				if err := view.Release(x.req, x.pl); err != nil {
					t.Fatal(err)
				}
			}
			frag, def := ClusterFrag(view, target), naiveDeficit(view, cpd)
			fragC, defC := ClusterFrag(c, target), naiveDeficit(c, cpd)
			band := func(q Placement) int64 {
				if r.Preemptible && r.Devices == 0 {
					return naiveBand(0)
				}
				d, e := view.Clone(), c.Clone()
				if err := d.Assign(r, q); err != nil {
					return -1
				}
				if err := e.Assign(r, q); err == nil && naiveBand(ClusterFrag(e, target)-fragC+1000*(naiveDeficit(e, cpd)-defC)) !=
					naiveBand(ClusterFrag(d, target)-frag+1000*(naiveDeficit(d, cpd)-def)) {
					differ++
				}
				return naiveBand(ClusterFrag(d, target) - frag + 1000*(naiveDeficit(d, cpd)-def))
			}
			got := band(pl)
			if got < 0 {
				t.Fatalf("seed %d: granary chose an illegal placement %+v", seed, pl)
			}
			for i := range c.Len() {
				for _, q := range allPlacements(c, i, r) {
					checkBest(t, c, seed, pl, got, q, band(q))
				}
			}
			if err := c.Assign(r, pl); err != nil {
				t.Fatal(err)
			}
			if r.Preemptible && r.Devices == 0 {
				reclaimable = append(reclaimable, tenant{req: r, pl: pl})
			}
		}
	}
	if differ == 0 {
		t.Fatal("the reclaimed CPU never changed a band: the cases do not test it")
	}
	t.Logf("%d placements whose band the reclaimed CPU changes", differ)
}

// naiveCPUPerDevice is granary's CPU per device of a target, by its
// definition: the mean over the whole-device shapes, else over the shares
// per device's worth.
func naiveCPUPerDevice(target []Shape) float64 {
	var cpu, dev float64
	for _, s := range target {
		if s.Req.Devices > 0 && !s.Req.Shared() {
			cpu += s.Freq * float64(s.Req.CPU)
			dev += s.Freq * float64(s.Req.Devices)
		}
	}
	if dev == 0 {
		for _, s := range target {
			if s.Req.Shared() {
				cpu += s.Freq * float64(s.Req.CPU)
				dev += s.Freq * float64(s.Req.Milli) / 1000
			}
		}
	}
	if dev == 0 || cpu == 0 {
		return 0
	}
	return cpu / dev
}

// naiveDeficit is the cluster's CPU deficit in devices: per node, the free
// capacity on devices with at least 200 milli free that its free CPU
// cannot feed at cpd per device.
func naiveDeficit(c *Cluster, cpd float64) float64 {
	var d float64
	for i := range c.Len() {
		var free int64
		for _, m := range c.FreeDevices(i) {
			if m >= 200 {
				free += m
			}
		}
		if cpd > 0 {
			d += max(0, float64(free)/1000-float64(c.FreeCPU(i))/cpd)
		}
	}
	return d
}

// naiveBand is granary's band of a cost.
func naiveBand(cost float64) int64 { return int64(maxScore / (1 + math.Exp(cost/2000))) }

// wholeFree counts node i's wholly free devices.
func wholeFree(c *Cluster, i int) int {
	n := 0
	for _, m := range c.FreeDevices(i) {
		if m == MilliPerDevice {
			n++
		}
	}
	return n
}

// checkBest fails if placement q (band b) beats granary's choice pl (band
// got): a higher band, or the same band on a node with fewer wholly free
// devices.
func checkBest(t *testing.T, c *Cluster, seed uint64, pl Placement, got int64, q Placement, b int64) {
	t.Helper()
	if b > got {
		t.Fatalf("seed %d: granary chose %+v (band %d) but %+v has band %d", seed, pl, got, q, b)
	}
	if b == got && wholeFree(c, q.Node) < wholeFree(c, pl.Node) {
		t.Fatalf("seed %d: granary chose node %d (%d devices wholly free) over node %d (%d) in band %d",
			seed, pl.Node, wholeFree(c, pl.Node), q.Node, wholeFree(c, q.Node), b)
	}
}

// allPlacements lists every placement of r on node i: any device for a
// share, the lowest free devices for a gang (which whole devices a gang
// takes does not change fragmentation).
func allPlacements(c *Cluster, i int, r Request) []Placement {
	if !c.Fits(i, r) {
		return nil
	}
	if !r.Shared() {
		return []Placement{{Node: i, Devices: c.LowestDevices(i, r)}}
	}
	var out []Placement
	for d := range c.milli[i] {
		if c.deviceFits(i, d, r) {
			out = append(out, Placement{Node: i, Devices: []int{d}})
		}
	}
	return out
}

func TestRandomCoversEveryFittingNode(t *testing.T) {
	c := twoNodes(t)
	big := Request{CPU: 10000, Devices: 1, Milli: 500} // node 0 lacks the CPU
	small := Request{CPU: 1000, Devices: 1, Milli: 500}
	p, _ := New(Random, Options{Rand: rand.New(rand.NewPCG(3, 4))})
	seen := map[int]int{}
	for range 200 {
		pl, _ := p.Place(c, big)
		if pl.Node != 1 {
			t.Fatalf("random placed on node %d, which lacks CPU", pl.Node)
		}
		pl, _ = p.Place(c, small)
		seen[pl.Node]++
	}
	if seen[0] < 50 || seen[1] < 50 {
		t.Fatalf("random is not uniform over fitting nodes: %v", seen)
	}
}

func TestTargetShapes(t *testing.T) {
	a := Request{CPU: 1000, Devices: 1, Milli: 500}
	b := Request{CPU: 2000, Devices: 1, Milli: 1000}
	c := Request{CPU: 500}
	reqs := []Request{a, a, a, a, a, a, b, b, b, c}
	got := TargetShapes(reqs, 0.9)
	if len(got) != 2 || got[0].Req.CPU != 1000 || math.Abs(got[0].Freq-6.0/9) > 1e-12 || math.Abs(got[1].Freq-3.0/9) > 1e-12 {
		t.Fatalf("TargetShapes(0.9) = %+v: want a 6/9, b 3/9", got)
	}
	if all := TargetShapes(reqs, 1); len(all) != 3 {
		t.Fatalf("TargetShapes(1) kept %d shapes, want 3", len(all))
	}
}

func TestInflateAndCurve(t *testing.T) {
	reqs := []Request{{CPU: 1, Devices: 1, Milli: 500}, {CPU: 1, Devices: 2, Milli: 1000}, {CPU: 1}}
	arr := Inflate(rand.New(rand.NewPCG(5, 6)), reqs, 100000, 1.3)
	var total int64
	for _, r := range arr {
		total += r.TotalMilli()
	}
	if total > 130000+2000 || total < 130000-2000 {
		t.Fatalf("inflated to %d milli, want about 130000", total)
	}
	for _, r := range reqs {
		if !slices.ContainsFunc(arr[:3], func(q Request) bool { return q.CPU == r.CPU && q.Devices == r.Devices }) {
			t.Fatal("the workload's own requests must come first (shuffled)")
		}
	}
	cpuOnly := []Request{{CPU: 1}, {CPU: 2}}
	if got := Inflate(rand.New(rand.NewPCG(1, 1)), cpuOnly, 100000, 1.3); len(got) != 2 {
		t.Fatalf("a CPU-only workload inflated to %d requests, want its own 2", len(got))
	}
	if got := Inflate(rand.New(rand.NewPCG(1, 1)), reqs, 0, 1.3); len(got) != 3 {
		t.Fatalf("a cluster without devices: %d requests, want the workload's 3", len(got))
	}
	tr := Trial{Arrived: []float64{0.4, 0.6, 1.4, 3.6}, Alloc: []float64{1, 2, 3, 4}}
	cur := tr.Curve(tr.Alloc, 4)
	// 0.4 rounds to 0, 0.6 and 1.4 to 1, 3.6 to 4; nothing rounds to 2 or
	// 3, so those take the values that round to k−1..k+1.
	want := []float64{1, 2.5, 2.5, 4, 4}
	for k := range want {
		if math.Abs(cur[k]-want[k]) > 1e-12 {
			t.Fatalf("Curve = %v, want %v", cur, want)
		}
	}
}

// TestGranaryFeedsWholeDevices: two idle nodes with two devices each; the
// target's whole-device shape needs 10 cores per device. A CPU-only pod
// of one core leaves both nodes able to host that shape (FGD's growth is 0
// on both, a tie), but on the 12-core node the two free devices would
// then have 11 cores between them instead of 12 (deficit 0.8 → 0.9
// devices, cost 1·1000·0.1 = 100, band 48 against 50): granary always
// takes the 40-core node; FGD takes either, by its tie order.
func TestGranaryFeedsWholeDevices(t *testing.T) {
	target := []Shape{
		{Req: Request{CPU: 10000, Devices: 1, Milli: MilliPerDevice}, Freq: 0.5},
		{Req: Request{CPU: 1000, Devices: 1, Milli: 500}, Freq: 0.5},
	}
	nodes := []Node{
		{Name: "lean", CPU: 12000, Mem: 1 << 16, Model: "T4", Devices: 2},
		{Name: "fat", CPU: 40000, Mem: 1 << 16, Model: "T4", Devices: 2},
	}
	r := Request{CPU: 1000, Mem: 100}
	fgdLean := 0
	for seed := range uint64(16) {
		c, _ := NewCluster(nodes)
		g, _ := New(Granary, Options{Rand: rand.New(rand.NewPCG(seed, 0)), Target: target})
		if pl, _ := g.Place(c, r); pl.Node != 1 {
			t.Fatalf("seed %d: granary chose %s", seed, nodes[pl.Node].Name)
		}
		f, _ := New(FGD, Options{Rand: rand.New(rand.NewPCG(seed, 0)), Target: target})
		if pl, _ := f.Place(c, r); pl.Node == 0 {
			fgdLean++
		}
	}
	if fgdLean == 0 {
		t.Fatal("FGD never chose the lean node: the case does not separate the packers")
	}
}
