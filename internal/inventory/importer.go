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

	// devs, at and labels, when devs is not nil, are the rows instead of
	// Rows (which is then empty): each device, its line and column, and
	// its labels encoded as Batch.Labels wants them (the devices' Labels
	// maps are nil). This is how ImportCSV and ImportJSON parse (see
	// rowChecker.compact): the devices are the slice the store is given,
	// not a copy of Rows beside it.
	devs   []Device
	at     []rowAt
	labels []string
}

// rowAt is a compact row's line and column.
type rowAt struct{ line, col int32 }

// len is the number of rows.
func (im *Import) len() int {
	if im.devs != nil {
		return len(im.devs)
	}
	return len(im.Rows)
}

// pos is row i's position.
func (im *Import) pos(i int) fleet.Position {
	if im.devs != nil {
		return fleet.Position{File: im.File, Line: int(im.at[i].line), Column: int(im.at[i].col)}
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
	csvOptional = []string{"node", "site", "pool", "acquired", "cost_usd", "warranty_until", "labels"}
)

// CSVColumns lists every CSV column, required ones first.
func CSVColumns() []string { return append(append([]string{}, csvRequired...), csvOptional...) }

// dateLayout is the only date format imports accept for acquired and
// warranty_until (JSON also accepts RFC 3339 timestamps, truncated to the day).
const dateLayout = "2006-01-02"

// rowChecker validates the fields of import rows, collecting problems with
// their positions. It caches catalog look-ups (100,000 rows name a handful of
// models).
type rowChecker struct {
	cat     *accel.Catalog
	file    string
	models  map[string]modelRes
	errs    fleet.InputErrors
	serials map[string]int // serial → line of first occurrence
	nodes   map[string]nodeSeen
	order   []string // node hostnames in first-seen order
	full    bool     // MaxImportErrors reached

	// compact keeps accepted rows small for the store's Batch: labels
	// encoded into labels instead of a map per device, the serial copied
	// out of the CSV record and node, site and pool interned, so the
	// record's string is not held by every device.
	compact bool
	devs    []Device
	at      []rowAt
	labels  []string
	strs    map[string]string
}

type modelRes struct {
	id  string
	err error
}

type nodeSeen struct {
	site string
	line int
}

func newRowChecker(cat *accel.Catalog, file string) *rowChecker {
	return &rowChecker{cat: cat, file: file, models: map[string]modelRes{}, serials: map[string]int{}, nodes: map[string]nodeSeen{}}
}

func (c *rowChecker) fail(line, col int, field, msg string) {
	if c.full {
		return
	}
	if len(c.errs) == MaxImportErrors {
		c.full = true
		c.errs = append(c.errs, &fleet.InputError{Pos: fleet.Position{File: c.file, Line: line}, Msg: "too many errors; stopped checking"})
		return
	}
	c.errs = append(c.errs, &fleet.InputError{Pos: fleet.Position{File: c.file, Line: line, Column: col, Field: field}, Msg: msg})
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
func (c *rowChecker) accept(rows []Row, d Device, line, col int) []Row {
	if !c.compact {
		return append(rows, Row{Device: d, Pos: fleet.Position{File: c.file, Line: line, Column: col}})
	}
	c.devs = append(c.devs, c.keep(d))
	c.at = append(c.at, rowAt{int32(line), int32(col)})
	return rows
}

// keep returns d as a compact row holds it.
func (c *rowChecker) keep(d Device) Device {
	js, err := EncodeLabels(d.Labels)
	if err != nil { // string keys and values always encode
		panic(err)
	}
	c.labels = append(c.labels, js)
	d.Labels = nil
	d.Serial = strings.Clone(d.Serial)
	return d
}

func (c *rowChecker) intern(v string) string {
	if v == "" {
		return ""
	}
	if w, ok := c.strs[v]; ok {
		return w
	}
	if c.strs == nil {
		c.strs = map[string]string{}
	}
	v = strings.Clone(v)
	c.strs[v] = v
	return v
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
	if msg := checkSerial(d.Serial); msg != "" {
		c.fail(s.line, s.col, "serial", msg)
	} else if first, dup := c.serials[d.Serial]; dup {
		c.fail(s.line, s.col, "serial", fmt.Sprintf("duplicate serial %q (first on line %d)", d.Serial, first))
	} else {
		c.serials[d.Serial] = s.line
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
	if c.compact {
		// Before the node bookkeeping below, whose map and list would
		// otherwise hold a CSV record per node.
		d.Node, d.Site, d.Pool = c.intern(d.Node), c.intern(d.Site), c.intern(d.Pool)
	}
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
	if d.Node != "" {
		nv := get("node")
		if prev, seen := c.nodes[d.Node]; !seen {
			c.nodes[d.Node] = nodeSeen{site: d.Site, line: nv.line}
			c.order = append(c.order, d.Node)
		} else if d.Site != "" && prev.site != "" && prev.site != d.Site {
			sv := get("site")
			c.fail(sv.line, sv.col, "site", fmt.Sprintf("node %q is at site %q on line %d", d.Node, prev.site, prev.line))
		} else if prev.site == "" && d.Site != "" {
			c.nodes[d.Node] = nodeSeen{site: d.Site, line: prev.line}
		}
	}
	return d, len(c.errs) == n
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

func (c *rowChecker) result(rows []Row) (*Import, error) {
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	im := &Import{File: c.file, Rows: rows, Nodes: make([]Node, 0, len(c.order))}
	if c.compact {
		im.devs, im.at, im.labels = c.devs, c.at, c.labels
		if im.devs == nil {
			im.devs, im.labels = []Device{}, []string{}
		}
	}
	for _, h := range c.order {
		im.Nodes = append(im.Nodes, Node{Hostname: h, Site: c.nodes[h].site})
	}
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
	return parseCSV(newRowChecker(cat, file), r)
}

func parseCSV(c *rowChecker, r io.Reader) (*Import, error) {
	file := c.file
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		c.fail(1, 1, "", "empty file; want a header row: "+strings.Join(CSVColumns(), ","))
		return c.result(nil)
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
		return c.result(nil)
	}
	var rows []Row
	f := map[string]field{}
	for !c.full {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				c.fail(pe.Line, pe.Column, "", pe.Err.Error())
				break
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
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
		d, ok := c.row(f, nil, nil)
		if ok {
			s := f["serial"]
			rows = c.accept(rows, d, s.line, s.col)
		}
	}
	return c.result(rows)
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
	UpdatedAt     json.RawMessage   `json:"updated_at"` // accepted and ignored, so List output re-imports
}

// jsonNode is a node as the JSON import spells it.
type jsonNode struct {
	Hostname           string `json:"hostname"`
	Site               string `json:"site"`
	InterconnectDomain string `json:"interconnect_domain"`
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
	return parseJSON(newRowChecker(cat, file), r)
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
		c.fail(l, col, field, msg)
	}
	if err := decode.CheckJSON(file, data, ImportLimits); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		failAt(dec.InputOffset(), "", jsonMsg(err))
		return c.result(nil)
	}
	var rows []Row
	var extraNodes []Node
	switch tok {
	case json.Delim('['):
		rows = parseJSONDevices(c, dec, data, pos, failAt)
	case json.Delim('{'):
		for dec.More() && !c.full {
			kt, err := dec.Token()
			if err != nil {
				failAt(dec.InputOffset(), "", jsonMsg(err))
				return c.result(nil)
			}
			key, _ := kt.(string)
			start := dec.InputOffset()
			t, err := dec.Token()
			if err != nil || t != json.Delim('[') {
				failAt(start, key, fmt.Sprintf("%q must be an array", key))
				return c.result(nil)
			}
			switch key {
			case "devices":
				rows = append(rows, parseJSONDevices(c, dec, data, pos, failAt)...)
			case "nodes":
				extraNodes = append(extraNodes, parseJSONNodes(c, dec, data, failAt)...)
			default:
				failAt(start, key, fmt.Sprintf("unknown key %q (want \"nodes\" and \"devices\")", key))
				return c.result(nil)
			}
		}
	default:
		failAt(0, "", "want an array of devices or an object with \"devices\"")
		return c.result(nil)
	}
	im, err := c.result(rows)
	if err != nil {
		return nil, err
	}
	// Explicit nodes win over the ones derived from devices.
	if len(extraNodes) > 0 {
		byName := map[string]int{}
		for i, n := range im.Nodes {
			byName[n.Hostname] = i
		}
		for _, n := range extraNodes {
			if i, ok := byName[n.Hostname]; ok {
				im.Nodes[i] = n
			} else {
				byName[n.Hostname] = len(im.Nodes)
				im.Nodes = append(im.Nodes, n)
			}
		}
	}
	return im, nil
}

func parseJSONDevices(c *rowChecker, dec *json.Decoder, data []byte, pos func(int64) (int, int), failAt func(int64, string, string)) []Row {
	var rows []Row
	for i := 0; dec.More() && !c.full; i++ {
		start := skipSep(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			failAt(dec.InputOffset(), "", jsonMsg(err))
			c.full = true
			return rows
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
		d, ok := c.row(f, jd.Labels, jd.CostUSD)
		if ok {
			rows = c.accept(rows, d, line, col)
		}
	}
	if _, err := dec.Token(); err != nil && !c.full { // closing ]
		failAt(dec.InputOffset(), "", jsonMsg(err))
	}
	return rows
}

func parseJSONNodes(c *rowChecker, dec *json.Decoder, data []byte, failAt func(int64, string, string)) []Node {
	var nodes []Node
	seen := map[string]bool{}
	for i := 0; dec.More() && !c.full; i++ {
		start := skipSep(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			failAt(dec.InputOffset(), "", jsonMsg(err))
			c.full = true
			return nodes
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
		case seen[h]:
			failAt(start, "hostname", fmt.Sprintf("nodes[%d]: duplicate hostname %q", i, h))
		default:
			seen[h] = true
			nodes = append(nodes, Node{Hostname: h, Site: strings.TrimSpace(jn.Site), InterconnectDomain: strings.TrimSpace(jn.InterconnectDomain)})
		}
	}
	if _, err := dec.Token(); err != nil && !c.full {
		failAt(dec.InputOffset(), "", jsonMsg(err))
	}
	return nodes
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
	c := newRowChecker(s.cat, file)
	c.compact = true
	im, err := parseCSV(c, r)
	if err != nil {
		return ImportResult{}, err
	}
	return s.apply(ctx, im, actor, true)
}

// ImportJSON parses a JSON device import (see ParseJSON) and applies it all
// or nothing.
func (s *Service) ImportJSON(ctx context.Context, file string, r io.Reader, actor string) (ImportResult, error) {
	c := newRowChecker(s.cat, file)
	c.compact = true
	im, err := parseJSON(c, r)
	if err != nil {
		return ImportResult{}, err
	}
	return s.apply(ctx, im, actor, true)
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
	return s.apply(ctx, im, actor, false)
}

// apply is Import; owned says im is the caller's own (ImportCSV,
// ImportJSON): its compact rows (Import.devs) are checked in place and
// handed to the store, and it is emptied before the store's transaction.
func (s *Service) apply(ctx context.Context, im *Import, actor string, owned bool) (ImportResult, error) {
	var errs fleet.InputErrors
	n := im.len()
	devs := im.devs
	if devs == nil {
		devs = make([]Device, n)
	}
	serials := make([]string, n)
	// where is the row of each serial, for a hand-built Import's duplicate
	// check (the parsers have done it): an index, not its Position.
	var where map[string]int
	if im.devs == nil {
		where = make(map[string]int, n)
	}
	for i := range n {
		d := devs[i]
		if im.devs == nil {
			d = im.Rows[i].Device
		}
		m := len(errs)
		d, errs = s.normalize(d, im.pos(i), errs)
		if len(errs) > m {
			continue
		}
		if where != nil {
			if first, dup := where[d.Serial]; dup {
				pos := im.pos(i)
				pos.Field = "serial"
				errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("duplicate serial %q (first on line %d)", d.Serial, im.pos(first).Line)})
				continue
			}
			where[d.Serial] = i
		}
		devs[i] = d
		serials[i] = d.Serial
	}
	if err := errs.Err(); err != nil {
		return ImportResult{}, err
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
	for i := range devs {
		d := &devs[i]
		if have, ok := siteOf[d.Node]; ok && d.Node != "" && d.Site != "" && have != "" && have != d.Site {
			reported[d.Node] = true
			pos := im.pos(i)
			pos.Field = "site"
			errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("node %q is at site %q in the ledger, not %q", d.Node, have, d.Site)})
		}
	}
	for _, n := range im.Nodes {
		if have, ok := siteOf[n.Hostname]; ok && !reported[n.Hostname] && n.Site != "" && have != "" && have != n.Site {
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: im.File, Field: "nodes"}, Msg: fmt.Sprintf("node %q is at site %q in the ledger, not %q", n.Hostname, have, n.Site)})
		}
	}
	if err := errs.Err(); err != nil {
		return ImportResult{}, err
	}
	existing, err := s.store.ExistingSerials(ctx, serials)
	if err != nil {
		return ImportResult{}, err
	}
	if len(existing) > 0 {
		row := make(map[string]int, len(existing))
		for _, sr := range existing {
			row[sr] = -1
		}
		for i, sr := range serials {
			if _, ok := row[sr]; ok {
				row[sr] = i
			}
		}
		slices.SortFunc(existing, func(a, b string) int { return cmp.Compare(im.pos(row[a]).Line, im.pos(row[b]).Line) })
		for _, sr := range existing {
			pos := im.pos(row[sr])
			pos.Field = "serial"
			errs = append(errs, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("serial %q already exists", sr)})
			if len(errs) == MaxImportErrors {
				errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: im.File}, Msg: fmt.Sprintf("%d serials already exist in all", len(existing))})
				break
			}
		}
		return ImportResult{}, errs
	}
	labels := im.labels
	if owned {
		im.Rows, im.devs, im.at, im.labels = nil, nil, nil, nil
	}
	now := s.clock()
	for i := range devs {
		devs[i].UpdatedAt = now
	}
	// One creation event per device, made by the store as it writes them
	// (Batch.Created), and the labels as parsed into JSON (Batch.Labels).
	b := Batch{Nodes: im.Nodes, Devices: devs, Labels: labels, Created: Event{Reason: "imported", Actor: actor, At: now}}
	if err := s.store.Insert(ctx, b); err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Devices: len(devs), Nodes: len(im.Nodes)}, nil
}
