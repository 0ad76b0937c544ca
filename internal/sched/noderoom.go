package sched

import (
	"cmp"
	"slices"
)

// A job's CPU (milli-cores) and memory (MiB) on its nodes — Job.CPU and
// Job.Mem, the job spec's cpu_milli and memory_mib — are what the whole job
// needs besides devices. A share takes them on its device's node; a gang
// on one node takes them there; a gang spread over nodes takes, on each,
// its part in proportion to the devices it has there, rounded up
// (ceil(CPU × d / Gang) on a node hosting d of its Gang devices). The pack
// stage counts them per node (nodeLeft): a gang goes only where they fit
// what the gangs and shares placed before it left, and the shares placed
// after it see what it took. Nodes the snapshot records no CPU or memory
// for are not a limit.

// nodeLeft is the CPU and memory left this round per column and topology
// node (unbounded where not recorded). A node hosting devices of two
// models is seen once per model, each part with the whole node's figures,
// as in the share cluster.
type nodeLeft struct {
	cpu, mem [][]int64
}

// nodeRecords is, per column and topology node, the snapshot node it
// stands for (nil past the snapshot's nodes of that model).
func (c *cycle) nodeRecords() [][]*Node {
	col := make(map[string]int, len(c.models))
	for k, m := range c.models {
		col[m] = k
	}
	res := make([][]*Node, len(c.models))
	for i := range c.s.Nodes {
		if nd := &c.s.Nodes[i]; nd.Devices > 0 {
			if k, ok := col[nd.Model]; ok {
				res[k] = append(res[k], nd)
			}
		}
	}
	out := make([][]*Node, len(c.models))
	for k := range c.models {
		out[k] = make([]*Node, len(c.topo.nodes[k]))
		copy(out[k], res[k])
	}
	return out
}

func newNodeLeft(recs [][]*Node) *nodeLeft {
	l := &nodeLeft{cpu: make([][]int64, len(recs)), mem: make([][]int64, len(recs))}
	for k, nodes := range recs {
		l.cpu[k] = make([]int64, len(nodes))
		l.mem[k] = make([]int64, len(nodes))
		for n, nd := range nodes {
			l.cpu[k][n], l.mem[k][n] = unbounded, unbounded
			if nd != nil && nd.CPU > 0 {
				l.cpu[k][n] = nd.CPU
			}
			if nd != nil && nd.Mem > 0 {
				l.mem[k][n] = nd.Mem
			}
		}
	}
	return l
}

// nodePart is d of a gang's devices on topology node n.
type nodePart struct {
	n int32
	d int
}

// parts groups devs (pool devices of column k) by node, in first-seen
// order.
func (t *topology) parts(k int, devs []int) []nodePart {
	var out []nodePart
next:
	for _, d := range devs {
		n := t.nodeOf[k][d]
		for p := range out {
			if out[p].n == n {
				out[p].d++
				continue next
			}
		}
		out = append(out, nodePart{n: n, d: 1})
	}
	return out
}

// partNeed is a gang's CPU or memory on a node hosting d of its gang
// devices: need × d / gang, rounded up.
func partNeed(need int64, d, gang int) int64 {
	if need <= 0 || gang <= 0 {
		return 0
	}
	return (need*int64(d) + int64(gang) - 1) / int64(gang)
}

// asksNode reports whether snapshot job j asks for CPU or memory.
func asksNode(j *Job) bool { return j.CPU > 0 || j.Mem > 0 }

// gangFits reports whether eff job i's CPU and memory fit what is left on
// the nodes of devs (column k).
func (c *cycle) gangFits(i, k int, devs []int) bool {
	j := &c.s.Jobs[c.src[i]]
	if !asksNode(j) {
		return true
	}
	g := len(devs)
	for _, p := range c.topo.parts(k, devs) {
		if partNeed(j.CPU, p.d, g) > c.free.left.cpu[k][p.n] || partNeed(j.Mem, p.d, g) > c.free.left.mem[k][p.n] {
			return false
		}
	}
	return true
}

// chargeGang takes (sign 1) or gives back (sign -1) eff job i's CPU and
// memory on the nodes of devs (column k).
func (c *cycle) chargeGang(i, k int, devs []int, sign int64) {
	j := &c.s.Jobs[c.src[i]]
	if !asksNode(j) {
		return
	}
	g := len(devs)
	for _, p := range c.topo.parts(k, devs) {
		c.free.left.cpu[k][p.n] -= sign * partNeed(j.CPU, p.d, g)
		c.free.left.mem[k][p.n] -= sign * partNeed(j.Mem, p.d, g)
	}
}

// placeGang puts eff job i's gang on column k where its devices are free
// and its CPU and memory fit (see place), and takes them; nil when it does
// not fit this round. A gang asking for no CPU nor memory goes exactly
// where place puts it.
func (c *cycle) placeGang(i, k int) []int {
	jb := &c.eff.Jobs[i]
	g := jb.Gang
	if !asksNode(&c.s.Jobs[c.src[i]]) {
		return c.free.place(k, g, jb.SpanSites)
	}
	f := c.free
	if !c.topo.multi(k, g) {
		// Best fit among the nodes whose CPU and memory fit: the fewest
		// free devices that hold the gang, then the first in Nodes order.
		for sz := g; sz <= c.topo.largest[k]; sz++ {
			best := int32(-1)
			for _, n := range f.bucket[k][sz] {
				if (best < 0 || n < best) && c.gangFits(i, k, f.firstFree(k, n, g)) {
					best = n
				}
			}
			if best >= 0 {
				devs := f.takeOn(k, best, g, nil)
				c.chargeGang(i, k, devs, 1)
				return devs
			}
		}
		return nil
	}
	// A gang on whole nodes: the nodes place chooses, if its CPU and
	// memory fit them; else the nodes that can host their part (roomy).
	devs := f.place(k, g, jb.SpanSites)
	if devs == nil {
		return nil
	}
	if !c.gangFits(i, k, devs) {
		f.release(k, devs)
		if devs = c.roomy(i, k, g, jb.SpanSites); devs == nil {
			return nil
		}
	}
	c.chargeGang(i, k, devs, 1)
	return devs
}

// A gang on whole nodes whose CPU or memory does not fit the nodes place
// chose tries the others. Its part on a node grows with its devices
// there, so a whole free node can host it in full (all its devices: any
// part of them fits too) or up to some d of its devices. Placed as place
// does — whole free nodes, the last one in part — it fits a set of nodes
// exactly when their full hosts hold it, or hold all but what one other
// node can host. roomy looks for such a set with place's preferences: in
// one group (the fewest whole free devices), else one site (the same),
// else, when the gang may span sites, the whole pool; it takes the full
// hosts in place's order, then the rest on the first node that can host
// it. It costs a pass over the column's nodes, and runs only for a gang
// asking CPU or memory whose first choice lacks them: placements are as
// before whenever that choice fits.

// roomy places eff job i's gang of gang devices on whole free nodes of
// column k whose CPU and memory can host their part (see above); nil when
// no set of them can.
func (c *cycle) roomy(i, k, gang int, span bool) []int {
	j := &c.s.Jobs[c.src[i]]
	t, whole := c.topo, c.free.whole[k]
	full, part := c.groupRoom(j, k, gang)
	best := -1
	for g := range full {
		if full[g]+part[g] >= gang && (best < 0 || whole[g] < whole[best]) {
			best = g
		}
	}
	if best >= 0 {
		return c.takeRoomy(j, k, []int{best}, gang)
	}
	nsite := len(t.sites[k])
	sFull, sPart, sWhole := make([]int, nsite), make([]int, nsite), make([]int, nsite)
	for g := range full {
		s := t.groups[k][g].site
		sFull[s] += full[g]
		sPart[s] = max(sPart[s], part[g])
		sWhole[s] += whole[g]
	}
	site := -1
	for s := range sFull {
		if sFull[s]+sPart[s] >= gang && (site < 0 || sWhole[s] < sWhole[site]) {
			site = s
		}
	}
	if site < 0 && !span {
		return nil
	}
	var groups []int
	total, most := 0, 0
	for g, w := range whole {
		if w > 0 && (site < 0 || int(t.groups[k][g].site) == site) {
			groups = append(groups, g)
			total += full[g]
			most = max(most, part[g])
		}
	}
	if total+most < gang {
		return nil
	}
	slices.SortStableFunc(groups, func(a, b int) int { return cmp.Compare(whole[b], whole[a]) })
	return c.takeRoomy(j, k, groups, gang)
}

// hosts is how many devices of snapshot job j's gang whole free node n of
// column k can host with the CPU and memory left there: its size when its
// part at its size fits, else the most whose part fits.
func (c *cycle) hosts(j *Job, k int, n int32, gang int) int {
	d := int64(c.topo.nodes[k][n].size)
	d = min(d, partRoom(j.CPU, c.free.left.cpu[k][n], gang))
	d = min(d, partRoom(j.Mem, c.free.left.mem[k][n], gang))
	return int(d)
}

// partRoom is the most devices d of a gang whose part of need fits left:
// ⌈need × d / gang⌉ ≤ left, that is need × d ≤ left × gang.
func partRoom(need, left int64, gang int) int64 {
	switch {
	case need <= 0 || left >= need:
		return int64(gang)
	case left <= 0:
		return 0
	}
	return left * int64(gang) / need
}

// groupRoom is, per group of column k, the devices on whole free nodes
// that can host snapshot job j's gang in full (full), and the most one
// other whole free node there can host (part).
func (c *cycle) groupRoom(j *Job, k, gang int) (full, part []int) {
	f, t := c.free, c.topo
	full, part = make([]int, len(t.groups[k])), make([]int, len(t.groups[k]))
	for g, gr := range t.groups[k] {
		for _, n := range gr.nodes[f.cursor[k][g]:] {
			sz := int(t.nodes[k][n].size)
			if int(f.free[k][n]) != sz {
				continue
			}
			if h := c.hosts(j, k, n, gang); h == sz {
				full[g] += sz
			} else {
				part[g] = max(part[g], h)
			}
		}
	}
	return full, part
}

// takeRoomy takes snapshot job j's gang devices on column k from the
// whole free nodes of groups that can host it in full, in order (the last
// may be used in part), then the rest on the first other whole free node
// that can host it. The caller has checked that the groups hold it.
func (c *cycle) takeRoomy(j *Job, k int, groups []int, gang int) []int {
	f, t := c.free, c.topo
	out := make([]int, 0, gang)
	need := gang
	for pass := 0; pass < 2 && need > 0; pass++ {
		for _, g := range groups {
			for _, n := range t.groups[k][g].nodes[f.cursor[k][g]:] {
				sz := int(t.nodes[k][n].size)
				if need == 0 || int(f.free[k][n]) != sz {
					continue
				}
				h := c.hosts(j, k, n, gang)
				if pass == 0 && h == sz {
					out = f.takeOn(k, n, min(sz, need), out)
					need -= min(sz, need)
				} else if pass == 1 && h >= need {
					out = f.takeOn(k, n, need, out)
					need = 0
				}
			}
		}
	}
	for _, g := range groups {
		f.advance(k, g)
	}
	return out
}

// firstFree is the first n free devices of node nd of column k, not taken.
func (f *freeState) firstFree(k int, nd int32, n int) []int {
	node := f.t.nodes[k][nd]
	out := make([]int, 0, n)
	for d := int(node.start); len(out) < n && d < int(node.start+node.size); d++ {
		if !f.used[k][d] {
			out = append(out, d)
		}
	}
	return out
}

// holdGang holds eff job i's devs on column k and takes its CPU and
// memory there.
func (c *cycle) holdGang(i, k int, devs []int) []int {
	c.chargeGang(i, k, devs, 1)
	return c.free.hold(k, devs)
}
