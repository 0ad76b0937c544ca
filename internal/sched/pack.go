package sched

import (
	"cmp"
	"slices"
	"sort"
)

// freeState is the pack stage's bookkeeping of free devices for one round:
// per column, which pool devices are taken, each node's free count, nodes
// bucketed by free count (best fit in O(node size)), and each group's
// devices on whole free nodes (multi-node gangs take whole nodes).
type freeState struct {
	t      *topology
	used   [][]bool
	free   [][]int32
	bucket [][][]int32 // [col][free count] → nodes
	bpos   [][]int32   // [col][node] → position in its bucket
	whole  [][]int     // [col][group] → devices on whole free nodes
	cursor [][]int32   // [col][group] → no whole free node before it
	left   *nodeLeft   // CPU and memory left per node (noderoom.go)
}

func newFreeState(t *topology) *freeState {
	nm := len(t.fleet)
	f := &freeState{t: t, used: make([][]bool, nm), free: make([][]int32, nm), bucket: make([][][]int32, nm),
		bpos: make([][]int32, nm), whole: make([][]int, nm), cursor: make([][]int32, nm)}
	for k := range t.fleet {
		nodes := t.nodes[k]
		f.used[k] = make([]bool, t.fleet[k])
		f.free[k] = make([]int32, len(nodes))
		f.bucket[k] = make([][]int32, t.largest[k]+1)
		f.bpos[k] = make([]int32, len(nodes))
		f.whole[k] = make([]int, len(t.groups[k]))
		f.cursor[k] = make([]int32, len(t.groups[k]))
		for n, nd := range nodes {
			f.free[k][n] = nd.size
			f.bpos[k][n] = int32(len(f.bucket[k][nd.size]))
			f.bucket[k][nd.size] = append(f.bucket[k][nd.size], int32(n))
			f.whole[k][nd.group] += int(nd.size)
		}
	}
	return f
}

func (f *freeState) setFree(k int, n int32, to int32) {
	nd := &f.t.nodes[k][n]
	from := f.free[k][n]
	f.remove(k, from, n)
	f.push(k, to, n)
	f.free[k][n] = to
	if from == nd.size {
		f.whole[k][nd.group] -= int(nd.size)
	}
	if to == nd.size {
		f.whole[k][nd.group] += int(nd.size)
		f.cursor[k][nd.group] = min(f.cursor[k][nd.group], nd.gpos)
	}
}

// Each bucket is a min-heap of node indices, so best fit takes the first
// node (in Nodes order) of the smallest free count that holds the gang.

func (f *freeState) push(k int, b int32, n int32) {
	f.bpos[k][n] = int32(len(f.bucket[k][b]))
	f.bucket[k][b] = append(f.bucket[k][b], n)
	f.up(k, b, len(f.bucket[k][b])-1)
}

func (f *freeState) remove(k int, b int32, n int32) {
	h := f.bucket[k][b]
	p := int(f.bpos[k][n])
	last := len(h) - 1
	if p != last {
		h[p] = h[last]
		f.bpos[k][h[p]] = int32(p)
	}
	f.bucket[k][b] = h[:last]
	if p != last {
		f.down(k, b, p)
		f.up(k, b, p)
	}
}

func (f *freeState) up(k int, b int32, i int) {
	h := f.bucket[k][b]
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent] <= h[i] {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		f.bpos[k][h[parent]], f.bpos[k][h[i]] = int32(parent), int32(i)
		i = parent
	}
}

func (f *freeState) down(k int, b int32, i int) {
	h := f.bucket[k][b]
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h[r] < h[c] {
			c = r
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		f.bpos[k][h[i]], f.bpos[k][h[c]] = int32(i), int32(c)
		i = c
	}
}

func (f *freeState) take(k, d int) {
	n := f.t.nodeOf[k][d]
	f.used[k][d] = true
	f.setFree(k, n, f.free[k][n]-1)
}

func (f *freeState) release(k int, devs []int) {
	for _, d := range devs {
		n := f.t.nodeOf[k][d]
		f.used[k][d] = false
		f.setFree(k, n, f.free[k][n]+1)
	}
}

// holdable reports whether devs (a gang's held devices on column k) are
// all in the pool, distinct and free, and on one node when the gang fits
// one.
func (f *freeState) holdable(k, gang int, devs []int) bool {
	if len(devs) != gang || gang == 0 {
		return false
	}
	ok := true
	marked := 0
	for _, d := range devs {
		if d < 0 || d >= len(f.used[k]) || f.used[k][d] ||
			(!f.t.multi(k, gang) && f.t.nodeOf[k][d] != f.t.nodeOf[k][devs[0]]) {
			ok = false
			break
		}
		f.used[k][d] = true // catches duplicates
		marked++
	}
	for _, d := range devs[:marked] {
		f.used[k][d] = false
	}
	return ok
}

func (f *freeState) hold(k int, devs []int) []int {
	for _, d := range devs {
		f.take(k, d)
	}
	return devs
}

// heldDevices is the devices eff job i holds, for its run: the pipeline's
// own memory (the previous round's Run.Devices, which callers only read) as
// is, a caller's Held copied.
func (c *cycle) heldDevices(i int) []int {
	h := c.held[i]
	if h == &c.recs[i].held {
		return h.Devices
	}
	return slices.Clone(h.Devices)
}

// place puts a gang on column k: a gang that fits a node on the fullest
// node with room (best fit); a larger one on whole free nodes of one group
// (site + switch), else of one site, else, when span, of the model's whole
// pool, groups with the most whole free nodes first. nil when it does not
// fit this round.
func (f *freeState) place(k, gang int, span bool) []int {
	t := f.t
	if !t.multi(k, gang) {
		for sz := gang; sz <= t.largest[k]; sz++ {
			if b := f.bucket[k][sz]; len(b) > 0 {
				return f.takeOn(k, b[0], gang, nil)
			}
		}
		return nil
	}
	whole := f.whole[k]
	best := -1
	for g, w := range whole {
		if w >= gang && (best < 0 || w < whole[best]) {
			best = g
		}
	}
	if best >= 0 {
		return f.takeWhole(k, []int{best}, gang)
	}
	nsite := len(t.sites[k])
	perSite := make([]int, nsite)
	for g, w := range whole {
		perSite[t.groups[k][g].site] += w
	}
	site := -1
	for s, w := range perSite {
		if w >= gang && (site < 0 || w < perSite[site]) {
			site = s
		}
	}
	total := 0
	var groups []int
	for g, w := range whole {
		if w > 0 && (site < 0 || int(t.groups[k][g].site) == site) {
			groups = append(groups, g)
			total += w
		}
	}
	if site < 0 && (!span || total < gang) {
		return nil
	}
	sort.SliceStable(groups, func(a, b int) bool { return whole[groups[a]] > whole[groups[b]] })
	return f.takeWhole(k, groups, gang)
}

// takeOn takes n devices of node nd (lowest free slots), appending to out.
func (f *freeState) takeOn(k int, nd int32, n int, out []int) []int {
	node := f.t.nodes[k][nd]
	for d := int(node.start); n > 0 && d < int(node.start+node.size); d++ {
		if !f.used[k][d] {
			f.take(k, d)
			out = append(out, d)
			n--
		}
	}
	return out
}

// takeWhole takes gang devices from whole free nodes of groups, in order;
// the last node may be used in part.
func (f *freeState) takeWhole(k int, groups []int, gang int) []int {
	out := make([]int, 0, gang)
	need := gang
	for _, g := range groups {
		list := f.t.groups[k][g].nodes
		for p := f.cursor[k][g]; int(p) < len(list) && need > 0; p++ {
			n := list[p]
			if sz := f.t.nodes[k][n].size; f.free[k][n] == sz {
				take := min(int(sz), need)
				out = f.takeOn(k, n, take, out)
				need -= take
			}
		}
		f.advance(k, g)
		if need == 0 {
			break
		}
	}
	return out
}

// advance moves group g's cursor (column k) past the nodes not whole free.
func (f *freeState) advance(k, g int) {
	list := f.t.groups[k][g].nodes
	c := f.cursor[k][g]
	for int(c) < len(list) && f.free[k][list[c]] != f.t.nodes[k][list[c]].size {
		c++
	}
	f.cursor[k][g] = c
}

// mostFree is, for a fragmented gang, the most devices of column k free on
// one node, or, for a multi-node gang, on whole free nodes of one site.
func (f *freeState) mostFree(k, gang int) int {
	if !f.t.multi(k, gang) {
		for sz := len(f.bucket[k]) - 1; sz > 0; sz-- {
			if len(f.bucket[k][sz]) > 0 {
				return sz
			}
		}
		return 0
	}
	perSite := make([]int, len(f.t.sites[k]))
	best := 0
	for g, w := range f.whole[k] {
		s := f.t.groups[k][g].site
		perSite[s] += w
		best = max(best, perSite[s])
	}
	return best
}

// keep is stage 6: lease extension — a job chosen on the model it holds
// devices of keeps them when they are all still free. Outside Gavel's mode,
// a job the policy moves to a slower model keeps the faster devices it
// holds when that model has slack (the policy placed fewer devices on it
// than it has): no restart, nobody displaced.
func (c *cycle) keep(compat bool) {
	c.free = newFreeState(c.topo)
	c.free.left = newNodeLeft(c.nodeRecords())
	jobs := c.eff.Jobs
	c.order = c.byGang()
	order := c.order
	for _, i := range order {
		k := c.chosen[i] - 1
		h := c.held[i]
		if h == nil || h.Model != c.models[k] || !c.free.holdable(k, jobs[i].Gang, h.Devices) {
			continue
		}
		c.run[i] = placed{col: k, devs: c.holdGang(i, k, c.heldDevices(i)), wanted: -1, kept: true}
	}
	if compat {
		return
	}
	use := make([]int, len(c.models))
	for _, i := range order {
		use[c.chosen[i]-1] += jobs[i].Gang
	}
	for _, i := range order {
		h, k := c.held[i], c.chosen[i]-1
		if c.run[i].col >= 0 || h == nil || h.Model == c.models[k] {
			continue
		}
		p := indexOf(c.models, h.Model)
		g := jobs[i].Gang
		if p < 0 || c.tput[i][p] <= c.tput[i][k] || c.s.Fleet[h.Model]-use[p] < g || !c.free.holdable(p, g, h.Devices) {
			continue
		}
		c.run[i] = placed{col: p, devs: c.holdGang(i, p, c.heldDevices(i)), wanted: -1, kept: true}
		use[p] += g
		use[k] -= g
	}
}

// byGang returns the chosen jobs, largest gang first (then snapshot order).
// keep computes it into c.order; the chosen set does not change after
// (pack and upgrade walk the same list).
func (c *cycle) byGang() []int {
	order := c.order[:0]
	most := 0
	for i, ch := range c.chosen {
		if ch > 0 {
			order = append(order, i)
			most = max(most, c.eff.Jobs[i].Gang)
		}
	}
	if most > 1024 {
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(c.eff.Jobs[b].Gang, c.eff.Jobs[a].Gang) })
		return order
	}
	// A counting sort on the gang, largest first: stable, as the sort
	// above, in one pass.
	count := make([]int, most+1)
	for _, i := range order {
		count[c.eff.Jobs[i].Gang]++
	}
	at := 0
	for g := most; g >= 0; g-- {
		count[g], at = at, at+count[g]
	}
	c.byGangBuf = reuse(c.byGangBuf, len(order))
	for _, i := range order {
		g := c.eff.Jobs[i].Gang
		c.byGangBuf[count[g]] = i
		count[g]++
	}
	copy(order, c.byGangBuf)
	return order
}

// pack is stage 7: gangs onto nodes, largest first. Outside Gavel's mode a
// gang no node of its chosen model can take keeps the devices it holds, or
// falls back to the fastest other model it may use with room; otherwise it
// waits, fragmented.
func (c *cycle) pack(compat bool) {
	jobs := c.eff.Jobs
	for _, i := range c.order {
		if c.run[i].col >= 0 {
			continue
		}
		k, g := c.chosen[i]-1, jobs[i].Gang
		if devs := c.placeGang(i, k); devs != nil {
			c.run[i] = placed{col: k, devs: devs, wanted: -1}
			continue
		}
		if !compat {
			if c.keepsHeld(i, -1) {
				continue
			}
			if p, devs := c.fastest(i, k, 0); devs != nil {
				c.run[i] = placed{col: p, devs: devs, wanted: k}
				continue
			}
		}
		why, most := ReasonFragmented, c.free.mostFree(k, g)
		if most >= g && asksNode(&c.s.Jobs[c.src[i]]) {
			why = ReasonNoNodeRoom // the devices are free, its CPU or memory is not
		}
		c.setWait(i, Wait{Reason: why, Model: c.models[k], Free: most, Multi: c.topo.multi(k, g)})
	}
	if !compat {
		c.packLeftOut()
	}
}

// keepsHeld runs eff job i on the devices it holds, when they are of a
// column other than skip where it may run, all free, and their nodes'
// CPU and memory fit it; it reports whether it did.
func (c *cycle) keepsHeld(i, skip int) bool {
	h := c.held[i]
	if h == nil {
		return false
	}
	p := indexOf(c.models, h.Model)
	if p < 0 || p == skip || c.tput[i][p] <= 0 || !c.free.holdable(p, c.eff.Jobs[i].Gang, h.Devices) || !c.gangFits(i, p, h.Devices) {
		return false
	}
	c.run[i] = placed{col: p, devs: c.holdGang(i, p, c.heldDevices(i)), wanted: -1, kept: true}
	return true
}

// packLeftOut gives each gang the teams' split left out of its chosen
// model (fairShares), largest first, the room the chosen gangs left on
// another model it may use, as pack's fallback does: the devices it holds
// there, else the fastest with room; the others keep waiting outranked.
// Run.Wanted names the model it was left out of when it moves.
func (c *cycle) packLeftOut() {
	if c.sh == nil || len(c.sh.leftOut) == 0 {
		return
	}
	out := c.sh.leftOut
	slices.SortStableFunc(out, func(a, b fairOut) int { return cmp.Compare(c.eff.Jobs[b.gang].Gang, c.eff.Jobs[a.gang].Gang) })
	for _, o := range out {
		if c.keepsHeld(o.gang, o.col) {
			continue
		}
		if p, devs := c.fastest(o.gang, o.col, 0); devs != nil {
			c.run[o.gang] = placed{col: p, devs: devs, wanted: o.col, turn: true}
		}
	}
}

// fastest places eff job i on the fastest column other than skip where its
// throughput is above floor and its gang fits this round.
func (c *cycle) fastest(i, skip int, floor float64) (int, []int) {
	row := c.tput[i]
	cols := make([]int, 0, len(row))
	for k, v := range row {
		if k != skip && v > floor {
			cols = append(cols, k)
		}
	}
	slices.SortStableFunc(cols, func(a, b int) int { return cmp.Compare(row[b], row[a]) })
	for _, k := range cols {
		if devs := c.placeGang(i, k); devs != nil {
			return k, devs
		}
	}
	return -1, nil
}

// upgrade is stage 8: a job starting this round on a model slower than one
// it may use whose nodes still have room after everyone was placed moves
// there — back onto faster devices it held when they are free. The policy's
// allocation is one optimum among many (max-min fairness only cares about
// the worst-off job); free devices of a faster model help the job and take
// nothing from anyone this round.
func (c *cycle) upgrade() {
	jobs := c.eff.Jobs
	for _, i := range c.order {
		p := c.run[i]
		if p.col < 0 || p.kept {
			continue
		}
		g := jobs[i].Gang
		here := c.tput[i][p.col]
		if h := c.held[i]; h != nil && h.Model == c.models[p.col] {
			continue // keeps running on the model, on other devices
		}
		if h := c.held[i]; h != nil {
			if hk := indexOf(c.models, h.Model); hk >= 0 && c.tput[i][hk] > here && c.free.holdable(hk, g, h.Devices) && c.gangFits(i, hk, h.Devices) {
				c.free.release(p.col, p.devs)
				c.chargeGang(i, p.col, p.devs, -1)
				c.run[i] = placed{col: hk, devs: c.holdGang(i, hk, c.heldDevices(i)), wanted: -1, kept: true}
				continue
			}
		}
		if to, devs := c.fastest(i, p.col, here); devs != nil {
			c.free.release(p.col, p.devs)
			c.chargeGang(i, p.col, p.devs, -1)
			c.run[i] = placed{col: to, devs: devs, wanted: -1}
		}
	}
}
