package inventory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// MaxImportErrors is how many problems a rejected import lists before it
// stops looking (one more entry says so).
const MaxImportErrors = 100

// Import is a parsed bulk import: devices with where each came from, and the
// nodes they name. It is applied all or nothing by Service.Import.
type Import struct {
	File  string
	Rows  []Row
	Nodes []Node

	// rows, when not nil, are the rows instead of Rows (then empty):
	// how ImportCSV and ImportJSON parse, so that the devices are the
	// compact table the store is given (DeviceRows), never a []Device.
	rows *DeviceRows
}

// pos is row i's position.
func (im *Import) pos(i int) fleet.Position {
	if im.rows != nil {
		line, col := im.rows.Pos(i)
		return fleet.Position{File: im.File, Line: line, Column: col}
	}
	return im.Rows[i].Pos
}

// Row is one device of an import and its position in the source: Line is
// the record's line, Column the serial's column (1-based).
type Row struct {
	Device Device
	Pos    fleet.Position
}

// ImportResult says what an accepted import wrote.
type ImportResult struct {
	Devices int `json:"devices"`
	Nodes   int `json:"nodes"` // nodes named by the import (new or existing)
}

// CSV columns. serial, model and state are required; a header row names the
// columns in any order.
var (
	csvRequired = []string{"serial", "model", "state"}
	csvOptional = []string{"node", "site", "pool", "acquired", "cost_usd", "warranty_until", "labels", "node_cpu_milli", "node_memory_mib"}
)

// CSVColumns lists every CSV column, required ones first.
func CSVColumns() []string { return append(append([]string{}, csvRequired...), csvOptional...) }

// dateLayout is the only date format imports accept for acquired and
// warranty_until (JSON also accepts RFC 3339 timestamps, truncated to the day).
const dateLayout = "2006-01-02"

// rowChecker validates the fields of import rows, collecting problems with
// their positions, and keeps the accepted rows in a DeviceRows. It caches
// catalog look-ups (100,000 rows name a handful of models).
type rowChecker struct {
	cat    *accel.Catalog
	file   string
	models map[string]modelRes
	errs   fleet.InputErrors
	errAt  []rowAt    // the record of each of errs: where its serial is
	at     rowAt      // the record being checked
	nodes  []nodeSeen // by the hostname's index in rows' values (line 0: not seen)
	// figs are the CPU and memory of the nodes given them, by hostname
	// index (most imports give none).
	figs  map[uint32]*figuresSeen
	order []uint32 // node hostnames in first-seen order
	full  bool     // MaxImportErrors reached

	rows *DeviceRows
	// refused are the valid serials of rows refused for another problem,
	// which a later row may repeat (at most MaxImportErrors+1 of them).
	refused []refusedSerial
}

// rowAt is a row's line and column (its serial's, or its object's).
type rowAt struct{ line, col int32 }

func (a rowAt) cmp(b rowAt) int {
	return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
}

type refusedSerial struct {
	serial string
	at     rowAt
}

type modelRes struct {
	id  string
	err error
}

type nodeSeen struct {
	site uint32 // index in rows' values
	line int32
}

// figuresSeen are a node's CPU and memory as the first row giving each
// said (0: not given yet), on lines cpuLine and memLine.
type figuresSeen struct {
	nodeFigures
	cpuLine, memLine int32
}

func newRowChecker(cat *accel.Catalog, file string) *rowChecker {
	return &rowChecker{cat: cat, file: file, models: map[string]modelRes{}, rows: newDeviceRows()}
}

func (c *rowChecker) fail(line, col int, field, msg string) {
	if c.full {
		return
	}
	if len(c.errs) == MaxImportErrors {
		c.full = true
		c.errs = append(c.errs, tooMany(c.file, line))
		c.errAt = append(c.errAt, c.at)
		return
	}
	c.errs = append(c.errs, &fleet.InputError{Pos: fleet.Position{File: c.file, Line: line, Column: col, Field: field}, Msg: msg})
	c.errAt = append(c.errAt, c.at)
}

func tooMany(file string, line int) *fleet.InputError {
	return &fleet.InputError{Pos: fleet.Position{File: file, Line: line}, Msg: "too many errors; stopped checking"}
}

func (c *rowChecker) model(name string) (string, error) {
	if r, ok := c.models[name]; ok {
		return r.id, r.err
	}
	ch, err := c.cat.Resolve(name)
	r := modelRes{id: ch.ID, err: err}
	if err != nil {
		r = modelRes{err: errors.New(modelMsg(err))}
	}
	c.models[name] = r
	return r.id, r.err
}

// modelMsg rephrases a catalog resolution error for an import row:
// `unknown model "H8OO"; nearest: …` or `model "A" matches 3 chips: …`.
func modelMsg(err error) string {
	msg := err.Error()
	for _, k := range []error{fleet.ErrNotFound, fleet.ErrAmbiguous, fleet.ErrInvalid} {
		msg = strings.TrimPrefix(msg, k.Error()+": ")
	}
	if rest, ok := strings.CutPrefix(msg, "unknown chip "); ok {
		return "unknown model " + rest
	}
	return "model " + msg
}

// accept adds an accepted row at line:col.
func (c *rowChecker) accept(d Device, line, col int) {
	js, err := EncodeLabels(d.Labels)
	if err != nil { // string keys and values always encode
		panic(err)
	}
	c.rows.add(&d, js, line, col)
}

// duplicates reports every row whose serial an earlier row has (refused
// rows included), merged into errs in row order: a duplicate is its row's
// first problem, as the serial is checked first. It sorts the rows by
// serial instead of keeping a map of 200,000 serials while parsing.
func (c *rowChecker) duplicates() {
	n := c.rows.Len()
	serial := func(k int32) string {
		if int(k) < n {
			return c.rows.Serial(int(k))
		}
		return c.refused[int(k)-n].serial
	}
	at := func(k int32) rowAt {
		if int(k) < n {
			line, col := c.rows.Pos(int(k))
			return rowAt{int32(line), int32(col)}
		}
		return c.refused[int(k)-n].at
	}
	idx := make([]int32, n+len(c.refused))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		return cmp.Or(strings.Compare(serial(a), serial(b)), at(a).cmp(at(b)))
	})
	type dup struct {
		at    rowAt
		first int32
	}
	var dups []dup
	first := 0
	for k := 1; k < len(idx); k++ {
		if serial(idx[k]) != serial(idx[first]) {
			first = k
			continue
		}
		dups = append(dups, dup{at(idx[k]), idx[first]})
	}
	if len(dups) == 0 {
		return
	}
	slices.SortFunc(dups, func(a, b dup) int { return a.at.cmp(b.at) })
	errs, errAt := c.errs, c.errAt
	if c.full { // the "too many" entry is made again below
		errs, errAt = errs[:len(errs)-1], errAt[:len(errAt)-1]
	}
	merged := make(fleet.InputErrors, 0, min(len(errs)+len(dups), MaxImportErrors+1))
	j := 0
	for _, d := range dups {
		for ; j < len(errs) && errAt[j].cmp(d.at) < 0; j++ {
			merged = append(merged, errs[j])
		}
		s := serial(d.first)
		merged = append(merged, &fleet.InputError{
			Pos: fleet.Position{File: c.file, Line: int(d.at.line), Column: int(d.at.col), Field: "serial"},
			Msg: fmt.Sprintf("duplicate serial %q (first on line %d)", s, at(d.first).line)})
	}
	merged = append(merged, errs[j:]...)
	if len(merged) > MaxImportErrors {
		merged = append(merged[:MaxImportErrors], tooMany(c.file, merged[MaxImportErrors].Pos.Line))
	}
	c.errs = merged
}

// field is one raw value with its position.
type field struct {
	v         string
	line, col int
	present   bool
}

// row validates one record's raw fields and returns the device.
func (c *rowChecker) row(f map[string]field, labels map[string]string, cost *float64) (Device, bool) {
	n := len(c.errs)
	get := func(k string) field { return f[k] }
	var d Device
	s := get("serial")
	d.Serial = strings.TrimSpace(s.v)
	serialOK := checkSerial(d.Serial) == ""
	if !serialOK {
		c.fail(s.line, s.col, "serial", checkSerial(d.Serial))
	}
	m := get("model")
	if strings.TrimSpace(m.v) == "" {
		c.fail(m.line, m.col, "model", "missing model")
	} else if id, err := c.model(strings.TrimSpace(m.v)); err != nil {
		c.fail(m.line, m.col, "model", err.Error())
	} else {
		d.Model = id
	}
	st := get("state")
	if state, err := fleet.ParseDeviceState(st.v); err != nil {
		c.fail(st.line, st.col, "state", strings.TrimPrefix(err.Error(), fleet.ErrInvalid.Error()+": "))
	} else {
		d.State = state
	}
	d.Node = strings.TrimSpace(get("node").v)
	d.Site = strings.TrimSpace(get("site").v)
	d.Pool = strings.TrimSpace(get("pool").v)
	// Interned before the node bookkeeping below, whose map and list
	// would otherwise hold a CSV record per node.
	var node, site uint32
	node, d.Node = c.rows.intern(d.Node)
	site, d.Site = c.rows.intern(d.Site)
	_, d.Pool = c.rows.intern(d.Pool)
	for _, k := range []string{"node", "site", "pool"} {
		if v := get(k); fleet.CheckText(v.v, MaxPlaceBytes) != "" {
			c.fail(v.line, v.col, k, fleet.CheckText(v.v, MaxPlaceBytes))
		}
	}
	var ok bool
	if d.Acquired, ok = c.date(get("acquired"), "acquired"); !ok {
		d.Acquired = time.Time{}
	}
	if d.WarrantyUntil, ok = c.date(get("warranty_until"), "warranty_until"); !ok {
		d.WarrantyUntil = time.Time{}
	}
	if msg := warrantyMsg(&d); msg != "" {
		w := get("warranty_until")
		c.fail(w.line, w.col, "warranty_until", msg)
	}
	if cost != nil {
		d.CostUSD = cost
	} else if cv := get("cost_usd"); strings.TrimSpace(cv.v) != "" {
		x, err := strconv.ParseFloat(strings.TrimSpace(cv.v), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x >= MaxCostUSD {
			c.fail(cv.line, cv.col, "cost_usd", fmt.Sprintf("cost %q is not a number from 0 to %g USD", cv.v, MaxCostUSD))
		} else {
			d.CostUSD = &x
		}
	}
	if d.CostUSD != nil && !(*d.CostUSD >= 0 && *d.CostUSD < MaxCostUSD) {
		cv := get("cost_usd")
		c.fail(cv.line, cv.col, "cost_usd", fmt.Sprintf("cost %v is outside 0 to %g USD", *d.CostUSD, MaxCostUSD))
	}
	if labels != nil {
		d.Labels = labels
		for _, k := range sortedLabelKeys(labels) {
			if msg := checkLabel(k, labels[k]); msg != "" {
				lv := get("labels")
				c.fail(lv.line, lv.col, "labels", msg)
			}
		}
	} else if lv := get("labels"); strings.TrimSpace(lv.v) != "" {
		l, err := ParseLabels(lv.v)
		if err != nil {
			c.fail(lv.line, lv.col, "labels", err.Error())
		} else {
			d.Labels = l
		}
	}
	cpuF, memF := get("node_cpu_milli"), get("node_memory_mib")
	cpu := c.nodeFigure(cpuF, "node_cpu_milli", MaxNodeCPUMilli, "milli-cores")
	mem := c.nodeFigure(memF, "node_memory_mib", MaxNodeMemoryMiB, "MiB")
	if d.Node == "" {
		for _, f := range []struct {
			v    field
			name string
		}{{cpuF, "node_cpu_milli"}, {memF, "node_memory_mib"}} {
			if strings.TrimSpace(f.v.v) != "" {
				c.fail(f.v.line, f.v.col, f.name, f.name+" is the CPU or memory of the device's node: give node with it")
			}
		}
	}
	if d.Node != "" {
		nv := get("node")
		if int(node) >= len(c.nodes) {
			c.nodes = append(c.nodes, make([]nodeSeen, int(node)+1-len(c.nodes))...)
		}
		if prev := c.nodes[node]; prev.line == 0 {
			c.nodes[node] = nodeSeen{site: site, line: int32(nv.line)}
			c.order = append(c.order, node)
		} else if site != 0 && prev.site != 0 && prev.site != site {
			sv := get("site")
			c.fail(sv.line, sv.col, "site", fmt.Sprintf("node %q is at site %q on line %d", d.Node, c.rows.vals[prev.site], prev.line))
		} else if prev.site == 0 && site != 0 {
			c.nodes[node].site = site
		}
		if cpu != 0 || mem != 0 {
			c.nodeFigures(node, d.Node, cpu, mem, cpuF, memF)
		}
	}
	ok = len(c.errs) == n
	if !ok && serialOK && !c.full {
		c.refused = append(c.refused, refusedSerial{strings.Clone(d.Serial), rowAt{int32(s.line), int32(s.col)}})
	}
	return d, ok
}

// nodeFigure parses a node's CPU (milli-cores) or memory (MiB) field: a
// whole number from 0 (not recorded) to max; "" is 0.
func (c *rowChecker) nodeFigure(f field, name string, max int64, unit string) int64 {
	v := strings.TrimSpace(f.v)
	if v == "" {
		return 0
	}
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil || x < 0 || x > max {
		c.fail(f.line, f.col, name, fmt.Sprintf("%s %q is not a whole number of %s from 0 to %d", name, f.v, unit, max))
		return 0
	}
	return x
}

// nodeFigures records a row's CPU and memory (0: not given) for its node,
// refusing a figure another row gave differently.
func (c *rowChecker) nodeFigures(node uint32, host string, cpu, mem int64, cpuF, memF field) {
	if c.figs == nil {
		c.figs = map[uint32]*figuresSeen{}
	}
	n := c.figs[node]
	if n == nil {
		n = &figuresSeen{}
		c.figs[node] = n
	}
	if cpu != 0 {
		switch {
		case n.cpu == 0:
			n.cpu, n.cpuLine = cpu, int32(cpuF.line)
		case n.cpu != cpu:
			c.fail(cpuF.line, cpuF.col, "node_cpu_milli", fmt.Sprintf("node %q has %d milli-cores on line %d", host, n.cpu, n.cpuLine))
		}
	}
	if mem != 0 {
		switch {
		case n.mem == 0:
			n.mem, n.memLine = mem, int32(memF.line)
		case n.mem != mem:
			c.fail(memF.line, memF.col, "node_memory_mib", fmt.Sprintf("node %q has %d MiB of memory on line %d", host, n.mem, n.memLine))
		}
	}
	if n.at.line == 0 {
		f := cpuF
		if cpu == 0 {
			f = memF
		}
		n.at = rowAt{int32(f.line), int32(f.col)}
	}
}

func (c *rowChecker) date(f field, name string) (time.Time, bool) {
	v := strings.TrimSpace(f.v)
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(dateLayout, v)
	if err != nil {
		t2, err2 := time.Parse(time.RFC3339, v)
		if err2 != nil {
			c.fail(f.line, f.col, name, fmt.Sprintf("bad date %q (want YYYY-MM-DD)", f.v))
			return time.Time{}, false
		}
		t = day(t2.UTC())
	}
	return t, true
}

// result ends the parse: the duplicates are checked, and the import is
// returned with its compact rows, or the problems found.
func (c *rowChecker) result() (*Import, error) {
	c.rows.finish()
	c.duplicates()
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	for _, h := range c.order {
		var f *nodeFigures
		if fs := c.figs[h]; fs != nil {
			f = &fs.nodeFigures
		}
		c.rows.addNode(h, c.nodes[h].site, f)
	}
	return &Import{File: c.file, rows: c.rows}, nil
}

// withRows returns im with its rows as Rows (ParseCSV, ParseJSON).
func withRows(im *Import, err error) (*Import, error) {
	if err != nil {
		return nil, err
	}
	if im.Rows, err = im.rows.rows(im.File); err != nil {
		return nil, err
	}
	im.Nodes = append(im.rows.takeNodes(), im.Nodes...)
	if len(im.Nodes) == 0 {
		im.Nodes = []Node{}
	}
	im.rows = nil
	return im, nil
}

// ParseCSV reads a device CSV: a header row naming the columns (see
// CSVColumns; names are case-insensitive, order is free), then one device per
// record. labels is "key=value;key=value"; acquired and warranty_until are
// YYYY-MM-DD; cost_usd is a plain number. Models resolve through cat to
// catalog ids. Any problem rejects the whole file: the error is a
// fleet.InputErrors (wrapping fleet.ErrInvalid) with file:line:column and the
// field of each problem, at most MaxImportErrors of them.
func ParseCSV(cat *accel.Catalog, file string, r io.Reader) (*Import, error) {
	return withRows(parseCSV(newRowChecker(cat, file), r))
}

func parseCSV(c *rowChecker, r io.Reader) (*Import, error) {
	file := c.file
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		c.fail(1, 1, "", "empty file; want a header row: "+strings.Join(CSVColumns(), ","))
		return c.result()
	}
	if err != nil {
		return nil, csvError(file, err)
	}
	cols := make([]string, len(header))
	index := map[string]int{}
	known := map[string]bool{}
	for _, k := range CSVColumns() {
		known[k] = true
	}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		_, col := cr.FieldPos(i)
		switch {
		case !known[name]:
			c.fail(1, col, "", fmt.Sprintf("unknown column %q (columns: %s)", h, strings.Join(CSVColumns(), ", ")))
		case index[name] != 0:
			c.fail(1, col, "", fmt.Sprintf("column %q appears twice", name))
		default:
			index[name] = i + 1
		}
		cols[i] = name
	}
	for _, k := range csvRequired {
		if index[k] == 0 {
			c.fail(1, 1, "", fmt.Sprintf("missing required column %q", k))
		}
	}
	if len(c.errs) > 0 {
		return c.result()
	}
	f := map[string]field{}
	for !c.full {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				c.at = rowAt{int32(pe.Line), 0}
				c.fail(pe.Line, pe.Column, "", pe.Err.Error())
				break
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		c.at = rowAt{int32(line), 0}
		if len(rec) != len(header) {
			c.fail(line, 1, "", fmt.Sprintf("record has %d fields, the header has %d", len(rec), len(header)))
			continue
		}
		clear(f)
		for i, v := range rec {
			l, col := cr.FieldPos(i)
			f[cols[i]] = field{v: v, line: l, col: col, present: true}
		}
		for _, k := range csvOptional {
			if _, ok := f[k]; !ok {
				f[k] = field{line: line, col: 1}
			}
		}
		s := f["serial"]
		c.at = rowAt{int32(s.line), int32(s.col)}
		if d, ok := c.row(f, nil, nil); ok {
			c.accept(d, s.line, s.col)
		}
	}
	return c.result()
}

func csvError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fleet.InputErrors{{Pos: fleet.Position{File: file, Line: pe.Line, Column: pe.Column}, Msg: pe.Err.Error()}}
	}
	return err
}

// jsonDevice is a device as the JSON import spells it.
type jsonDevice struct {
	Serial        string            `json:"serial"`
	Model         string            `json:"model"`
	State         string            `json:"state"`
	Node          string            `json:"node"`
	Site          string            `json:"site"`
	Pool          string            `json:"pool"`
	Acquired      string            `json:"acquired"`
	CostUSD       *float64          `json:"cost_usd"`
	WarrantyUntil string            `json:"warranty_until"`
	Labels        map[string]string `json:"labels"`
	NodeCPUMilli  *int64            `json:"node_cpu_milli"`
	NodeMemoryMiB *int64            `json:"node_memory_mib"`
	UpdatedAt     json.RawMessage   `json:"updated_at"` // accepted and ignored, so List output re-imports
}

// jsonNode is a node as the JSON import spells it.
type jsonNode struct {
	Hostname           string `json:"hostname"`
	Site               string `json:"site"`
	InterconnectDomain string `json:"interconnect_domain"`
	CPUMilli           int64  `json:"cpu_milli"`
	MemoryMiB          int64  `json:"memory_mib"`
}

// ParseJSON reads a device import in JSON: either an array of device objects
// or an object {"nodes": [...], "devices": [...]}. Device objects have the
// CSV columns as keys (cost_usd a number, labels an object of strings).
// ImportLimits bound a JSON import document: any size the caller let
// through (the API caps bodies at 64 MiB), nesting at most 8 levels (an
// import is an object of lists of flat objects with a labels map).
var ImportLimits = decode.Limits{MaxBytes: 1 << 30, MaxDepth: 8}

// Unknown keys and wrong types are errors naming the key. The semantics and
// the error type are those of ParseCSV; positions are line:column of the
// offending object (or value, for type errors).
func ParseJSON(cat *accel.Catalog, file string, r io.Reader) (*Import, error) {
	return withRows(parseJSON(newRowChecker(cat, file), r))
}

func parseJSON(c *rowChecker, r io.Reader) (*Import, error) {
	file := c.file
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	lines := newLineIndex(data)
	pos := func(off int64) (int, int) { return lines.pos(off) }
	failAt := func(off int64, field, msg string) {
		l, col := pos(off)
		c.at = rowAt{int32(l), int32(col)}
		c.fail(l, col, field, msg)
	}
	if err := decode.CheckJSON(file, data, ImportLimits); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		failAt(dec.InputOffset(), "", jsonMsg(err))
		return c.result()
	}
	var extraNodes []Node
	var extraAt []rowAt // where each of extraNodes is
	switch tok {
	case json.Delim('['):
		parseJSONDevices(c, dec, data, pos, failAt)
	case json.Delim('{'):
		for dec.More() && !c.full {
			kt, err := dec.Token()
			if err != nil {
				failAt(dec.InputOffset(), "", jsonMsg(err))
				return c.result()
			}
			key, _ := kt.(string)
			start := dec.InputOffset()
			t, err := dec.Token()
			if err != nil || t != json.Delim('[') {
				failAt(start, key, fmt.Sprintf("%q must be an array", key))
				return c.result()
			}
			switch key {
			case "devices":
				parseJSONDevices(c, dec, data, pos, failAt)
			case "nodes":
				ns, at := parseJSONNodes(c, dec, data, pos, failAt)
				extraNodes, extraAt = append(extraNodes, ns...), append(extraAt, at...)
			default:
				failAt(start, key, fmt.Sprintf("unknown key %q (want \"nodes\" and \"devices\")", key))
				return c.result()
			}
		}
	default:
		failAt(0, "", "want an array of devices or an object with \"devices\"")
		return c.result()
	}
	im, err := c.result()
	if err != nil {
		return nil, err
	}
	// Explicit nodes win over the ones derived from devices, but for a CPU
	// or memory figure they do not give; a figure given differently by a
	// device is refused.
	if len(extraNodes) > 0 {
		derived := im.rows.NodeCount()
		im.Nodes = im.rows.takeNodes()
		byName := map[string]int{}
		for i, n := range im.Nodes {
			byName[n.Hostname] = i
		}
		var errs fleet.InputErrors
		for k, n := range extraNodes {
			if i, ok := byName[n.Hostname]; ok {
				if i < derived {
					d := im.Nodes[i]
					at := extraAt[k]
					if n.CPUMilli != 0 && d.CPUMilli != 0 && n.CPUMilli != d.CPUMilli {
						errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: file, Line: int(at.line), Column: int(at.col), Field: "cpu_milli"},
							Msg: fmt.Sprintf("node %q has %d milli-cores here and %d in its devices' node_cpu_milli", n.Hostname, n.CPUMilli, d.CPUMilli)})
					}
					if n.MemoryMiB != 0 && d.MemoryMiB != 0 && n.MemoryMiB != d.MemoryMiB {
						errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: file, Line: int(at.line), Column: int(at.col), Field: "memory_mib"},
							Msg: fmt.Sprintf("node %q has %d MiB of memory here and %d in its devices' node_memory_mib", n.Hostname, n.MemoryMiB, d.MemoryMiB)})
					}
					n.CPUMilli, n.MemoryMiB = cmp.Or(n.CPUMilli, d.CPUMilli), cmp.Or(n.MemoryMiB, d.MemoryMiB)
				}
				im.Nodes[i] = n
			} else {
				byName[n.Hostname] = len(im.Nodes)
				im.Nodes = append(im.Nodes, n)
			}
		}
		if err := errs.Err(); err != nil {
			return nil, err
		}
	}
	return im, nil
}

func parseJSONDevices(c *rowChecker, dec *json.Decoder, data []byte, pos func(int64) (int, int), failAt func(int64, string, string)) {
	for i := 0; dec.More() && !c.full; i++ {
		start := skipSep(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			failAt(dec.InputOffset(), "", jsonMsg(err))
			c.full = true
			return
		}
		var jd jsonDevice
		if err := strictUnmarshal(raw, &jd); err != nil {
			off, fieldName := jsonErrWhere(err)
			failAt(start+off, fieldName, fmt.Sprintf("devices[%d]: %s", i, jsonMsg(err)))
			continue
		}
		line, col := pos(start)
		f := map[string]field{}
		for k, v := range map[string]string{"serial": jd.Serial, "model": jd.Model, "state": jd.State, "node": jd.Node, "site": jd.Site, "pool": jd.Pool, "acquired": jd.Acquired, "warranty_until": jd.WarrantyUntil} {
			f[k] = field{v: v, line: line, col: col}
		}
		f["cost_usd"] = field{line: line, col: col}
		f["labels"] = field{line: line, col: col}
		for k, v := range map[string]*int64{"node_cpu_milli": jd.NodeCPUMilli, "node_memory_mib": jd.NodeMemoryMiB} {
			f[k] = field{line: line, col: col}
			if v != nil {
				f[k] = field{v: strconv.FormatInt(*v, 10), line: line, col: col}
			}
		}
		c.at = rowAt{int32(line), int32(col)}
		if d, ok := c.row(f, jd.Labels, jd.CostUSD); ok {
			c.accept(d, line, col)
		}
	}
	if _, err := dec.Token(); err != nil && !c.full { // closing ]
		failAt(dec.InputOffset(), "", jsonMsg(err))
	}
}

func parseJSONNodes(c *rowChecker, dec *json.Decoder, data []byte, pos func(int64) (int, int), failAt func(int64, string, string)) ([]Node, []rowAt) {
	var nodes []Node
	var ats []rowAt
	seen := map[string]bool{}
	for i := 0; dec.More() && !c.full; i++ {
		start := skipSep(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			failAt(dec.InputOffset(), "", jsonMsg(err))
			c.full = true
			return nodes, ats
		}
		var jn jsonNode
		if err := strictUnmarshal(raw, &jn); err != nil {
			off, fieldName := jsonErrWhere(err)
			failAt(start+off, fieldName, fmt.Sprintf("nodes[%d]: %s", i, jsonMsg(err)))
			continue
		}
		h := strings.TrimSpace(jn.Hostname)
		switch {
		case h == "" || fleet.CheckText(h, MaxPlaceBytes) != "":
			failAt(start, "hostname", fmt.Sprintf("nodes[%d]: missing or bad hostname %s", i, fleet.CheckText(h, MaxPlaceBytes)))
		case fleet.CheckText(jn.Site, MaxPlaceBytes) != "":
			failAt(start, "site", fmt.Sprintf("nodes[%d]: site %s", i, fleet.CheckText(jn.Site, MaxPlaceBytes)))
		case fleet.CheckText(jn.InterconnectDomain, MaxPlaceBytes) != "":
			failAt(start, "interconnect_domain", fmt.Sprintf("nodes[%d]: interconnect_domain %s", i, fleet.CheckText(jn.InterconnectDomain, MaxPlaceBytes)))
		case jn.CPUMilli < 0 || jn.CPUMilli > MaxNodeCPUMilli:
			failAt(start, "cpu_milli", fmt.Sprintf("nodes[%d]: cpu_milli %d is not a whole number of milli-cores from 0 to %d", i, jn.CPUMilli, MaxNodeCPUMilli))
		case jn.MemoryMiB < 0 || jn.MemoryMiB > MaxNodeMemoryMiB:
			failAt(start, "memory_mib", fmt.Sprintf("nodes[%d]: memory_mib %d is not a whole number of MiB from 0 to %d", i, jn.MemoryMiB, MaxNodeMemoryMiB))
		case seen[h]:
			failAt(start, "hostname", fmt.Sprintf("nodes[%d]: duplicate hostname %q", i, h))
		default:
			seen[h] = true
			nodes = append(nodes, Node{Hostname: h, Site: strings.TrimSpace(jn.Site), InterconnectDomain: strings.TrimSpace(jn.InterconnectDomain),
				CPUMilli: jn.CPUMilli, MemoryMiB: jn.MemoryMiB})
			line, col := pos(start)
			ats = append(ats, rowAt{int32(line), int32(col)})
		}
	}
	if _, err := dec.Token(); err != nil && !c.full {
		failAt(dec.InputOffset(), "", jsonMsg(err))
	}
	return nodes, ats
}

func strictUnmarshal(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// jsonErrWhere returns the offset within the value and the field a decoding
// error is about, when the error says.
func jsonErrWhere(err error) (int64, string) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Offset, te.Field
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset, ""
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		return 0, strings.Trim(msg[i+len("unknown field "):], `"`)
	}
	return 0, ""
}

func jsonMsg(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "a " + te.Type.Kind().String()
		switch te.Type.Kind() {
		case reflect.Float64, reflect.Float32, reflect.Int, reflect.Int64:
			want = "a number"
		case reflect.Map, reflect.Struct:
			want = "an object"
		case reflect.Slice:
			want = "an array"
		}
		return fmt.Sprintf("field %q: want %s, got JSON %s", te.Field, want, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// skipSep moves off past whitespace and commas to the start of a value.
func skipSep(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		break
	}
	return off
}

// lineIndex maps byte offsets to 1-based line:column.
type lineIndex struct{ starts []int }

func newLineIndex(data []byte) lineIndex {
	li := lineIndex{starts: []int{0}}
	for i, b := range data {
		if b == '\n' {
			li.starts = append(li.starts, i+1)
		}
	}
	return li
}

func (li lineIndex) pos(off int64) (int, int) {
	o := int(off)
	lo, hi := 0, len(li.starts)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if li.starts[mid] <= o {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1, o - li.starts[lo] + 1
}

// ImportCSV parses a device CSV (see ParseCSV) and applies it all or nothing.
func (s *Service) ImportCSV(ctx context.Context, file string, r io.Reader, actor string) (ImportResult, error) {
	im, err := parseCSV(newRowChecker(s.cat, file), r)
	if err != nil {
		return ImportResult{}, err
	}
	return s.apply(ctx, im, actor)
}

// ImportJSON parses a JSON device import (see ParseJSON) and applies it all
// or nothing.
func (s *Service) ImportJSON(ctx context.Context, file string, r io.Reader, actor string) (ImportResult, error) {
	im, err := parseJSON(newRowChecker(s.cat, file), r)
	if err != nil {
		return ImportResult{}, err
	}
	return s.apply(ctx, im, actor)
}

// Import applies a parsed import in one store transaction: every device with
// one creation event (Reason "imported"), and every node it names that does
// not exist yet. Rows are re-validated (so code may build an Import by hand),
// serials already in the store are reported at their rows' positions, and
// any problem rejects the whole import with a fleet.InputErrors (wraps
// fleet.ErrInvalid). A serial created concurrently by someone else between
// the check and the write fails the import with a *DuplicateError (wraps
// fleet.ErrConflict). Nothing is written unless everything is.
func (s *Service) Import(ctx context.Context, im *Import, actor string) (ImportResult, error) {
	return s.apply(ctx, im, actor)
}

// existingChunk is how many serials apply asks the store about at once.
const existingChunk = 10_000

// apply is Import. The rows of a parsed import (ImportCSV, ImportJSON) have
// been checked by the parser and are handed to the store as they are; a
// hand-built import's Rows are checked here and packed the same way.
func (s *Service) apply(ctx context.Context, im *Import, actor string) (ImportResult, error) {
	var errs fleet.InputErrors
	rows := im.rows
	if rows == nil {
		rows = newDeviceRows()
		// where is the row of each serial: an index, not its Position.
		where := make(map[string]int, len(im.Rows))
		for i := range im.Rows {
			m := len(errs)
			var d Device
			d, errs = s.normalize(im.Rows[i].Device, im.pos(i), errs)
			if len(errs) > m {
				continue
			}
			if first, dup := where[d.Serial]; dup {
				pos := im.pos(i)
				pos.Field = "serial"
				errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("duplicate serial %q (first on line %d)", d.Serial, im.pos(first).Line)})
				continue
			}
			where[d.Serial] = i
			js, err := EncodeLabels(d.Labels)
			if err != nil {
				return ImportResult{}, err
			}
			rows.add(&d, js, i, 0) // positions stay in im.Rows
		}
		rows.finish()
		if err := errs.Err(); err != nil {
			return ImportResult{}, err
		}
	}
	// A device placed on a node the ledger already has at another site is
	// refused: the node keeps one site.
	known, err := s.store.Nodes(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	siteOf := make(map[string]string, len(known))
	for _, n := range known {
		siteOf[n.Hostname] = n.Site
	}
	reported := map[string]bool{}
	for i := range rows.Len() {
		node, site := rows.Place(i)
		if have, ok := siteOf[node]; ok && node != "" && site != "" && have != "" && have != site {
			reported[node] = true
			pos := im.pos(i)
			pos.Field = "site"
			errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("node %q is at site %q in the ledger, not %q", node, have, site)})
		}
	}
	b := Batch{Nodes: im.Nodes, Rows: rows}
	figures := make(map[string]Node, len(known)) // known nodes with a CPU or memory figure
	for _, n := range known {
		if n.CPUMilli != 0 || n.MemoryMiB != 0 {
			figures[n.Hostname] = n
		}
	}
	for i := range b.NodeCount() {
		n := b.Node(i)
		if have, ok := siteOf[n.Hostname]; ok && !reported[n.Hostname] && n.Site != "" && have != "" && have != n.Site {
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: im.File, Field: "nodes"}, Msg: fmt.Sprintf("node %q is at site %q in the ledger, not %q", n.Hostname, have, n.Site)})
		}
		if n.CPUMilli < 0 || n.CPUMilli > MaxNodeCPUMilli || n.MemoryMiB < 0 || n.MemoryMiB > MaxNodeMemoryMiB { // a hand-built Import
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: im.File, Field: "nodes"},
				Msg: fmt.Sprintf("node %q: cpu_milli %d or memory_mib %d is outside 0 to %d milli-cores or %d MiB", n.Hostname, n.CPUMilli, n.MemoryMiB, MaxNodeCPUMilli, MaxNodeMemoryMiB)})
		}
		// A recorded figure is kept: an import may fill in one the
		// ledger lacks, not change one it has.
		have, ok := figures[n.Hostname]
		if !ok {
			continue
		}
		pos := fleet.Position{File: im.File, Field: "nodes"}
		if j := i - len(b.Nodes); j >= 0 {
			pos.Line, pos.Column = rows.nodeAt(j)
		}
		if n.CPUMilli != 0 && have.CPUMilli != 0 && n.CPUMilli != have.CPUMilli {
			if pos.Line > 0 {
				pos.Field = "node_cpu_milli"
			}
			errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("node %q has %d milli-cores in the ledger, not %d", n.Hostname, have.CPUMilli, n.CPUMilli)})
		}
		if n.MemoryMiB != 0 && have.MemoryMiB != 0 && n.MemoryMiB != have.MemoryMiB {
			if pos.Line > 0 {
				pos.Field = "node_memory_mib"
			}
			errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("node %q has %d MiB of memory in the ledger, not %d", n.Hostname, have.MemoryMiB, n.MemoryMiB)})
		}
	}
	if err := errs.Err(); err != nil {
		return ImportResult{}, err
	}
	// Serials already stored, asked in chunks (not one list of every
	// serial), reported in row order.
	existing := 0
	chunk := make([]string, 0, min(existingChunk, rows.Len()))
	for start := 0; start < rows.Len(); start += existingChunk {
		chunk = chunk[:0]
		for i := start; i < min(start+existingChunk, rows.Len()); i++ {
			chunk = append(chunk, rows.Serial(i))
		}
		have, err := s.store.ExistingSerials(ctx, chunk)
		if err != nil {
			return ImportResult{}, err
		}
		if len(have) == 0 {
			continue
		}
		existing += len(have)
		in := make(map[string]bool, len(have))
		for _, sr := range have {
			in[sr] = true
		}
		for i, sr := range chunk {
			if in[sr] && len(errs) < MaxImportErrors {
				pos := im.pos(start + i)
				pos.Field = "serial"
				errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("serial %q already exists", sr)})
			}
		}
	}
	if existing > len(errs) {
		errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: im.File}, Msg: fmt.Sprintf("%d serials already exist in all", existing)})
	}
	if err := errs.Err(); err != nil {
		return ImportResult{}, err
	}
	now := s.clock()
	rows.updated = now
	// One creation event per device, made by the store as it writes them
	// (Batch.Created).
	b.Created = Event{Reason: "imported", Actor: actor, At: now}
	if err := s.store.Insert(ctx, b); err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Devices: rows.Len(), Nodes: b.NodeCount()}, nil
}
