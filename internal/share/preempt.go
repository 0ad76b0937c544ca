package share

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Preemption of best-effort requests (Setup.PreemptBE). A request that is
// not preemptible, asks for device capacity and fits nowhere may evict
// preemptible requests (openb's qos BE) from one node, as production
// schedulers (Kubernetes priority preemption, Volcano, KAI) evict
// best-effort pods to place latency-sensitive ones. Which ones:
//
//   - only from one node, and only a set whose eviction lets the request
//     fit there;
//   - only if the set holds less device capacity than the request takes,
//     so the allocated capacity rises at every eviction (a pod is never
//     evicted to place one that is no larger in device terms — that would
//     cost the evicted pod's work and gain the fleet nothing; a CPU-only
//     request never evicts);
//   - the cheapest such set over all nodes: the least device capacity
//     evicted (the most capacity gained), then the fewest pods, then the
//     least CPU; ties go to the first node of a random order fixed per
//     run, as the packers' own ties.
//
// The packer then places the request on that node (it chooses the
// devices), and tries to place each evicted request again anywhere, the
// largest first: one that fits is moved (it keeps running), one that does
// not has failed. A preemptible request never evicts, so evictions do not
// cascade.

// tenant is a request holding resources at a placement.
type tenant struct {
	req Request
	pl  Placement
}

// evictionCost orders eviction sets: device capacity evicted (milli),
// then pods evicted, then CPU evicted (milli-cores).
type evictionCost struct {
	milli int64
	pods  int
	cpu   int64
}

func (a evictionCost) less(b evictionCost) bool {
	if a.milli != b.milli {
		return a.milli < b.milli
	}
	if a.pods != b.pods {
		return a.pods < b.pods
	}
	return a.cpu < b.cpu
}

// eviction is a set of preemptible tenants of one node (indices into the
// evictor's tenants of that node) whose eviction lets a request fit there.
type eviction struct {
	node    int
	victims []int
	cost    evictionCost
}

// evictor keeps the preemptible tenants of each node and finds the
// cheapest eviction for a request that fits nowhere. Each node's cheapest
// eviction for a request shape is cached until the node changes
// (Cluster.Version): its tenants change only with it.
type evictor struct {
	byRank []int      // node indices in the run's random tie order
	onNode [][]tenant // preemptible tenants per node
	shapes map[string]int
	cache  [][]nodeEviction // per node, per shape id

	// search state for one node
	node      Node
	r         Request
	limit     int64 // most device capacity that may be evicted
	items     []int // tenants of the node, in search order
	cpu, mem  int64
	milli, dm []int64
	reach     []int64
	deficits  []int64
	cur       []int
	found     bool
	best      evictionCost
	bestSet   []int
}

// nodeEviction is a node's cheapest eviction for one request shape at a
// version of the node.
type nodeEviction struct {
	ver      uint64
	computed bool
	found    bool
	cost     evictionCost
	victims  []int
}

func newEvictor(n int, rng *rand.Rand) *evictor {
	return &evictor{byRank: rng.Perm(n), onNode: make([][]tenant, n), shapes: map[string]int{}, cache: make([][]nodeEviction, n)}
}

// add records a preemptible request placed at pl.
func (e *evictor) add(r Request, pl Placement) {
	if r.Preemptible {
		e.onNode[pl.Node] = append(e.onNode[pl.Node], tenant{req: r, pl: pl})
	}
}

// cheapest returns the cheapest eviction that lets r fit (see above), or
// false if there is none. It does not change c.
func (e *evictor) cheapest(c *Cluster, r Request) (eviction, bool) {
	if r.Preemptible || r.TotalMilli() == 0 {
		return eviction{}, false
	}
	e.r, e.limit = r, r.TotalMilli()-1
	k := shapeKey(r) + "/" + strconv.FormatInt(r.Mem, 10)
	sid, ok := e.shapes[k]
	if !ok {
		sid = len(e.shapes)
		e.shapes[k] = sid
	}
	var best *nodeEviction
	node := -1
	for _, i := range e.byRank {
		if len(e.onNode[i]) == 0 {
			continue
		}
		if len(e.cache[i]) <= sid {
			e.cache[i] = append(e.cache[i], make([]nodeEviction, sid+1-len(e.cache[i]))...)
		}
		x := &e.cache[i][sid]
		if !x.computed || x.ver != c.version[i] {
			e.found = false
			e.searchNode(c, i)
			x.ver, x.computed, x.found, x.cost = c.version[i], true, e.found, e.best
			x.victims = append(x.victims[:0], e.bestSet...)
		}
		if x.found && (best == nil || x.cost.less(best.cost)) {
			best, node = x, i
		}
	}
	if best == nil {
		return eviction{}, false
	}
	return eviction{node: node, victims: slices.Clone(best.victims), cost: best.cost}, true
}

// evict releases x's victims from c and forgets them; it returns them.
func (e *evictor) evict(c *Cluster, x eviction) []tenant {
	ts := e.onNode[x.node]
	var out, keep []tenant
	for k, t := range ts {
		if slices.Contains(x.victims, k) {
			if err := c.Release(t.req, t.pl); err != nil {
				panic("share: evicting a tenant: " + err.Error())
			}
			out = append(out, t)
		} else {
			keep = append(keep, t)
		}
	}
	e.onNode[x.node] = keep
	return out
}

// searchNode looks on node i for its cheapest eviction (e.found, e.best,
// e.bestSet): an exact branch and bound over the subsets of the node's
// preemptible tenants.
func (e *evictor) searchNode(c *Cluster, i int) {
	n, r := c.nodes[i], e.r
	if r.Devices > n.Devices || !r.Accepts(n.Model) {
		return
	}
	ts := e.onNode[i]
	e.node = n
	e.cpu, e.mem = c.cpu[i], c.mem[i]
	e.milli = append(e.milli[:0], c.milli[i]...)
	e.dm = append(e.dm[:0], c.devMem[i]...)
	e.items = e.items[:0]
	for k := range ts {
		e.items = append(e.items, k)
	}
	// Larger tenants first: the sets that free a device come early and
	// bound the rest.
	slices.SortStableFunc(e.items, func(a, b int) int {
		if c := cmp.Compare(ts[b].req.TotalMilli(), ts[a].req.TotalMilli()); c != 0 {
			return c
		}
		return cmp.Compare(ts[b].req.CPU, ts[a].req.CPU)
	})
	e.cur = e.cur[:0]
	e.dfs(ts, 0, evictionCost{})
}

// dfs tries the tenants items[j:] in or out of the set cur of cost cost.
func (e *evictor) dfs(ts []tenant, j int, cost evictionCost) {
	if fits(e.node, e.cpu, e.mem, e.milli, e.dm, e.r) {
		if len(e.cur) > 0 && cost.milli <= e.limit && (!e.found || cost.less(e.best)) {
			e.found, e.best = true, cost
			e.bestSet = e.bestSet[:0]
			for _, k := range e.cur {
				e.bestSet = append(e.bestSet, e.items[k])
			}
		}
		return // a superset costs more
	}
	if j == len(e.items) {
		return
	}
	lb, ok := e.lowerBound(ts, j)
	if !ok || !e.mayBeat(cost.milli+lb, cost.pods+1) {
		return
	}
	t := ts[e.items[j]]
	if in := (evictionCost{cost.milli + t.req.TotalMilli(), cost.pods + 1, cost.cpu + t.req.CPU}); e.mayBeat(in.milli, in.pods) {
		e.apply(t, 1)
		e.cur = append(e.cur, j)
		e.dfs(ts, j+1, in)
		e.cur = e.cur[:len(e.cur)-1]
		e.apply(t, -1)
	}
	e.dfs(ts, j+1, cost)
}

// mayBeat reports whether a set evicting at least milli device capacity
// and at least pods pods could be at most the limit and cheaper than the
// best so far.
func (e *evictor) mayBeat(milli int64, pods int) bool {
	if milli > e.limit {
		return false
	}
	return !e.found || milli < e.best.milli || milli == e.best.milli && pods <= e.best.pods
}

// apply evicts (sign 1) or restores (sign −1) tenant t in the search state.
func (e *evictor) apply(t tenant, sign int64) {
	e.cpu += sign * t.req.CPU
	e.mem += sign * t.req.Mem
	for _, d := range t.pl.Devices {
		e.milli[d] += sign * t.req.Milli
		if e.node.DevMem > 0 {
			e.dm[d] += sign * t.req.DevMem
		}
	}
}

// lowerBound is the least further device capacity that must be evicted
// for r to fit, given that only items[j:] may still go; ok is false when
// even evicting all of them would not make it fit.
func (e *evictor) lowerBound(ts []tenant, j int) (int64, bool) {
	r := e.r
	cpu, mem := e.cpu, e.mem
	e.reach = append(e.reach[:0], e.milli...)
	for _, k := range e.items[j:] {
		t := ts[k]
		cpu += t.req.CPU
		mem += t.req.Mem
		for _, d := range t.pl.Devices {
			e.reach[d] += t.req.Milli
		}
	}
	if cpu < r.CPU || mem < r.Mem {
		return 0, false
	}
	if r.Devices == 0 {
		return 0, true
	}
	e.deficits = e.deficits[:0]
	for d, m := range e.reach {
		if m >= r.Milli {
			e.deficits = append(e.deficits, max(0, r.Milli-e.milli[d]))
		}
	}
	if len(e.deficits) < r.Devices {
		return 0, false
	}
	slices.Sort(e.deficits)
	var lb int64
	for _, x := range e.deficits[:r.Devices] {
		lb += x
	}
	return lb, true
}
