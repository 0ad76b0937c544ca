package share

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Packer chooses where one request goes. Place returns ok=false when no
// node can hold r now; it never changes c. Implementations may keep caches
// keyed on Cluster.Version, so one Packer serves one Cluster at a time.
type Packer interface {
	Place(c *Cluster, r Request) (p Placement, ok bool)
}

// Packer names, as the CLI takes them.
const (
	Random        = "random"
	DotProduct    = "dot-product"
	GPUClustering = "gpu-clustering"
	GPUPacking    = "gpu-packing"
	BestFit       = "best-fit"
	FGD           = "fgd"
	Granary       = "granary"
)

// Names lists the packers in the paper's order, then Granary's.
func Names() []string {
	return []string{Random, DotProduct, GPUClustering, GPUPacking, BestFit, FGD, Granary}
}

// Options configure a packer.
type Options struct {
	// Rand breaks ties (and drives random); required.
	Rand *rand.Rand
	// Target is the expected distribution of request shapes that fgd and
	// granary measure fragmentation against (TargetShapes).
	Target []Shape
	// PreemptBE says that preemptible requests may be evicted
	// (Setup.PreemptBE); granary then counts the CPU that preemptible
	// CPU-only requests hold as free. Other packers ignore it.
	PreemptBE bool
}

// New returns the packer called name.
func New(name string, o Options) (Packer, error) {
	if o.Rand == nil {
		return nil, fmt.Errorf("share: packer %q needs a random source", name)
	}
	switch name {
	case Random:
		return &randomPacker{rng: o.Rand}, nil
	case DotProduct:
		return &scored{tieOrder: tieOrder{rng: o.Rand}, score: dotProductScore, devices: bestFitDevices}, nil
	case GPUClustering:
		return &scored{tieOrder: tieOrder{rng: o.Rand}, score: clusteringScore, devices: bestFitDevices}, nil
	case GPUPacking:
		return &scored{tieOrder: tieOrder{rng: o.Rand}, score: packingScore, devices: bestFitDevices}, nil
	case BestFit:
		return &scored{tieOrder: tieOrder{rng: o.Rand}, score: bestFitScore, devices: bestFitDevices, normalize: true}, nil
	case FGD, Granary:
		if len(o.Target) == 0 {
			return nil, fmt.Errorf("share: packer %q needs a target workload distribution", name)
		}
		if name == FGD {
			return newFGD(o.Rand, o.Target), nil
		}
		g := newGranary(o.Rand, o.Target)
		g.cache.reclaim = o.PreemptBE
		return g, nil
	}
	return nil, fmt.Errorf("unknown packer %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Artifact constants (hkust-adsl simulator, open-gpu-share utils): the
// normalisers of the node scores and the framework's score range.
const (
	maxSpecCPU = 128000 // milli-cores
	maxSpecGPU = 8000   // milli-devices
	maxScore   = 100
)

// scored is the Kubernetes scheduling cycle the artifact runs: filter the
// nodes that fit, score each (integer, 0..100), optionally min-max
// normalise the scores, and take the highest, choosing uniformly at random
// among equal scores; then pick the devices on the chosen node.
type scored struct {
	tieOrder
	score     func(c *Cluster, i int, r Request) int64
	devices   func(c *Cluster, i int, r Request) []int
	normalize bool

	nodes  []int
	scores []int64
}

func (s *scored) Place(c *Cluster, r Request) (Placement, bool) {
	s.nodes, s.scores = s.nodes[:0], s.scores[:0]
	for i := range c.Len() {
		if c.Fits(i, r) {
			s.nodes = append(s.nodes, i)
			s.scores = append(s.scores, s.score(c, i, r))
		}
	}
	if len(s.nodes) == 0 {
		return Placement{}, false
	}
	if s.normalize {
		normalizeScores(s.scores)
	}
	best := s.pickMax(s.nodes, s.scores, c.Len())
	i := s.nodes[best]
	return Placement{Node: i, Devices: s.devices(c, i, r)}, true
}

// tieOrder is the artifact's tie-break: its simulator renames the nodes
// with a random permutation prefix per run and its scheduler takes, among
// equal scores, the lexicographically smallest name; so ties go to the
// first node of a random order fixed for the run.
type tieOrder struct {
	rng  *rand.Rand
	rank []int
}

// pickMax returns the index k of the highest score, the node with the
// lowest rank among equal ones.
func (t *tieOrder) pickMax(nodes []int, scores []int64, n int) int {
	if len(t.rank) != n {
		t.rank = t.rng.Perm(n)
	}
	best := 0
	for k := 1; k < len(scores); k++ {
		if scores[k] > scores[best] || scores[k] == scores[best] && t.rank[nodes[k]] < t.rank[nodes[best]] {
			best = k
		}
	}
	return best
}

// normalizeScores maps scores linearly onto 0..100 in integers, as the
// artifact's NormalizeScore does (all equal → all 0).
func normalizeScores(s []int64) {
	lo, hi := slices.Min(s), slices.Max(s)
	for k := range s {
		if hi == lo {
			s[k] = 0
		} else {
			s[k] = (s[k] - lo) * maxScore / (hi - lo)
		}
	}
}

// bestFitDevices is the artifact's "best" device selection: a share goes
// on the fitting device with the least free capacity (lowest index on
// ties), whole devices are the lowest-index free ones.
func bestFitDevices(c *Cluster, i int, r Request) []int {
	if !r.Shared() {
		return c.LowestDevices(i, r)
	}
	best := -1
	for d, m := range c.FreeDevices(i) {
		if c.deviceFits(i, d, r) && (best < 0 || m < c.milli[i][best]) {
			best = d
		}
	}
	return []int{best}
}

// randomPacker picks a uniformly random node that fits and, for a share, a
// uniformly random device with room (whole devices: the lowest-index free).
type randomPacker struct {
	rng   *rand.Rand
	nodes []int
}

func (p *randomPacker) Place(c *Cluster, r Request) (Placement, bool) {
	p.nodes = p.nodes[:0]
	for i := range c.Len() {
		if c.Fits(i, r) {
			p.nodes = append(p.nodes, i)
		}
	}
	if len(p.nodes) == 0 {
		return Placement{}, false
	}
	i := p.nodes[p.rng.IntN(len(p.nodes))]
	if !r.Shared() {
		return Placement{Node: i, Devices: c.LowestDevices(i, r)}, true
	}
	d, n := -1, 0
	for k := range c.FreeDevices(i) {
		if c.deviceFits(i, k, r) {
			n++
			if p.rng.IntN(n) == 0 {
				d = k
			}
		}
	}
	return Placement{Node: i, Devices: []int{d}}, true
}

// dotProductScore is Tetris's alignment as the artifact runs it
// ("merge" dimensions, "max" normalisation): the dot product of the free
// vector (CPU, all free device capacity) and the request, each divided by
// the largest node's capacity, averaged over the two dimensions; the score
// is 100 × (1 − that), so the node whose free vector aligns least with
// the request wins.
func dotProductScore(c *Cluster, i int, r Request) int64 {
	dot := float64(c.FreeCPU(i))/maxSpecCPU*float64(r.CPU)/maxSpecCPU +
		float64(c.FreeMilli(i))/maxSpecGPU*float64(r.TotalMilli())/maxSpecGPU
	return int64(maxScore * (1 - dot/2))
}

// bestFitScore ranks the node with the least weighted resources left after
// placing r highest: 100 × (1 − ½·cpuLeft/128000 − ½·devLeft/8000).
func bestFitScore(c *Cluster, i int, r Request) int64 {
	left := 0.5*float64(c.FreeCPU(i)-r.CPU)/maxSpecCPU + 0.5*float64(c.FreeMilli(i)-r.TotalMilli())/maxSpecGPU
	return int64((1 - left) * maxScore)
}

// packingScore prefers, in order: devices already in use (fewer free
// milli on them is better, 50..100), free devices on a node already in use
// (fewer of them is better, 33..50), then an idle node (0..33).
// CPU-only requests score 0 everywhere.
func packingScore(c *Cluster, i int, r Request) int64 {
	if r.Devices == 0 {
		return 0
	}
	free := c.FreeDevices(i)
	full := 0
	for _, m := range free {
		if m == MilliPerDevice {
			full++
		}
	}
	if full == len(free) {
		return max(maxScore/3-int64(full), int64(full))
	}
	// Take the fitting devices with the least free capacity first.
	order := make([]int, len(free))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(free[a] - free[b]) })
	need, useFull := r.Devices, 0
	var onUsed int64
	for _, d := range order {
		if need == 0 {
			break
		}
		if c.deviceFits(i, d, r) {
			need--
			if free[d] == MilliPerDevice {
				useFull++
			}
			onUsed += free[d] * 100 / MilliPerDevice
		}
	}
	if useFull > 0 {
		return max(maxScore/2-int64(useFull), maxScore/3)
	}
	return max(maxScore-onUsed/10, maxScore/2)
}

// clusteringScore keeps requests of the same kind (CPU only, shared
// device, 1, 2, 4 or 8 whole devices) together: a node holding only that
// kind scores 75..100, a node holding it among others 50..75, an idle node
// 25..50, a node holding only other kinds 0..25; within each band, less
// free device capacity scores higher. CPU-only requests score 0.
func clusteringScore(c *Cluster, i int, r Request) int64 {
	k := kindOf(r)
	if k == kindCPU {
		return 0
	}
	band := int64(maxScore/4) * (maxSpecGPU - c.FreeMilli(i)) / maxSpecGPU
	kinds := c.kinds[i]
	switch {
	case kinds[k] > 0 && len(kinds) == 1:
		return band + maxScore*3/4
	case kinds[k] > 0:
		return band + maxScore*2/4
	case len(kinds) == 0:
		return band + maxScore/4
	}
	return band
}
