package inventory_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/store/storetest"
)

func TestSummaryUsesExportBandsByDefault(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := accel.Default()
	svc, err := inventory.New(inventory.Config{Store: st, Catalog: cat, Now: storetest.NewClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []string{"h800-sxm5-80gb", "h20-96gb", "ascend-910c", "mlu590"} {
		if _, err := svc.Create(ctx, inventory.Device{Serial: "D" + string(rune('0'+i)), Model: m, State: fleet.InService}, "", "t"); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := svc.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sum.Models {
		chip, _ := cat.Get(m.Model)
		if want := string(exportctl.Classify(chip, exportctl.Latest()).Classification); m.Classification != want {
			t.Errorf("%s: classification %q, want %q", m.Model, m.Classification, want)
		}
		if m.Model == "h800-sxm5-80gb" && m.Classification != "3A090.a" {
			t.Errorf("H800 is %q, want 3A090.a (TPP 1978.9 × 8 = 15831 ≥ 4800)", m.Classification)
		}
	}
}

// warranty_until before acquired is refused, naming the field.
func TestWarrantyBeforeAcquiredRefused(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default(), Now: storetest.NewClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.ImportCSV(ctx, "w.csv", strings.NewReader("serial,model,state,acquired,warranty_until\nW-1,H800,reserve,2025-06-01,2024-06-01\n"), "t")
	if err == nil || !strings.Contains(err.Error(), `w.csv:2:1: field "warranty_until": warranty ends 2024-06-01, before the device was acquired (2025-06-01)`) {
		t.Errorf("err = %v", err)
	}
}
