package sqlite

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/inventory"
)

// TestDeviceTextIndex: a search through the trigram index (device_text)
// lists exactly what the scan lists, for needles of every kind, and the
// index follows a device's node when it changes.
func TestDeviceTextIndex(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	batch, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Scale: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, batch); err != nil {
		t.Fatal(err)
	}
	ds := batch.Devices
	d := ds[len(ds)/2]
	t.Logf("%d devices; one: %+v", len(ds), d)
	serials := func(q inventory.Filter, text textPlan) []string {
		t.Helper()
		where, args := deviceWhere(q, text)
		rows, err := st.r.QueryContext(ctx, "SELECT serial FROM devices"+whereClause(where)+" ORDER BY serial", args...)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
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
		return out
	}
	naive := func(q string) []string {
		var out []string
		for _, d := range ds {
			if strings.Contains(strings.ToLower(d.Serial+"\x00"+d.Node+"\x00"+d.Site+"\x00"+d.Model), q) {
				out = append(out, d.Serial)
			}
		}
		slices.Sort(out)
		return out
	}
	// Texts in serials, nodes and model ids go through the indexes (a
	// model id's devices by devices_model); texts in a site id, short ones
	// and ones with a LIKE wildcard do not. Either way the list is exactly
	// the naive one.
	viaIndex := []string{strings.ToLower(d.Serial), strings.ToLower(d.Serial[2:7]), d.Node, d.Node[:5], d.Node[3:9], "no-such", `a"b`, "gy1-l20-0481", d.Model, d.Model[1:4], "h800", "910"}
	viaScan := []string{d.Site, "-0", "00", "%", "_0", `\`, `"`, "gy1-l20_0481", "l20-%", "h8"}
	withModels := 0
	for _, q := range append(viaIndex, viaScan...) {
		want := naive(q)
		plan, err := st.textSearch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if plan.index != slices.Contains(viaIndex, q) {
			t.Errorf("q %q (%d matches): through the indexes %v, want %v", q, len(want), plan.index, !plan.index)
		}
		if len(plan.models) > 0 {
			withModels++
		}
		if got := serials(inventory.Filter{Q: q}, plan); !slices.Equal(got, want) {
			t.Errorf("q %q, plan %+v: %d devices, want %d", q, plan, len(got), len(want))
		}
		if got := serials(inventory.Filter{Q: q}, textPlan{}); !slices.Equal(got, want) {
			t.Errorf("q %q, scan: %d devices, want %d", q, len(got), len(want))
		}
	}
	// A scanned search's count reads devices_node (serial, node, site and
	// model: migration 00201), not the table.
	for _, q := range viaScan {
		plan, err := st.textSearch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		query, args := countQuery(inventory.Filter{Q: q}, plan)
		var steps []string
		rows, err := st.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, detail)
		}
		rows.Close()
		if !slices.Contains(steps, "SCAN devices USING COVERING INDEX devices_node") {
			t.Errorf("q %q: the count's plan is %q, want a scan of devices_node", q, steps)
		}
	}
	if withModels < 4 {
		t.Errorf("%d texts went through the model index, want 4 (d.Model, d.Model[1:4], h800, 910)", withModels)
	}
	// A device moved to another node (as an agent's report does) is found
	// by the new node only.
	if _, err := st.w.ExecContext(ctx, "UPDATE devices SET node = 'moved-node-x' WHERE serial = ?", d.Serial); err != nil {
		t.Fatal(err)
	}
	if got := serials(inventory.Filter{Q: "moved-node-x"}, textPlan{index: true}); !slices.Equal(got, []string{d.Serial}) {
		t.Errorf("after the move, the new node finds %v; want %s", got, d.Serial)
	}
	if got := serials(inventory.Filter{Q: strings.ToLower(d.Node)}, textPlan{index: true}); slices.Contains(got, d.Serial) {
		t.Errorf("after the move, the old node %s still finds %s", d.Node, d.Serial)
	}
	var n int
	if err := st.r.QueryRowContext(ctx, "SELECT count(*) FROM device_text").Scan(&n); err != nil || n != len(ds) {
		t.Errorf("device_text has %d rows, want one per device (%d): %v", n, len(ds), err)
	}
}
