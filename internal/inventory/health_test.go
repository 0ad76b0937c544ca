package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/hwprobe"
)

func TestHealthRules(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	nv := func(h hwprobe.Health) hwprobe.Accelerator {
		return hwprobe.Accelerator{Vendor: "nvidia", Tool: "nvidia-smi", Health: h}
	}
	npu := func(h hwprobe.Health) hwprobe.Accelerator {
		return hwprobe.Accelerator{Vendor: "huawei", Tool: "npu-smi", Health: h}
	}
	prev := func(d hwprobe.Accelerator, streak int) *DeviceHealth {
		return &DeviceHealth{Probe: d, ThermalStreak: streak}
	}
	hot := hwprobe.Health{Throttle: []string{"hw_thermal_slowdown"}}
	r := DefaultHealthRules()
	for _, c := range []struct {
		name string
		prev *DeviceHealth
		cur  hwprobe.Accelerator
		to   fleet.DeviceState
		why  string
	}{
		{"healthy", nil, nv(hwprobe.Health{ECCUncorrectable: n(0)}), "", ""},
		{"xid 79 new", nil, nv(hwprobe.Health{Errors: []string{"79"}}), fleet.Failed, "fatal-xid: XID 79"},
		{"xid 79 old", prev(nv(hwprobe.Health{Errors: []string{"79"}}), 0), nv(hwprobe.Health{Errors: []string{"79"}}), "", ""},
		{"xid 94", nil, nv(hwprobe.Health{Errors: []string{"94"}}), fleet.Maintenance, "xid: XID 94"},
		{"xid 13 ignored", nil, nv(hwprobe.Health{Errors: []string{"13"}}), "", ""},
		{"npu code is not an xid", nil, npu(hwprobe.Health{Errors: []string{"79"}}), "", ""},
		{"ecc first report", nil, nv(hwprobe.Health{ECCUncorrectable: n(4)}), "", ""},
		{"ecc rose", prev(nv(hwprobe.Health{ECCUncorrectable: n(4)}), 0), nv(hwprobe.Health{ECCUncorrectable: n(5)}), fleet.Maintenance, "ecc-uncorrectable: 5"},
		{"retired 59", nil, nv(hwprobe.Health{RetiredPages: n(59)}), "", ""},
		{"retired 60", nil, nv(hwprobe.Health{RetiredPages: n(60)}), fleet.Failed, "retired-pages: 60"},
		{"remap failure beats pending", nil, nv(hwprobe.Health{RemapFailure: true, RemapPending: true}), fleet.Failed, "remap-failure"},
		{"pending", nil, nv(hwprobe.Health{RetirementPending: true}), fleet.Maintenance, "pending-reset"},
		{"npu critical", nil, npu(hwprobe.Health{Status: "critical", Errors: []string{"80E18005"}}), fleet.Failed, "npu-smi reports critical (error codes 80E18005)"},
		{"npu alarm", nil, npu(hwprobe.Health{Status: "alarm"}), fleet.Maintenance, "alarm"},
		{"npu warning", nil, npu(hwprobe.Health{Status: "warning"}), "", ""},
		{"hot 9th", prev(nv(hot), 8), nv(hot), "", ""},
		{"hot 10th", prev(nv(hot), 9), nv(hot), fleet.Maintenance, "thermal-throttle: thermal slowdown in 10"},
		{"power cap is not thermal", prev(nv(hot), 20), nv(hwprobe.Health{Throttle: []string{"sw_power_cap"}}), "", ""},
	} {
		v := r.Evaluate(c.prev, c.cur)
		if v.To != c.to || !strings.Contains(v.Reason, c.why) {
			t.Errorf("%s: got %q %q, want %q containing %q", c.name, v.To, v.Reason, c.to, c.why)
		}
	}
	if err := (HealthRules{FailStatus: []string{"bad"}, ThermalReports: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "thermal_reports") {
		t.Errorf("Validate: %v", err)
	}
}

func TestParseHealthRules(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r, err := ParseHealthRules("health-rules.yaml", read("health-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultHealthRules()
	want.RetiredPagesMax, want.ThermalReports = 1, 4
	want.MaintenanceXids = []int{13, 63, 74, 92, 94, 119, 120}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	for name, msg := range map[string]string{
		"health-rules.bad-field.yaml":  `unknown field "thermal_report"`,
		"health-rules.bad-status.yaml": `unknown health "broken"`,
	} {
		_, err := ParseHealthRules(name, read(name))
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file and %q", name, err, msg)
		}
	}
}
