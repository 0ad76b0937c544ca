package inventory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// A node's CPU and memory come with its devices' rows (node_cpu_milli,
// node_memory_mib, once or on every row) or, in JSON, with its node
// object; a node without them has none (0: not recorded).
func TestImportNodeResources(t *testing.T) {
	csv := "serial,model,state,node,node_cpu_milli,node_memory_mib\n" +
		"A-1,H800,in-service,dgx-1,112000,2097152\n" +
		"A-2,H800,in-service,dgx-1,,\n" +
		"A-3,H800,in-service,dgx-1,112000,\n" +
		"B-1,L20,reserve,pcie-1,,524288\n" +
		"C-1,L20,reserve,bare,,\n"
	im, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	want := []inventory.Node{{Hostname: "dgx-1", CPUMilli: 112000, MemoryMiB: 2097152}, {Hostname: "pcie-1", MemoryMiB: 524288}, {Hostname: "bare"}}
	if diff := cmp.Diff(want, im.Nodes); diff != "" {
		t.Errorf("CSV nodes (-want +got):\n%s", diff)
	}

	js := `{"nodes": [{"hostname": "dgx-1", "cpu_milli": 112000}, {"hostname": "solo", "memory_mib": 1024}],
	"devices": [
	  {"serial": "J-1", "model": "H800", "state": "reserve", "node": "dgx-1", "node_memory_mib": 2097152},
	  {"serial": "J-2", "model": "H800", "state": "reserve", "node": "other", "node_cpu_milli": 64000}
	]}`
	im, err = inventory.ParseJSON(accel.Default(), "f.json", strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	want = []inventory.Node{{Hostname: "dgx-1", CPUMilli: 112000, MemoryMiB: 2097152}, {Hostname: "other", CPUMilli: 64000}, {Hostname: "solo", MemoryMiB: 1024}}
	if diff := cmp.Diff(want, im.Nodes); diff != "" {
		t.Errorf("JSON nodes (-want +got):\n%s", diff)
	}
}

// A bad figure rejects the whole file, naming file, line, column and
// field.
func TestImportNodeResourcesErrors(t *testing.T) {
	hdr := "serial,model,state,node,node_cpu_milli,node_memory_mib\n"
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"not a number", hdr + "A,H800,reserve,n1,lots,\n", []string{
			`f.csv:2:19: field "node_cpu_milli": node_cpu_milli "lots" is not a whole number of milli-cores from 0 to 1073741824`}},
		{"fraction and negative", hdr + "A,H800,reserve,n1,1.5,-1\n", []string{
			`f.csv:2:19: field "node_cpu_milli": node_cpu_milli "1.5" is not a whole number of milli-cores from 0 to 1073741824`,
			`f.csv:2:23: field "node_memory_mib": node_memory_mib "-1" is not a whole number of MiB from 0 to 17179869184`}},
		{"too large", hdr + "A,H800,reserve,n1,1073741825,\n", []string{
			`f.csv:2:19: field "node_cpu_milli": node_cpu_milli "1073741825" is not a whole number of milli-cores from 0 to 1073741824`}},
		{"no node", hdr + "A,H800,reserve,,8000,\n", []string{
			`f.csv:2:17: field "node_cpu_milli": node_cpu_milli is the CPU or memory of the device's node: give node with it`}},
		{"two figures for a node", hdr + "A,H800,reserve,n1,8000,1024\nB,H800,reserve,n1,8000,2048\nC,H800,reserve,n1,9000,\n", []string{
			`f.csv:3:24: field "node_memory_mib": node "n1" has 1024 MiB of memory on line 2`,
			`f.csv:4:19: field "node_cpu_milli": node "n1" has 8000 milli-cores on line 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inventory.ParseCSV(accel.Default(), "f.csv", strings.NewReader(tc.in))
			var ies fleet.InputErrors
			if !errors.Is(err, fleet.ErrInvalid) || !errors.As(err, &ies) {
				t.Fatalf("err = %v, want InputErrors", err)
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
	for _, tc := range []struct{ name, in, want string }{
		{"negative node cpu", "{\"nodes\": [\n {\"hostname\": \"n1\", \"cpu_milli\": -8}], \"devices\": []}",
			`f.json:2:2: field "cpu_milli": nodes[0]: cpu_milli -8 is not a whole number of milli-cores from 0 to 1073741824`},
		{"fractional node memory", "{\"nodes\": [\n {\"hostname\": \"n1\", \"memory_mib\": 1.5}], \"devices\": []}",
			`f.json:2:38: field "memory_mib": nodes[0]: field "memory_mib": want a number, got JSON number 1.5`},
		{"device figure as text", "[\n {\"serial\": \"J\", \"model\": \"H800\", \"state\": \"reserve\", \"node\": \"n1\", \"node_cpu_milli\": \"8\"}]",
			`f.json:2:90: field "node_cpu_milli": devices[0]: field "node_cpu_milli": want a number, got JSON string`},
		{"node and device disagree", "{\"nodes\": [\n {\"hostname\": \"n1\", \"cpu_milli\": 8000}],\n \"devices\": [{\"serial\": \"J\", \"model\": \"H800\", \"state\": \"reserve\", \"node\": \"n1\", \"node_cpu_milli\": 9000}]}",
			`f.json:2:2: field "cpu_milli": node "n1" has 8000 milli-cores here and 9000 in its devices' node_cpu_milli`},
	} {
		_, err := inventory.ParseJSON(accel.Default(), "f.json", strings.NewReader(tc.in))
		if !errors.Is(err, fleet.ErrInvalid) || err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
}
