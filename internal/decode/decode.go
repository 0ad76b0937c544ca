// Package decode is the one way Granary reads a YAML or JSON document that
// came from outside (plans, catalogs, fleets, job specs, throughputs,
// config files, request bodies, trace lines): every document is checked
// against Limits — size, nesting depth, node count after alias expansion,
// keys per mapping — before any decoder allocates in proportion to what the
// document would expand to. Decoding itself is strict (unknown fields and
// duplicate keys are errors) and never panics.
//
// Why a pre-pass: github.com/goccy/go-yaml (which gives Granary its
// line-and-field error positions) has no alias or depth limit, expands
// aliases while decoding (a 413-byte "billion laughs" plan reaches
// gigabytes) and parses deep nesting and long mappings in quadratic time.
// The pre-pass composes the document with go.yaml.in/yaml/v3, whose parser
// is linear and refuses nesting beyond 10,000 levels, and measures it
// without expanding anything: an alias costs the size of its anchor,
// memoized, so the check is linear in the input too.
//
// Pure: no I/O.
package decode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	yaml3 "go.yaml.in/yaml/v3"

	"github.com/granaryhq/granary/internal/fleet"
)

// Limits bound one document. A zero field means the default's value.
type Limits struct {
	// MaxBytes bounds the document's length in bytes.
	MaxBytes int
	// MaxDepth bounds nesting: a scalar at the top is depth 1, each
	// mapping or sequence around it adds one.
	MaxDepth int
	// MaxNodes bounds the number of nodes (scalars, mappings, sequences)
	// after every alias is expanded, so a decoder cannot build more.
	MaxNodes int
	// MaxKeys bounds the keys of one mapping (YAML only: the YAML parser
	// takes time quadratic in it).
	MaxKeys int
}

// Default limits, documented in docs/limits.md. They are far above any
// real plan, catalog, fleet or job file (the largest shipped example has
// a few thousand nodes) and low enough that parsing a document within them
// takes well under a second and tens of MiB.
var Default = Limits{
	MaxBytes: 8 << 20,
	MaxDepth: 64,
	MaxNodes: 100_000,
	MaxKeys:  1_000,
}

func (l Limits) orDefault() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = Default.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = Default.MaxDepth
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = Default.MaxNodes
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = Default.MaxKeys
	}
	return l
}

// ErrLimit marks a document refused for exceeding a limit. Errors wrapping
// it also wrap fleet.ErrInvalid (bad input: exit 2, HTTP 422).
var ErrLimit = errors.New("document exceeds a limit")

// limitError is a refusal naming the limit; it is a *fleet.InputError
// whose Unwrap also yields ErrLimit.
type limitError struct{ *fleet.InputError }

func (e *limitError) Unwrap() []error { return []error{e.InputError, ErrLimit} }

func refuse(file string, line, col int, format string, a ...any) error {
	return &limitError{&fleet.InputError{Pos: fleet.Position{File: file, Line: line, Column: col}, Msg: fmt.Sprintf(format, a...)}}
}

// CheckYAML checks a YAML (or JSON) document against l without decoding
// it. file names the source in errors. Every document of a multi-document
// stream is checked; the node count is over all of them.
func CheckYAML(file string, data []byte, l Limits) error {
	l = l.orDefault()
	if len(data) > l.MaxBytes {
		return refuse(file, 0, 0, "the document is %d bytes; the limit is %d", len(data), l.MaxBytes)
	}
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	m := &measure{file: file, l: l, anchors: map[*yaml3.Node]extent{}}
	for {
		var doc yaml3.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return syntax(file, err)
		}
		if _, err := m.size(&doc, 0); err != nil {
			return err
		}
	}
}

// syntax reports an error of the pre-pass parser (which stops at nesting
// beyond 10,000 levels among others) with its line.
func syntax(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return &syntaxError{&fleet.InputError{Pos: fleet.Position{File: file, Line: line}, Msg: "YAML not understood: " + msg}}
}

// syntaxError is a document the pre-pass parser could not read.
type syntaxError struct{ *fleet.InputError }

func (e *syntaxError) Unwrap() error { return e.InputError }

// explainSmall is the size up to which a document the pre-pass parser
// refused is handed to goccy/go-yaml for its own error message (whose
// positions and wording the rest of Granary and its golden files use);
// goccy's parser is quadratic, so only small documents get this.
const explainSmall = 16 << 10

// check is CheckYAML, with goccy's error for a small document that does
// not parse.
func check(file string, data []byte, l Limits) error {
	err := CheckYAML(file, data, l)
	var se *syntaxError
	if errors.As(err, &se) && len(data) <= explainSmall {
		if _, perr := parser.ParseBytes(data, 0); perr != nil {
			return perr
		}
	}
	return err
}

// measure computes expanded node counts. anchors memoizes the expanded
// size and height of each anchored node so an alias costs O(1).
type measure struct {
	file    string
	l       Limits
	total   int
	anchors map[*yaml3.Node]extent
}

// extent is a subtree's expanded node count and height (1 for a scalar).
type extent struct{ nodes, height int }

// size measures n standing at depth d (the document node is depth 0) and
// adds its expanded node count to the running total.
func (m *measure) size(n *yaml3.Node, d int) (extent, error) {
	if n.Kind == yaml3.AliasNode {
		e, ok := m.anchors[n.Alias]
		if !ok {
			return extent{}, refuse(m.file, n.Line, n.Column, "alias *%s is not after the end of its anchor", n.Value)
		}
		if d-1+e.height > m.l.MaxDepth {
			return extent{}, refuse(m.file, n.Line, n.Column, "nesting deeper than %d levels (through alias *%s)", m.l.MaxDepth, n.Value)
		}
		return e, m.add(n, e.nodes)
	}
	if d > m.l.MaxDepth {
		return extent{}, refuse(m.file, n.Line, n.Column, "nesting deeper than %d levels", m.l.MaxDepth)
	}
	if n.Kind == yaml3.MappingNode && len(n.Content)/2 > m.l.MaxKeys {
		return extent{}, refuse(m.file, n.Line, n.Column, "a mapping with %d keys; the limit is %d", len(n.Content)/2, m.l.MaxKeys)
	}
	e := extent{nodes: 1, height: 1}
	if n.Kind == yaml3.DocumentNode {
		e = extent{}
	}
	if err := m.add(n, e.nodes); err != nil {
		return extent{}, err
	}
	for _, c := range n.Content {
		ce, err := m.size(c, d+1)
		if err != nil {
			return extent{}, err
		}
		e.nodes += ce.nodes
		if h := ce.height + 1; h > e.height {
			e.height = h
		}
	}
	if n.Anchor != "" {
		m.anchors[n] = e
	}
	return e, nil
}

// add counts s more nodes.
func (m *measure) add(n *yaml3.Node, s int) error {
	m.total += s
	if m.total > m.l.MaxNodes {
		if n.Kind == yaml3.AliasNode {
			return refuse(m.file, n.Line, n.Column, "more than %d nodes once aliases are expanded (at alias *%s)", m.l.MaxNodes, n.Value)
		}
		return refuse(m.file, n.Line, n.Column, "more than %d nodes", m.l.MaxNodes)
	}
	return nil
}

// ParseYAML checks data against l (CheckYAML) and parses it into goccy/go-yaml's AST,
// which callers use to put line numbers on their own errors. Errors are
// *fleet.InputError for a refused document, or goccy's yaml.Error for a
// syntax error it found.
func ParseYAML(file string, data []byte, l Limits) (*ast.File, error) {
	if err := check(file, data, l); err != nil {
		return nil, err
	}
	return parser.ParseBytes(data, 0)
}

// Strict decodes a document already checked by CheckYAML or ParseYAML into
// v, refusing unknown fields and duplicate keys. goccy/go-yaml v1.19.2
// panics on some malformed input (e.g. "fleet: !"); that is reported as an
// error, not a crash. Decoder errors are goccy's yaml.Error.
func Strict(file string, data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &fleet.InputError{Pos: fleet.Position{File: file}, Msg: fmt.Sprintf("YAML not understood (%v)", r)}
		}
	}()
	return goyaml.NewDecoder(bytes.NewReader(data), goyaml.DisallowUnknownField()).Decode(v)
}

// YAML is CheckYAML then Strict.
func YAML(file string, data []byte, v any, l Limits) error {
	if err := check(file, data, l); err != nil {
		return err
	}
	return Strict(file, data, v)
}

// CheckJSON checks a JSON document against l (size and depth; JSON has no
// aliases) in one pass over its bytes, without allocating.
func CheckJSON(file string, data []byte, l Limits) error {
	l = l.orDefault()
	if len(data) > l.MaxBytes {
		return refuse(file, 0, 0, "the document is %d bytes; the limit is %d", len(data), l.MaxBytes)
	}
	depth, line, inString, escaped := 0, 1, false, false
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '\n':
			line++
		case '[', '{':
			depth++
			if depth+1 > l.MaxDepth {
				return refuse(file, line, 0, "nesting deeper than %d levels", l.MaxDepth)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// JSON checks data against l and decodes it into v, refusing unknown
// fields and trailing data. Decoder errors are encoding/json's.
func JSON(file string, data []byte, v any, l Limits) error {
	if err := CheckJSON(file, data, l); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "trailing data after the JSON document"}
	}
	return nil
}

// DuplicateJSONKey returns the first key that appears twice in one object
// of the JSON document data, with its path ("$.spec.name"), or "" when
// there is none (or data is not valid JSON: the decoder reports that).
func DuplicateJSONKey(data []byte) (key, path string) {
	return DuplicateJSONKeyIn(bytes.NewReader(data))
}

// unquote is a JSON string as encoding/json decodes it (apart so that the
// scanner's key does not escape to the heap).
func unquote(raw []byte) (string, error) {
	var k string
	err := json.Unmarshal(raw, &k)
	return k, err
}

// DuplicateJSONKeyIn is DuplicateJSONKey reading the document from r as a
// stream: a byte scanner (no tokens are built: encoding/json's Token ran at
// ~7 MB/s with 110 allocations per device of an import) that holds the
// keys of the objects open at a point of the document — an object's keys
// are dropped when it closes — and never the document, so a 64 MiB import
// of small objects is checked in kilobytes. Keys compare as encoding/json
// decodes them ("\u0061" is "a"). Nesting deeper than encoding/json's own
// limit (10,000) ends the walk (the decoder refuses the document). It
// reads r up to the duplicate or to the end.
func DuplicateJSONKeyIn(r io.Reader) (key, path string) {
	const maxDepth = 10_000
	br := bufio.NewReaderSize(r, 64<<10)
	type frame struct {
		obj    bool
		keys   map[string]struct{}
		expect bool   // in an object: the next string is a key
		at     string // the key (or [] for an element) this value sits under
		last   string // in an object: the current key
	}
	var stack []frame
	var keep []map[string]struct{} // keep[d]: the keys map of the objects at depth d
	var raw []byte
	intern := map[string]string{}
	pathOf := func(k string) string {
		var b strings.Builder
		b.WriteString("$")
		for _, f := range stack[1:] {
			b.WriteString("." + f.at)
		}
		return b.String() + "." + k
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", ""
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return "", ""
			}
			at := "[]"
			if top != nil && top.obj {
				at = top.last
			}
			// One map per depth, cleared for the next object there: not
			// one allocation per object.
			d := len(stack)
			for len(keep) <= d {
				keep = append(keep, nil)
			}
			f := frame{obj: c == '{', expect: c == '{', at: at}
			if f.obj {
				if keep[d] == nil {
					keep[d] = map[string]struct{}{}
				} else {
					clear(keep[d])
				}
				f.keys = keep[d]
			}
			stack = append(stack, f)
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if top != nil && top.obj {
				top.expect = true
			}
		case '"':
			isKey := top != nil && top.obj && top.expect
			raw = append(raw[:0], '"')
			plain := true // no escape, ASCII only: the bytes are the key
			for {
				b, err := br.ReadByte()
				if err != nil {
					return "", ""
				}
				if isKey {
					raw = append(raw, b)
				}
				if b == '"' {
					break
				}
				if b >= 0x80 {
					plain = false
				}
				if b == '\\' {
					plain = false
					e, err := br.ReadByte()
					if err != nil {
						return "", ""
					}
					if isKey {
						raw = append(raw, e)
					}
				}
			}
			if !isKey {
				continue
			}
			var k string
			if plain {
				// Keys repeat from object to object (an import's columns):
				// the first 4,096 distinct ones are kept and reused, the
				// rest cost an allocation each.
				var ok bool
				if k, ok = intern[string(raw[1:len(raw)-1])]; !ok {
					k = string(raw[1 : len(raw)-1])
					if len(intern) < 4096 {
						intern[k] = k
					}
				}
			} else if k, err = unquote(raw); err != nil {
				return "", "" // not JSON: the decoder says so
			}
			if _, dup := top.keys[k]; dup {
				return k, pathOf(k)
			}
			top.keys[k] = struct{}{}
			top.last = k
			top.expect = false
		}
	}
}
