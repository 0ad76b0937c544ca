package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
)

// testNodeResources: a node's CPU and memory are stored as imported; a
// later import fills in a figure the ledger lacks but may not change one
// it has (the whole import is refused, nothing written); a node the
// agent or a single create made has none; and the scheduler's fleet
// (InService, when the store has it) carries its node's figures.
func testNodeResources(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	csv := "serial,model,state,node,site,node_cpu_milli,node_memory_mib\n" +
		"R-1,H800,in-service,dgx-1,bj1,112000,2097152\n" +
		"R-2,H800,in-service,dgx-1,bj1,,\n" +
		"R-3,L20,in-service,pcie-1,bj1,,524288\n"
	if _, err := svc.ImportCSV(ctx, "nodes.csv", strings.NewReader(csv), "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, inventory.Device{Serial: "R-4", Model: "h20", State: fleet.InService, Node: "plain"}, "", "x"); err != nil {
		t.Fatal(err)
	}
	want := []inventory.Node{
		{Hostname: "dgx-1", Site: "bj1", CPUMilli: 112000, MemoryMiB: 2097152},
		{Hostname: "pcie-1", Site: "bj1", MemoryMiB: 524288},
		{Hostname: "plain"},
	}
	nodes := func() []inventory.Node {
		t.Helper()
		ns, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	if diff := cmp.Diff(want, nodes()); diff != "" {
		t.Fatalf("nodes (-want +got):\n%s", diff)
	}

	// A figure that differs from the ledger's refuses the whole import.
	d0, e0, n0 := countAll(t, st)
	bad := "serial,model,state,node,node_cpu_milli\nR-5,L20,reserve,fresh,8000\nR-6,L20,reserve,dgx-1,96000\n"
	_, err := svc.ImportCSV(ctx, "bad.csv", strings.NewReader(bad), "ops")
	var ies fleet.InputErrors
	if !errors.As(err, &ies) || len(ies) != 1 || ies[0].Error() != `bad.csv:3:23: field "node_cpu_milli": node "dgx-1" has 112000 milli-cores in the ledger, not 96000` {
		t.Errorf("changing a recorded CPU: %v, want one error at bad.csv:3:23", err)
	}
	if d, e, n := countAll(t, st); d != d0 || e != e0 || n != n0 {
		t.Errorf("refused import wrote something (devices %d→%d, events %d→%d, nodes %d→%d)", d0, d, e0, e, n0, n)
	}

	// The live loop's cache key (LedgerVersion, when the store has it)
	// moves with an import that only gives a node its figures (no device,
	// no event).
	lv, hasVersion := st.(interface {
		LedgerVersion(context.Context) (int64, error)
	})
	var v0 int64
	if hasVersion {
		if v0, err = lv.LedgerVersion(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.ImportJSON(ctx, "figures.json", strings.NewReader(`{"nodes": [{"hostname": "plain", "cpu_milli": 64000}], "devices": []}`), "ops"); err != nil {
		t.Fatal(err)
	}
	if hasVersion {
		if v1, err := lv.LedgerVersion(ctx); err != nil || v1 == v0 {
			t.Errorf("LedgerVersion %d before and %d (%v) after a node got its CPU: want it moved", v0, v1, err)
		}
	}

	// The same figure again is fine; a missing one is filled in; the
	// site and the figures a node has are kept.
	js := `{"nodes": [{"hostname": "plain", "site": "sh2", "cpu_milli": 64000, "memory_mib": 262144}],
	"devices": [{"serial": "R-7", "model": "L20", "state": "in-service", "node": "pcie-1", "node_cpu_milli": 48000, "node_memory_mib": 524288},
	  {"serial": "R-8", "model": "H800", "state": "reserve", "node": "dgx-1", "node_cpu_milli": 112000}]}`
	if _, err := svc.ImportJSON(ctx, "more.json", strings.NewReader(js), "ops"); err != nil {
		t.Fatal(err)
	}
	want[1].CPUMilli = 48000
	want[2].CPUMilli, want[2].MemoryMiB = 64000, 262144
	if diff := cmp.Diff(want, nodes()); diff != "" {
		t.Errorf("nodes after filling in (-want +got):\n%s", diff)
	}

	got, ok := inServiceFigures(t, ctx, st)
	if !ok {
		return
	}
	wantDevs := map[string][2]int64{"R-1": {112000, 2097152}, "R-2": {112000, 2097152}, "R-3": {48000, 524288}, "R-4": {64000, 262144}, "R-7": {48000, 524288}}
	if diff := cmp.Diff(wantDevs, got); diff != "" {
		t.Errorf("InService node figures (-want +got):\n%s", diff)
	}
}

// testReplaceNodeFigures: the node sync's write (ReplaceNodeFigures,
// through Service.SyncNodeFigures) replaces figures a node has, keeps one
// given as 0, skips a node the store lacks without creating it, counts
// only the nodes it changed, moves LedgerVersion only then, and the
// scheduler's fleet carries the new figures. An import may then not
// change them back (the import rule is unchanged); a bad call writes
// nothing.
func testReplaceNodeFigures(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	csv := "serial,model,state,node,node_cpu_milli,node_memory_mib\n" +
		"K-1,H800,in-service,gpu-1,112000,2097152\n" +
		"K-2,L20,in-service,gpu-2,,\n"
	if _, err := svc.ImportCSV(ctx, "nodes.csv", strings.NewReader(csv), "ops"); err != nil {
		t.Fatal(err)
	}
	nodes := func() []inventory.Node {
		t.Helper()
		ns, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	lv, hasVersion := st.(interface {
		LedgerVersion(context.Context) (int64, error)
	})
	version := func() int64 {
		t.Helper()
		if !hasVersion {
			return 0
		}
		v, err := lv.LedgerVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	v0 := version()
	n, err := svc.SyncNodeFigures(ctx, []inventory.Node{
		{Hostname: "gpu-1", CPUMilli: 96000, MemoryMiB: 0}, // memory not reported: kept
		{Hostname: "gpu-2", CPUMilli: 48000, MemoryMiB: 524288},
		{Hostname: "absent", CPUMilli: 8000, MemoryMiB: 1024},
	})
	if err != nil || n != 2 {
		t.Fatalf("SyncNodeFigures = %d, %v; want 2 nodes changed", n, err)
	}
	want := []inventory.Node{
		{Hostname: "gpu-1", CPUMilli: 96000, MemoryMiB: 2097152},
		{Hostname: "gpu-2", CPUMilli: 48000, MemoryMiB: 524288},
	}
	if diff := cmp.Diff(want, nodes()); diff != "" {
		t.Fatalf("nodes after replacing (-want +got):\n%s", diff)
	}
	v1 := version()
	if hasVersion && v1 == v0 {
		t.Errorf("LedgerVersion stayed %d after node figures changed", v1)
	}

	// The same figures again: nothing changes, the version stays.
	if n, err := svc.SyncNodeFigures(ctx, want); err != nil || n != 0 {
		t.Errorf("same figures again = %d, %v; want 0 changed", n, err)
	}
	if v := version(); v != v1 {
		t.Errorf("LedgerVersion moved %d → %d with nothing changed", v1, v)
	}

	// A memory change alone is a change.
	if n, err := svc.SyncNodeFigures(ctx, []inventory.Node{{Hostname: "gpu-1", CPUMilli: 96000, MemoryMiB: 1048576}}); err != nil || n != 1 {
		t.Errorf("memory change = %d, %v; want 1 changed", n, err)
	}
	want[0].MemoryMiB = 1048576
	if diff := cmp.Diff(want, nodes()); diff != "" {
		t.Errorf("nodes after a memory change (-want +got):\n%s", diff)
	}
	if v := version(); hasVersion && v == v1 {
		t.Errorf("LedgerVersion stayed %d after a memory change", v)
	}

	// Refused calls write nothing.
	for _, bad := range [][]inventory.Node{
		{{Hostname: "gpu-1", CPUMilli: 1000}, {Hostname: "gpu-1", CPUMilli: 2000}},
		{{Hostname: "", CPUMilli: 1000}},
		{{Hostname: "gpu-2", CPUMilli: -1}},
		{{Hostname: "gpu-2", MemoryMiB: inventory.MaxNodeMemoryMiB + 1}},
	} {
		if _, err := svc.SyncNodeFigures(ctx, bad); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("SyncNodeFigures(%+v) = %v, want fleet.ErrInvalid", bad, err)
		}
	}
	if diff := cmp.Diff(want, nodes()); diff != "" {
		t.Errorf("nodes after refused calls (-want +got):\n%s", diff)
	}

	// The import rule holds against the synced figure.
	_, err = svc.ImportCSV(ctx, "old.csv", strings.NewReader("serial,model,state,node,node_cpu_milli\nK-3,H800,reserve,gpu-1,112000\n"), "ops")
	var ies fleet.InputErrors
	if !errors.As(err, &ies) || len(ies) != 1 || !strings.Contains(ies[0].Error(), `node "gpu-1" has 96000 milli-cores in the ledger, not 112000`) {
		t.Errorf("import of the old figure: %v, want refused", err)
	}

	got, ok := inServiceFigures(t, ctx, st)
	if !ok {
		return
	}
	if diff := cmp.Diff(map[string][2]int64{"K-1": {96000, 1048576}, "K-2": {48000, 524288}}, got); diff != "" {
		t.Errorf("InService node figures (-want +got):\n%s", diff)
	}
}

// inServiceFigures is each in-service device's node CPU and memory as the
// live loop reads them (InService), by serial; false when st has no
// InService.
func inServiceFigures(t *testing.T, ctx context.Context, st inventory.Store) (map[string][2]int64, bool) {
	t.Helper()
	f, ok := st.(interface {
		InService(context.Context) ([]jobs.Device, error)
	})
	if !ok {
		return nil, false
	}
	devs, err := f.InService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, d := range devs {
		got[d.Serial] = [2]int64{d.NodeCPUMilli, d.NodeMemoryMiB}
	}
	return got, true
}
