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
	Placed, Failed       int
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
	var arrived int64
	for _, r := range arrivals {
		arrived += r.TotalMilli()
		if pl, ok := p.Place(c, r); ok {
			if err := c.Assign(r, pl); err != nil {
				panic("share: packer returned an illegal placement: " + err.Error())
			}
			t.Placed++
			if target != nil {
				i := pl.Node
				f := NodeFrag(c.nodes[i].Model, c.cpu[i], c.milli[i], target)
				frag += f - nodeFrag[i]
				nodeFrag[i] = f
			}
		} else {
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
	p, err := New(packer, Options{Rand: rng, Target: target})
	if err != nil {
		return Trial{}, err
	}
	return Run(c, p, arrivals, target), nil
}

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
