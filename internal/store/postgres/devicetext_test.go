package postgres

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// TestDeviceTextIndex: migration 00180 built the pg_trgm index, a search
// for one node's devices can be planned through it, and one for a site or
// model does not use it (scripts/env.d/
// postgres.sh installs pg_trgm with the server). The results themselves
// are storetest's (Filters).
func TestDeviceTextIndex(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ext int
	if err := st.pool.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&ext); err != nil {
		t.Fatal(err)
	}
	if ext == 0 {
		t.Fatal("pg_trgm is not installed: scripts/env.d/postgres.sh should have installed it (postgresql-contrib)")
	}
	batch, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Scale: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, "ANALYZE devices"); err != nil {
		t.Fatal(err)
	}
	d := batch.Devices[len(batch.Devices)/2]
	for q, want := range map[string]bool{strings.ToLower(d.Node): true, strings.ToLower(d.Serial): true, d.Site: false, d.Model[:4]: false} {
		if use, err := st.useTextIndex(ctx, q); err != nil || use != want {
			t.Errorf("useTextIndex(%q) = %v, %v; want %v (a site or model text is a scan)", q, use, err, want)
		}
	}
	where, args := deviceWhere(inventory.Filter{Q: strings.ToLower(d.Node)}, true)
	// At this size a scan is as cheap; the planner's choice at 100,000
	// devices is BenchmarkPages'. What is checked here is that the query's
	// expression is the index's, so the index can serve it.
	tx, err := st.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN SELECT count(*) FROM devices"+whereClause(where), args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "devices_text") {
		var idx string
		_ = st.pool.QueryRow(ctx, "SELECT coalesce(string_agg(indexdef, '; '), '') FROM pg_indexes WHERE tablename = 'devices' AND schemaname = current_schema()").Scan(&idx)
		t.Logf("indexes: %s", idx)
		t.Errorf("%d devices: a search for node %s is not planned through devices_text:\n%s", len(batch.Devices), d.Node, p)
	}
}
