package runwaycmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// TestAFRFromLedger: a ledger whose failures and device-time are known by
// hand feeds runway --afr-from-ledger, and the plan still wins where it
// sets a rate.
//
// 100 H800 enter service at t0; 6 fail at t0 + ½ year; the forecast runs
// at t0 + 1 year. Exposure: 94 × 1 + 6 × ½ = 97 device-years; rate 6/97 =
// 0.061856 per device-year; AFR = 1 − e^(−0.061856) = 5.998 %.
// 20 Ascend 910B enter at t0 with no failures: 20 device-years, too few
// under --afr-min-device-years 25, so the default stays. 10 H20 have a
// rate in the plan.
func TestAFRFromLedger(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	srv := apitest.Start(t, apitest.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	ctx := context.Background()
	add := func(prefix, model string, n int) {
		for i := range n {
			if _, err := srv.Ledger.Create(ctx, inventory.Device{Serial: fmt.Sprintf("%s-%03d", prefix, i), Model: model, State: fleet.InService}, "", "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("H", "h800", 100)
	add("A", "910b", 20)
	add("Z", "h20", 10)
	setNow(t0.Add(inventory.DeviceYear / 2))
	for i := range 6 {
		if _, err := srv.Ledger.SetState(ctx, fmt.Sprintf("H-%03d", i), fleet.Failed, "dead", "test"); err != nil {
			t.Fatal(err)
		}
	}
	setNow(t0.Add(inventory.DeviceYear))

	plan := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(plan, []byte("start: 2026-01\nhorizon_months: 12\nafr: {default: 0.05, h20: 0.02}\ndemand: {inference: {pflops: 10}}\n"), 0o644)
	code, _, stderr := run(t, map[string]string{"GRANARY_TOKEN": apitest.AdminSecret}, false,
		"--plan", plan, "--server", srv.URL, "--paths", "10", "--afr-from-ledger", "--afr-min-device-years", "25", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"afr h800-sxm5-80gb 6.00% from the ledger: 6 failures in 97.0 device-years",
		"afr ascend-910b 5.00% from the default: the ledger has 20.0 device-years of it, under 25",
		"afr h20-96gb 2.00% from the plan",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	st, err := srv.Ledger.Failures(ctx, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Models {
		if m.Model == "h800-sxm5-80gb" && m.Band == "all" && (m.Failures != 6 || fmt.Sprintf("%.6f", m.Rate) != "0.061856") {
			t.Errorf("h800: %+v", m)
		}
	}
	if code, _, stderr := run(t, nil, false, "--plan", plan, "--afr-from-ledger"); code != 2 || !strings.Contains(stderr, "needs --server") {
		t.Errorf("without --server: exit %d %q", code, stderr)
	}
}

// TestLifeFromLedger: 100 H800 acquired in January 2021 reach the end of
// a 6-year useful life in January 2027, month 12 of a plan starting in
// January 2026: supply is 100 × 0.9894 PFLOP/s for 12 months, then 0.
// Without --life-from-ledger their life counts from the plan's start.
func TestLifeFromLedger(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	for i := range 100 {
		d := inventory.Device{Serial: fmt.Sprintf("H-%03d", i), Model: "h800", State: fleet.InService, Acquired: time.Date(2021, 1, 15, 0, 0, 0, 0, time.UTC)}
		if _, err := srv.Ledger.Create(ctx, d, "", "test"); err != nil {
			t.Fatal(err)
		}
	}
	plan := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(plan, []byte("start: 2026-01\nhorizon_months: 24\nutilization: 1\nafr: {default: 0}\ndemand: {inference: {pflops: 10}}\n"), 0o644)
	supply := func(args ...string) ([]float64, string) {
		t.Helper()
		code, out, stderr := run(t, map[string]string{"GRANARY_TOKEN": apitest.AdminSecret}, false,
			append([]string{"--plan", plan, "--server", srv.URL, "--paths", "10", "-o", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var res struct {
			Series []struct {
				Supply struct{ P50 float64 } `json:"supply"`
			} `json:"series"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		var s []float64
		for _, m := range res.Series {
			s = append(s, m.Supply.P50)
		}
		return s, stderr
	}
	s, stderr := supply("--life-from-ledger")
	if len(s) != 24 || s[11] != 98.94 || s[12] != 0 || !strings.Contains(stderr, "useful life of 100 devices in service counted from their acquisition month, of 0 from") {
		t.Errorf("with --life-from-ledger: %v\n%s", s, stderr)
	}
	s, _ = supply()
	if s[12] != 98.94 || s[23] != 98.94 {
		t.Errorf("without: %v", s)
	}
}
