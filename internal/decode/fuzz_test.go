package decode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzYAML: the check never panics, and a document it accepts decodes
// (into any) to at most MaxNodes nodes — the limit holds for what the
// decoder really builds, aliases expanded. Seeds are alias-heavy.
func FuzzYAML(f *testing.F) {
	for _, s := range []string{
		bomb(),
		"a: &a [x,x,x]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\n",
		"a: &a {x: 1, y: 2}\nb: {<<: *a, z: 3}\n",
		"a: &a [1, *a]\n",
		"- &x [&y [*x]]\n",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"a: !!binary abc\n",
		"fleet: !\n",
		"! 0",
		"{\"a\": [1, 2, {\"b\": null}]}",
		"a: |\n  text\n---\nb: *c\n",
		strings.Repeat("- ", 20) + "x",
	} {
		f.Add([]byte(s))
	}
	l := Limits{MaxBytes: 1 << 16, MaxDepth: 16, MaxNodes: 2000, MaxKeys: 200}
	f.Fuzz(func(t *testing.T, data []byte) {
		if CheckYAML("f", data, l) != nil {
			return
		}
		var v any
		if Strict("f", data, &v) != nil {
			return
		}
		if n := nodes(v, 0); n > l.MaxNodes {
			t.Fatalf("accepted %q, which decodes to %d nodes > %d", data, n, l.MaxNodes)
		}
	})
}

// nodes counts the nodes of a decoded value, stopping past 1e6.
func nodes(v any, acc int) int {
	acc++
	if acc > 1_000_000 {
		return acc
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			acc = nodes(e, acc)
		}
	case map[string]any:
		for _, e := range x {
			acc = nodes(e, acc+1)
		}
	}
	return acc
}

// FuzzJSON: CheckJSON never panics and never accepts nesting beyond the
// limit (checked against encoding/json's own view of the document).
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, {"b": "]]]"}]}`, `[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]`, `"\\\"["`, `{`} {
		f.Add([]byte(s))
	}
	l := Limits{MaxDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		if CheckJSON("f", data, l) != nil {
			return
		}
		var v any
		if JSON("f", data, &v, l) != nil {
			return
		}
		if d := depth(v); d > l.MaxDepth {
			t.Fatalf("accepted %q of depth %d > %d", data, d, l.MaxDepth)
		}
	})
}

func depth(v any) int {
	best := 0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			best = max(best, depth(e))
		}
	case map[string]any:
		for _, e := range x {
			best = max(best, depth(e))
		}
	default:
		return 1
	}
	return best + 1
}

// FuzzDuplicateJSONKey: on valid JSON the byte scanner finds the same
// duplicate, at the same path, as a walk over encoding/json's tokens (the
// implementation before the scanner, kept here as the reference); it never
// panics on anything.
func FuzzDuplicateJSONKey(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":2}`, `{"a":1,"a":2}`, `{"a":{"x":1,"y":[1,{"z":1,"z":2}]}}`, `{"s":"a\"a","s2":1}`,
		`[{"k":1},{"k":1}]`, `{"a":[{"k":1}],"a":2}`, `{"\u0061":1,"a":2}`, `{"é":1,"\u00e9":2}`, `{"a\\":1,"a\\":2}`,
		`{"x":"}","x":"{"}`, `{"a":[[],{}],"b":{"a":1},"a":0}`, "{\"\xff\":1,\"\xfe\":2}", `not json`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, p := DuplicateJSONKey(data)
		if !json.Valid(data) {
			return
		}
		if rk, rp := tokenWalk(data); rk != k || rp != p {
			t.Fatalf("%q: scanner %q at %q, tokens %q at %q", data, k, p, rk, rp)
		}
	})
}

// tokenWalk is the duplicate-key walk over encoding/json's tokens.
func tokenWalk(data []byte) (key, path string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj          bool
		keys         map[string]bool
		expect       bool
		at, lastSeen string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				at := "[]"
				if top != nil && top.obj {
					at = top.lastSeen
				}
				stack = append(stack, &frame{obj: d == '{', keys: map[string]bool{}, expect: d == '{', at: at})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expect = true
				}
			}
			continue
		}
		if top != nil && top.obj {
			if top.expect {
				k, _ := tok.(string)
				if top.keys[k] {
					p := "$"
					for _, f := range stack[1:] {
						p += "." + f.at
					}
					return k, p + "." + k
				}
				top.keys[k] = true
				top.lastSeen = k
				top.expect = false
			} else {
				top.expect = true
			}
		}
	}
}
