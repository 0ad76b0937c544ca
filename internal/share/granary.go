package share

import (
	"math"
	"math/rand/v2"
	"slices"
)

// granaryPacker is Granary's packer. It ranks nodes by FGD's fragmentation
// growth (the same measure against the same target), bucketed at half
// FGD's resolution (score int(100·sigmoid(−Δ/2000)) instead of /1000), so
// that near-equal choices form one band; within the best band it prefers
// the node with fewer wholly free devices (packing into nodes already
// opened, keeping idle nodes whole for gangs), then the run's fixed random
// node order, as the artifact's scheduler does.
// docs/sharing.md reports how it compares with FGD.
type granaryPacker struct {
	tieOrder
	cache  *fragCache
	nodes  []int
	scores []int64
}

// granaryScale is the fragmentation growth (milli-devices) that moves the
// sigmoid score by about a quarter of its range around 0.
const granaryScale = 2000

func newGranary(rng *rand.Rand, target []Shape) *granaryPacker {
	return &granaryPacker{tieOrder: tieOrder{rng: rng}, cache: newFragCache(target)}
}

func (p *granaryPacker) Place(c *Cluster, r Request) (Placement, bool) {
	sid := p.cache.shapeID(r)
	p.nodes, p.scores = p.nodes[:0], p.scores[:0]
	for i := range c.Len() {
		if !c.Fits(i, r) {
			continue
		}
		d, _ := p.cache.delta(c, i, sid, r)
		band := int64(maxScore / (1 + math.Exp(d/granaryScale)))
		var whole int64
		for _, m := range c.milli[i] {
			if m == MilliPerDevice {
				whole++
			}
		}
		p.nodes = append(p.nodes, i)
		p.scores = append(p.scores, band*100-whole)
	}
	if len(p.nodes) == 0 {
		return Placement{}, false
	}
	best := p.nodes[p.pickMax(p.nodes, p.scores, c.Len())]
	_, devs := p.cache.delta(c, best, sid, r)
	return Placement{Node: best, Devices: slices.Clone(devs)}, true
}
