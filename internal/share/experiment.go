package share

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Trial is one run of the paper's experiment.
type Trial struct {
	// Arrived and Alloc are, after each request, the device capacity that
	// has arrived (placed or not) and that is allocated, in % of the
	// cluster's device capacity; Frag is the cluster's fragmentation
	// (ClusterFrag against the target) in % of capacity.
	Arrived, Alloc, Frag []float64
	// Placed counts the arrivals placed, Failed the arrivals that fit
	// nowhere plus, with preemption, the evicted requests that could not
	// be placed again. With preemption, Evicted counts evictions, Moved
	// the evicted requests placed again elsewhere (running on), and
	// EvictedAt the arrivals (indices) whose placement evicted; the
	// requests running at the end are Placed − Evicted + Moved.
	Placed, Failed, Evicted, Moved int
	EvictedAt                      []int
}

// Inflate returns the arrival sequence of the paper's experiment: the
// workload's requests in a random order, then copies of requests drawn at
// random (with replacement) for as long as the device capacity requested
// stays within ratio × capacity. As the artifact does, the check adds the
// drawn request's per-device share, not its total. A workload without
// device requests, or a cluster without devices, is not inflated.
func Inflate(rng *rand.Rand, reqs []Request, capacityMilli int64, ratio float64) []Request {
	out := make([]Request, len(reqs), len(reqs)*2)
	copy(out, reqs)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	var total int64
	for _, r := range reqs {
		total += r.TotalMilli()
	}
	limit := ratio * float64(capacityMilli)
	if !slices.ContainsFunc(reqs, func(r Request) bool { return r.Milli > 0 }) || limit <= 0 {
		return out // nothing to inflate with: copies would never reach the limit
	}
	for {
		r := reqs[rng.IntN(len(reqs))]
		if float64(total+r.Milli) > limit {
			return out
		}
		total += r.TotalMilli()
		out = append(out, r)
	}
}

// Run places the arrivals one by one on c with the packer, failing those
// that fit nowhere (they never retry; nothing departs), and records the
// trial. target may be nil (no fragmentation curve). c is changed.
func Run(c *Cluster, p Packer, arrivals []Request, target []Shape) Trial {
	return run(c, p, arrivals, target, nil)
}

// RunPreempting is Run with preemption of best-effort requests
// (preempt.go): a request that is not Preemptible and fits nowhere evicts
// the cheapest set of Preemptible ones that lets it fit, if that raises
// the allocated device capacity; the evicted are placed again if they fit
// or fail. rng orders the nodes for ties between equally cheap evictions.
func RunPreempting(c *Cluster, p Packer, arrivals []Request, target []Shape, rng *rand.Rand) Trial {
	return run(c, p, arrivals, target, newEvictor(c.Len(), rng))
}

func run(c *Cluster, p Packer, arrivals []Request, target []Shape, ev *evictor) Trial {
	t := Trial{
		Arrived: make([]float64, 0, len(arrivals)), Alloc: make([]float64, 0, len(arrivals)),
	}
	capacity := float64(c.CapacityMilli())
	var nodeFrag []float64
	var frag float64
	if target != nil {
		nodeFrag = make([]float64, c.Len())
		for i := range c.Len() {
			nodeFrag[i] = NodeFrag(c.nodes[i].Model, c.cpu[i], c.milli[i], target)
			frag += nodeFrag[i]
		}
		t.Frag = make([]float64, 0, len(arrivals))
	}
	changed := func(i int) {
		if target != nil {
			f := NodeFrag(c.nodes[i].Model, c.cpu[i], c.milli[i], target)
			frag += f - nodeFrag[i]
			nodeFrag[i] = f
		}
	}
	place := func(r Request) bool {
		pl, ok := p.Place(c, r)
		if !ok {
			return false
		}
		if err := c.Assign(r, pl); err != nil {
			panic("share: packer returned an illegal placement: " + err.Error())
		}
		if ev != nil {
			ev.add(r, pl)
		}
		changed(pl.Node)
		return true
	}
	var arrived int64
	for j, r := range arrivals {
		arrived += r.TotalMilli()
		switch {
		case place(r):
			t.Placed++
		case ev != nil:
			if x, ok := ev.cheapest(c, r); ok {
				t.preempt(c, ev, x, r, j, place, changed)
				break
			}
			t.Failed++
		default:
			t.Failed++
		}
		t.Arrived = append(t.Arrived, 100*float64(arrived)/capacity)
		t.Alloc = append(t.Alloc, 100*float64(c.UsedMilli())/capacity)
		if target != nil {
			t.Frag = append(t.Frag, 100*frag/capacity)
		}
	}
	return t
}

// preempt evicts x, places r (arrival j) on the node it freed and places
// the evicted again where they fit, the largest first.
func (t *Trial) preempt(c *Cluster, ev *evictor, x eviction, r Request, j int, place func(Request) bool, changed func(int)) {
	before := c.UsedMilli()
	victims := ev.evict(c, x)
	changed(x.node)
	if !place(r) {
		panic("share: a request does not fit where its eviction made room")
	}
	t.Placed++
	t.Evicted += len(victims)
	t.EvictedAt = append(t.EvictedAt, j)
	slices.SortStableFunc(victims, func(a, b tenant) int { return int(b.req.TotalMilli() - a.req.TotalMilli()) })
	for _, v := range victims {
		if place(v.req) {
			t.Moved++
		} else {
			t.Failed++
		}
	}
	if c.UsedMilli() <= before {
		panic("share: an eviction did not raise the allocated capacity")
	}
}

// Curve resamples a trial's series (Alloc or Frag) at every 1 % of
// capacity arrived, 0..upto, as the artifact's analysis does: the mean of
// the values recorded while the arrived share rounds to k %, else of those
// that round to k−1..k+1 %, else NaN.
func (t Trial) Curve(series []float64, upto int) []float64 {
	sum := make([]float64, upto+1)
	n := make([]int, upto+1)
	for j, a := range t.Arrived {
		k := int(math.RoundToEven(a))
		if k >= 0 && k <= upto {
			sum[k] += series[j]
			n[k]++
		}
	}
	out := make([]float64, upto+1)
	for k := range out {
		var s float64
		var m int
		for j := max(k-1, 0); j <= min(k+1, upto); j++ {
			if j == k || n[k] == 0 {
				s += sum[j]
				m += n[j]
			}
		}
		if m > 0 {
			out[k] = s / float64(m)
		} else {
			out[k] = math.NaN()
		}
	}
	return out
}

// Setup is one experiment: the cluster, the workload and how to inflate it.
type Setup struct {
	Nodes    []Node
	Workload []Request
	// Ratio is how much device capacity arrives, as a multiple of the
	// cluster's (the paper: 1.3).
	Ratio float64
	// Popularity is the share of the workload's requests whose shapes form
	// the target distribution (the artifact: 0.95).
	Popularity float64
	// PreemptBE runs RunPreempting instead of Run: requests that are not
	// Preemptible may evict Preemptible ones (preempt.go).
	PreemptBE bool
}

// RunSeed runs one trial of packer on a fresh cluster: the workload
// inflated with the seed, then placed in arrival order. The seed drives
// the arrival order, the copies and the packer's randomness, so a
// (packer, seed) pair is reproducible.
func (s Setup) RunSeed(packer string, seed uint64) (Trial, error) {
	c, err := NewCluster(s.Nodes)
	if err != nil {
		return Trial{}, err
	}
	target := TargetShapes(s.Workload, s.Popularity)
	rng := rand.New(rand.NewPCG(seed, 0x6772616e617279))
	arrivals := Inflate(rng, s.Workload, c.CapacityMilli(), s.Ratio)
	p, err := New(packer, Options{Rand: rng, Target: target, PreemptBE: s.PreemptBE})
	if err != nil {
		return Trial{}, err
	}
	if s.PreemptBE {
		return RunPreempting(c, p, arrivals, target, rand.New(rand.NewPCG(seed, preemptStream))), nil
	}
	return Run(c, p, arrivals, target), nil
}

// preemptStream is the PCG stream of the preemption's tie order, apart
// from the packer's so that the packers draw as without preemption.
const preemptStream = 0x7072656d707421

// MeanCurve is the pointwise mean of curves of equal length, skipping NaN.
func MeanCurve(curves [][]float64) []float64 {
	if len(curves) == 0 {
		return nil
	}
	out := make([]float64, len(curves[0]))
	for k := range out {
		var s float64
		n := 0
		for _, c := range curves {
			if !math.IsNaN(c[k]) {
				s += c[k]
				n++
			}
		}
		out[k] = math.NaN()
		if n > 0 {
			out[k] = s / float64(n)
		}
	}
	return out
}
