package share

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Shape is one request shape of a workload and its share of the requests.
type Shape struct {
	Req  Request
	Freq float64 // in (0, 1]; the shapes of a target sum to 1
}

// shapeKey identifies a request shape for fragmentation purposes (CPU,
// device share, device count, accepted models; node memory is not part of
// the measure).
func shapeKey(r Request) string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(r.CPU, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(r.Milli, 10))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(r.Devices))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(r.DevMem, 10))
	for _, m := range r.Models {
		b.WriteByte('/')
		b.WriteString(m)
	}
	return b.String()
}

// TargetShapes is the workload's distribution of request shapes as FGD
// measures fragmentation against it: shapes counted over reqs, the most
// frequent first, kept until they cover popularity (0..1] of the requests
// (the artifact uses 0.95), and renormalised to sum to 1.
func TargetShapes(reqs []Request, popularity float64) []Shape {
	count := map[string]int{}
	first := map[string]Request{}
	for _, r := range reqs {
		k := shapeKey(r)
		if count[k] == 0 {
			first[k] = r
		}
		count[k]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(count[b], count[a]); c != 0 {
			return c
		}
		ra, rb := first[a], first[b]
		if c := cmp.Compare(rb.CPU, ra.CPU); c != 0 { // the artifact's reversed tie order
			return c
		}
		if c := cmp.Compare(rb.Milli, ra.Milli); c != 0 {
			return c
		}
		if c := cmp.Compare(rb.Devices, ra.Devices); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	total := float64(len(reqs))
	var out []Shape
	var cum float64
	for _, k := range keys {
		if cum >= popularity*total {
			break
		}
		cum += float64(count[k])
		out = append(out, Shape{Req: first[k], Freq: float64(count[k])})
	}
	for k := range out {
		out[k].Freq /= cum
	}
	return out
}

// NodeFrag is FGD's fragmentation of one node against the target shapes,
// in milli-devices: the expected free device capacity an arriving request
// (drawn from target) could not use. For a shape the node can host (model
// accepted, enough CPU, enough devices with room), the free capacity of the
// devices too small for its share is fragmented; for a shape it cannot
// host, and for CPU-only shapes, all free device capacity is.
func NodeFrag(model string, freeCPU int64, free []int64, target []Shape) float64 {
	var total int64
	for _, m := range free {
		total += m
	}
	if total == 0 {
		return 0
	}
	var frag float64
	for _, s := range target {
		r := s.Req
		if r.Devices == 0 || !r.Accepts(model) || freeCPU < r.CPU {
			frag += s.Freq * float64(total)
			continue
		}
		fit, small := 0, int64(0)
		for _, m := range free {
			if m >= r.Milli {
				fit++
			} else {
				small += m
			}
		}
		if fit >= r.Devices {
			frag += s.Freq * float64(small)
		} else {
			frag += s.Freq * float64(total)
		}
	}
	return frag
}

// ClusterFrag is the sum of NodeFrag over the cluster's nodes.
func ClusterFrag(c *Cluster, target []Shape) float64 {
	var f float64
	for i := range c.Len() {
		f += NodeFrag(c.nodes[i].Model, c.cpu[i], c.milli[i], target)
	}
	return f
}

// fragDelta returns, for placing r on node i, the growth of the node's
// fragmentation and the devices that minimise it: for a share, each device
// with room is tried (lowest index wins ties); whole devices are the
// lowest-index free ones.
//
// cpu is the node's free CPU after the placement as the measure sees it.
// extra, when not nil, is a further cost of the placement given the node's
// free device capacity after it; it is added to the growth and takes part
// in choosing the device.
func fragDelta(c *Cluster, i int, r Request, cpu int64, target []Shape, before float64, buf []int64, extra func(c *Cluster, i int, r Request, after []int64) float64) (float64, []int, []int64) {
	model := c.nodes[i].Model
	buf = append(buf[:0], c.milli[i]...)
	cost := func() float64 {
		f := NodeFrag(model, cpu, buf, target) - before
		if extra != nil {
			f += extra(c, i, r, buf)
		}
		return f
	}
	if !r.Shared() {
		devs := c.LowestDevices(i, r)
		for _, d := range devs {
			buf[d] -= r.Milli
		}
		return cost(), devs, buf
	}
	best, bestD := math.Inf(1), -1
	seen := [MilliPerDevice + 1]bool{}
	for d, m := range c.milli[i] {
		if !c.deviceFits(i, d, r) || seen[m] {
			continue // devices with equal free capacity give equal results
		}
		seen[m] = true
		buf[d] -= r.Milli
		f := cost()
		buf[d] += r.Milli
		if f < best {
			best, bestD = f, d
		}
	}
	return best, []int{bestD}, buf
}

// fragCache remembers, per node, the node's fragmentation and, per request
// shape, the best fragmentation growth (plus extra, if set) and devices,
// valid while the node's version is unchanged. extra must depend only on
// the node's state and the request's shape.
//
// With reclaim (granary under Setup.PreemptBE), the CPU held by
// preemptible CPU-only requests counts as free (cpu, cpuAfter): a request
// that fits nowhere evicts them without giving up any device capacity,
// the cheapest eviction there is.
type fragCache struct {
	target  []Shape
	reclaim bool
	extra   func(c *Cluster, i int, r Request, after []int64) float64
	shapes  map[string]int
	nodeVer []uint64
	nodeOK  []bool
	frag    []float64
	entries [][]cacheEntry
	buf     []int64
}

type cacheEntry struct {
	ver   uint64
	ok    bool
	delta float64
	devs  []int
}

func newFragCache(target []Shape) *fragCache {
	return &fragCache{target: target, shapes: map[string]int{}}
}

// delta returns fragDelta for r (shape id sid) on node i, cached.
func (fc *fragCache) delta(c *Cluster, i, sid int, r Request) (float64, []int) {
	if len(fc.frag) != c.Len() {
		n := c.Len()
		fc.nodeVer, fc.nodeOK, fc.frag, fc.entries = make([]uint64, n), make([]bool, n), make([]float64, n), make([][]cacheEntry, n)
	}
	v := c.version[i]
	if !fc.nodeOK[i] || fc.nodeVer[i] != v {
		fc.frag[i] = NodeFrag(c.nodes[i].Model, fc.cpu(c, i), c.milli[i], fc.target)
		fc.nodeVer[i], fc.nodeOK[i] = v, true
	}
	if len(fc.entries[i]) <= sid {
		fc.entries[i] = append(fc.entries[i], make([]cacheEntry, sid+1-len(fc.entries[i]))...)
	}
	e := &fc.entries[i][sid]
	if !e.ok || e.ver != v {
		var d float64
		d, e.devs, fc.buf = fragDelta(c, i, r, fc.cpuAfter(c, i, r), fc.target, fc.frag[i], fc.buf, fc.extra)
		e.delta, e.ver, e.ok = d, v, true
	}
	return e.delta, e.devs
}

// reclaimable reports whether the measure counts r's CPU as free.
func (fc *fragCache) reclaimable(r Request) bool {
	return fc.reclaim && r.Preemptible && r.Devices == 0
}

// cpu is node i's free CPU as the measure sees it.
func (fc *fragCache) cpu(c *Cluster, i int) int64 {
	if fc.reclaim {
		return c.cpu[i] + c.beCPU[i]
	}
	return c.cpu[i]
}

// cpuAfter is node i's free CPU as the measure sees it after placing r.
func (fc *fragCache) cpuAfter(c *Cluster, i int, r Request) int64 {
	if fc.reclaimable(r) {
		return fc.cpu(c, i)
	}
	return fc.cpu(c, i) - r.CPU
}

func (fc *fragCache) shapeID(r Request) int {
	k := shapeKey(r)
	if fc.reclaimable(r) {
		k += "/reclaimable" // its costs differ from the same shape's that is not
	}
	id, ok := fc.shapes[k]
	if !ok {
		id = len(fc.shapes)
		fc.shapes[k] = id
	}
	return id
}

// fgdPacker is FGD as the artifact runs it: each node that fits scores
// int(100 · sigmoid(−Δfrag/1000)), where Δfrag is the growth of the node's
// fragmentation in milli-devices on its best device; the highest score
// wins, ties in the run's fixed random node order (tieOrder).
type fgdPacker struct {
	tieOrder
	cache  *fragCache
	nodes  []int
	scores []int64
}

func newFGD(rng *rand.Rand, target []Shape) *fgdPacker {
	return &fgdPacker{tieOrder: tieOrder{rng: rng}, cache: newFragCache(target)}
}

func (p *fgdPacker) Place(c *Cluster, r Request) (Placement, bool) {
	sid := p.cache.shapeID(r)
	p.nodes, p.scores = p.nodes[:0], p.scores[:0]
	for i := range c.Len() {
		if !c.Fits(i, r) {
			continue
		}
		d, _ := p.cache.delta(c, i, sid, r)
		p.nodes = append(p.nodes, i)
		p.scores = append(p.scores, int64(maxScore/(1+math.Exp(d/1000))))
	}
	if len(p.nodes) == 0 {
		return Placement{}, false
	}
	i := p.nodes[p.pickMax(p.nodes, p.scores, c.Len())]
	_, devs := p.cache.delta(c, i, sid, r)
	return Placement{Node: i, Devices: slices.Clone(devs)}, true
}
