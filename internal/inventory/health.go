package inventory

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/hwprobe"
)

// HealthRules turn what an agent reports into ledger states. Signals that
// are events (XIDs, vendor error codes, uncorrectable ECC counts) act only
// when they are new since the device's previous report, so an XID that
// stays in the kernel log does not fail a device again after an operator
// repaired it; signals that are conditions (a failed row remap, too many
// retired pages, a critical vendor health, sustained thermal throttling)
// act on every report. Rules only move devices that are in service or in
// reserve; failed, maintenance and retired devices are the operator's.
type HealthRules struct {
	// FailXids and MaintenanceXids are NVIDIA XIDs that fail a device or
	// send it to maintenance when they newly appear.
	FailXids        []int `json:"fail_xids" yaml:"fail_xids"`
	MaintenanceXids []int `json:"maintenance_xids" yaml:"maintenance_xids"`
	// NewUncorrectableECC sends a device to maintenance when its
	// uncorrectable ECC count rose since the previous report.
	NewUncorrectableECC bool `json:"new_uncorrectable_ecc" yaml:"new_uncorrectable_ecc"`
	// RemapFailure fails a device whose row remapping failed.
	RemapFailure bool `json:"remap_failure" yaml:"remap_failure"`
	// PendingReset sends a device to maintenance while a page retirement
	// or row remap waits for a GPU reset.
	PendingReset bool `json:"pending_reset" yaml:"pending_reset"`
	// RetiredPagesMax fails a device with at least this many retired
	// pages (0 disables the rule).
	RetiredPagesMax int64 `json:"retired_pages_max" yaml:"retired_pages_max"`
	// FailStatus and MaintenanceStatus are vendor health words (npu-smi:
	// ok, warning, alarm, critical) that fail a device or send it to
	// maintenance.
	FailStatus        []string `json:"fail_status" yaml:"fail_status"`
	MaintenanceStatus []string `json:"maintenance_status" yaml:"maintenance_status"`
	// ThermalReports sends a device to maintenance after this many
	// consecutive reports with a thermal slowdown active (0 disables).
	ThermalReports int `json:"thermal_reports" yaml:"thermal_reports"`
	// Disappeared sends a device to maintenance when its node's agent
	// reports without it although the vendor's tool ran cleanly.
	Disappeared bool `json:"disappeared" yaml:"disappeared"`
}

// DefaultHealthRules are the documented defaults (docs/agent.md):
//
//   - XIDs 48 (double-bit ECC), 64 (row remap failure), 79 (fallen off the
//     bus) and 95 (uncontained ECC) fail the device; 63 (row remap pending),
//     74 (NVLink error), 92 (high single-bit ECC rate), 94 (contained ECC),
//     119 and 120 (GSP timeout/error) send it to maintenance;
//   - a new uncorrectable ECC error, or a retirement or remap waiting for a
//     reset → maintenance; a failed row remap or 60 retired pages → failed
//     (NVIDIA's RMA thresholds);
//   - npu-smi health critical → failed, alarm → maintenance;
//   - 10 consecutive reports with a thermal slowdown (5 minutes at the
//     default interval) → maintenance;
//   - a device that disappears while its tool runs cleanly → maintenance.
func DefaultHealthRules() HealthRules {
	return HealthRules{
		FailXids: []int{48, 64, 79, 95}, MaintenanceXids: []int{63, 74, 92, 94, 119, 120},
		NewUncorrectableECC: true, RemapFailure: true, PendingReset: true, RetiredPagesMax: 60,
		FailStatus: []string{"critical"}, MaintenanceStatus: []string{"alarm"},
		ThermalReports: 10, Disappeared: true,
	}
}

// Validate checks the rules' values.
func (r HealthRules) Validate() error {
	var errs fleet.InputErrors
	bad := func(field, msg string) {
		errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: field}, Msg: msg})
	}
	for _, x := range append(slices.Clone(r.FailXids), r.MaintenanceXids...) {
		if x <= 0 {
			bad("fail_xids", fmt.Sprintf("XID %d is not positive", x))
		}
	}
	if r.RetiredPagesMax < 0 {
		bad("retired_pages_max", "must be 0 (off) or positive")
	}
	if r.ThermalReports < 0 {
		bad("thermal_reports", "must be 0 (off) or positive")
	}
	for _, s := range append(slices.Clone(r.FailStatus), r.MaintenanceStatus...) {
		switch s {
		case "ok", "warning", "alarm", "critical":
		default:
			bad("fail_status", fmt.Sprintf("unknown health %q (valid: ok, warning, alarm, critical)", s))
		}
	}
	return errs.Err()
}

// Verdict is what the rules make of one report of one device: the state to
// move to ("" = none) and why.
type Verdict struct {
	To     fleet.DeviceState
	Reason string // "rule: evidence; rule: evidence"
}

// thermal reports whether a thermal slowdown is among the throttle reasons.
func thermal(h hwprobe.Health) bool {
	return slices.ContainsFunc(h.Throttle, func(s string) bool { return strings.Contains(s, "thermal") })
}

// ThermalStreak is the count of consecutive reports with a thermal
// slowdown, including cur.
func ThermalStreak(prev *DeviceHealth, cur hwprobe.Health) int {
	if !thermal(cur) {
		return 0
	}
	if prev == nil {
		return 1
	}
	return prev.ThermalStreak + 1
}

// Evaluate applies the rules to a device's current report, given its
// previous one (nil when there is none). The worst outcome wins (failed
// over maintenance); every rule that fired is in the reason.
func (r HealthRules) Evaluate(prev *DeviceHealth, cur hwprobe.Accelerator) Verdict {
	var (
		fail, maint []string
		h           = cur.Health
	)
	var prevH hwprobe.Health
	if prev != nil {
		prevH = prev.Probe.Health
	}
	for _, e := range h.Errors {
		if slices.Contains(prevH.Errors, e) {
			continue
		}
		x, err := strconv.Atoi(e)
		if err != nil || cur.Vendor != "nvidia" {
			continue
		}
		switch {
		case slices.Contains(r.FailXids, x):
			fail = append(fail, fmt.Sprintf("fatal-xid: XID %d", x))
		case slices.Contains(r.MaintenanceXids, x):
			maint = append(maint, fmt.Sprintf("xid: XID %d", x))
		}
	}
	if r.NewUncorrectableECC && h.ECCUncorrectable != nil && prevH.ECCUncorrectable != nil && *h.ECCUncorrectable > *prevH.ECCUncorrectable {
		maint = append(maint, fmt.Sprintf("ecc-uncorrectable: %d uncorrectable ECC errors (was %d)", *h.ECCUncorrectable, *prevH.ECCUncorrectable))
	}
	if r.RemapFailure && h.RemapFailure {
		fail = append(fail, "remap-failure: row remapping failed")
	}
	if r.RetiredPagesMax > 0 && h.RetiredPages != nil && *h.RetiredPages >= r.RetiredPagesMax {
		fail = append(fail, fmt.Sprintf("retired-pages: %d retired pages (limit %d)", *h.RetiredPages, r.RetiredPagesMax))
	}
	if r.PendingReset && (h.RetirementPending || h.RemapPending) {
		maint = append(maint, "pending-reset: page retirement or row remap waits for a reset")
	}
	if slices.Contains(r.FailStatus, h.Status) {
		fail = append(fail, fmt.Sprintf("vendor-health: %s reports %s%s", cur.Tool, h.Status, codes(h.Errors)))
	} else if slices.Contains(r.MaintenanceStatus, h.Status) {
		maint = append(maint, fmt.Sprintf("vendor-health: %s reports %s%s", cur.Tool, h.Status, codes(h.Errors)))
	}
	if n := ThermalStreak(prev, h); r.ThermalReports > 0 && n >= r.ThermalReports {
		maint = append(maint, fmt.Sprintf("thermal-throttle: thermal slowdown in %d consecutive reports", n))
	}
	switch {
	case len(fail) > 0:
		return Verdict{To: fleet.Failed, Reason: strings.Join(append(fail, maint...), "; ")}
	case len(maint) > 0:
		return Verdict{To: fleet.Maintenance, Reason: strings.Join(maint, "; ")}
	}
	return Verdict{}
}

func codes(es []string) string {
	if len(es) == 0 {
		return ""
	}
	return " (error codes " + strings.Join(es, " ") + ")"
}

// ParseHealthRules reads rules from YAML or JSON (the field names of
// HealthRules); fields the file leaves out keep their defaults. An unknown
// field or a bad value is an error naming the file and field.
func ParseHealthRules(file string, data []byte) (HealthRules, error) {
	r := DefaultHealthRules()
	if err := decode.YAML(file, data, &r, decode.Default); err != nil {
		if _, ok := errors.AsType[*fleet.InputError](err); ok {
			return HealthRules{}, err
		}
		return HealthRules{}, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: yaml.FormatError(err, false, true)}
	}
	if err := r.Validate(); err != nil {
		return HealthRules{}, fmt.Errorf("%s: %w", file, err)
	}
	return r, nil
}
