package trace

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDir finds ../shared beside the module root (the directory holding
// go.mod), or skips the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Skip(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "..", "shared")
			if _, err := os.Stat(s); err != nil {
				t.Skipf("shared data not found at %s: skipping", s)
			}
			return s
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found: skipping")
		}
		dir = parent
	}
}

func gavelAnchor(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedDir(t), "anchors", "gavel", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("anchor %s absent: skipping", p)
	}
	return p
}
