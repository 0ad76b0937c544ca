package share

import (
	"fmt"
	"maps"
	"slices"
)

// MilliPerDevice is a whole device in milli-devices.
const MilliPerDevice = 1000

// Request is what one pod or job asks of one node.
type Request struct {
	CPU int64 // milli-cores
	Mem int64 // MiB of node memory
	// Devices is how many devices: 0 (CPU only), 1, or a gang of several.
	Devices int
	// Milli is the share of each device, 1..1000; 1000 is a whole device.
	// Only a single-device request may ask for less than a whole device.
	Milli int64
	// DevMem is device memory per device in MiB; 0 leaves it unconstrained.
	DevMem int64
	// Models are the device models the request accepts; empty accepts any.
	Models []string
	// Preemptible marks a best-effort request (openb's qos BE): with
	// preemption on (Setup.PreemptBE) it may be evicted to place a request
	// that is not preemptible. The fragmentation measure and the packers
	// ignore it, except granary told of the preemption
	// (Options.PreemptBE), which counts the CPU of a preemptible CPU-only
	// request as free.
	Preemptible bool
}

// TotalMilli is the device capacity the request takes, in milli-devices.
func (r Request) TotalMilli() int64 { return int64(r.Devices) * r.Milli }

// Shared reports whether the request takes part of one device.
func (r Request) Shared() bool { return r.Devices == 1 && r.Milli < MilliPerDevice }

// Validate reports a request that no node could ever hold for its shape.
func (r Request) Validate() error {
	switch {
	case r.CPU < 0 || r.Mem < 0 || r.DevMem < 0:
		return fmt.Errorf("negative request (cpu %d, mem %d, device mem %d)", r.CPU, r.Mem, r.DevMem)
	case r.Devices < 0:
		return fmt.Errorf("negative device count %d", r.Devices)
	case r.Devices == 0 && r.Milli != 0:
		return fmt.Errorf("device share %d milli without a device", r.Milli)
	case r.Devices > 0 && (r.Milli <= 0 || r.Milli > MilliPerDevice):
		return fmt.Errorf("device share %d milli: want 1..%d", r.Milli, MilliPerDevice)
	case r.Devices > 1 && r.Milli != MilliPerDevice:
		return fmt.Errorf("a gang of %d devices takes whole devices, not %d milli each", r.Devices, r.Milli)
	}
	return nil
}

// Accepts reports whether the request may run on devices of the model.
func (r Request) Accepts(model string) bool {
	if len(r.Models) == 0 {
		return true
	}
	return slices.Contains(r.Models, model)
}

// Node is one machine: CPU, memory and Devices identical devices.
type Node struct {
	Name    string
	CPU     int64 // milli-cores
	Mem     int64 // MiB
	Model   string
	Devices int
	DevMem  int64 // MiB per device; 0 when unknown (device memory is then not checked)
}

// Placement is where a request goes: a node index and the device indices
// on it (none for a CPU-only request).
type Placement struct {
	Node    int
	Devices []int
}

// Cluster is a set of nodes and what is left on each. The zero value is
// empty; build one with NewCluster.
type Cluster struct {
	nodes   []Node
	cpu     []int64       // free milli-cores per node
	mem     []int64       // free MiB per node
	milli   [][]int64     // free milli per device per node
	devMem  [][]int64     // free device memory per device per node
	version []uint64      // bumped on every change of the node
	kinds   []map[int]int // per node: request kind (kindOf) → requests holding devices
	beCPU   []int64       // per node: milli-cores held by preemptible requests that hold no device

	capMilli  int64 // total device capacity, milli
	usedMilli int64
}

// NewCluster returns an empty cluster of the nodes. A node must have
// positive CPU and memory, and a non-negative device count.
func NewCluster(nodes []Node) (*Cluster, error) {
	c := &Cluster{
		nodes: slices.Clone(nodes), cpu: make([]int64, len(nodes)), mem: make([]int64, len(nodes)),
		milli: make([][]int64, len(nodes)), devMem: make([][]int64, len(nodes)), version: make([]uint64, len(nodes)),
		kinds: make([]map[int]int, len(nodes)), beCPU: make([]int64, len(nodes)),
	}
	for i, n := range nodes {
		if n.CPU <= 0 || n.Mem <= 0 || n.Devices < 0 || n.DevMem < 0 {
			return nil, fmt.Errorf("node %q: capacity must be positive (cpu %d, mem %d, devices %d)", n.Name, n.CPU, n.Mem, n.Devices)
		}
		c.cpu[i], c.mem[i] = n.CPU, n.Mem
		c.milli[i] = make([]int64, n.Devices)
		c.devMem[i] = make([]int64, n.Devices)
		for d := range n.Devices {
			c.milli[i][d] = MilliPerDevice
			c.devMem[i][d] = n.DevMem
		}
		c.capMilli += int64(n.Devices) * MilliPerDevice
	}
	return c, nil
}

// Clone returns an independent copy.
func (c *Cluster) Clone() *Cluster {
	d := *c
	d.nodes = slices.Clone(c.nodes)
	d.cpu, d.mem, d.version = slices.Clone(c.cpu), slices.Clone(c.mem), slices.Clone(c.version)
	d.beCPU = slices.Clone(c.beCPU)
	d.milli, d.devMem = make([][]int64, len(c.milli)), make([][]int64, len(c.devMem))
	d.kinds = make([]map[int]int, len(c.kinds))
	for i := range c.milli {
		d.milli[i], d.devMem[i] = slices.Clone(c.milli[i]), slices.Clone(c.devMem[i])
		d.kinds[i] = maps.Clone(c.kinds[i])
	}
	return &d
}

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Node returns node i's description.
func (c *Cluster) Node(i int) Node { return c.nodes[i] }

// FreeCPU and FreeMem are what is left on node i.
func (c *Cluster) FreeCPU(i int) int64 { return c.cpu[i] }

// FreeMem is the memory left on node i, MiB.
func (c *Cluster) FreeMem(i int) int64 { return c.mem[i] }

// FreeDevices returns the free milli of each device of node i. The slice
// belongs to the cluster: do not change it.
func (c *Cluster) FreeDevices(i int) []int64 { return c.milli[i] }

// Version changes whenever node i changes; packers key caches on it.
func (c *Cluster) Version(i int) uint64 { return c.version[i] }

// CapacityMilli is the cluster's device capacity in milli-devices.
func (c *Cluster) CapacityMilli() int64 { return c.capMilli }

// UsedMilli is the device capacity allocated, milli-devices.
func (c *Cluster) UsedMilli() int64 { return c.usedMilli }

// FreeMilli is node i's free device capacity, milli.
func (c *Cluster) FreeMilli(i int) int64 {
	var s int64
	for _, m := range c.milli[i] {
		s += m
	}
	return s
}

// deviceFits reports whether device d of node i can take one device's
// worth of r.
func (c *Cluster) deviceFits(i, d int, r Request) bool {
	return deviceFits(c.nodes[i], c.milli[i][d], c.devMem[i][d], r)
}

// deviceFits reports whether a device of node n with milli and devMem
// free can take one device's worth of r.
func deviceFits(n Node, milli, devMem int64, r Request) bool {
	return milli >= r.Milli && (r.DevMem == 0 || n.DevMem == 0 || devMem >= r.DevMem)
}

// Fits reports whether node i can hold r now: enough CPU and memory, an
// accepted device model, and r.Devices devices each with room for r.Milli.
func (c *Cluster) Fits(i int, r Request) bool {
	return fits(c.nodes[i], c.cpu[i], c.mem[i], c.milli[i], c.devMem[i], r)
}

// fits reports whether node n with cpu, mem, and milli and devMem per
// device free can hold r (Cluster.Fits on a node's state).
func fits(n Node, cpu, mem int64, milli, devMem []int64, r Request) bool {
	if cpu < r.CPU || mem < r.Mem {
		return false
	}
	if r.Devices == 0 {
		return true
	}
	if n.Devices < r.Devices || !r.Accepts(n.Model) {
		return false
	}
	k := 0
	for d := range milli {
		if deviceFits(n, milli[d], devMem[d], r) {
			if k++; k == r.Devices {
				return true
			}
		}
	}
	return false
}

// LowestDevices returns the r.Devices lowest-index devices of node i with
// room for r, or nil if there are not enough.
func (c *Cluster) LowestDevices(i int, r Request) []int {
	var out []int
	for d := range c.milli[i] {
		if len(out) == r.Devices {
			break
		}
		if c.deviceFits(i, d, r) {
			out = append(out, d)
		}
	}
	if len(out) < r.Devices {
		return nil
	}
	return out
}

// check validates that p is a legal placement of r.
func (c *Cluster) check(r Request, p Placement) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if p.Node < 0 || p.Node >= len(c.nodes) {
		return fmt.Errorf("node %d out of range [0,%d)", p.Node, len(c.nodes))
	}
	if len(p.Devices) != r.Devices {
		return fmt.Errorf("placement names %d devices for a request of %d", len(p.Devices), r.Devices)
	}
	if r.Devices > 0 && !r.Accepts(c.nodes[p.Node].Model) {
		return fmt.Errorf("node %q: model %s not accepted (%v)", c.nodes[p.Node].Name, c.nodes[p.Node].Model, r.Models)
	}
	for k, d := range p.Devices {
		if d < 0 || d >= c.nodes[p.Node].Devices || slices.Contains(p.Devices[:k], d) {
			return fmt.Errorf("node %q: bad device index %d", c.nodes[p.Node].Name, d)
		}
	}
	return nil
}

// Assign takes r's resources at p, or returns an error and changes nothing.
func (c *Cluster) Assign(r Request, p Placement) error {
	if err := c.check(r, p); err != nil {
		return err
	}
	i := p.Node
	if c.cpu[i] < r.CPU || c.mem[i] < r.Mem {
		return fmt.Errorf("node %q: not enough cpu or memory", c.nodes[i].Name)
	}
	for _, d := range p.Devices {
		if !c.deviceFits(i, d, r) {
			return fmt.Errorf("node %q: device %d has %d milli free, want %d", c.nodes[i].Name, d, c.milli[i][d], r.Milli)
		}
	}
	c.cpu[i] -= r.CPU
	c.mem[i] -= r.Mem
	for _, d := range p.Devices {
		c.milli[i][d] -= r.Milli
		if c.nodes[i].DevMem > 0 {
			c.devMem[i][d] -= r.DevMem
		}
	}
	c.usedMilli += r.TotalMilli()
	c.version[i]++
	if r.Preemptible && r.Devices == 0 {
		c.beCPU[i] += r.CPU
	}
	if k := kindOf(r); k != kindCPU {
		if c.kinds[i] == nil {
			c.kinds[i] = map[int]int{}
		}
		c.kinds[i][k]++
	}
	return nil
}

// Release returns r's resources at p, which Assign took before; it returns
// an error and changes nothing if they would exceed the node's capacity.
func (c *Cluster) Release(r Request, p Placement) error {
	if err := c.check(r, p); err != nil {
		return err
	}
	i := p.Node
	n := c.nodes[i]
	if c.cpu[i]+r.CPU > n.CPU || c.mem[i]+r.Mem > n.Mem {
		return fmt.Errorf("node %q: release exceeds capacity", n.Name)
	}
	for _, d := range p.Devices {
		if c.milli[i][d]+r.Milli > MilliPerDevice || (n.DevMem > 0 && c.devMem[i][d]+r.DevMem > n.DevMem) {
			return fmt.Errorf("node %q: release exceeds device %d", n.Name, d)
		}
	}
	c.cpu[i] += r.CPU
	c.mem[i] += r.Mem
	for _, d := range p.Devices {
		c.milli[i][d] += r.Milli
		if n.DevMem > 0 {
			c.devMem[i][d] += r.DevMem
		}
	}
	c.usedMilli -= r.TotalMilli()
	c.version[i]++
	if r.Preemptible && r.Devices == 0 {
		c.beCPU[i] -= r.CPU
	}
	if k := kindOf(r); k != kindCPU {
		if c.kinds[i][k]--; c.kinds[i][k] <= 0 {
			delete(c.kinds[i], k)
		}
	}
	return nil
}

// kindCPU and kindShared are request kinds; a gang of n whole devices is
// kind n (the artifact's "GPU affinity" tags: no-gpu, share-gpu, n-gpu).
const (
	kindCPU    = 0
	kindShared = -1
)

func kindOf(r Request) int {
	switch {
	case r.Devices == 0:
		return kindCPU
	case r.Shared():
		return kindShared
	}
	return r.Devices
}
