package accel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// Parse reads chips in the catalog schema from YAML or JSON (JSON is YAML).
// The document is either a list of chips or a mapping with a "chips" list.
// file names the source in errors. Every problem is reported with the file,
// line, entry and field; unknown fields are rejected. A chip without an id
// gets one derived from its name.
func Parse(file string, data []byte) ([]Chip, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "empty file: expected a list of chips"}
	}
	f, err := decode.ParseYAML(file, data, decode.Default)
	if err != nil {
		return nil, yamlError(file, err)
	}
	prefix := "$"
	var doc struct {
		Chips []Chip `yaml:"chips"`
	}
	var list []Chip
	dec := func(v any) (err error) {
		// decode.Strict turns go-yaml's panics on malformed documents
		// (e.g. "! 0") into errors.
		if err := decode.Strict(file, data, v); err != nil {
			return locate(file, f, err)
		}
		return nil
	}
	if len(f.Docs) > 0 && f.Docs[0].Body != nil && f.Docs[0].Body.Type() == ast.MappingType {
		if err := dec(&doc); err != nil {
			return nil, err
		}
		list = doc.Chips
		prefix = "$.chips"
	} else {
		if err := dec(&list); err != nil {
			return nil, err
		}
	}
	var errs fleet.InputErrors
	firstID := map[string]int{} // id → entry (1-based) that gave it first
	for i := range list {
		c := &list[i]
		path := fmt.Sprintf("%s[%d]", prefix, i)
		entry := fmt.Sprintf("entry %d", i+1)
		if c.Name != "" {
			entry += fmt.Sprintf(" (%s)", c.Name)
		}
		bad := func(field, msg string) {
			errs = append(errs, &fleet.InputError{
				Pos: fleet.Position{File: file, Line: lineOf(f, path+"."+field), Entry: entry, Field: field},
				Msg: msg,
			})
		}
		if c.Name == "" && c.ID == "" {
			bad("name", "required field is missing")
			continue
		}
		if c.ID == "" {
			c.ID = slug(c.Name)
		}
		if c.Name == "" {
			c.Name = c.ID
		}
		if first, dup := firstID[strings.ToLower(c.ID)]; dup {
			at := fmt.Sprintf("entry %d", first)
			if l := lineOf(f, fmt.Sprintf("%s[%d].id", prefix, first-1)); l > 0 {
				at += fmt.Sprintf(", line %d", l)
			}
			bad("id", fmt.Sprintf("duplicate id %q (first in %s): each chip once", c.ID, at))
		} else {
			firstID[strings.ToLower(c.ID)] = i + 1
		}
		for p, v := range c.TOPS {
			if p.Bits() == 0 {
				bad("tops."+string(p), fmt.Sprintf("unknown precision %q (valid: fp8, fp16, bf16, tf32, fp32, int8, int4)", p))
				continue
			}
			if !(v > 0) || math.IsInf(v, 0) {
				bad("tops."+string(p), fmt.Sprintf("must be a positive number, got %v", v))
			}
		}
		for _, nf := range []struct {
			field string
			v     *float64
		}{
			{"memory_gb", c.MemoryGB}, {"memory_bw_gbs", c.MemoryBWGBps}, {"interconnect_gbs", c.InterconnectGB},
			{"io_bandwidth_gbs", c.IOBandwidthGBps}, {"tdp_w", c.TDPW}, {"die_area_mm2", c.DieAreaMM2}, {"cost_usd", c.CostUSD},
		} {
			if nf.v != nil && (*nf.v < 0 || math.IsNaN(*nf.v) || math.IsInf(*nf.v, 0)) {
				bad(nf.field, fmt.Sprintf("must be a non-negative number, got %v", *nf.v))
			}
		}
		if c.DieAreaMM2 != nil && *c.DieAreaMM2 == 0 {
			bad("die_area_mm2", "must be positive (omit it when unknown)")
		}
		if c.Year != nil && (*c.Year < 1990 || *c.Year > 2100) {
			bad("year", fmt.Sprintf("must be between 1990 and 2100, got %d", *c.Year))
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return list, nil
}

// ParseSpecs reads chip specs for classification: like Parse, but each entry
// must also say datacenter and give tops.
func ParseSpecs(file string, data []byte) ([]Chip, error) {
	chips, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	if len(chips) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "no chips in the file: expected a list of chips with name, datacenter and tops"}
	}
	var errs fleet.InputErrors
	for i, c := range chips {
		entry := fmt.Sprintf("entry %d (%s)", i+1, c.Name)
		if c.Datacenter == nil {
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: file, Entry: entry, Field: "datacenter"}, Msg: "required field is missing (true or false)"})
		}
		if len(c.TOPS) == 0 {
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{File: file, Entry: entry, Field: "tops"}, Msg: "required field is missing (a map from precision to dense TOPS, e.g. {bf16: 148})"})
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return chips, nil
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func lineOf(f *ast.File, path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(f)
	if err != nil || n == nil || n.GetToken() == nil {
		// Fall back to the entry itself.
		if i := strings.LastIndex(path, "."); i > 0 && strings.HasSuffix(path[:i], "]") {
			return lineOf(f, path[:i])
		}
		return 0
	}
	return n.GetToken().Position.Line
}

// yamlError turns a decoder error into an InputError with the position the
// decoder reports.
func yamlError(file string, err error) error {
	var ie *fleet.InputError
	if errors.As(err, &ie) {
		return err
	}
	if errors.Is(err, io.EOF) {
		return &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "empty file: expected a list of chips"}
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		tk := ye.GetToken()
		pos := fleet.Position{File: file}
		if tk != nil {
			pos.Line, pos.Column = tk.Position.Line, tk.Position.Column
		}
		return &fleet.InputError{Pos: pos, Msg: ye.GetMessage()}
	}
	return &fleet.InputError{Pos: fleet.Position{File: file}, Msg: err.Error()}
}

// entryPath matches the path of a field inside a chip entry.
var entryPath = regexp.MustCompile(`^\$(?:\.chips)?\[(\d+)\]\.(.+)$`)

// locate turns a decoding error into an InputError naming the entry and the
// field it is in, found by the error's position in the syntax tree, and says
// in words what was expected.
func locate(file string, f *ast.File, err error) error {
	ie, ok := yamlError(file, err).(*fleet.InputError)
	if !ok || ie.Pos.Line == 0 || f == nil || len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return yamlError(file, err)
	}
	var best *ast.MappingValueNode
	var got string
	for _, n := range ast.Filter(ast.MappingValueType, f.Docs[0].Body) {
		mv, ok := n.(*ast.MappingValueNode)
		if !ok || mv.Key == nil || mv.Value == nil {
			continue
		}
		for _, t := range []*token.Token{mv.Key.GetToken(), mv.Value.GetToken()} {
			if t != nil && t.Position.Line == ie.Pos.Line && t.Position.Column == ie.Pos.Column {
				if best == nil || len(mv.GetPath()) > len(best.GetPath()) {
					best, got = mv, mv.Value.String()
				}
			}
		}
	}
	if best == nil {
		return ie
	}
	m := entryPath.FindStringSubmatch(best.GetPath())
	if m == nil {
		return ie
	}
	i, _ := strconv.Atoi(m[1])
	ie.Pos.Entry = fmt.Sprintf("entry %d", i+1)
	for _, n := range ast.Filter(ast.MappingValueType, f.Docs[0].Body) {
		if mv, ok := n.(*ast.MappingValueNode); ok && mv.GetPath() == strings.TrimSuffix(best.GetPath(), m[2])+"name" {
			ie.Pos.Entry += fmt.Sprintf(" (%s)", strings.Trim(mv.Value.String(), `"'`))
		}
	}
	ie.Pos.Field = m[2]
	switch msg := ie.Msg; {
	case strings.Contains(msg, "of type float64"):
		ie.Msg = fmt.Sprintf("must be a number, got %s", got)
	case strings.Contains(msg, "of type bool"):
		ie.Msg = fmt.Sprintf("must be true or false, got %s", got)
	case strings.Contains(msg, "of type int"):
		ie.Msg = fmt.Sprintf("must be an integer, got %s", got)
	case strings.HasPrefix(msg, "unknown field"):
		ie.Msg = "unknown field (see the catalog schema in docs/chips.md)"
	}
	return ie
}
