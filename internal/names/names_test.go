package names

import (
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"h800", "h800", 0}, {"h810", "h800", 1}, {"", "abc", 3},
		{"kitten", "sitting", 3}, {"910b3", "910c", 2}, {"ä", "a", 1},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetry)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	byKey := map[string][]int{
		"h800": {0}, "nvidiah800": {0}, "h20": {1}, "910b3": {2}, "ascend910b3": {2}, "l20": {3},
	}
	if got := Nearest("h810", byKey, 4, 2); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("Nearest(h810) = %v, want [0 1]", got)
	}
	// A containing key is close even when the edit distance is large.
	if got := Nearest("ascend", byKey, 4, 1); !slices.Equal(got, []int{2}) {
		t.Errorf("Nearest(ascend) = %v, want [2]", got)
	}
	if got := Nearest("x", byKey, 4, 10); len(got) != 4 {
		t.Errorf("n above the entry count returns every entry once, got %v", got)
	}
}
