package trace

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

// Models resolves the accelerator model names a throughput file uses to
// catalog chips. *accel.Catalog implements it.
type Models interface {
	Resolve(name string) (accel.Chip, error)
}

var _ Models = (*accel.Catalog)(nil)

// ThroughputTable is a parsed throughput file: the entries in file order
// and the table built from them.
type ThroughputTable struct {
	Entries []sched.ThroughputEntry
	// Pairs are the space-sharing throughputs (Gavel's JSON only), in file
	// order; Table holds them too.
	Pairs []sched.PairEntry
	Table *sched.Throughputs
}

// Classes returns the distinct (class, gang) pairs of the table, sorted by
// class then gang.
func (t *ThroughputTable) Classes() []ClassGang {
	seen := map[ClassGang]bool{}
	var out []ClassGang
	for _, e := range t.Entries {
		k := ClassGang{e.Class, e.Gang}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Gang < out[j].Gang
	})
	return out
}

// ClassGang is a job class run as a gang of Gang devices.
type ClassGang struct {
	Class string
	Gang  int
}

// ReadThroughputs reads a throughput table, choosing the format by the
// file name: .json is Gavel's simulation_throughputs.json, .csv and
// .yaml/.yml are Granary's formats (docs/traces.md).
func ReadThroughputs(data []byte, name string, models Models) (*ThroughputTable, error) {
	var (
		entries []sched.ThroughputEntry
		pairs   []sched.PairEntry
		err     error
	)
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		entries, pairs, err = readGavelJSON(data, name, models)
	case ".csv":
		entries, err = ReadThroughputsCSV(bytes.NewReader(data), name, models)
	case ".yaml", ".yml":
		entries, err = ReadThroughputsYAML(data, name, models)
	default:
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "unknown throughput file type: want .json (Gavel), .csv or .yaml"}
	}
	if err != nil {
		return nil, err
	}
	t, err := sched.NewThroughputs(entries)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: err.Error()}
	}
	if len(pairs) > 0 {
		if t, err = t.WithPairs(pairs); err != nil {
			return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: err.Error()}
		}
	}
	return &ThroughputTable{Entries: entries, Pairs: pairs, Table: t}, nil
}

// ReadGavelThroughputs reads Gavel's throughput JSON
// ({worker_type: {"('<model>', <scale_factor>)": {"null": steps/s, …}}}).
// Only the isolated ("null") throughputs are returned, as Gavel's simulator
// uses for non-packing policies (ReadThroughputs also keeps the pairs); the
// *_unconsolidated worker types are skipped (Gavel c4fa400 does not read
// them either). Worker types (k80, p100, v100) are resolved to catalog ids
// through models.
func ReadGavelThroughputs(r io.Reader, name string, models Models) ([]sched.ThroughputEntry, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: err.Error()}
	}
	entries, _, err := readGavelJSON(data, name, models)
	return entries, err
}

// readGavelJSON reads Gavel's JSON: the isolated throughputs ("null") and
// the pair throughputs ("('<other model>', <scale_factor>)": [steps/s of
// this job, steps/s of the other]) between jobs of the same scale factor.
func readGavelJSON(data []byte, name string, models Models) ([]sched.ThroughputEntry, []sched.PairEntry, error) {
	if err := decode.CheckJSON(name, data, decode.Limits{MaxBytes: 256 << 20}); err != nil {
		return nil, nil, err
	}
	var pairs []sched.PairEntry
	p := &jsonWalker{dec: json.NewDecoder(bytes.NewReader(data)), data: data, name: name}
	p.dec.UseNumber()
	var entries []sched.ThroughputEntry
	seen := map[string]string{} // catalog id → worker type
	err := p.object("", func(wt string, line int) error {
		if strings.HasSuffix(wt, "_unconsolidated") {
			return p.skip()
		}
		chip, err := models.Resolve(wt)
		if err != nil {
			return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt}, Msg: "unknown accelerator model: " + err.Error()}
		}
		if other, dup := seen[chip.ID]; dup {
			return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt}, Msg: fmt.Sprintf("names the same model (%s) as %q", chip.ID, other)}
		}
		seen[chip.ID] = wt
		return p.object(wt, func(key string, line int) error {
			class, gang, err := parseGavelKey(key)
			if err != nil {
				return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt}, Msg: err.Error()}
			}
			found := false
			err = p.object(key, func(other string, line int) error {
				if other != "null" {
					oc, og, err := parseGavelKey(other)
					if err != nil {
						return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt + " " + key}, Msg: "pair: " + err.Error()}
					}
					v, err := p.pair()
					if err != nil {
						return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt + " " + key, Field: other}, Msg: err.Error()}
					}
					if og == gang {
						pairs = append(pairs, sched.PairEntry{Class: class, Other: oc, Gang: gang, Model: chip.ID, Steps: v})
					}
					return nil
				}
				v, err := p.number()
				if err != nil {
					return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt + " " + key, Field: "null"}, Msg: err.Error()}
				}
				found = true
				entries = append(entries, sched.ThroughputEntry{Class: class, Gang: gang, Model: chip.ID, StepsPerSecond: v})
				return nil
			})
			if err == nil && !found {
				err = &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Entry: wt + " " + key, Field: "null"}, Msg: "missing the isolated throughput (\"null\")"}
			}
			return err
		})
	})
	if err != nil {
		return nil, nil, err
	}
	if len(entries) == 0 {
		return nil, nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no throughputs in file"}
	}
	return entries, pairs, nil
}

// parseGavelKey parses a Python tuple repr "('ResNet-18 (batch size 16)', 1)".
func parseGavelKey(key string) (string, int, error) {
	bad := fmt.Errorf("key %q: want a (model, scale_factor) tuple like \"('ResNet-18 (batch size 16)', 1)\"", key)
	s := strings.TrimSpace(key)
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return "", 0, bad
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", 0, bad
	}
	q := s[0]
	var b strings.Builder
	i := 1
	for ; i < len(s) && s[i] != q; i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	if i >= len(s) {
		return "", 0, bad
	}
	rest := strings.TrimSpace(s[i+1:])
	if !strings.HasPrefix(rest, ",") {
		return "", 0, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(rest[1:]))
	if err != nil || n < 1 || n > 1<<20 {
		return "", 0, bad
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", 0, bad
	}
	return b.String(), n, nil
}

// jsonWalker walks a JSON document token by token, so every key can be
// reported with its line.
type jsonWalker struct {
	dec  *json.Decoder
	data []byte
	name string
}

func (p *jsonWalker) line() int {
	off := int(p.dec.InputOffset())
	if off > len(p.data) {
		off = len(p.data)
	}
	return 1 + bytes.Count(p.data[:off], []byte{'\n'})
}

func (p *jsonWalker) fail(msg string) error {
	return &fleet.InputError{Pos: fleet.Position{File: p.name, Line: p.line()}, Msg: msg}
}

func (p *jsonWalker) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err == io.EOF {
		return nil, p.fail("unexpected end of JSON")
	}
	if err != nil {
		return nil, p.fail("invalid JSON: " + err.Error())
	}
	return t, nil
}

// object reads an object and calls f for each key with the key's line; f
// must consume the value.
func (p *jsonWalker) object(what string, f func(key string, line int) error) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		if what == "" {
			return p.fail("want a JSON object at the top level")
		}
		return p.fail(fmt.Sprintf("%s: want a JSON object", what))
	}
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return p.fail("want an object key")
		}
		if err := f(key, p.line()); err != nil {
			return err
		}
	}
	_, err = p.token() // '}'
	return err
}

func (p *jsonWalker) number() (float64, error) {
	t, err := p.token()
	if err != nil {
		return 0, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, errors.New("want a number of steps/s")
	}
	v, err := n.Float64()
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("want a finite number ≥ 0 of steps/s, got %s", n)
	}
	return v, nil
}

// pair reads a pair throughput: [steps/s of this job, of the other].
func (p *jsonWalker) pair() ([2]float64, error) {
	var v [2]float64
	t, err := p.token()
	if err != nil {
		return v, err
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return v, errors.New("want a pair of steps/s [this job, other job]")
	}
	for i := range v {
		if !p.dec.More() {
			return v, errors.New("want a pair of steps/s [this job, other job], got fewer than 2")
		}
		if v[i], err = p.number(); err != nil {
			return v, err
		}
	}
	if p.dec.More() {
		return v, errors.New("want a pair of steps/s [this job, other job], got more than 2")
	}
	_, err = p.token() // ']'
	return v, err
}

// skip consumes one value.
func (p *jsonWalker) skip() error {
	depth := 0
	for {
		t, err := p.token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// ReadThroughputsCSV reads Granary's throughput CSV: a header
// "class,gang,<model>,<model>,…" (models are catalog names or ids) and one
// row per (class, gang) with steps/s of the whole job on each model; 0 means
// "cannot run there", an empty cell means "not measured" (no entry). Lines
// starting with # are comments.
func ReadThroughputsCSV(r io.Reader, name string, models Models) ([]sched.ThroughputEntry, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "empty file: want a header class,gang,<model>,…"}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	hline, _ := cr.FieldPos(0)
	if len(header) < 3 || !strings.EqualFold(strings.TrimSpace(header[0]), "class") || !strings.EqualFold(strings.TrimSpace(header[1]), "gang") {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: hline}, Msg: "header must be class,gang,<model>[,<model>…]"}
	}
	ids := make([]string, len(header)-2)
	seen := map[string]bool{}
	for i, h := range header[2:] {
		chip, err := models.Resolve(strings.TrimSpace(h))
		if err != nil {
			return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: hline, Field: h}, Msg: "unknown accelerator model: " + err.Error()}
		}
		if seen[chip.ID] {
			return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: hline, Field: h}, Msg: fmt.Sprintf("model %s appears twice", chip.ID)}
		}
		seen[chip.ID] = true
		ids[i] = chip.ID
	}
	var entries []sched.ThroughputEntry
	rows := map[ClassGang]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		bad := func(field, msg string) error {
			return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Field: field}, Msg: msg}
		}
		class := strings.TrimSpace(rec[0])
		if class == "" {
			return nil, bad("class", "must not be empty")
		}
		gang, err := parseInt(rec[1], 1, 1<<20)
		if err != nil {
			return nil, bad("gang", err.Error())
		}
		k := ClassGang{class, int(gang)}
		if first, dup := rows[k]; dup {
			return nil, bad("class", fmt.Sprintf("(%s, gang %d) already given on line %d", class, gang, first))
		}
		rows[k] = line
		for i, cell := range rec[2:] {
			if strings.TrimSpace(cell) == "" {
				continue
			}
			v, err := parseFloat(cell)
			if err != nil || v < 0 {
				return nil, bad(header[i+2], fmt.Sprintf("want steps/s, a finite number ≥ 0, got %q", cell))
			}
			entries = append(entries, sched.ThroughputEntry{Class: class, Gang: int(gang), Model: ids[i], StepsPerSecond: v})
		}
	}
	if len(entries) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no throughputs in file"}
	}
	return entries, nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &fleet.InputError{Pos: fleet.Position{File: name, Line: pe.Line, Column: pe.Column}, Msg: pe.Err.Error()}
	}
	return &fleet.InputError{Pos: fleet.Position{File: name}, Msg: err.Error()}
}

// yamlThroughputs is Granary's YAML throughput format.
type yamlThroughputs struct {
	Throughputs []struct {
		Class     string             `yaml:"class"`
		Gang      int                `yaml:"gang"`
		StepsPerS map[string]float64 `yaml:"steps_per_s"`
	} `yaml:"throughputs"`
}

// ReadThroughputsYAML reads Granary's YAML throughput format:
//
//	throughputs:
//	  - class: ResNet-50 (batch size 64)
//	    gang: 1
//	    steps_per_s: {v100: 10.2, p100: 5.9, k80: 1.9}
//
// Models are catalog names or ids; 0 means "cannot run there".
func ReadThroughputsYAML(data []byte, name string, models Models) ([]sched.ThroughputEntry, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "empty file: want a throughputs list"}
	}
	f, err := decode.ParseYAML(name, data, decode.Default)
	if err != nil {
		return nil, yamlError(name, err)
	}
	var doc yamlThroughputs
	if err := decode.Strict(name, data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	var entries []sched.ThroughputEntry
	rows := map[ClassGang]int{}
	for i, t := range doc.Throughputs {
		path := fmt.Sprintf("$.throughputs[%d]", i)
		entry := fmt.Sprintf("throughputs[%d]", i)
		bad := func(field, msg string) error {
			return &fleet.InputError{Pos: fleet.Position{File: name, Line: yamlLine(f, path+"."+field, path), Entry: entry, Field: field}, Msg: msg}
		}
		class := strings.TrimSpace(t.Class)
		if class == "" {
			return nil, bad("class", "required field is missing")
		}
		entry += " (" + class + ")"
		if t.Gang < 1 {
			return nil, bad("gang", fmt.Sprintf("required, ≥ 1, got %d", t.Gang))
		}
		k := ClassGang{class, t.Gang}
		if first, dup := rows[k]; dup {
			return nil, bad("class", fmt.Sprintf("(%s, gang %d) already given in throughputs[%d]", class, t.Gang, first))
		}
		rows[k] = i
		if len(t.StepsPerS) == 0 {
			return nil, bad("steps_per_s", "required: a map from model to steps/s")
		}
		names := make([]string, 0, len(t.StepsPerS))
		for m := range t.StepsPerS {
			names = append(names, m)
		}
		sort.Strings(names)
		seen := map[string]bool{}
		for _, m := range names {
			v := t.StepsPerS[m]
			chip, err := models.Resolve(m)
			if err != nil {
				return nil, bad("steps_per_s."+m, "unknown accelerator model: "+err.Error())
			}
			if seen[chip.ID] {
				return nil, bad("steps_per_s."+m, fmt.Sprintf("model %s given twice", chip.ID))
			}
			seen[chip.ID] = true
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, bad("steps_per_s."+m, fmt.Sprintf("want a finite number ≥ 0, got %v", v))
			}
			entries = append(entries, sched.ThroughputEntry{Class: class, Gang: t.Gang, Model: chip.ID, StepsPerSecond: v})
		}
	}
	if len(entries) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no throughputs in file"}
	}
	return entries, nil
}
