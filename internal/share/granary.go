package share

import (
	"math"
	"math/rand/v2"
	"slices"
)

// granaryPacker is Granary's packer: FGD's fragmentation growth against
// the same target, plus a term FGD does not have — the CPU a node's free
// device capacity will need. In the openb trace a whole-device pod asks for
// about 11 cores per device (a G2 node has 12 per device), a 0.47- or
// 0.65-device pod for about 12 cores, and CPU-only pods take cores with no
// device at all; a node whose free CPU falls below what its free device
// capacity needs strands that capacity, and FGD only sees it when a target
// shape no longer fits.
//
// For each node that fits, the packer computes
//
//	cost = Δfrag + α · 1000 · Δdeficit,  deficit = max(0, free/1000 − freeCPU/cpuPerDevice)
//
// where free is the node's free device capacity in milli-devices on the
// devices with at least 200 free (whole and partly used devices alike;
// slivers below that take only the smallest shares, which ask for little
// CPU), cpuPerDevice is the target's mean CPU per device over its
// whole-device shapes (with none, over its shares, per device's worth of
// them), and α = 1. Costs are banded as FGD
// bands its scores, at half its resolution (int(100·sigmoid(−cost/2000)));
// within the best band the node with fewer wholly free devices wins
// (packing into opened nodes, keeping idle ones whole for gangs), then the
// first in the run's fixed random node order. A share goes on the device
// of least cost.
//
// With preemption of best-effort requests (Options.PreemptBE), both terms
// count the CPU held by preemptible CPU-only requests as free: a request
// that fits nowhere evicts them at no device cost, so their cores are not
// lost to the devices beside them, and placing one costs nothing. Counted
// as lost (as before), the packer left more of the CPU-only pods that are
// not preemptible, whose cores no eviction frees, beside free devices (on
// openb cpu300, 3,370 cores at the end against 2,338) and allocated less
// than FGD with the same preemption there. docs/sharing.md compares it
// with FGD on every openb workload, with and without preemption.
type granaryPacker struct {
	tieOrder
	cache        *fragCache
	cpuPerDevice float64
	nodes        []int
	scores       []int64
}

// Granary's constants: the weight of the CPU deficit, the least free
// capacity of a device the deficit counts, and the band width.
const (
	granaryAlpha   = 1.0
	granaryMinFree = 200
	granaryScale   = 2000 // milli-devices of cost per unit of the sigmoid's argument
)

func newGranary(rng *rand.Rand, target []Shape) *granaryPacker {
	var cpu, dev float64
	for _, s := range target {
		if s.Req.Devices > 0 && !s.Req.Shared() {
			cpu += s.Freq * float64(s.Req.CPU)
			dev += s.Freq * float64(s.Req.Devices)
		}
	}
	if dev == 0 { // no whole-device shape: CPU per device's worth of shares
		for _, s := range target {
			if s.Req.Shared() {
				cpu += s.Freq * float64(s.Req.CPU)
				dev += s.Freq * float64(s.Req.Milli) / MilliPerDevice
			}
		}
	}
	g := &granaryPacker{tieOrder: tieOrder{rng: rng}, cache: newFragCache(target)}
	if dev > 0 && cpu > 0 {
		g.cpuPerDevice = cpu / dev
	}
	g.cache.extra = g.deficitGrowth
	return g
}

// deficit is how much of a node's free device capacity (free, in
// milli-devices, on devices with at least granaryMinFree) its free CPU
// cannot feed at cpuPerDevice per device, in
// devices.
func (p *granaryPacker) deficit(free, cpu int64) float64 {
	if p.cpuPerDevice == 0 {
		return 0
	}
	return max(0, float64(free)/MilliPerDevice-float64(cpu)/p.cpuPerDevice)
}

// deficitGrowth is α · 1000 · Δdeficit for placing r on node i, leaving
// the node's devices with after free.
func (p *granaryPacker) deficitGrowth(c *Cluster, i int, r Request, after []int64) float64 {
	var free, freeAfter int64
	for k, m := range c.milli[i] {
		if m >= granaryMinFree {
			free += m
		}
		if after[k] >= granaryMinFree {
			freeAfter += after[k]
		}
	}
	return granaryAlpha * MilliPerDevice * (p.deficit(freeAfter, p.cache.cpuAfter(c, i, r)) - p.deficit(free, p.cache.cpu(c, i)))
}

func (p *granaryPacker) Place(c *Cluster, r Request) (Placement, bool) {
	sid := p.cache.shapeID(r)
	p.nodes, p.scores = p.nodes[:0], p.scores[:0]
	for i := range c.Len() {
		if !c.Fits(i, r) {
			continue
		}
		cost, _ := p.cache.delta(c, i, sid, r)
		whole := 0
		for _, m := range c.milli[i] {
			if m == MilliPerDevice {
				whole++
			}
		}
		band := int64(maxScore / (1 + math.Exp(cost/granaryScale)))
		p.nodes = append(p.nodes, i)
		p.scores = append(p.scores, band<<20-int64(whole))
	}
	if len(p.nodes) == 0 {
		return Placement{}, false
	}
	best := p.nodes[p.pickMax(p.nodes, p.scores, c.Len())]
	_, devs := p.cache.delta(c, best, sid, r)
	return Placement{Node: best, Devices: slices.Clone(devs)}, true
}
