package console

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/goccy/go-yaml"
)

// Floats written as YAML read back as the same numbers (goccy/go-yaml alone
// writes 1e12 as "1e+12", which it reads back as a string).
func TestYAMLFloatsRoundTrip(t *testing.T) {
	type doc struct {
		A  float64   `json:"a"`
		B  []float64 `json:"b"`
		C  *float64  `json:"c"`
		F  float32   `json:"f"`
		In float64   `json:"in"`
	}
	c := 1e-7
	want := doc{A: 1e12, B: []float64{1e30, 2, 0.5, -3e-300, 48179999999999994757120}, C: &c, F: 1e20, In: math.Inf(1)}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, want); err != nil {
		t.Fatal(err)
	}
	var got doc
	if err := yaml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: %+v, want %+v\n%s", got, want, buf.String())
	}
}
