package inventory_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// warranty_until before acquired is refused, naming the field at its column.
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
	if err == nil || !strings.Contains(err.Error(), `w.csv:2:29: field "warranty_until": warranty ends 2024-06-01, before the device was acquired (2025-06-01)`) {
		t.Errorf("err = %v", err)
	}
}

// TestImportCSVAndJSONStoreWhatImportStores: ImportCSV and ImportJSON hand
// the store compact rows (labels as JSON, creation events made by the
// store); the ledger they leave, and their refusals, are those of
// Service.Import given the parsed rows.
func TestImportCSVAndJSONStoreWhatImportStores(t *testing.T) {
	ctx := context.Background()
	const in = "serial,model,state,node,site,pool,labels,cost_usd,acquired\n" +
		"I-1,H800,in-service,n1,bj,train,rack=r1;po=PO-9,31000.5,2024-02-29\n" +
		"I-2,H20,reserve,n1,,,,,\n" +
		"I-3,910C,failed,n2,sh,,z=1,,\n"
	const inJSON = `[{"serial":"I-1","model":"H800","state":"in-service","node":"n1","site":"bj","pool":"train","labels":{"po":"PO-9","rack":"r1"},"cost_usd":31000.5,"acquired":"2024-02-29"},
{"serial":"I-2","model":"H20","state":"reserve","node":"n1"},
{"serial":"I-3","model":"910C","state":"failed","node":"n2","site":"sh","labels":{"z":"1"}}]`
	open := func() *inventory.Service {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return storetest.NewService(t, st)
	}
	type state struct {
		Devices []inventory.Device
		Events  []inventory.Event
	}
	ledger := func(svc *inventory.Service) state {
		p, err := svc.List(ctx, inventory.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := svc.Events(ctx, inventory.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return state{p.Devices, evs}
	}
	ref := open()
	im, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Import(ctx, im, "t"); err != nil {
		t.Fatal(err)
	}
	want := ledger(ref)
	if len(want.Devices) != 3 || want.Devices[0].Labels["rack"] != "r1" || len(want.Events) != 3 || want.Events[2].Reason != "imported" {
		t.Fatalf("reference ledger lacks labels or events: %+v", want)
	}
	for i, e := range want.Events {
		if d := want.Devices[i]; e.Serial != d.Serial || e.From != "" || e.To != d.State || e.Actor != "t" || !e.At.Equal(d.UpdatedAt) {
			t.Errorf("event %+v is not the creation of %+v", e, d)
		}
	}
	for _, tc := range []struct {
		name string
		imp  func(*inventory.Service, string) (inventory.ImportResult, error)
		body string
	}{
		{"csv", func(s *inventory.Service, b string) (inventory.ImportResult, error) {
			return s.ImportCSV(ctx, "f.csv", strings.NewReader(b), "t")
		}, in},
		{"json", func(s *inventory.Service, b string) (inventory.ImportResult, error) {
			return s.ImportJSON(ctx, "f.csv", strings.NewReader(b), "t")
		}, inJSON},
	} {
		svc := open()
		res, err := tc.imp(svc, tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Devices != 3 || res.Nodes != 2 {
			t.Errorf("%s: %+v, want 3 devices, 2 nodes", tc.name, res)
		}
		if d := cmp.Diff(want, ledger(svc)); d != "" {
			t.Errorf("%s: ledger (-Import +%s):\n%s", tc.name, tc.name, d)
		}
		// Again: every serial exists now; refused at the rows, nothing written.
		if _, err := tc.imp(svc, tc.body); err == nil || !strings.Contains(err.Error(), `serial "I-2" already exists`) {
			t.Errorf("%s: second import: %v", tc.name, err)
		}
		if d := cmp.Diff(want, ledger(svc)); d != "" {
			t.Errorf("%s: a refused import changed the ledger:\n%s", tc.name, d)
		}
	}
}
