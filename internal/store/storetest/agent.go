package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/hwprobe"
	"github.com/granaryhq/granary/internal/inventory"
)

func testAgentTokens(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	tok, secret, err := svc.CreateAgentToken(ctx, "gpu-01", "agent")
	if err != nil || tok.Role != inventory.RoleAgent || tok.Node != "gpu-01" {
		t.Fatalf("CreateAgentToken = %+v, %v", tok, err)
	}
	got, err := svc.Authenticate(ctx, secret)
	if err != nil || got.Node != "gpu-01" || got.Role != inventory.RoleAgent {
		t.Errorf("Authenticate(agent) = %+v, %v", got, err)
	}
	if _, _, err := svc.CreateToken(ctx, inventory.RoleAgent, "x"); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("agent token without node: %v", err)
	}
	if _, _, err := svc.CreateAgentToken(ctx, "two words", "x"); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("agent token for a bad hostname: %v", err)
	}
	for _, need := range []inventory.Role{inventory.RoleViewer, inventory.RoleOperator, inventory.RoleAdmin} {
		if got.Role.Allows(need) || need.Allows(inventory.RoleAgent) {
			t.Errorf("agent and %s must not stand in for each other", need)
		}
	}
	// The store refuses a node on a non-agent token and an agent without one.
	if err := st.CreateToken(ctx, inventory.Token{ID: "tok_x1", Role: inventory.RoleViewer, Node: "n", Hash: []byte("h1"), CreatedAt: time.Now().UTC()}); err == nil {
		t.Error("viewer token with a node stored")
	}
	if err := st.CreateToken(ctx, inventory.Token{ID: "tok_x2", Role: inventory.RoleAgent, Hash: []byte("h2"), CreatedAt: time.Now().UTC()}); err == nil {
		t.Error("agent token without a node stored")
	}
}

func i64(v int64) *int64 { return &v }

// gpu is a reported H800 with serial s.
func gpu(s string, bus string) hwprobe.Accelerator {
	return hwprobe.Accelerator{Vendor: "nvidia", Tool: "nvidia-smi", Serial: s, Product: "NVIDIA H800", PCIBus: bus,
		Health: hwprobe.Health{ECCUncorrectable: i64(0)}}
}

func testAgentReports(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	tok, _, err := svc.CreateAgentToken(ctx, "gpu-01", "agent")
	if err != nil {
		t.Fatal(err)
	}
	// An imported device without a node, and one on another node.
	if _, err := svc.Create(ctx, inventory.Device{Serial: "S-IMPORTED", Model: "h800", State: fleet.Reserve}, "", "op"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, inventory.Device{Serial: "S-ELSEWHERE", Model: "h800", Node: "gpu-99", State: fleet.InService}, "", "op"); err != nil {
		t.Fatal(err)
	}
	clean := []hwprobe.ToolRun{{Tool: "nvidia-smi", Vendor: "nvidia", Clean: true}}
	r := inventory.AgentReport{Node: "gpu-01", Site: "sh1", Tools: clean, Devices: []hwprobe.Accelerator{
		gpu("S-1", "0000:18:00.0"), gpu("S-2", "0000:2a:00.0"), gpu("S-3", "0000:3a:00.0"),
		gpu("S-IMPORTED", "0000:5d:00.0"), gpu("S-ELSEWHERE", "0000:9a:00.0"),
		{Vendor: "nvidia", Tool: "nvidia-smi", Serial: "S-ALIEN", Product: "Frobnicator 9000"},
	}}
	res, err := svc.Report(ctx, tok, r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Created, []string{"S-1", "S-2", "S-3"}) || !slices.Equal(res.Adopted, []string{"S-IMPORTED"}) ||
		len(res.Conflicts) != 1 || res.Conflicts[0].LedgerNode != "gpu-99" || len(res.Ignored) != 1 || res.Ignored[0].Serial != "S-ALIEN" || len(res.Changed) != 0 {
		t.Fatalf("first report: %+v", res)
	}
	d, err := svc.Get(ctx, "S-1")
	if err != nil || d.Node != "gpu-01" || d.Site != "sh1" || d.Model != "h800-sxm5-80gb" || d.State != fleet.InService || d.Labels["pci_bus"] != "0000:18:00.0" {
		t.Errorf("discovered device: %+v %v", d, err)
	}
	if d, _ := svc.Get(ctx, "S-IMPORTED"); d.Node != "gpu-01" || d.State != fleet.Reserve {
		t.Errorf("adopted device: %+v", d)
	}
	if d, _ := svc.Get(ctx, "S-ELSEWHERE"); d.Node != "gpu-99" {
		t.Errorf("conflicting device moved: %+v", d)
	}
	h, _ := svc.History(ctx, "S-1")
	if len(h) != 1 || h[0].Actor != tok.ID || !strings.Contains(h[0].Reason, "discovered by agent on gpu-01") {
		t.Errorf("creation event: %+v", h)
	}

	// Second report: S-1 gets XID 79 (fail), S-2 a new uncorrectable ECC
	// error (maintenance), the adopted reserve device a failed remap
	// (fail), S-3 is gone; the conflict is seen again.
	r.Devices[0].Health.Errors = []string{"79"}
	r.Devices[1].Health.ECCUncorrectable = i64(1)
	r.Devices[3].Health.RemapFailure = true
	r.Devices = slices.Delete(r.Devices, 2, 3)
	res, err = svc.Report(ctx, tok, r)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range res.Changed {
		got[e.Serial] = string(e.From) + ">" + string(e.To)
		if e.Actor != tok.ID {
			t.Errorf("event actor %q, want the agent token", e.Actor)
		}
	}
	want := map[string]string{"S-1": "in-service>failed", "S-2": "in-service>maintenance", "S-IMPORTED": "reserve>failed", "S-3": "in-service>maintenance"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
	h, _ = svc.History(ctx, "S-1")
	if last := h[len(h)-1]; !strings.Contains(last.Reason, "fatal-xid: XID 79") {
		t.Errorf("failure reason %q", last.Reason)
	}
	h, _ = svc.History(ctx, "S-3")
	if last := h[len(h)-1]; !strings.Contains(last.Reason, "disappeared") {
		t.Errorf("disappearance reason %q", last.Reason)
	}
	// A third identical report changes nothing: XID 79 is not new, the
	// devices are no longer the agent's to move.
	res, err = svc.Report(ctx, tok, r)
	if err != nil || len(res.Changed) != 0 {
		t.Errorf("third report changed %+v, %v", res.Changed, err)
	}
	cs, err := svc.Conflicts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Serial != "S-ELSEWHERE" || !cs[0].LastAt.After(cs[0].FirstAt) {
		t.Errorf("conflicts %+v, %v", cs, err)
	}
	hs, err := svc.DeviceHealth(ctx, "gpu-01")
	if err != nil || len(hs) != 4 || hs[0].Serial != "S-1" || !slices.Equal(hs[0].Probe.Health.Errors, []string{"79"}) {
		t.Errorf("health snapshots %+v, %v", hs, err)
	}
	ns, err := svc.AgentNodes(ctx)
	if err != nil || len(ns) != 1 || ns[0].Hostname != "gpu-01" || !ns[0].Reachable || ns[0].Devices != 3 || ns[0].Token != tok.ID {
		t.Errorf("agent nodes %+v, %v", ns, err)
	}

	// Scope: another node's report, or a non-agent token, is forbidden and
	// writes nothing.
	before, _ := svc.Events(ctx, inventory.EventFilter{})
	if _, err := svc.Report(ctx, tok, inventory.AgentReport{Node: "gpu-02", Devices: []hwprobe.Accelerator{gpu("S-9", "")}}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("report for another node: %v", err)
	}
	admin := inventory.Token{ID: "tok_admin", Role: inventory.RoleAdmin}
	if _, err := svc.Report(ctx, admin, inventory.AgentReport{Node: "", Devices: []hwprobe.Accelerator{gpu("S-9", "")}}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("report with an admin token: %v", err)
	}
	after, _ := svc.Events(ctx, inventory.EventFilter{})
	if len(after) != len(before) {
		t.Errorf("refused reports wrote %d events", len(after)-len(before))
	}
}

// testAgentSave checks the store methods directly: snapshots replace the
// previous one per serial, conflicts keep their first time, nodes upsert.
func testAgentSave(t *testing.T, st inventory.Store) {
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	p := gpu("A", "0000:18:00.0")
	p.Health.TemperatureC = new(float64)
	*p.Health.TemperatureC = 71.5
	save := inventory.AgentSave{
		Node:      inventory.AgentNode{Hostname: "n1", Token: "tok_1", LastReport: t0, Devices: 1, Warnings: []string{"nvidia-smi: line 3: x"}},
		Health:    []inventory.DeviceHealth{{Serial: "A", Node: "n1", Model: "h800-sxm5-80gb", At: t0, Probe: p, ThermalStreak: 2}},
		Conflicts: []inventory.Conflict{{Serial: "B", Node: "n1", LedgerNode: "n2", FirstAt: t0, LastAt: t0}},
	}
	if err := st.SaveAgentReport(ctx, save); err != nil {
		t.Fatal(err)
	}
	save.Node.LastReport, save.Node.Warnings = t1, nil
	save.Health[0].At, save.Health[0].ThermalStreak = t1, 3
	save.Conflicts[0].FirstAt, save.Conflicts[0].LastAt = t1, t1
	if err := st.SaveAgentReport(ctx, save); err != nil {
		t.Fatal(err)
	}
	hs, err := st.DeviceHealth(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(save.Health, hs); diff != "" {
		t.Errorf("DeviceHealth (-want +got):\n%s", diff)
	}
	if hs, _ := st.DeviceHealth(ctx, "other"); len(hs) != 0 {
		t.Errorf("DeviceHealth(other) = %+v", hs)
	}
	ns, err := st.AgentNodes(ctx)
	if err != nil || len(ns) != 1 || !ns[0].LastReport.Equal(t1) || ns[0].Warnings != nil {
		t.Errorf("AgentNodes = %+v, %v", ns, err)
	}
	cs, err := st.Conflicts(ctx)
	if err != nil || len(cs) != 1 || !cs[0].FirstAt.Equal(t0) || !cs[0].LastAt.Equal(t1) {
		t.Errorf("Conflicts = %+v, %v", cs, err)
	}
}
