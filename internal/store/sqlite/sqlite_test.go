package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/store/storetest"
)

func open(t *testing.T) inventory.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "granary.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) { storetest.Run(t, open) }

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	svc := storetest.NewService(t, st)
	if _, err := svc.Create(ctx, inventory.Device{Serial: "R-1", Model: "h20", State: "reserve"}, "", "t"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st2.Close()
	if err := st2.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := st2.Device(ctx, "R-1"); err != nil || d.Model != "h20-96gb" {
		t.Errorf("after reopen: %+v, %v", d, err)
	}
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) inventory.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}

func TestOpenRefusesMemory(t *testing.T) {
	for _, p := range []string{":memory:", "file::memory:?cache=shared", "a?b.db", ""} {
		if st, err := sqlite.Open(context.Background(), p); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// The database file is created readable by its owner only (issue 16).
func TestFileMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // no WAL yet
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), m)
		}
	}
}
