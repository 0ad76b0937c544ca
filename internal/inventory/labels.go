package inventory

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// FormatLabels writes labels as the CSV labels cell: key=value pairs
// sorted by key, separated by ';'. In values, '\', ';' and '=' are escaped
// with a backslash (keys cannot hold them), so ParseLabels reads back
// exactly the same map: `inventory list -o csv` re-imports as is.
func FormatLabels(m map[string]string) string {
	keys := sortedLabelKeys(m)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte('=')
		for _, r := range m[k] {
			if r == '\\' || r == ';' || r == '=' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ParseLabels reads a labels cell written by FormatLabels (or by hand:
// key=value;key=value, spaces around keys and values trimmed). A pair
// without '=' or with an empty key, a duplicate key, or a dangling '\' is
// an error quoting the pair.
func ParseLabels(s string) (map[string]string, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("labels %q are not valid UTF-8", s)
	}
	out := map[string]string{}
	var pairs []string
	var cur strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
			continue
		case r == '\\':
			esc = true
		case r == ';':
			pairs = append(pairs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if esc {
		return nil, fmt.Errorf("labels %q end with a dangling '\\'", s)
	}
	pairs = append(pairs, cur.String())
	for _, kv := range pairs {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, found := cutUnescaped(kv)
		k = strings.TrimSpace(k)
		if !found || k == "" {
			return nil, fmt.Errorf("label %q is not key=value (separate labels with ';')", unescape(kv))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		out[k] = strings.TrimSpace(unescape(v))
	}
	return out, nil
}

// cutUnescaped cuts kv at its first '=' not preceded by '\'.
func cutUnescaped(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		switch kv[i] {
		case '\\':
			i++
		case '=':
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	esc := false
	for _, r := range s {
		if !esc && r == '\\' {
			esc = true
			continue
		}
		esc = false
		b.WriteRune(r)
	}
	return b.String()
}
