package accel

import (
	"errors"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
)

// Type errors found by the decoder name the entry and the field, like the
// checks done after decoding.
func TestDecodeErrorsNameEntryAndField(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"non-numeric tops", "- name: A\n  datacenter: true\n  tops: {bf16: 1}\n- name: X\n  datacenter: true\n  tops: {bf16: lots}\n",
			`f.yaml:6:16: entry 2 (X): field "tops.bf16": must be a number, got lots`},
		{"non-numeric area", "chips:\n  - name: X\n    datacenter: true\n    tops: {bf16: 1}\n    die_area_mm2: big\n",
			`f.yaml:5:19: entry 1 (X): field "die_area_mm2": must be a number, got big`},
		{"bad bool", "- name: X\n  datacenter: maybe\n  tops: {bf16: 1}\n",
			`entry 1 (X): field "datacenter": must be true or false, got maybe`},
		{"json string", `[{"name": "X", "datacenter": true, "tops": {"bf16": "abc"}}]`,
			`entry 1 (X): field "tops.bf16": must be a number, got "abc"`},
		{"unknown field", "- name: X\n  datacenter: true\n  topps: {bf16: 1}\n",
			`f.yaml:3:3: entry 1 (X): field "topps": unknown field`},
		{"missing datacenter", "- name: X\n  tops: {bf16: 1}\n", `entry 1 (X): field "datacenter": required field is missing`},
		{"missing tops", "- name: X\n  datacenter: false\n", `entry 1 (X): field "tops": required field is missing`},
		{"negative", "- name: X\n  datacenter: false\n  tops: {int8: -1}\n", `f.yaml:3: entry 1 (X): field "tops.int8": must be a positive number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpecs("f.yaml", []byte(tc.doc))
			if err == nil || !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q and wrap ErrInvalid", err, tc.want)
			}
		})
	}
}

func FuzzParseSpecs(f *testing.F) {
	f.Add([]byte("- name: X\n  datacenter: true\n  tops: {bf16: 148}\n  die_area_mm2: 814\n"))
	f.Add([]byte(`[{"name":"X","datacenter":false,"tops":{"int8":"abc"}}]`))
	f.Add([]byte("chips:\n  - name: Y\n    datacenter: yes\n    tops: {fp12: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chips, err := ParseSpecs("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		for _, c := range chips {
			if c.Datacenter == nil || len(c.TOPS) == 0 || c.Name == "" {
				t.Fatalf("accepted an incomplete spec: %+v", c)
			}
			for p, v := range c.TOPS {
				if p.Bits() == 0 || !(v > 0) {
					t.Fatalf("accepted a bad rate %s=%v", p, v)
				}
			}
		}
	})
}
