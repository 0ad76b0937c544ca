package console

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
)

// Format is an output format chosen with -o.
type Format string

// Output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
	CSV   Format = "csv"
)

// ParseFormat validates -o against the formats a command allows.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	names := make([]string, len(allowed))
	for i, f := range allowed {
		names[i] = string(f)
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
	}
	return "", Usagef("unknown output format %q (valid: %s)", s, strings.Join(names, ", "))
}

// Structured reports whether f encodes data (JSON or YAML) rather than
// laying it out for reading.
func (f Format) Structured() bool { return f == JSON || f == YAML }

// Encode writes v in the structured format f: JSON (WriteJSON) or YAML
// (WriteYAML, with the same field names, so both parse to the same data).
func Encode(w io.Writer, f Format, v any) error {
	switch f {
	case JSON:
		return WriteJSON(w, v)
	case YAML:
		return WriteYAML(w, v)
	}
	return fmt.Errorf("console: %s is not a structured format", f)
}

// WriteJSON writes v as indented JSON with a trailing newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteYAML writes v as YAML, using its JSON field names.
func WriteYAML(w io.Writer, v any) error {
	b, err := yaml.MarshalWithOptions(v, yaml.UseJSONMarshaler(),
		yaml.CustomMarshaler(yamlFloat[float64]), yaml.CustomMarshaler(yamlFloat[float32]))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// yamlFloat writes a float so that a YAML reader reads it back as the same
// number: goccy/go-yaml writes 1e12 as "1e+12", which YAML 1.1 readers
// (goccy's among them) read as a string; "1.0e+12" is a float to all.
func yamlFloat[F float32 | float64](f F) ([]byte, error) {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return []byte(".nan"), nil
	case math.IsInf(x, 1):
		return []byte(".inf"), nil
	case math.IsInf(x, -1):
		return []byte("-.inf"), nil
	}
	s := strconv.FormatFloat(x, 'g', -1, bitSize[F]())
	if i := strings.IndexByte(s, 'e'); i >= 0 && !strings.Contains(s[:i], ".") {
		s = s[:i] + ".0" + s[i:]
	}
	return []byte(s), nil
}

func bitSize[F float32 | float64]() int {
	var f F
	if _, ok := any(f).(float32); ok {
		return 32
	}
	return 64
}

// WriteTable writes aligned columns; the first row is the header.
func WriteTable(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// WriteCSV writes rows as CSV; the first row is the header.
func WriteCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// Num formats a number for tables: integers without decimals, others with
// up to 3 significant decimals.
func Num(v float64) string {
	if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// NumPtr formats an optional number; unknown prints as "-".
func NumPtr(v *float64) string {
	if v == nil {
		return "-"
	}
	return Num(*v)
}
