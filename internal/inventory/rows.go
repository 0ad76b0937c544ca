package inventory

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
)

// DeviceRows is a bulk import's devices in a compact form, from the parser
// to the store: one fixed-size entry per device (packedDevice, 48 bytes)
// in blocks of rowBlock, the serials in shared text chunks, and the node,
// site, pool and labels' JSON as indices into one list of distinct values
// (label sets repeat: a rack's devices, a purchase order's; past
// maxSharedLabels distinct ones, short ones are kept after the serial),
// the model and state into lists of their own. A Device is 184 bytes
// before its strings and labels map: the 200,000 devices as
// []Device with their labels' JSON were ~50 MB, as DeviceRows ~15 MB.
// Stores read it through Batch (Device, LabelsJSON, Node, …).
type DeviceRows struct {
	blocks [][]packedDevice
	n      int

	chunks []string // finished text chunks
	buf    []byte   // the chunk being filled: chunks[len(chunks)] once finished

	vals   []string // distinct node, site, pool and labels values; vals[0] is ""
	slots  []uint32 // vals' indices + 1 by hash (open addressing; 0 is free), until finish
	seed   maphash.Seed
	shared int // label sets in vals
	states []fleet.DeviceState

	models     []string // distinct models
	modelIndex map[string]uint16

	// nodes are nodes the rows name, as indices into vals (a 200,000-row
	// import may name 75,000 nodes: 3.6 MB as []Node).
	nodes []packedNode
	figs  []nodeFigures // of the nodes given a CPU or memory figure

	// updated is every device's UpdatedAt.
	updated time.Time
}

// packedDevice is one device of a DeviceRows (48 bytes).
type packedDevice struct {
	cost               float64
	text               uint32 // where the serial is: chunks[text/textChunk][text%textChunk:]
	labels             uint32 // its labels' JSON: an index into vals, or (flags) its length after the serial
	node, site, pool   uint32 // indices into vals
	acquired, warranty int32  // days since 1970-01-01, when flags say so
	line               int32  // the row's position in its file
	col                uint16 // 0 past 65,535
	model              uint16 // index into models
	serial             uint8  // the serial's length
	state              uint8  // index into states
	flags              uint8
}

// packedNode is a node of a DeviceRows.
type packedNode struct {
	host, site, domain uint32
	fig                int32 // 1 + its index in DeviceRows.figs; 0: no CPU or memory given
}

// nodeFigures are a node's CPU and memory (Node.CPUMilli, MemoryMiB) and
// where the first of them was given. Most imports give none: a node
// holds them only when given.
type nodeFigures struct {
	cpu, mem int64
	at       rowAt
}

const (
	hasCost uint8 = 1 << iota
	hasAcquired
	hasWarranty
	inlineLabels // labels is a length, the JSON after the serial
)

// maxSharedLabels is how many distinct label sets a DeviceRows keeps
// once; label sets longer than maxInlineLabels are always kept there.
const (
	maxSharedLabels = 1 << 14
	maxInlineLabels = 4 << 10
)

const (
	rowBlock  = 4096      // entries per block
	textChunk = 256 << 10 // bytes per text chunk
)

func newDeviceRows() *DeviceRows {
	r := &DeviceRows{vals: []string{""}, seed: maphash.MakeSeed(), modelIndex: map[string]uint16{}}
	r.rehash(1 << 10)
	return r
}

// Len is the number of devices.
func (r *DeviceRows) Len() int { return r.n }

// intern returns v's index and the one copy of v that r keeps.
func (r *DeviceRows) intern(v string) (uint32, string) {
	slot, i, ok := r.lookup(v)
	if ok {
		return i, r.vals[i]
	}
	v = string([]byte(v)) // not a slice of the caller's record
	i = uint32(len(r.vals))
	r.vals = append(r.vals, v)
	r.slots[slot] = i + 1
	if 2*len(r.vals) > len(r.slots) {
		r.rehash(2 * len(r.slots))
	}
	return i, v
}

// lookup finds v's slot, and its index when it is there. The slots take
// 8 to 16 bytes a value (4 bytes a slot, at most half of them used); a
// map[string]uint32 takes 29 to 57 (~75,000 node names in the issue's
// import).
func (r *DeviceRows) lookup(v string) (slot int, i uint32, ok bool) {
	mask := len(r.slots) - 1
	for h := int(maphash.String(r.seed, v)) & mask; ; h = (h + 1) & mask {
		switch s := r.slots[h]; {
		case s == 0:
			return h, 0, false
		case r.vals[s-1] == v:
			return h, s - 1, true
		}
	}
}

// rehash makes the slots n (a power of two, more than the values).
func (r *DeviceRows) rehash(n int) {
	r.slots = make([]uint32, n)
	for i, v := range r.vals {
		slot, _, _ := r.lookup(v)
		r.slots[slot] = uint32(i) + 1
	}
}

// add appends d (its Labels ignored: labels is their JSON, "" for none) at
// line:col. d's fields must have been checked (normalize or rowChecker).
func (r *DeviceRows) add(d *Device, labels string, line, col int) {
	if len(d.Serial) > 1<<8-1 || len(labels) > 1<<32-1 {
		panic(fmt.Sprintf("inventory: device %.20q too large for an import row", d.Serial))
	}
	p := packedDevice{serial: uint8(len(d.Serial)), line: int32(line)}
	if col <= 1<<16-1 {
		p.col = uint16(col)
	}
	if _, _, ok := r.lookup(labels); ok || r.shared < maxSharedLabels || len(labels) > maxInlineLabels {
		if !ok && len(labels) <= maxInlineLabels {
			r.shared++
		}
		p.labels, _ = r.intern(labels)
		p.text = r.text(d.Serial, "")
	} else {
		p.labels, p.flags = uint32(len(labels)), inlineLabels
		p.text = r.text(d.Serial, labels)
	}
	m, ok := r.modelIndex[d.Model]
	if !ok {
		if len(r.models) == 1<<16-1 {
			panic("inventory: more than 65,535 models in one import")
		}
		m = uint16(len(r.models))
		r.models = append(r.models, d.Model)
		r.modelIndex[d.Model] = m
	}
	p.model = m
	p.node, _ = r.intern(d.Node)
	p.site, _ = r.intern(d.Site)
	p.pool, _ = r.intern(d.Pool)
	p.state = 255
	for i, s := range r.states {
		if s == d.State {
			p.state = uint8(i)
		}
	}
	if p.state == 255 {
		p.state = uint8(len(r.states))
		r.states = append(r.states, d.State)
	}
	if d.CostUSD != nil {
		p.cost, p.flags = *d.CostUSD, p.flags|hasCost
	}
	if !d.Acquired.IsZero() {
		p.acquired, p.flags = days(d.Acquired), p.flags|hasAcquired
	}
	if !d.WarrantyUntil.IsZero() {
		p.warranty, p.flags = days(d.WarrantyUntil), p.flags|hasWarranty
	}
	if r.n%rowBlock == 0 {
		r.blocks = append(r.blocks, make([]packedDevice, 0, rowBlock))
	}
	b := &r.blocks[len(r.blocks)-1]
	*b = append(*b, p)
	r.n++
}

// text stores serial and labels (together shorter than a chunk) one after
// the other and returns where.
func (r *DeviceRows) text(serial, labels string) uint32 {
	if len(r.buf)+len(serial)+len(labels) > textChunk {
		r.flush()
	}
	if len(r.chunks) >= 1<<32/textChunk-1 {
		panic("inventory: more than 4 GiB of serials in one import")
	}
	if r.buf == nil {
		r.buf = make([]byte, 0, textChunk)
	}
	at := uint32(len(r.chunks)*textChunk + len(r.buf))
	r.buf = append(append(r.buf, serial...), labels...)
	return at
}

// flush finishes the chunk being filled (its buffer is reused).
func (r *DeviceRows) flush() {
	if len(r.buf) > 0 {
		r.chunks = append(r.chunks, string(r.buf)) // shorter than textChunk when the next entry did not fit
		r.buf = r.buf[:0]
	}
}

// finish ends adding: the last chunk is finished, its buffer and the
// values' index dropped.
func (r *DeviceRows) finish() {
	r.flush()
	r.buf, r.slots, r.modelIndex = nil, nil, nil
}

func (r *DeviceRows) at(i int) *packedDevice { return &r.blocks[i/rowBlock][i%rowBlock] }

// str returns n bytes of text at at.
func (r *DeviceRows) str(at, n uint32) string {
	c, off := at/textChunk, at%textChunk
	if int(c) == len(r.chunks) { // not finished yet
		return string(r.buf[off : off+n])
	}
	return r.chunks[c][off : off+n]
}

// Serial is device i's serial.
func (r *DeviceRows) Serial(i int) string {
	p := r.at(i)
	return r.str(p.text, uint32(p.serial))
}

// Labels is device i's labels as JSON with sorted keys, "" for none.
func (r *DeviceRows) Labels(i int) string {
	p := r.at(i)
	if p.flags&inlineLabels == 0 {
		return r.vals[p.labels]
	}
	return r.str(p.text+uint32(p.serial), p.labels)
}

// State is device i's state.
func (r *DeviceRows) State(i int) fleet.DeviceState { return r.states[r.at(i).state] }

// Place is device i's node and site.
func (r *DeviceRows) Place(i int) (node, site string) {
	p := r.at(i)
	return r.vals[p.node], r.vals[p.site]
}

// Pos is device i's line and column.
func (r *DeviceRows) Pos(i int) (line, col int) {
	p := r.at(i)
	return int(p.line), int(p.col)
}

// Device is device i without its labels (see Labels); its strings are
// shared with r.
func (r *DeviceRows) Device(i int) Device {
	p := r.at(i)
	d := Device{
		Serial: r.str(p.text, uint32(p.serial)),
		Model:  r.models[p.model], Node: r.vals[p.node], Site: r.vals[p.site], Pool: r.vals[p.pool],
		State:     r.states[p.state],
		UpdatedAt: r.updated,
	}
	if p.flags&hasCost != 0 {
		c := p.cost
		d.CostUSD = &c
	}
	if p.flags&hasAcquired != 0 {
		d.Acquired = fromDays(p.acquired)
	}
	if p.flags&hasWarranty != 0 {
		d.WarrantyUntil = fromDays(p.warranty)
	}
	return d
}

// addNode appends a node whose hostname and site are r's values host
// and site, with its CPU and memory (0: not given) and where the first of
// them was given (line 0: nowhere).
func (r *DeviceRows) addNode(host, site uint32, f *nodeFigures) {
	n := packedNode{host: host, site: site}
	if f != nil && (f.cpu != 0 || f.mem != 0) {
		r.figs = append(r.figs, *f)
		n.fig = int32(len(r.figs))
	}
	r.nodes = append(r.nodes, n)
}

// nodeAt is where node i's CPU or memory was first given: line 0 when
// nowhere (or the node was not made from rows).
func (r *DeviceRows) nodeAt(i int) (line, col int) {
	if f := r.nodes[i].fig; f > 0 {
		return int(r.figs[f-1].at.line), int(r.figs[f-1].at.col)
	}
	return 0, 0
}

// NodeCount is how many nodes r holds besides its devices.
func (r *DeviceRows) NodeCount() int { return len(r.nodes) }

// Node is node i.
func (r *DeviceRows) Node(i int) Node {
	n := r.nodes[i]
	out := Node{Hostname: r.vals[n.host], Site: r.vals[n.site], InterconnectDomain: r.vals[n.domain]}
	if n.fig > 0 {
		out.CPUMilli, out.MemoryMiB = r.figs[n.fig-1].cpu, r.figs[n.fig-1].mem
	}
	return out
}

// takeNodes returns r's nodes as a list and drops them from r.
func (r *DeviceRows) takeNodes() []Node {
	out := make([]Node, len(r.nodes))
	for i := range out {
		out[i] = r.Node(i)
	}
	r.nodes = nil
	return out
}

// rows returns r as an Import's Rows, labels decoded, positions in file.
func (r *DeviceRows) rows(file string) ([]Row, error) {
	out := make([]Row, r.n)
	for i := range out {
		d := r.Device(i)
		if js := r.Labels(i); js != "" {
			if err := json.Unmarshal([]byte(js), &d.Labels); err != nil {
				return nil, err
			}
		}
		line, col := r.Pos(i)
		out[i] = Row{Device: d, Pos: fleet.Position{File: file, Line: line, Column: col}}
	}
	return out, nil
}

// tally is Tally over r's devices.
func (r *DeviceRows) tally() []ModelStateCount {
	type key struct {
		model uint16
		state uint8
	}
	n := map[key]int{}
	for _, b := range r.blocks {
		for j := range b {
			n[key{b[j].model, b[j].state}]++
		}
	}
	m := make(map[modelState]int, len(n))
	for k, c := range n {
		m[modelState{r.models[k.model], r.states[k.state]}] = c
	}
	return tallied(m)
}

// sites lists the distinct sites of r's devices ("" included), in first
// seen order.
func (r *DeviceRows) sites() []string {
	seen := map[uint32]bool{}
	var out []string
	for _, b := range r.blocks {
		for j := range b {
			if s := b[j].site; !seen[s] {
				seen[s] = true
				out = append(out, r.vals[s])
			}
		}
	}
	return out
}

// days is t's day as days since 1970-01-01 (t is a UTC midnight).
func days(t time.Time) int32 { return int32(t.Unix() / 86400) }

func fromDays(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// PackedBatch returns a Batch that holds ds as a bulk import does (compact
// rows, the labels as JSON, ds[0].UpdatedAt as every device's), with
// nodes, events and created as given. ds must be valid devices (as
// normalized: model ids, dates at UTC midnight). It lets store tests write
// what an import writes.
func PackedBatch(nodes []Node, ds []Device, events []Event, created Event) (Batch, error) {
	r := newDeviceRows()
	for i := range ds {
		js, err := EncodeLabels(ds[i].Labels)
		if err != nil {
			return Batch{}, err
		}
		r.add(&ds[i], js, i+1, 1)
	}
	r.finish()
	if len(ds) > 0 {
		r.updated = ds[0].UpdatedAt
	}
	return Batch{Nodes: nodes, Events: events, Created: created, Rows: r}, nil
}
