package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

func TestRunwayLedgerInputs(t *testing.T) { forEachStore(t, testRunwayLedgerInputs) }

// testRunwayLedgerInputs pins what a plan without a fleet reads from the
// ledger: per model, the devices in service as in service and the devices in
// reserve as reserve; failed, maintenance and retired ones not at all; a model
// with nothing usable not at all. The counts are written by hand from the CSV.
func testRunwayLedgerInputs(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	csv := "serial,model,state\n" +
		"h1,H800,in-service\nh2,H800,in-service\nh3,H800,in-service\n" +
		"h4,H800,reserve\nh5,H800,reserve\n" +
		"h6,H800,failed\nh7,H800,maintenance\nh8,H800,retired\n" +
		"g1,H20,in-service\ng2,H20,in-service\n" +
		"g3,H20,reserve\ng4,H20,reserve\ng5,H20,reserve\ng6,H20,reserve\n" +
		"g7,H20,failed\n" +
		"a1,A800,failed\na2,A800,retired\n"
	if _, err := srv.Ledger.ImportCSV(ctx, "r.csv", strings.NewReader(csv), "t"); err != nil {
		t.Fatal(err)
	}
	viewer := srv.Token(t, inventory.RoleViewer)
	runway := func(plan string) (supply0 float64, body []byte) {
		t.Helper()
		status, body := call(t, srv, "POST", "/api/v1/runway", viewer, "application/yaml", []byte(plan))
		if status != 200 {
			t.Fatalf("runway: %d\n%s", status, body)
		}
		var res struct {
			Series []struct {
				Supply struct{ P50 float64 } `json:"supply"`
			} `json:"series"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		return res.Series[0].Supply.P50, body
	}
	rate := func(model string) float64 {
		c, err := srv.Ledger.Catalog().Resolve(model)
		if err != nil {
			t.Fatal(err)
		}
		tf, ok := c.Dense(fleet.BF16)
		if !ok {
			t.Fatalf("%s: no bf16 rate", model)
		}
		return tf / 1000 // TFLOP/s → PFLOP/s
	}
	h800, h20 := rate("H800"), rate("H20")
	const util = 0.4 // the plan's default utilization

	// The series is rounded to 0.001 PFLOP/s.
	// Month 0 with almost no demand: only the devices in service supply
	// (boxed reserve enters when needed, failed/maintenance/retired never).
	tiny := "start: 2027-01\nhorizon_months: 3\npaths: 50\ndemand:\n  inference: {pflops: 0.001}\n"
	got, _ := runway(tiny)
	if want := util * (3*h800 + 2*h20); math.Abs(got-want) > 0.0005 {
		t.Errorf("month-0 supply with tiny demand = %.6f PFLOP/s, want 0.4×(3 H800 + 2 H20) = %.6f", got, want)
	}
	// Month 0 with demand beyond everything: the reserve enters at once, so
	// supply is in service + reserve, 5 H800 and 6 H20.
	huge := "start: 2027-01\nhorizon_months: 3\npaths: 50\ndemand:\n  inference: {pflops: 1000}\n"
	got, _ = runway(huge)
	if want := util * (5*h800 + 6*h20); math.Abs(got-want) > 0.0005 {
		t.Errorf("month-0 supply with huge demand = %.6f PFLOP/s, want 0.4×(5 H800 + 6 H20) = %.6f", got, want)
	}
	// The whole forecast equals the same plan with the holdings spelled out.
	demand := "demand:\n  inference: {pflops: 0.9, growth_per_year: 2}\n"
	head := "start: 2027-01\nhorizon_months: 36\npaths: 300\nafr: {default: 0.2}\n"
	_, live := runway(head + demand)
	_, explicit := runway(head + "fleet:\n" +
		"  - {model: H800, in_service: 3, reserve: 2}\n" +
		"  - {model: H20, in_service: 2, reserve: 4}\n" + demand)
	if !bytes.Equal(live, explicit) {
		t.Errorf("the live-ledger forecast differs from the plan with H800 3+2, H20 2+4:\nlive:     %.400s\nexplicit: %.400s", live, explicit)
	}
}
