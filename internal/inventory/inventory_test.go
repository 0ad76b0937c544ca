package inventory_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

func TestTransitions(t *testing.T) {
	// The whole matrix, written out: row = from, columns in fleet.DeviceStates
	// order (in-service, reserve, maintenance, failed, retired).
	want := map[fleet.DeviceState]string{
		fleet.InService:   ".xxxx",
		fleet.Reserve:     "x.xxx",
		fleet.Maintenance: "xx.xx",
		fleet.Failed:      "..x.x",
		fleet.Retired:     ".....",
	}
	for from, row := range want {
		for i, to := range fleet.DeviceStates {
			err := inventory.CheckTransition("S1", from, to)
			if allowed := row[i] == 'x'; allowed != (err == nil) {
				t.Errorf("%s → %s: err %v, want allowed=%v", from, to, err, allowed)
			}
			if err != nil {
				var te *inventory.TransitionError
				if !errors.As(err, &te) || !errors.Is(err, fleet.ErrConflict) {
					t.Errorf("%s → %s: %T %v is not a TransitionError/ErrConflict", from, to, err, err)
				}
				if !slices.Equal(te.Allowed, inventory.AllowedTransitions(from)) {
					t.Errorf("%s → %s: allowed %v", from, to, te.Allowed)
				}
			}
		}
	}
	err := inventory.CheckTransition("S1", fleet.Retired, fleet.InService)
	if got := err.Error(); got != "device S1: cannot go from retired to in-service: no transitions leave retired" {
		t.Errorf("retired message: %q", got)
	}
	err = inventory.CheckTransition("S1", fleet.Failed, fleet.InService)
	if got := err.Error(); got != "device S1: cannot go from failed to in-service (allowed from failed: maintenance, retired)" {
		t.Errorf("failed message: %q", got)
	}
	err = inventory.CheckTransition("S1", fleet.Reserve, fleet.Reserve)
	if got := err.Error(); !strings.Contains(got, "already reserve") {
		t.Errorf("no-op message: %q", got)
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		have, need inventory.Role
		ok         bool
	}{
		{inventory.RoleViewer, inventory.RoleViewer, true},
		{inventory.RoleViewer, inventory.RoleOperator, false},
		{inventory.RoleOperator, inventory.RoleViewer, true},
		{inventory.RoleOperator, inventory.RoleAdmin, false},
		{inventory.RoleAdmin, inventory.RoleOperator, true},
		{"", inventory.RoleViewer, false},
		{"root", inventory.RoleViewer, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q.Allows(%q) = %v", tc.have, tc.need, got)
		}
	}
	if r, err := inventory.ParseRole(" Operator "); err != nil || r != inventory.RoleOperator {
		t.Errorf("ParseRole = %q, %v", r, err)
	}
	if _, err := inventory.ParseRole("root"); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("ParseRole(root) = %v", err)
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
func f64(v float64) *float64                   { return &v }

func TestParseCSV(t *testing.T) {
	in := "\ufeffSerial,MODEL,state,labels,cost_usd,acquired,warranty_until,node,site,pool\n" +
		"A-1,H800,in-service,rack=r1; po = PO-9 ,31000.50,2024-02-29,2027-02-28,bj1-n1,bj1,train\n" +
		"\n" + // blank lines are skipped
		"A-2,ascend 910c,Reserve,,,,,,,\n" +
		"\"A-3\",NVIDIA-H20,in_service,,,,,bj1-n1,,\n"
	im, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []inventory.Row{
		{Device: inventory.Device{Serial: "A-1", Model: "h800-sxm5-80gb", State: fleet.InService, Node: "bj1-n1", Site: "bj1", Pool: "train",
			Acquired: day(2024, 2, 29), WarrantyUntil: day(2027, 2, 28), CostUSD: f64(31000.5), Labels: map[string]string{"rack": "r1", "po": "PO-9"}},
			Pos: fleet.Position{File: "f.csv", Line: 2, Column: 1}},
		{Device: inventory.Device{Serial: "A-2", Model: "ascend-910c", State: fleet.Reserve}, Pos: fleet.Position{File: "f.csv", Line: 4, Column: 1}},
		{Device: inventory.Device{Serial: "A-3", Model: "h20-96gb", State: fleet.InService, Node: "bj1-n1"}, Pos: fleet.Position{File: "f.csv", Line: 5, Column: 1}},
	}
	if diff := cmp.Diff(want, im.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]inventory.Node{{Hostname: "bj1-n1", Site: "bj1"}}, im.Nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

func TestParseCSVErrors(t *testing.T) {
	hdr := "serial,model,state\n"
	for _, tc := range []struct {
		name, in string
		want     []string // the errors, exactly
	}{
		{"empty", "", []string{`f.csv:1:1: empty file; want a header row: serial,model,state,node,site,pool,acquired,cost_usd,warranty_until,labels,node_cpu_milli,node_memory_mib`}},
		{"unknown column", "serial,model,state,colour\n", []string{`f.csv:1:20: unknown column "colour" (columns: serial, model, state, node, site, pool, acquired, cost_usd, warranty_until, labels, node_cpu_milli, node_memory_mib)`}},
		{"missing column", "serial,model\nA,H800\n", []string{`f.csv:1:1: missing required column "state"`}},
		{"twice", "serial,model,state,model\n", []string{`f.csv:1:20: column "model" appears twice`}},
		{"field count", hdr + "A,H800,reserve,extra\nB,H800\n", []string{
			`f.csv:2:1: record has 4 fields, the header has 3`,
			`f.csv:3:1: record has 2 fields, the header has 3`}},
		{"unknown state", hdr + "A,H800,lost\n", []string{
			`f.csv:2:8: field "state": unknown state "lost" (valid: in-service, reserve, maintenance, failed, retired)`}},
		{"missing serial and model", hdr + ",,reserve\n", []string{
			`f.csv:2:1: field "serial": missing serial`,
			`f.csv:2:2: field "model": missing model`}},
		{"serial with space", hdr + "\"A 1\",H800,reserve\n", []string{
			`f.csv:2:1: field "serial": serial "A 1" has spaces or control characters`}},
		{"duplicate", hdr + "A,H800,reserve\nB,H800,reserve\nA,H20,failed\n", []string{
			`f.csv:4:1: field "serial": duplicate serial "A" (first on line 2)`}},
		{"duplicate of a refused row", hdr + "A,H800,lost\nA,H800,reserve\n", []string{
			`f.csv:2:8: field "state": unknown state "lost" (valid: in-service, reserve, maintenance, failed, retired)`,
			`f.csv:3:1: field "serial": duplicate serial "A" (first on line 2)`}},
		{"duplicate first in its row", hdr + "A,H800,reserve\nB,H800,lost\nA,H800,lost\nB,H20,reserve\n", []string{
			`f.csv:3:8: field "state": unknown state "lost" (valid: in-service, reserve, maintenance, failed, retired)`,
			`f.csv:4:1: field "serial": duplicate serial "A" (first on line 2)`,
			`f.csv:4:8: field "state": unknown state "lost" (valid: in-service, reserve, maintenance, failed, retired)`,
			`f.csv:5:1: field "serial": duplicate serial "B" (first on line 3)`}},
		{"serial not first", "state,model,serial\nlost,H800,A\nreserve,H800,A\n", []string{
			`f.csv:2:1: field "state": unknown state "lost" (valid: in-service, reserve, maintenance, failed, retired)`,
			`f.csv:3:14: field "serial": duplicate serial "A" (first on line 2)`}},
		{"bad date", "serial,model,state,acquired,warranty_until\nA,H800,reserve,2024-02-30,31/12/2027\n", []string{
			`f.csv:2:16: field "acquired": bad date "2024-02-30" (want YYYY-MM-DD)`,
			`f.csv:2:27: field "warranty_until": bad date "31/12/2027" (want YYYY-MM-DD)`}},
		{"bad cost", "serial,model,state,cost_usd\nA,H800,reserve,lots\nB,H800,reserve,-5\n", []string{
			`f.csv:2:16: field "cost_usd": cost "lots" is not a number from 0 to 1e+12 USD`,
			`f.csv:3:16: field "cost_usd": cost "-5" is not a number from 0 to 1e+12 USD`}},
		{"cost too large", "serial,model,state,cost_usd\nA-1,H800,reserve,1e308\n", []string{`f.csv:2:18: field "cost_usd": cost "1e308" is not a number from 0 to 1e+12 USD`}},
		{"bad labels", "serial,model,state,labels\nA,H800,reserve,rack\n", []string{
			`f.csv:2:16: field "labels": label "rack" is not key=value (separate labels with ';')`}},
		{"node in two sites", "serial,model,state,node,site\nA,H800,reserve,n1,bj1\nB,H800,reserve,n1,sh2\n", []string{
			`f.csv:3:19: field "site": node "n1" is at site "bj1" on line 2`}},
		{"bare quote", hdr + "A\"x,H800,reserve\n", []string{`f.csv:2:2: bare " in non-quoted-field`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(tc.in))
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var ies fleet.InputErrors
			if !errors.As(err, &ies) {
				t.Fatalf("%T is not InputErrors", err)
			}
			got := make([]string, len(ies))
			for i, e := range ies {
				got[i] = e.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unknown model lists nearest", func(t *testing.T) {
		_, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(hdr+"A,H8OO,reserve\n"))
		if err == nil || !strings.HasPrefix(err.Error(), `f.csv:2:3: field "model": unknown model "H8OO"; nearest: `) || !strings.Contains(err.Error(), "h800-sxm5-80gb") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("error cap", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(hdr)
		for range 500 {
			b.WriteString("X,nochip,nostate\n")
		}
		_, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(b.String()))
		var ies fleet.InputErrors
		if !errors.As(err, &ies) || len(ies) != inventory.MaxImportErrors+1 || !strings.Contains(ies[len(ies)-1].Msg, "too many errors") {
			t.Errorf("got %d errors, want %d and a final 'too many'", len(ies), inventory.MaxImportErrors+1)
		}
		// Line 2: model and state; then a duplicate serial, model and
		// state per line: the 100th problem is line 35's state.
		if len(ies) == inventory.MaxImportErrors+1 {
			if got := ies[2].Error(); got != `f.csv:3:1: field "serial": duplicate serial "X" (first on line 2)` {
				t.Errorf("third problem %s", got)
			}
			if last := ies[inventory.MaxImportErrors-1].Pos; last.Line != 35 || last.Field != "model" {
				t.Errorf("100th problem at %v, want line 35's model", last)
			}
			if m := ies[inventory.MaxImportErrors].Pos; m.Line != 35 {
				t.Errorf("'too many' at %v, want line 35", m)
			}
		}
	})
}

func TestParseJSON(t *testing.T) {
	in := `[
  {"serial": "J-1", "model": "H800", "state": "in-service", "labels": {"a": "b"}, "cost_usd": 5, "acquired": "2025-01-02"},
  {"serial": "J-2", "model": "910B3", "state": "reserve", "acquired": "2025-01-02T15:04:05+08:00", "updated_at": "2026-01-01T00:00:00Z"}
]`
	im, err := inventory.ParseJSON(accel.Default(), "f.json", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []inventory.Row{
		{Device: inventory.Device{Serial: "J-1", Model: "h800-sxm5-80gb", State: fleet.InService, Labels: map[string]string{"a": "b"}, CostUSD: f64(5), Acquired: day(2025, 1, 2)},
			Pos: fleet.Position{File: "f.json", Line: 2, Column: 3}},
		{Device: inventory.Device{Serial: "J-2", Model: "ascend-910b3", State: fleet.Reserve, Acquired: day(2025, 1, 2)},
			Pos: fleet.Position{File: "f.json", Line: 3, Column: 3}},
	}
	if diff := cmp.Diff(want, im.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"unknown field", `[{"serial": "J", "model": "H800", "state": "reserve", "colour": "red"}]`, `f.json:1:2: field "colour": devices[0]: unknown field "colour"`},
		{"wrong type", "[\n {\"serial\": 7, \"model\": \"H800\", \"state\": \"reserve\"}]", `f.json:2:14: field "serial": devices[0]: field "serial": want a string, got JSON number`},
		{"bad state", "{\"devices\": [\n  {\"serial\": \"J\", \"model\": \"H800\", \"state\": \"gone\"}]}", `f.json:2:3: field "state": unknown state "gone" (valid: in-service, reserve, maintenance, failed, retired)`},
		{"not a list", `"hello"`, `f.json:1:1: want an array of devices or an object with "devices"`},
		{"unknown key", `{"machines": []}`, `f.json:1:12: field "machines": unknown key "machines" (want "nodes" and "devices")`},
		{"truncated", `[{"serial": "J", "model": "H800", "state": "reserve"}`, `f.json:1:54: unexpected end of input`},
		{"duplicate on one line", `[{"serial": "J", "model": "H800", "state": "gone"}, {"serial": "J", "model": "H800", "state": "reserve"}]`,
			"f.json:1:2: field \"state\": unknown state \"gone\" (valid: in-service, reserve, maintenance, failed, retired)\n" +
				`f.json:1:53: field "serial": duplicate serial "J" (first on line 1)`},
	} {
		_, err := inventory.ParseJSON(accel.Default(), "f.json", strings.NewReader(tc.in))
		if !errors.Is(err, fleet.ErrInvalid) || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("serial,model,state\nA,H800,reserve\n")
	f.Add("serial,model,state,labels,acquired,cost_usd\nA,H800,reserve,a=b;c=d,2024-01-01,1e3\n\"B\"\"\",910C,failed,,,\n")
	f.Add("serial,model\nA\n")
	f.Add("")
	cat := accel.Default()
	f.Fuzz(func(t *testing.T, in string) {
		im, err := inventory.ParseCSV(cat, "fuzz.csv", strings.NewReader(in))
		if err != nil {
			var ies fleet.InputErrors
			if !errors.As(err, &ies) || len(ies) == 0 || !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error %T %v is not a non-empty InputErrors", err, err)
			}
			for _, e := range ies {
				if e.Pos.Line < 1 {
					t.Fatalf("error without a line: %v", e)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range im.Rows {
			d := r.Device
			if d.Serial == "" || seen[d.Serial] {
				t.Fatalf("accepted empty or duplicate serial %q", d.Serial)
			}
			seen[d.Serial] = true
			if _, ok := cat.Get(d.Model); !ok {
				t.Fatalf("accepted model %q that is not a catalog id", d.Model)
			}
			if _, err := fleet.ParseDeviceState(string(d.State)); err != nil {
				t.Fatalf("accepted state %q", d.State)
			}
		}
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add(`[{"serial": "J", "model": "H800", "state": "reserve"}]`)
	f.Add(`{"nodes": [{"hostname": "n"}], "devices": [{"serial": "J", "model": "H800", "state": "reserve", "labels": {"a": "b"}}]}`)
	f.Add(`{"devices": 3}`)
	f.Add(`[`)
	cat := accel.Default()
	f.Fuzz(func(t *testing.T, in string) {
		im, err := inventory.ParseJSON(cat, "fuzz.json", strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error %T %v does not wrap ErrInvalid", err, err)
			}
			return
		}
		for _, r := range im.Rows {
			if _, ok := cat.Get(r.Device.Model); !ok || r.Device.Serial == "" {
				t.Fatalf("accepted %+v", r.Device)
			}
		}
	})
}

// FormatLabels and ParseLabels are inverse: values with ';', '=', '\' and
// Unicode survive the CSV labels cell (issue 16: they were split apart).
func TestLabelsRoundTrip(t *testing.T) {
	for _, m := range []map[string]string{
		{},
		{"rack": "r1"},
		{"a": "x;y", "b": "k=v", "c": `back\slash`, "d": "", "e": "雪;=\\;", "f": `\`},
	} {
		s := inventory.FormatLabels(m)
		got, err := inventory.ParseLabels(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if len(got) != len(m) {
			t.Fatalf("%q: %v, want %v", s, got, m)
		}
		for k, v := range m {
			if got[k] != v {
				t.Errorf("%q: %s = %q, want %q", s, k, got[k], v)
			}
		}
	}
	for _, bad := range []string{"novalue", "=v", "a=1;a=2", `a=1\`} {
		if _, err := inventory.ParseLabels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got, _ := inventory.ParseLabels("a=b=c; k = v "); got["a"] != "b=c" || got["k"] != "v" {
		t.Errorf("hand-written labels: %v", got)
	}
}
