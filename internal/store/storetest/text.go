package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// testText: both stores accept and refuse the same strings (issue 16:
// PostgreSQL answered 500 to a NUL byte or invalid UTF-8 that SQLite kept).
// Text is checked once, in the domain; a refusal is ErrInvalid naming the
// field and changes nothing; accepted Unicode round-trips byte for byte.
func testText(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	good := inventory.Device{Serial: "BI-ü-雪/1?#%", Model: "H800", State: fleet.InService, Node: "节点-1", Site: "北京",
		Labels: map[string]string{"rack": "r=1;2", "owner": "José"}}
	if _, err := svc.Create(ctx, good, "", "t"); err != nil {
		t.Fatalf("unicode device refused: %v", err)
	}
	got, err := svc.Get(ctx, good.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != good.Serial || got.Node != good.Node || got.Site != good.Site || !cmp.Equal(got.Labels, good.Labels) {
		t.Errorf("round trip: %+v", got)
	}
	if _, err := svc.SetState(ctx, good.Serial, fleet.Maintenance, "ventilateur cassé — 风扇", "t"); err != nil {
		t.Errorf("unicode reason refused: %v", err)
	}
	d0, e0, n0 := countAll(t, st)

	bad := func(name string, field string, err error) {
		t.Helper()
		var ie *fleet.InputError
		var ies fleet.InputErrors
		switch {
		case err == nil:
			t.Errorf("%s: accepted", name)
		case !errors.Is(err, fleet.ErrInvalid):
			t.Errorf("%s: %v, want ErrInvalid (a 4xx), not a store error", name, err)
		case !strings.Contains(err.Error(), `field "`+field+`"`):
			t.Errorf("%s: %v, want field %q", name, err, field)
		case !errors.As(err, &ie) && !errors.As(err, &ies):
			t.Errorf("%s: %v is not an input error", name, err)
		}
	}
	dev := func(edit func(*inventory.Device)) inventory.Device {
		d := inventory.Device{Serial: "T-1", Model: "H800", State: fleet.Reserve}
		edit(&d)
		return d
	}
	for _, tc := range []struct {
		name, field string
		d           inventory.Device
	}{
		{"NUL in label", "labels", dev(func(d *inventory.Device) { d.Labels = map[string]string{"k": "a\x00b"} })},
		{"NUL in label key", "labels", dev(func(d *inventory.Device) { d.Labels = map[string]string{"k\x00": "v"} })},
		{"invalid UTF-8 label", "labels", dev(func(d *inventory.Device) { d.Labels = map[string]string{"k": "\xff"} })},
		{"invalid UTF-8 site", "site", dev(func(d *inventory.Device) { d.Site = "bj\xc3" })},
		{"NUL in node", "node", dev(func(d *inventory.Device) { d.Node = "n\x00" })},
		{"control in pool", "pool", dev(func(d *inventory.Device) { d.Pool = "p\x1b[31m" })},
		{"serial dot", "serial", dev(func(d *inventory.Device) { d.Serial = "." })},
		{"serial dotdot", "serial", dev(func(d *inventory.Device) { d.Serial = ".." })},
		{"serial invalid UTF-8", "serial", dev(func(d *inventory.Device) { d.Serial = "S-\xff" })},
		{"serial NUL", "serial", dev(func(d *inventory.Device) { d.Serial = "S\x00" })},
	} {
		_, err := svc.Create(ctx, tc.d, "", "t")
		bad("create: "+tc.name, tc.field, err)
	}
	_, err = svc.SetState(ctx, good.Serial, fleet.InService, "fixed\x00", "t")
	bad("reason with NUL", "reason", err)
	_, err = svc.SetState(ctx, good.Serial, fleet.InService, "fixed \xff", "t")
	bad("reason invalid UTF-8", "reason", err)
	for _, tc := range []struct{ name, field, csv string }{
		{"csv invalid UTF-8 label", "labels", "serial,model,state,labels\nC-1,H800,reserve,k=\xff\n"},
		{"csv invalid UTF-8 site", "site", "serial,model,state,node,site\nC-1,H800,reserve,n9,\xfe\n"},
		{"csv NUL serial", "serial", "serial,model,state\nC-\x001,H800,reserve\n"},
		{"csv dotdot serial", "serial", "serial,model,state\n..,H800,reserve\n"},
	} {
		_, err := svc.ImportCSV(ctx, "t.csv", strings.NewReader(tc.csv), "t")
		bad(tc.name, tc.field, err)
	}
	_, err = svc.ImportJSON(ctx, "t.json", strings.NewReader(`[{"serial":"J-1","model":"H800","state":"reserve","labels":{"k":"a\u0000b"}}]`), "t")
	bad("json NUL label", "labels", err)
	_, _, err = svc.CreateToken(ctx, inventory.RoleViewer, "bot\x00")
	bad("token name NUL", "name", err)
	if d, e, n := countAll(t, st); d != d0 || e != e0 || n != n0 {
		t.Errorf("refused writes changed the store (devices %d→%d, events %d→%d, nodes %d→%d)", d0, d, e0, e, n0, n)
	}
}
