// Package sharedtest locates the read-only shared data (../shared beside the
// module root: chip specs, model configs, published measurements, Gavel's
// anchors, cluster traces) for tests, and skips a test with a clear message
// where it is absent — or fails it under CI=true, where nothing a test needs
// may be missing (Missing, the one guard every skip on an absent dependency
// goes through). Only tests import it.
package sharedtest

import (
	"encoding/csv"
	"fmt"
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
		Missing(t, "shared data: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(filepath.Dir(dir), "shared")
			if _, err := os.Stat(s); err != nil {
				Missing(t, "shared data not found at %s", s)
			}
			return s
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			Missing(t, "module root not found: no shared data")
		}
		dir = parent
	}
}

// File returns ../shared/<rel>, or skips the test when it is absent.
func File(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared data %s absent", p)
	}
	return p
}

// Missing reports that something the test needs (shared data, a service, a
// binary) is absent: it skips the test with the message, except under
// CI=true, where a missing dependency would hide a failure, so the test
// fails instead. Every skip on an absent dependency goes through it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing dependency fails the run; make test installs what the tests need)", msg)
	}
	t.Skip(msg + "; skipping")
}

// CSV reads ../shared/<rel> whole as CSV (header row first), skipping the
// test when the file is absent and failing it when the file does not parse.
func CSV(t testing.TB, rel string) [][]string {
	t.Helper()
	f, err := os.Open(File(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("shared data %s is empty", rel)
	}
	return rows
}

// Columns maps each name of a CSV header row to its index.
func Columns(header []string) map[string]int {
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[h] = i
	}
	return col
}
