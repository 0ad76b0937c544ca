package sched

// topology indexes the fleet's nodes per model (column of the snapshot's
// sorted models): each node's devices in the model's pool, its site and its
// group (site + switch). A snapshot without nodes is one node per device,
// all in one site: Gavel's flat pools.
type topology struct {
	nodesRef *Node // &s.Nodes[0], to notice a new node list
	nnodes   int
	fleet    []int // devices per column

	nodes   [][]tnode  // per column, in Nodes order
	nodeOf  [][]int32  // per column: pool index → node
	largest []int      // per column: devices on the largest node
	siteCap [][]int    // per column, per site: devices
	groups  [][]tgroup // per column
	sites   [][]string // per column: site names
	ids     [][]string // per column: node ids, built by nodeIDs
}

type tnode struct {
	id          string
	start, size int32 // first pool index, devices
	site, group int32
	gpos        int32 // position in its group's node list
}

type tgroup struct {
	site  int32
	nodes []int32
}

func (t *topology) same(s *Snapshot, models []string) bool {
	if len(s.Nodes) != t.nnodes || len(models) != len(t.fleet) {
		return false
	}
	if len(s.Nodes) > 0 && &s.Nodes[0] != t.nodesRef {
		return false
	}
	for k, m := range models {
		if s.Fleet[m] != t.fleet[k] {
			return false
		}
	}
	return true
}

func newTopology(s *Snapshot, models []string) *topology {
	nm := len(models)
	t := &topology{nnodes: len(s.Nodes), fleet: make([]int, nm), nodes: make([][]tnode, nm), nodeOf: make([][]int32, nm),
		largest: make([]int, nm), siteCap: make([][]int, nm), groups: make([][]tgroup, nm), sites: make([][]string, nm)}
	if len(s.Nodes) > 0 {
		t.nodesRef = &s.Nodes[0]
	}
	col := make(map[string]int, nm)
	for k, m := range models {
		col[m] = k
		t.fleet[k] = s.Fleet[m]
		t.nodeOf[k] = make([]int32, 0, s.Fleet[m])
	}
	type gkey struct{ site, sw string }
	siteID := make([]map[string]int32, nm)
	groupID := make([]map[gkey]int32, nm)
	for k := range models {
		siteID[k] = map[string]int32{}
		groupID[k] = map[gkey]int32{}
	}
	add := func(k int, id, site, sw string, size int) {
		si, ok := siteID[k][site]
		if !ok {
			si = int32(len(t.sites[k]))
			siteID[k][site] = si
			t.sites[k] = append(t.sites[k], site)
			t.siteCap[k] = append(t.siteCap[k], 0)
		}
		gi, ok := groupID[k][gkey{site, sw}]
		if !ok {
			gi = int32(len(t.groups[k]))
			groupID[k][gkey{site, sw}] = gi
			t.groups[k] = append(t.groups[k], tgroup{site: si})
		}
		n := int32(len(t.nodes[k]))
		g := &t.groups[k][gi]
		t.nodes[k] = append(t.nodes[k], tnode{id: id, start: int32(len(t.nodeOf[k])), size: int32(size), site: si, group: gi, gpos: int32(len(g.nodes))})
		g.nodes = append(g.nodes, n)
		for d := 0; d < size; d++ {
			t.nodeOf[k] = append(t.nodeOf[k], n)
		}
		t.siteCap[k][si] += size
		t.largest[k] = max(t.largest[k], size)
	}
	if s.Nodes == nil {
		for k, m := range models {
			for d := 0; d < s.Fleet[m]; d++ {
				add(k, "", "", "", 1)
			}
		}
		return t
	}
	for _, nd := range s.Nodes {
		if k, ok := col[nd.Model]; ok && nd.Devices > 0 {
			add(k, nd.ID, nd.Site, nd.Switch, nd.Devices)
		}
	}
	return t
}

// fits reports whether a gang can ever be placed on column k: on one node,
// on one site's nodes, or (span) on the model's whole pool.
func (t *topology) fits(k, gang int, span bool) bool {
	if gang <= t.largest[k] || (span && gang <= t.fleet[k]) {
		return true
	}
	for _, n := range t.siteCap[k] {
		if gang <= n {
			return true
		}
	}
	return false
}

// multi reports whether a gang on column k spans nodes.
func (t *topology) multi(k, gang int) bool { return gang > t.largest[k] }

// nodeIDs returns the distinct ids of the nodes of devs, in order. A gang
// on one node gets a slice shared by every run on that node.
func (t *topology) nodeIDs(k int, devs []int) []string {
	if len(devs) > 0 {
		n := t.nodeOf[k][devs[0]]
		one := true
		for _, d := range devs[1:] {
			if t.nodeOf[k][d] != n {
				one = false
				break
			}
		}
		if one {
			if t.ids == nil {
				t.ids = make([][]string, len(t.nodes))
			}
			if t.ids[k] == nil {
				t.ids[k] = make([]string, len(t.nodes[k]))
				for i, nd := range t.nodes[k] {
					t.ids[k][i] = nd.id
				}
			}
			return t.ids[k][n : n+1 : n+1]
		}
	}
	var ids []string
	last := int32(-1)
	for _, d := range devs {
		n := t.nodeOf[k][d]
		if n == last {
			continue
		}
		last = n
		id := t.nodes[k][n].id
		if !contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
