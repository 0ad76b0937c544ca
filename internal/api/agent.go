package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/inventory"
)

// MaxReportBytes bounds one agent report (MaxReportDevices devices of ~2 KiB).
const MaxReportBytes = 4 << 20

type reportInput struct {
	Body inventory.AgentReport
}

type healthInput struct {
	Node string `query:"node" maxLength:"253" doc:"Only devices last reported by this node's agent"`
	PageQuery
}

// AgentNodeList is the body of GET /api/v1/agents.
type AgentNodeList struct {
	Nodes []inventory.AgentNode `json:"nodes"`
	Next  string                `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// ConflictList is the body of GET /api/v1/agents/conflicts.
type ConflictList struct {
	Conflicts []inventory.Conflict `json:"conflicts"`
	Next      string               `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// HealthList is the body of GET /api/v1/health.
type HealthList struct {
	Devices []inventory.DeviceHealth `json:"devices"`
	Next    string                   `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// createToken makes the token NewToken asks for.
func (s *server) createToken(ctx context.Context, in NewToken) (inventory.Token, string, error) {
	return s.ledger.IssueToken(ctx, inventory.TokenRequest{Role: in.Role, Name: in.Name, Node: in.Node, ExpiresAt: in.ExpiresAt})
}

// agentRoutes registers what node agents and their readers use.
func (s *server) agentRoutes(r *Registrar) {
	s.failuresRoute(r)
	s.cohortsRoute(r)
	Operation(r, huma.Operation{
		OperationID: "agent-report", Method: http.MethodPost, Path: "/api/v1/agent/reports", Tags: []string{"agents"},
		Summary: "Report a node's accelerators (granary agent)",
		Description: "The devices the node's vendor tools found. Devices first seen enter the ledger in service; health signals " +
			"that cross a rule (docs/agent.md) move devices to maintenance or failed with the evidence as the reason; a serial the ledger holds " +
			"on another node is recorded as a conflict and not applied. Only an agent token for this node may report.",
		MaxBodyBytes: MaxReportBytes,
		Errors:       []int{http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge},
	}, inventory.RoleAgent, func(ctx context.Context, in *reportInput) (*body[inventory.ReportResult], error) {
		tok, _ := Caller(ctx)
		res, err := s.ledger.Report(ctx, tok, in.Body)
		if err != nil {
			return nil, err
		}
		return &body[inventory.ReportResult]{Body: res}, nil
	})

	read := inventory.RoleViewer
	Operation(r, huma.Operation{
		OperationID: "list-agents", Method: http.MethodGet, Path: "/api/v1/agents", Tags: []string{"agents"},
		Summary:     "List nodes whose agents report",
		Description: "Each node's last report time, device count and warnings; reachable is false once its agent has been silent past the grace period.",
	}, read, func(ctx context.Context, in *PageQuery) (*body[AgentNodeList], error) {
		ns, err := s.ledger.AgentNodes(ctx)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("agents", ns, func(n inventory.AgentNode) string { return n.Hostname }, *in)
		if err != nil {
			return nil, err
		}
		return &body[AgentNodeList]{Body: AgentNodeList{Nodes: page, Next: next}}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "list-agent-conflicts", Method: http.MethodGet, Path: "/api/v1/agents/conflicts", Tags: []string{"agents"},
		Summary: "List serials reported on one node that the ledger holds on another",
	}, read, func(ctx context.Context, in *PageQuery) (*body[ConflictList], error) {
		cs, err := s.ledger.Conflicts(ctx)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("conflicts", cs, func(c inventory.Conflict) string { return c.Serial + "\x00" + c.Node }, *in)
		if err != nil {
			return nil, err
		}
		return &body[ConflictList]{Body: ConflictList{Conflicts: page, Next: next}}, nil
	})
	Operation(r, huma.Operation{
		OperationID: "list-health", Method: http.MethodGet, Path: "/api/v1/health", Tags: []string{"agents"},
		Summary: "Latest agent report of every device",
	}, read, func(ctx context.Context, in *healthInput) (*body[HealthList], error) {
		hs, err := s.ledger.DeviceHealth(ctx, in.Node)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("health", hs, func(h inventory.DeviceHealth) string { return h.Serial }, in.PageQuery)
		if err != nil {
			return nil, err
		}
		return &body[HealthList]{Body: HealthList{Devices: page, Next: next}}, nil
	})
}

// healthCollector serves per-device health gauges from the agents' latest
// reports at scrape time. Names follow NVIDIA's DCGM exporter where it has
// a counterpart, so existing dashboards and alerts work.
type healthCollector struct {
	ledger *inventory.Service
	log    *slog.Logger
}

var healthLabels = []string{"serial", "model", "node", "site", "vendor", "pci_bus"}

var (
	descTemp       = prometheus.NewDesc("DCGM_FI_DEV_GPU_TEMP", "Device temperature in °C, from the node agent's last report.", healthLabels, nil)
	descPower      = prometheus.NewDesc("DCGM_FI_DEV_POWER_USAGE", "Device power draw in W, from the node agent's last report.", healthLabels, nil)
	descSBE        = prometheus.NewDesc("DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "Correctable (single-bit) ECC errors, lifetime, from the node agent's last report.", healthLabels, nil)
	descDBE        = prometheus.NewDesc("DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "Uncorrectable (double-bit) ECC errors, lifetime, from the node agent's last report.", healthLabels, nil)
	descRetired    = prometheus.NewDesc("DCGM_FI_DEV_RETIRED_PAGES", "Retired or isolated memory pages, from the node agent's last report.", healthLabels, nil)
	descRemapFail  = prometheus.NewDesc("DCGM_FI_DEV_ROW_REMAP_FAILURE", "1 when row remapping failed, from the node agent's last report.", healthLabels, nil)
	descXid        = prometheus.NewDesc("DCGM_FI_DEV_XID_ERRORS", "The last XID (NVIDIA) the node agent saw for the device.", healthLabels, nil)
	descThrottle   = prometheus.NewDesc("granary_device_thermal_throttle_reports", "Consecutive agent reports with a thermal slowdown active.", healthLabels, nil)
	descVendorBad  = prometheus.NewDesc("granary_device_vendor_health", "The vendor tool's own health verdict: 0 ok, 1 warning, 2 alarm, 3 critical.", healthLabels, nil)
	descReportAge  = prometheus.NewDesc("granary_agent_last_report_age_seconds", "Seconds since the node's agent last reported.", []string{"node"}, nil)
	healthSeverity = map[string]float64{"ok": 0, "warning": 1, "alarm": 2, "critical": 3}
)

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTemp, descPower, descSBE, descDBE, descRetired, descRemapFail, descXid, descThrottle, descVendorBad, descReportAge} {
		ch <- d
	}
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs, err := c.ledger.DeviceHealth(ctx, "")
	if err != nil {
		c.log.Error("metrics: reading device health", "err", err)
		ch <- prometheus.NewInvalidMetric(descTemp, err)
		return
	}
	sites := map[string]string{}
	if ns, err := c.ledger.Nodes(ctx); err == nil {
		for _, n := range ns {
			sites[n.Hostname] = n.Site
		}
	} else {
		c.log.Error("metrics: reading nodes", "err", err)
	}
	for _, h := range hs {
		p := h.Probe
		lv := []string{h.Serial, h.Model, h.Node, sites[h.Node], p.Vendor, p.PCIBus}
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		if v := p.Health.TemperatureC; v != nil {
			g(descTemp, *v)
		}
		if v := p.Health.PowerW; v != nil {
			g(descPower, *v)
		}
		if v := p.Health.ECCCorrectable; v != nil {
			g(descSBE, float64(*v))
		}
		if v := p.Health.ECCUncorrectable; v != nil {
			g(descDBE, float64(*v))
		}
		if v := p.Health.RetiredPages; v != nil {
			g(descRetired, float64(*v))
		}
		if p.Vendor == "nvidia" {
			g(descRemapFail, b2f(p.Health.RemapFailure))
			last := 0.0
			for _, e := range p.Health.Errors {
				if x, err := strconv.Atoi(e); err == nil {
					last = float64(x)
				}
			}
			g(descXid, last)
		}
		g(descThrottle, float64(h.ThermalStreak))
		if v, ok := healthSeverity[p.Health.Status]; ok {
			g(descVendorBad, v)
		}
	}
	ns, err := c.ledger.AgentNodes(ctx)
	if err != nil {
		c.log.Error("metrics: reading agent nodes", "err", err)
		return
	}
	for _, n := range ns {
		ch <- prometheus.MustNewConstMetric(descReportAge, prometheus.GaugeValue, time.Since(n.LastReport).Seconds(), n.Hostname)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// registerHealthMetrics adds the per-device health gauges to reg.
func registerHealthMetrics(reg prometheus.Registerer, s *server) error {
	if err := reg.Register(&healthCollector{ledger: s.ledger, log: s.log}); err != nil {
		return fmt.Errorf("health metrics: %w", err)
	}
	return nil
}
