package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
)

// bomb is a "billion laughs" plan: 9 levels of 9 aliases expand to 9^9
// (387 million) scalars from 413 bytes.
func bomb() string {
	var b strings.Builder
	b.WriteString("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	prev := "a"
	for _, k := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", k, k, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = k
	}
	return b.String()
}

func TestCheckYAML(t *testing.T) {
	var keys strings.Builder
	for i := range 1001 {
		fmt.Fprintf(&keys, "k%d: v\n", i)
	}
	var wide strings.Builder
	for range 100_001 {
		wide.WriteString("- 1\n")
	}
	for _, tc := range []struct {
		name, doc string
		l         Limits
		want      string // "" = accepted; else a substring of the error
		line      int
	}{
		{name: "plain", doc: "start: 2025-01\nfleet:\n  - {model: h800, in_service: 8}\n"},
		{name: "json", doc: `{"start": "2025-01", "fleet": [{"model": "h800"}]}`},
		{name: "small alias", doc: "a: &x {p: 1}\nb: *x\nc: *x\n"},
		{name: "multi doc", doc: "a: 1\n---\nb: 2\n"},
		{name: "empty", doc: ""},
		{name: "bomb", doc: bomb(), want: "more than 100000 nodes once aliases are expanded", line: 6},
		{name: "bomb small limit", doc: "a: &a [x,x]\nb: [*a,*a,*a]\n", l: Limits{MaxNodes: 8}, want: "more than 8 nodes once aliases are expanded (at alias *a)", line: 2},
		{name: "deep flow", doc: strings.Repeat("[", 65) + strings.Repeat("]", 65), want: "nesting deeper than 64 levels", line: 1},
		{name: "deep flow at limit", doc: "x: " + strings.Repeat("[", 63) + strings.Repeat("]", 63)},
		{name: "very deep flow", doc: strings.Repeat("[", 200_000), want: "YAML not understood"},
		{name: "deep block", doc: strings.Repeat("- ", 70) + "x\n", want: "nesting deeper than 64 levels"},
		{name: "deep through alias", doc: "a: &a " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\nb: " + strings.Repeat("[", 30) + "*a" + strings.Repeat("]", 30), want: "through alias *a"},
		{name: "many keys", doc: keys.String(), want: "a mapping with 1001 keys; the limit is 1000", line: 1},
		{name: "many nodes", doc: wide.String(), want: "more than 100000 nodes"},
		{name: "too big", doc: strings.Repeat("#", 100), l: Limits{MaxBytes: 99}, want: "the document is 100 bytes; the limit is 99"},
		{name: "unknown anchor", doc: "a: *nope\n", want: "YAML not understood"},
		{name: "self alias", doc: "a: &a [1, *a]\n", want: "not after the end of its anchor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckYAML("plan.yaml", []byte(tc.doc), tc.l)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			var ie *fleet.InputError
			if !errors.As(err, &ie) || ie.Pos.File != "plan.yaml" || !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("err = %#v: want a *fleet.InputError naming the file and wrapping ErrInvalid", err)
			}
			if tc.line != 0 && ie.Pos.Line != tc.line {
				t.Errorf("line = %d, want %d", ie.Pos.Line, tc.line)
			}
			if strings.Contains(tc.want, "more than") || strings.Contains(tc.want, "nesting") || strings.Contains(tc.want, "limit") {
				if !errors.Is(err, ErrLimit) {
					t.Errorf("err does not wrap ErrLimit")
				}
			}
		})
	}
}

func TestBombIs413Bytes(t *testing.T) {
	if n := len(bomb()); n > 413 {
		t.Fatalf("bomb is %d bytes", n)
	}
}

// TestNodeCountOracle compares the expanded count with a naive expansion
// (a recursive count that follows every alias) on small documents.
func TestNodeCountOracle(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		nodes int // counted by hand: every scalar, sequence and mapping once per expansion
	}{
		{"[x]", 2},
		{"[1, 2]", 3},
		{"{a: 1}", 3},
		{"a: &x [1, 2]\nb: *x", 1 + 1 + 3 + 1 + 3},
		{"a: &x [1, 2]\nb: [*x, *x]", 1 + 1 + 3 + 1 + 1 + 3 + 3},
	} {
		if err := CheckYAML("f", []byte(tc.doc), Limits{MaxNodes: tc.nodes}); err != nil {
			t.Errorf("%q with MaxNodes=%d: %v", tc.doc, tc.nodes, err)
		}
		if err := CheckYAML("f", []byte(tc.doc), Limits{MaxNodes: tc.nodes - 1}); err == nil {
			t.Errorf("%q with MaxNodes=%d: accepted", tc.doc, tc.nodes-1)
		}
	}
}

func TestStrict(t *testing.T) {
	var v struct {
		A int `yaml:"a"`
	}
	if err := YAML("f", []byte("a: 1\n"), &v, Limits{}); err != nil || v.A != 1 {
		t.Fatalf("v = %+v, err = %v", v, err)
	}
	if err := YAML("f", []byte("a: 1\nb: 2\n"), &v, Limits{}); err == nil {
		t.Error("unknown field accepted")
	}
	if err := YAML("f", []byte("a: 1\na: 2\n"), &v, Limits{}); err == nil {
		t.Error("duplicate key accepted")
	}
	if err := YAML("f", []byte(bomb()), &v, Limits{}); !errors.Is(err, ErrLimit) {
		t.Errorf("bomb: %v", err)
	}
}

func TestJSON(t *testing.T) {
	var v struct {
		A []int `json:"a"`
	}
	if err := JSON("f", []byte(`{"a": [1, 2], "s": "[[[["}`), &v, Limits{}); err == nil || !strings.Contains(err.Error(), `unknown field "s"`) {
		t.Errorf("unknown field: %v", err)
	}
	if err := JSON("f", []byte(`{"a": [1, 2]}`), &v, Limits{}); err != nil || len(v.A) != 2 {
		t.Errorf("v = %+v, err = %v", v, err)
	}
	if err := CheckJSON("f", []byte(`{"a": "[[[[[[[[[[[[", "b": "\"[[[["}`), Limits{MaxDepth: 2}); err != nil {
		t.Errorf("brackets in strings counted: %v", err)
	}
	deep := strings.Repeat("[", 64) + strings.Repeat("]", 64)
	if err := CheckJSON("f", []byte(deep), Limits{}); !errors.Is(err, ErrLimit) {
		t.Errorf("depth 65: %v", err)
	}
	if err := CheckJSON("f", []byte(deep[1:len(deep)-1]), Limits{}); err != nil {
		t.Errorf("depth 64: %v", err)
	}
	if err := JSON("f", []byte(`{"a": []} {}`), &v, Limits{}); err == nil {
		t.Error("trailing document accepted")
	}
}

func TestDuplicateJSONKey(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":2}`:                       "",
		`{"a":1,"a":2}`:                       "$.a",
		`{"a":{"x":1},"b":{"x":2}}`:           "",
		`{"a":{"x":1,"y":[1,{"z":1,"z":2}]}}`: "$.a.y.[].z",
		`{"s":"a\"a","s2":1}`:                 "",
		`[{"k":1},{"k":1}]`:                   "",
		`{"a":[{"k":1}],"a":2}`:               "$.a",
		`not json`:                            "",
	} {
		if _, got := DuplicateJSONKey([]byte(in)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// devicesJSON is a reader of {"devices":[…]} with n small device objects,
// generated as it is read (the document is never in memory), the last
// object with "state" twice when dupLast. sample, when not nil, is called
// every MiB read.
type devicesJSON struct {
	n, i    int
	dupLast bool
	buf     []byte
	read    int
	sample  func()
}

func (d *devicesJSON) Read(p []byte) (int, error) {
	for len(d.buf) < len(p) && d.i <= d.n {
		switch {
		case d.i == 0:
			d.buf = append(d.buf, `{"devices":[`...)
		case d.i == d.n:
			d.buf = append(d.buf, `]}`...)
		default:
			if d.i > 1 {
				d.buf = append(d.buf, ',')
			}
			d.buf = fmt.Appendf(d.buf, `{"serial":"S%07d","model":"h800","state":"in_service","node":"n%d","site":"bj1","labels":{"rack":"r%d","row":"%d"}`, d.i, d.i/8, d.i%40, d.i%7)
			if d.dupLast && d.i == d.n-1 {
				d.buf = append(d.buf, `,"state":"reserve"`...)
			}
			d.buf = append(d.buf, '}')
		}
		d.i++
	}
	if len(d.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, d.buf)
	d.buf = d.buf[:copy(d.buf, d.buf[n:])]
	if d.sample != nil && (d.read+n)>>20 != d.read>>20 {
		d.sample()
	}
	d.read += n
	return n, nil
}

// The stream walk holds the open objects' keys, not the document: over
// 600,000 devices (≈ 76 MiB, more than the API's largest body) the heap
// in use grows by less than 8 MiB, and the duplicate in the last device is
// found.
func TestDuplicateJSONKeyInBoundedMemory(t *testing.T) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	d := &devicesJSON{n: 600_000, dupLast: true}
	d.sample = func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	key, path := DuplicateJSONKeyIn(d)
	if key != "state" || path != "$.devices.[].state" {
		t.Errorf("got %q at %q", key, path)
	}
	if d.read < 64<<20 {
		t.Fatalf("read %d bytes: want more than 64 MiB", d.read)
	}
	if grew := int64(peak) - int64(base); grew > 8<<20 {
		t.Errorf("heap in use grew by %d bytes walking %d bytes", grew, d.read)
	}
	t.Logf("%d bytes walked, heap in use grew by at most %d KiB", d.read, (int64(peak)-int64(base))>>10)
}

// BenchmarkDuplicateJSONKeyIn walks a generated 200,000-device document
// (≈ 24 MiB, read from memory: the walker's allocations only).
func BenchmarkDuplicateJSONKeyIn(b *testing.B) {
	doc, _ := io.ReadAll(&devicesJSON{n: 200_000})
	b.SetBytes(int64(len(doc)))
	b.ResetTimer()
	for b.Loop() {
		if _, path := DuplicateJSONKeyIn(bytes.NewReader(doc)); path != "" {
			b.Fatal(path)
		}
	}
}
