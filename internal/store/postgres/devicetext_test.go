package postgres

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// TestDeviceTextIndex: migration 00180 built the pg_trgm index, a search
// for one node's devices can be planned through it, one for a model id
// through devices_model, one for a site does not use them (scripts/env.d/
// postgres.sh installs pg_trgm with the server), and each lists what the
// scan lists. The results themselves are storetest's (Filters).
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
	serials := func(q string, text textPlan) []string {
		t.Helper()
		where, args := deviceWhere(inventory.Filter{Q: q}, text)
		rows, err := st.pool.Query(ctx, "SELECT serial FROM devices"+whereClause(where)+" ORDER BY serial", args...)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	type want struct{ index, models bool }
	for q, w := range map[string]want{
		strings.ToLower(d.Node): {true, false}, strings.ToLower(d.Serial): {true, false},
		d.Site: {false, false}, d.Model[:4]: {true, true}, "h800": {true, true}, "910": {true, true}, "-0": {true, false},
	} {
		text, err := st.textSearch(ctx, q)
		if err != nil || text.index != w.index || (len(text.models) > 0) != w.models {
			t.Errorf("textSearch(%q) = %+v, %v; want index %v, models %v (a site text is a scan)", q, text, err, w.index, w.models)
		}
		got, scan := serials(q, text), serials(q, textPlan{})
		if len(scan) == 0 || strings.Join(got, " ") != strings.Join(scan, " ") {
			t.Errorf("q %q, plan %+v: %d devices, the scan %d", q, text, len(got), len(scan))
		}
	}
	explain := func(q string) string {
		t.Helper()
		text, err := st.textSearch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		where, args := deviceWhere(inventory.Filter{Q: q}, text)
		// At this size a scan is as cheap; the planner's choice at 100,000
		// devices is BenchmarkPages'. What is checked here is that the
		// query's expressions are the indexes', so the indexes can serve it:
		// no sequential scan, and filters priced as at 100,000 devices
		// (at 2,000, reading all of devices_node and testing each row is
		// estimated cheaper than the trigram lookup).
		tx, err := st.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		for _, set := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL cpu_operator_cost = 0.125"} {
			if _, err := tx.Exec(ctx, set); err != nil {
				t.Fatal(err)
			}
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
		return strings.Join(plan, "\n")
	}
	if p := explain("h800"); !strings.Contains(p, "devices_model") || !strings.Contains(p, "devices_text") {
		t.Errorf("%d devices: a search for h800 is not planned through devices_model and devices_text:\n%s", len(batch.Devices), p)
	}
	p := explain(strings.ToLower(d.Node))
	if !strings.Contains(p, "devices_text") {
		var idx string
		_ = st.pool.QueryRow(ctx, "SELECT coalesce(string_agg(indexdef, '; '), '') FROM pg_indexes WHERE tablename = 'devices' AND schemaname = current_schema()").Scan(&idx)
		t.Logf("indexes: %s", idx)
		t.Errorf("%d devices: a search for node %s is not planned through devices_text:\n%s", len(batch.Devices), d.Node, p)
	}
}

// TestSortReadsIndex: a page ordered by model or node, either way, first
// or after a cursor, is read in order from devices_model or devices_node
// (model and node are "C" columns, migration 00201), not sorted; the
// lists themselves are storetest's (Filters, Pagination).
func TestSortReadsIndex(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
	// The scheduler's devices still join nodes on the node's hostname
	// ("C" against the database's collation).
	in, err := st.InService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, d := range batch.Devices {
		if d.State == fleet.InService {
			want++
		}
	}
	if len(in) != want || want == 0 {
		t.Errorf("InService: %d devices, %d in service", len(in), want)
	}
	for _, sort := range []string{"model", "-model", "node", "-node"} {
		// A cursor with most devices after it: the planner sorts a short
		// rest rightly.
		ds := slices.Clone(batch.Devices)
		slices.SortFunc(ds, func(a, b inventory.Device) int {
			return cmp.Or(strings.Compare(a.SortKey(sort), b.SortKey(sort)), strings.Compare(a.Serial, b.Serial))
		})
		d := ds[len(ds)/10]
		if strings.HasPrefix(sort, "-") {
			d = ds[len(ds)*9/10]
		}
		for _, f := range []inventory.Filter{{Sort: sort, Limit: 101}, {Sort: sort, AfterKey: d.SortKey(sort), After: d.Serial, Limit: 101}} {
			query, args := pageQuery(f, textPlan{})
			rows, err := st.pool.Query(ctx, "EXPLAIN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var l string
				if err := rows.Scan(&l); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, strings.TrimSpace(l))
			}
			rows.Close()
			p := strings.Join(plan, "\n")
			index := "devices_" + strings.TrimPrefix(sort, "-")
			if strings.Contains(p, "Sort") || !strings.Contains(p, "Index Scan") || !strings.Contains(p, index) {
				t.Errorf("sort %s, after %q: the plan does not read %s in order:\n%s", sort, f.After, index, p)
			}
		}
	}
}
