package invcmd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// TestFailures: 10 Ascend 910B3 in service for a year, one failing at the
// half-year: 1 failure in 9.5 device-years; AFR 1 − e^(−1/9.5) = 9.99 %;
// 90 % interval of the rate [χ²(.05;2)/19, χ²(.95;4)/19] = [0.1026/19, 9.488/19] = [0.0054, 0.4994],
// as AFR 0.54–39.31 %. A token-created agent token shows its node.
func TestFailures(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(d time.Duration) { mu.Lock(); now = t0.Add(d); mu.Unlock() }
	srv := apitest.Start(t, apitest.Options{Now: clock})
	env := map[string]string{"GRANARY_SERVER": srv.URL, "GRANARY_TOKEN": apitest.AdminSecret, "HOME": t.TempDir()}
	for i := range 10 {
		if _, err := srv.Ledger.Create(ctx, inventory.Device{Serial: fmt.Sprintf("A%d", i), Model: "910B3", State: fleet.InService}, "", "t"); err != nil {
			t.Fatal(err)
		}
	}
	set(inventory.DeviceYear / 2)
	if _, err := srv.Ledger.SetState(ctx, "A0", fleet.Failed, "HBM", "t"); err != nil {
		t.Fatal(err)
	}
	set(inventory.DeviceYear)
	r := granary(t, env, New, "failures")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "AFR 90% CI") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for _, want := range []string{"ascend-910b3", "all", "10", "1", "9.5", "9.99%", "0.54–39.31%"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if r := granary(t, env, New, "failures", "--confidence", "1"); r.code != 2 {
		t.Errorf("--confidence 1: exit %d", r.code)
	}
	r = granary(t, env, NewToken, "create", "--role", "agent", "--node", "gpu-3")
	if r.code != 0 || !strings.HasPrefix(r.stdout, inventory.TokenPrefix) {
		t.Errorf("agent token: %+v", r)
	}
	if r := granary(t, env, NewToken, "create", "--role", "viewer", "--node", "gpu-3"); r.code != 2 {
		t.Errorf("viewer token with --node: exit %d", r.code)
	}
}
