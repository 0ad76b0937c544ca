package sched

import (
	"cmp"
	"slices"

	"github.com/granaryhq/granary/internal/share"
)

// Sharer chooses where a share of one device goes: the one method of a
// packer that the pack stage for shares needs. internal/share's packers
// (granary, fgd, best-fit, …) implement it; the caller chooses which
// (RoundConfig.Sharer; serve's --share-packer).
type Sharer interface {
	Place(c *share.Cluster, r share.Request) (share.Placement, bool)
}

// unbounded stands for a node's CPU or memory the snapshot does not know:
// no share is ever refused for it.
const unbounded = 1 << 50

// shares is the pack stage for shares: jobs asking for a share of one
// device (Job.Milli) are not in the policy's allocation — it counts whole
// devices — but are in its guarantees, lending and reclaim, at Milli/1000
// of a device (shareGuarantees, shareguar.go), and team weights split a
// model between teams' shares and jobs by the device-time each team used
// (fairShares, sharefair.go). They go on a share.Cluster
// of the round's nodes: a share keeps the device it holds (holdShares,
// before the gangs are packed) unless a team owed its guarantee takes it
// back, the others go where the gangs left room (placeShares, after).
type shares struct {
	jobs  []int   // snapshot jobs asking for a share, arrival order
	cols  [][]int // by snapshot job: the columns it may use
	run   []*Run  // by snapshot job: where its share goes
	cl    *share.Cluster
	base  []int            // per column: its first cluster node
	onDev [][]bool         // per column, per pool device: shares hold it
	whole []bool           // by policy job: its gang's devices are full in cl
	req   []*share.Request // by snapshot job
	// owedOn marks the columns where a gang is owed its team's guarantee
	// this round; left is each team's guarantee minus its use there, in
	// milli-devices (shareGuarantees; nil without guarantees).
	owedOn []bool
	left   map[shareTeamModel]int64
	// owed marks, by snapshot job, the shares owed room under their
	// team's guarantee (owedShares): they go before the gangs.
	owed []bool
	// out marks, by snapshot job, the shares the teams' weights did not
	// admit this round (fairShares), outBy the team ahead of each on model
	// outOn: such a share neither keeps its device before the gangs nor
	// goes early when aged, and gets only the room left after them.
	out          []bool
	outBy, outOn []string
	// leftOut are the gangs fairShares left out of their chosen column
	// (packLeftOut).
	leftOut []fairOut
}

// fairOut is a gang (eff job) the teams' split left out of column col.
type fairOut struct{ gang, col int }

// isOut reports whether fairShares left share si out this round.
func (sh *shares) isOut(si int) bool { return sh.out != nil && sh.out[si] }

// addShare is the filter stage's part: a job asking for a share goes to
// this stage with the models it may use (allowed, throughput > 0 for one
// device), or waits with the filter's reasons.
func (c *cycle) addShare(si int) {
	if c.sh == nil {
		c.sh = &shares{cols: make([][]int, len(c.s.Jobs)), run: make([]*Run, len(c.s.Jobs)), req: make([]*share.Request, len(c.s.Jobs))}
	}
	j := &c.s.Jobs[si]
	allowed := false
	var cols []int
	var models []string
	for k, m := range c.models {
		if !allowedOn(j, m) {
			continue
		}
		allowed = true
		if v, _ := c.tp.Lookup(j.Class, 1, m); v > 0 {
			cols = append(cols, k)
			models = append(models, m)
		}
	}
	// Fastest model first (placeShare tries them in this order).
	tput := func(k int) float64 { v, _ := c.tp.Lookup(j.Class, 1, c.models[k]); return v }
	slices.SortStableFunc(cols, func(a, b int) int { return cmp.Compare(tput(b), tput(a)) })
	var why Reason
	switch {
	case !allowed:
		why = ReasonNotAllowed
	case len(cols) == 0:
		why = ReasonNoThroughput
	}
	if why != "" {
		c.reason[si] = why
		c.wait[si] = Wait{Job: j.ID, Reason: why}
		return
	}
	c.sh.jobs = append(c.sh.jobs, si)
	c.sh.cols[si] = cols
	c.sh.req[si] = &share.Request{CPU: j.CPU, Mem: j.Mem, Devices: 1, Milli: j.Milli, DevMem: j.DevMem, Models: models}
}

// newShareCluster builds the round's nodes as a share.Cluster, all free:
// column by column, node by node in topology order, so pool device d of
// column k is device d - start of cluster node base[k] + nodeOf[k][d].
func (c *cycle) newShareCluster() *share.Cluster {
	t := c.topo
	res := make([][]Node, len(c.models)) // per column, per topology node
	col := make(map[string]int, len(c.models))
	for k, m := range c.models {
		col[m] = k
	}
	for _, nd := range c.s.Nodes {
		if k, ok := col[nd.Model]; ok && nd.Devices > 0 {
			res[k] = append(res[k], nd)
		}
	}
	var nodes []share.Node
	c.sh.base = make([]int, len(c.models))
	c.sh.onDev = make([][]bool, len(c.models))
	for k, m := range c.models {
		c.sh.base[k] = len(nodes)
		c.sh.onDev[k] = make([]bool, t.fleet[k])
		for n, tn := range t.nodes[k] {
			sn := share.Node{Name: tn.id, Model: m, Devices: int(tn.size), CPU: unbounded, Mem: unbounded}
			if n < len(res[k]) {
				nd := res[k][n]
				if nd.CPU > 0 {
					sn.CPU = nd.CPU
				}
				if nd.Mem > 0 {
					sn.Mem = nd.Mem
				}
				sn.DevMem = max(nd.DevMem, 0)
			}
			nodes = append(nodes, sn)
		}
	}
	cl, err := share.NewCluster(nodes)
	if err != nil { // capacities are positive by construction
		panic("sched: share cluster: " + err.Error())
	}
	return cl
}

// at is pool device d of column k as a cluster placement.
func (sh *shares) at(t *topology, k, d int) share.Placement {
	n := t.nodeOf[k][d]
	return share.Placement{Node: sh.base[k] + int(n), Devices: []int{d - int(t.nodes[k][n].start)}}
}

// poolIndex is the pool device of column k that cluster placement p names.
func (sh *shares) poolIndex(t *topology, k int, p share.Placement) int {
	n := p.Node - sh.base[k]
	return int(t.nodes[k][n].start) + p.Devices[0]
}

// ShareAgingRounds is how many rounds a share may wait behind the gangs
// the policy starts: a share waiting longer goes before them (after the
// gangs that keep their devices), so a fleet busy with gangs cannot keep
// it waiting for ever — the next device a gang leaves is its.
const ShareAgingRounds = 3

// holdShares runs after keep: the devices of the gangs that keep theirs
// are full, and shares keep the device they hold while it (its memory,
// its node's CPU and memory) still has room; shares owed room under their
// team's guarantee (shareGuarantees) and shares that have waited since at
// least aged go next, where s puts them. The devices shares hold
// are taken from the pack stage, so no gang lands on a device partly
// used.
func (c *cycle) holdShares(s Sharer, aged float64) {
	if c.sh == nil || len(c.sh.jobs) == 0 {
		return
	}
	sh := c.sh
	slices.SortStableFunc(sh.jobs, func(a, b int) int { return cmp.Compare(c.s.Jobs[a].Arrival, c.s.Jobs[b].Arrival) })
	sh.cl = c.newShareCluster()
	sh.whole = make([]bool, len(c.run))
	c.fillGangs()
	for _, si := range sh.jobs {
		if c.reason[si] == "" && !sh.isOut(si) {
			c.keepShare(si)
		}
	}
	for _, si := range sh.jobs {
		if sh.run[si] == nil && c.reason[si] == "" && ((sh.owed != nil && sh.owed[si]) || (c.s.Jobs[si].Arrival <= aged && c.agedMayGo(si))) {
			c.placeShare(s, si)
		}
	}
	for _, si := range sh.jobs {
		if r := sh.run[si]; r != nil {
			k, d := indexOf(c.models, r.Model), r.Devices[0]
			if !sh.onDev[k][d] {
				sh.onDev[k][d] = true
				c.free.take(k, d)
			}
			// The gangs packed next see the share's CPU and memory taken.
			j, n := &c.s.Jobs[si], c.topo.nodeOf[k][d]
			c.free.left.cpu[k][n] -= j.CPU
			c.free.left.mem[k][n] -= j.Mem
		}
	}
}

// keepShare keeps share si on the device it holds when that device (its
// memory) and its node still have room for it; it reports whether it did.
func (c *cycle) keepShare(si int) bool {
	sh := c.sh
	h := c.s.Jobs[si].Held
	if h == nil || len(h.Devices) != 1 {
		return false
	}
	k, d := indexOf(c.models, h.Model), h.Devices[0]
	if k < 0 || !slices.Contains(sh.cols[si], k) || d < 0 || d >= c.topo.fleet[k] {
		return false
	}
	if sh.cl.Assign(*sh.req[si], sh.at(c.topo, k, d)) == nil {
		sh.run[si] = c.shareRun(si, k, d, true)
		return true
	}
	return false
}

// placeShares runs after upgrade: every device a gang runs on is full,
// and the shares that hold nothing, in arrival order, go where s puts
// them, or wait with ReasonNoShareRoom. Gangs the policy starts come
// before shares younger than ShareAgingRounds: a new share does not break
// the node a gang needs this round.
func (c *cycle) placeShares(s Sharer) {
	if c.sh == nil || len(c.sh.jobs) == 0 {
		return
	}
	c.fillGangs()
	for _, si := range c.sh.jobs {
		if c.sh.run[si] != nil || c.reason[si] != "" {
			continue
		}
		// A share the teams' weights left out keeps its device if the
		// room is still there, and waits outranked when none is.
		if out := c.sh.isOut(si); !out || !c.keepShare(si) {
			c.placeShare(s, si)
			if out && c.sh.run[si] == nil {
				c.reason[si] = ReasonOutranked
				c.wait[si] = Wait{Job: c.s.Jobs[si].ID, Reason: ReasonOutranked, Model: c.sh.outOn[si], By: c.sh.outBy[si]}
			}
		}
	}
}

// placeShare puts share si on the fastest model it may use where s finds
// room (s chooses the node and device among that model's), or records
// that it waits.
func (c *cycle) placeShare(s Sharer, si int) {
	sh := c.sh
	for i, k := range sh.cols[si] {
		if s == nil {
			break
		}
		r := *sh.req[si]
		r.Models = []string{c.models[k]}
		if p, ok := s.Place(sh.cl, r); ok && sh.cl.Assign(r, p) == nil {
			run := c.shareRun(si, k, sh.poolIndex(c.topo, k, p), false)
			if i > 0 {
				run.Wanted = c.models[sh.cols[si][0]]
			}
			sh.run[si] = run
			return
		}
	}
	c.reason[si] = ReasonNoShareRoom
	c.wait[si] = Wait{Job: c.s.Jobs[si].ID, Reason: ReasonNoShareRoom}
}

// fillGangs marks the devices of the gangs placed so far full in the
// share cluster, and takes their CPU and memory on each node there
// (noderoom.go; each gang once: a gang placed by keep does not move).
func (c *cycle) fillGangs() {
	sh := c.sh
	whole := share.Request{Devices: 1, Milli: share.MilliPerDevice}
	for i := range c.run {
		if p := c.run[i]; p.col >= 0 && !sh.whole[i] {
			sh.whole[i] = true
			for _, d := range p.devs {
				// Never fails: the pack stage saw the shares' devices taken.
				_ = sh.cl.Assign(whole, sh.at(c.topo, p.col, d))
			}
			j := &c.s.Jobs[c.src[i]]
			if !asksNode(j) {
				continue
			}
			for _, pt := range c.topo.parts(p.col, p.devs) {
				// Capped at what is left: a gang kept on its nodes is kept
				// even when they have less than it asks (never fails).
				n := sh.base[p.col] + int(pt.n)
				cpu := min(partNeed(j.CPU, pt.d, len(p.devs)), sh.cl.FreeCPU(n))
				mem := min(partNeed(j.Mem, pt.d, len(p.devs)), sh.cl.FreeMem(n))
				_ = sh.cl.Assign(share.Request{CPU: cpu, Mem: mem}, share.Placement{Node: n})
			}
		}
	}
}

func (c *cycle) shareRun(si, k, d int, kept bool) *Run {
	j := &c.s.Jobs[si]
	r := &Run{Job: j.ID, Model: c.models[k], Devices: []int{d}, Kept: kept, Milli: j.Milli}
	if c.s.Nodes != nil {
		r.Nodes = c.topo.nodeIDs(k, r.Devices)
	}
	return r
}

// shareRuns returns the shares placed this round, in arrival order.
func (c *cycle) shareRuns() []Run {
	if c.sh == nil {
		return nil
	}
	var out []Run
	for _, si := range c.sh.jobs {
		if r := c.sh.run[si]; r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// shareRunning reports whether snapshot job si runs as a share this round.
func (c *cycle) shareRunning(si int) bool { return c.sh != nil && c.sh.run[si] != nil }
