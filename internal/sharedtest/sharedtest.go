// Package sharedtest locates the read-only shared data (../shared beside the
// module root: chip specs, model configs, published measurements, Gavel's
// anchors, cluster traces) for tests, and skips a test with a clear message
// where it is absent. Only tests import it.
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns ../shared beside the module root (found by walking up from the
// working directory to go.mod), or skips the test.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Skipf("shared data: %v; skipping", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(filepath.Dir(dir), "shared")
			if _, err := os.Stat(s); err != nil {
				t.Skipf("shared data not found at %s; skipping", s)
			}
			return s
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found; skipping the check against shared data")
		}
		dir = parent
	}
}

// File returns ../shared/<rel>, or skips the test when it is absent.
func File(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s absent; skipping", p)
	}
	return p
}
