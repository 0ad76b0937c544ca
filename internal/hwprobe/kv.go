package hwprobe

import (
	"bufio"
	"bytes"
	"strings"
)

// kvLine is one "Key : Value" line of an indented report (npu-smi -t,
// cnmon info). A line without a colon, or with nothing after it, is a
// section heading (Value ""); Section is the heading of the enclosing less
// indented block.
type kvLine struct {
	Line    int    // 1-based
	Indent  int    // leading whitespace, tabs counted as 8
	Key     string // trimmed
	Value   string // trimmed; "" for a heading
	Section string // nearest enclosing heading, "" at top level
}

// scanKV splits data into kvLines, skipping blank lines. It never fails:
// lines it cannot split become headings.
func scanKV(data []byte) []kvLine {
	type open struct {
		indent int
		name   string
	}
	var (
		out   []kvLine
		stack []open
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		if strings.TrimSpace(raw) == "" {
			continue
		}
		ind := 0
		for _, r := range raw {
			if r == ' ' {
				ind++
			} else if r == '\t' {
				ind += 8
			} else {
				break
			}
		}
		key, val, _ := strings.Cut(strings.TrimSpace(raw), ":")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		for len(stack) > 0 && stack[len(stack)-1].indent >= ind {
			stack = stack[:len(stack)-1]
		}
		sec := ""
		if len(stack) > 0 {
			sec = stack[len(stack)-1].name
		}
		out = append(out, kvLine{Line: n, Indent: ind, Key: key, Value: val, Section: sec})
		if val == "" {
			stack = append(stack, open{indent: ind, name: key})
		}
	}
	return out
}

// normKey lower-cases a key and squeezes spaces, for matching.
func normKey(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
