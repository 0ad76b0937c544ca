package sched

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
	// memory fit them (no other set of nodes is tried).
	devs := f.place(k, g, jb.SpanSites)
	if devs == nil {
		return nil
	}
	if !c.gangFits(i, k, devs) {
		f.release(k, devs)
		return nil
	}
	c.chargeGang(i, k, devs, 1)
	return devs
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
