package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/hwprobe"
	"github.com/granaryhq/granary/internal/inventory"
)

// TestAgentScope: an agent token reports for its node only and can do
// nothing else; a report fills the health endpoint and the DCGM-named
// gauges.
func TestAgentScope(t *testing.T) {
	ctx := context.Background()
	srv := apitest.Start(t, apitest.Options{})
	admin := srv.Client(t, apitest.AdminSecret)
	tok, err := admin.CreateAgentToken(ctx, "gpu-07", "agent on gpu-07")
	if err != nil || tok.Node != "gpu-07" || tok.Role != inventory.RoleAgent {
		t.Fatalf("create agent token: %+v %v", tok, err)
	}
	if _, err := admin.CreateToken(ctx, inventory.RoleAgent, "no node"); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("agent token without node: %v", err)
	}
	ag := srv.Client(t, tok.Secret)
	temp := 83.0
	r := inventory.AgentReport{Node: "gpu-07", Site: "sh9", Devices: []hwprobe.Accelerator{{Vendor: "nvidia", Tool: "nvidia-smi", Serial: "1652823011000",
		Product: "NVIDIA H800", PCIBus: "0000:18:00.0", Health: hwprobe.Health{TemperatureC: &temp, Errors: []string{"79"}}}}}
	res, err := ag.Report(ctx, r)
	if err != nil || len(res.Created) != 1 {
		t.Fatalf("report: %+v %v", res, err)
	}
	r.Node = "gpu-08"
	if _, err := ag.Report(ctx, r); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("report for another node: %v", err)
	}
	if _, err := ag.Device(ctx, "1652823011000"); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("agent token reading a device: %v", err)
	}
	if _, err := admin.Report(ctx, r); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("admin token reporting: %v", err)
	}
	hs, err := admin.DeviceHealth(ctx, "gpu-07")
	if err != nil || len(hs) != 1 || *hs[0].Probe.Health.TemperatureC != 83 {
		t.Errorf("health: %+v %v", hs, err)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`DCGM_FI_DEV_GPU_TEMP{model="h800-sxm5-80gb",node="gpu-07",pci_bus="0000:18:00.0",serial="1652823011000",site="sh9",vendor="nvidia"} 83`,
		`DCGM_FI_DEV_XID_ERRORS{model="h800-sxm5-80gb",node="gpu-07",pci_bus="0000:18:00.0",serial="1652823011000",site="sh9",vendor="nvidia"} 79`,
		`granary_agent_last_report_age_seconds{node="gpu-07"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRunwayAFRFromLedger: POST /api/v1/runway?afr_from_ledger=true uses
// the learned rate and says so in Granary-AFR-Sources. 40 H800 in service
// for a year with 4 failures at the half-year: 4 / (36 + 2) = 0.105263 per
// device-year, AFR 1 − e^−0.105263 = 0.0999.
func TestRunwayAFRFromLedger(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	srv := apitest.Start(t, apitest.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	for i := range 40 {
		if _, err := srv.Ledger.Create(ctx, inventory.Device{Serial: fmt.Sprintf("H-%02d", i), Model: "h800", State: fleet.InService}, "", "t"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = t0.Add(inventory.DeviceYear / 2)
	mu.Unlock()
	for i := range 4 {
		if _, err := srv.Ledger.SetState(ctx, fmt.Sprintf("H-%02d", i), fleet.Failed, "dead", "t"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = t0.Add(inventory.DeviceYear)
	mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/runway?afr_from_ledger=true&paths=10",
		strings.NewReader("start: 2026-01\nhorizon_months: 6\ndemand: {inference: {pflops: 1}}\n"))
	req.Header.Set("Authorization", "Bearer "+apitest.AdminSecret)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("Granary-AFR-Sources"); resp.StatusCode != 200 || got != "h800-sxm5-80gb=0.0999:ledger" {
		t.Errorf("status %d, Granary-AFR-Sources %q\n%s", resp.StatusCode, got, b)
	}
}

// FuzzAgentReport posts arbitrary bodies as an agent's report: the server
// answers 2xx or 4xx, never 5xx, and a report it refuses writes nothing.
func FuzzAgentReport(f *testing.F) {
	srv := apitest.Start(f, apitest.Options{})
	_, secret, err := srv.Ledger.CreateAgentToken(context.Background(), "fz", "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"node":"fz","devices":[{"vendor":"nvidia","tool":"nvidia-smi","serial":"F1","product":"NVIDIA H800","health":{"errors":["79"]}}],"tools":[{"tool":"nvidia-smi","vendor":"nvidia","clean":true}]}`,
		`{"node":"fz","devices":[{"serial":"..","product":"910B3"},{"uuid":"GPU-1","product":"Frob"}]}`,
		`{"node":"other","devices":[]}`,
		`{"node":"fz","site":"\u0000","devices":[{"serial":"F2","product":"H20","health":{"ecc_uncorrectable":-1,"temperature_c":1e308}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := srv.Ledger.Events(context.Background(), inventory.EventFilter{})
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/agent/reports", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%q: %d %s", body, resp.StatusCode, b)
		}
		if resp.StatusCode >= 400 {
			after, _ := srv.Ledger.Events(context.Background(), inventory.EventFilter{})
			if len(after) != len(before) {
				t.Fatalf("refused report %q (%d) wrote %d events", body, resp.StatusCode, len(after)-len(before))
			}
		}
	})
}
