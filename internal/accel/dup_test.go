package accel

import (
	"strings"
	"testing"
)

// Duplicate ids in a catalog file are refused with the entry named
// (issue 16: the second silently replaced the first).
func TestParseDuplicateID(t *testing.T) {
	_, err := Parse("c.yaml", []byte("- {id: x1, name: X One}\n- {id: X1, name: X Again}\n"))
	if err == nil || !strings.Contains(err.Error(), `c.yaml:2: entry 2 (X Again): field "id": duplicate id "X1" (first in entry 1)`) {
		t.Fatalf("err = %v", err)
	}
}
