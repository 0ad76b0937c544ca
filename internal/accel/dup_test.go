package accel

import (
	"strings"
	"testing"
)

// Duplicate ids in a catalog file are refused with the entry named
// (issue 16: the second silently replaced the first).
func TestParseDuplicateID(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"list", "- {id: x1, name: X One}\n- {id: X1, name: X Again}\n",
			`c.yaml:2: entry 2 (X Again): field "id": duplicate id "X1" (first in entry 1, line 1)`},
		{"chips mapping, id derived from the name", "chips:\n  - id: x-one\n    name: X\n  - name: Y\n  - name: X One\n",
			`c.yaml:5: entry 3 (X One): field "id": duplicate id "x-one" (first in entry 1, line 2)`},
		{"JSON", `[{"id": "a", "name": "A"},` + "\n" + `{"id": "b", "name": "B"},` + "\n" + `{"id": "a", "name": "A2"}]`,
			`c.yaml:3: entry 3 (A2): field "id": duplicate id "a" (first in entry 1, line 1)`},
	} {
		_, err := Parse("c.yaml", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
