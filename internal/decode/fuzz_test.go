package decode

import (
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
