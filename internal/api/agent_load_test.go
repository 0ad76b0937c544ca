package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/hwprobe"
	"github.com/granaryhq/granary/internal/inventory"
)

// agentLoadShape is how many agents report once per period. The issue's
// figure is 2,000 agents every 30 s; the suite runs 200 agents over 3 s
// unless GRANARY_AGENT_LOAD says otherwise (e.g. 2000x30s).
func agentLoadShape(t *testing.T) (agents int, period time.Duration) {
	agents, period = 200, 3*time.Second
	if s := os.Getenv("GRANARY_AGENT_LOAD"); s != "" {
		m := regexp.MustCompile(`^(\d+)x(\S+)$`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("GRANARY_AGENT_LOAD=%q: want AGENTSxPERIOD, e.g. 2000x30s", s)
		}
		agents, _ = strconv.Atoi(m[1])
		var err error
		if period, err = time.ParseDuration(m[2]); err != nil || agents < 1 || agents > 20000 || period > 10*time.Minute {
			t.Fatalf("GRANARY_AGENT_LOAD=%q: bad shape", s)
		}
	}
	return agents, period
}

// TestAgentIngestLoad: every agent (8 GPUs each) sends its first report,
// then each reports again once per period, spread evenly over it (open
// loop, as agents on a 30 s ticker do). It fails on any error, logs p50/p99
// of the steady-state ingest latency, and checks the ledger holds every
// device once with one health snapshot each.
func TestAgentIngestLoad(t *testing.T) {
	agents, period := agentLoadShape(t)
	forEachStore(t, func(t *testing.T, o apitest.Options) {
		ctx := context.Background()
		var logs lockedBuffer
		o.Log = &logs
		srv := apitest.Start(t, o)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: time.Minute}
		type ag struct {
			cl *client.Client
			r  inventory.AgentReport
		}
		as := make([]ag, agents)
		for i := range as {
			node := fmt.Sprintf("n%05d", i)
			_, secret, err := srv.Ledger.CreateAgentToken(ctx, node, "load")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := client.New(srv.URL, secret, hc)
			if err != nil {
				t.Fatal(err)
			}
			r := inventory.AgentReport{Node: node, Tools: []hwprobe.ToolRun{{Tool: "nvidia-smi", Vendor: "nvidia", Clean: true}}}
			for g := range 8 {
				temp, unc := 40.0+float64(g), int64(0)
				r.Devices = append(r.Devices, hwprobe.Accelerator{Vendor: "nvidia", Tool: "nvidia-smi", Index: g,
					Serial: fmt.Sprintf("%s-%d", node, g), Product: "NVIDIA H800", PCIBus: fmt.Sprintf("0000:%02x:00.0", 0x18+g),
					Driver: "535.129.03", MemoryMiB: 81559, Health: hwprobe.Health{TemperatureC: &temp, ECCUncorrectable: &unc}})
			}
			as[i] = ag{cl, r}
		}
		round := func(name string, spread time.Duration) []time.Duration {
			lat := make([]time.Duration, agents)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			start := time.Now()
			sem := make(chan struct{}, 64) // bounded in-flight requests
			for i := range as {
				if spread > 0 {
					time.Sleep(time.Until(start.Add(spread * time.Duration(i) / time.Duration(agents))))
				}
				wg.Add(1)
				sem <- struct{}{}
				go func(i int) {
					defer wg.Done()
					defer func() { <-sem }()
					t0 := time.Now()
					_, err := as[i].cl.Report(ctx, as[i].r)
					lat[i] = time.Since(t0)
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("agent %d: %w", i, err)
						}
						mu.Unlock()
					}
				}(i)
			}
			wg.Wait()
			if firstErr != nil {
				t.Fatalf("%s: %v\nserver log:\n%s", name, firstErr, logs.String())
			}
			slices.Sort(lat)
			q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			t.Logf("%s: %d reports of 8 devices in %v: p50 %v, p99 %v, max %v", name, agents, time.Since(start).Round(time.Millisecond),
				q(0.50).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
			return lat
		}
		round("first reports (devices enter the ledger)", 0)
		round(fmt.Sprintf("steady state (one report per agent per %v)", period), period)
		sum, err := srv.Ledger.Summary(ctx)
		if err != nil || sum.Totals.Devices != 8*agents {
			t.Errorf("ledger holds %d devices, want %d (%v)", sum.Totals.Devices, 8*agents, err)
		}
		hs, err := srv.Ledger.DeviceHealth(ctx, "")
		if err != nil || len(hs) != 8*agents {
			t.Errorf("%d health snapshots, want %d (%v)", len(hs), 8*agents, err)
		}
	})
}
