// Package hwprobe reads what the accelerator vendors' own tools print —
// nvidia-smi -q -x, npu-smi info, cnmon info, hy-smi and kernel XID lines —
// into one Accelerator shape: identity (serial, UUID, product, PCI bus), memory,
// driver and firmware versions, and health signals. It is pure: parsers take
// bytes and return devices plus warnings; Discover takes the command runner as
// a function, so the agent (internal/cli/agentcmd) is the only edge that
// starts processes.
//
// A parser never invents a device or a health state: a value the tool did not
// print (or printed as N/A) stays nil, a record cut off mid-way is dropped
// with a warning naming the tool and line, and garbage yields no devices and
// a warning.
package hwprobe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
)

// Accelerator is one device as its vendor tool describes it.
type Accelerator struct {
	Vendor    string `json:"vendor"`               // "nvidia", "huawei", "cambricon", "hygon"
	Tool      string `json:"tool"`                 // the tool that reported it, e.g. "nvidia-smi"
	Index     int    `json:"index"`                // the tool's device index (NPU ID, card number…)
	Serial    string `json:"serial,omitempty"`     // board serial as printed; "" when the tool has none
	UUID      string `json:"uuid,omitempty"`       // vendor UUID, when the tool prints one
	Product   string `json:"product"`              // product name as printed, e.g. "NVIDIA H800", "910B3"
	Model     string `json:"model,omitempty"`      // catalog chip id (set by ResolveModels)
	MemoryMiB int64  `json:"memory_mib,omitempty"` // device memory, MiB; 0 = unknown
	Driver    string `json:"driver,omitempty"`     // driver / software version
	Firmware  string `json:"firmware,omitempty"`   // VBIOS / firmware / MCU version
	PCIBus    string `json:"pci_bus,omitempty"`    // domain:bus:device.function, lower case, e.g. "0000:18:00.0"
	Health    Health `json:"health"`
}

// Key is the identity the ledger files the device under: the board serial,
// or the UUID when the tool prints no serial. "" means the device cannot be
// filed (it is reported with a warning, never given an invented serial).
func (d Accelerator) Key() string {
	if d.Serial != "" {
		return d.Serial
	}
	return d.UUID
}

// Health is what a tool says about a device's condition. A nil pointer is a
// signal the tool did not report; zero is a reported zero.
type Health struct {
	// Status is the tool's own overall verdict, normalized to lower case:
	// npu-smi prints ok, warning, alarm or critical. "" when the tool has none.
	Status string `json:"status,omitempty"`
	// ECC error counts since the device was made (aggregate / lifetime
	// counters where the tool has them, else since the driver loaded).
	ECCCorrectable   *int64 `json:"ecc_correctable,omitempty"`
	ECCUncorrectable *int64 `json:"ecc_uncorrectable,omitempty"`
	// RetiredPages counts memory pages retired (NVIDIA pre-Ampere) or
	// isolated (Ascend HBM); RetirementPending is a retirement waiting for
	// the next driver reload.
	RetiredPages      *int64 `json:"retired_pages,omitempty"`
	RetirementPending bool   `json:"retirement_pending,omitempty"`
	// Row remapping (NVIDIA Ampere and later): rows remapped for
	// uncorrectable errors, a remap waiting for reset, and a remap that
	// failed (the bank has no spare rows left).
	RemappedRowsUncorrectable *int64 `json:"remapped_rows_uncorrectable,omitempty"`
	RemapPending              bool   `json:"remap_pending,omitempty"`
	RemapFailure              bool   `json:"remap_failure,omitempty"`
	// Errors are the device's error codes: NVIDIA XIDs as decimal strings
	// ("79"), Ascend error codes as printed ("80E01801").
	Errors []string `json:"errors,omitempty"`
	// TemperatureC is the die (or edge) temperature; PowerW the draw.
	TemperatureC *float64 `json:"temperature_c,omitempty"`
	PowerW       *float64 `json:"power_w,omitempty"`
	// Throttle lists the active clock-limiting reasons that are not the
	// user's choice or idleness, e.g. "hw_thermal_slowdown", "sw_power_cap".
	Throttle []string `json:"throttle,omitempty"`
}

// Warning is something a parser could not read: the tool, the 1-based line
// (0 when it applies to the whole output) and what was wrong.
type Warning struct {
	Tool string `json:"tool"`
	Line int    `json:"line,omitempty"`
	Msg  string `json:"msg"`
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", w.Tool, w.Line, w.Msg)
	}
	return w.Tool + ": " + w.Msg
}

// Bounds on what a parser reads, so a runaway tool cannot exhaust memory.
const (
	MaxOutputBytes = 8 << 20 // bytes of one tool's output that are read
	MaxDevices     = 256     // devices one tool may report
	maxErrors      = 32      // error codes kept per device
)

// ResolveModels sets each device's Model to the catalog id its Product
// names, with a warning for a product the catalog does not know (the device
// is kept, Model stays "", and the server decides).
func ResolveModels(cat *accel.Catalog, ds []Accelerator) []Warning {
	var ws []Warning
	for i := range ds {
		c, err := cat.Resolve(ds[i].Product)
		if err != nil {
			ws = append(ws, Warning{Tool: ds[i].Tool, Msg: fmt.Sprintf("device %d: product %q: %v", ds[i].Index, ds[i].Product, err)})
			continue
		}
		ds[i].Model = c.ID
	}
	return ws
}

// ErrNoTool is what a Run function returns (wrapped or not) when the tool is
// not installed; Discover then skips that vendor silently.
var ErrNoTool = errors.New("tool not installed")

// Run executes a vendor tool and returns its standard output. It is the only
// way Discover reaches the machine.
type Run func(name string, args ...string) ([]byte, error)

// naValue reports whether a printed value means "not available".
func naValue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "n/a", "na", "[n/a]", "not supported", "[not supported]", "-", "unknown":
		return true
	}
	return false
}

// cleanValue trims and maps "not available" spellings to "".
func cleanValue(s string) string {
	s = strings.TrimSpace(s)
	if naValue(s) {
		return ""
	}
	return s
}

// parseCount reads a non-negative integer count, nil for N/A or garbage.
func parseCount(s string) *int64 {
	s = strings.TrimSpace(s)
	if naValue(s) {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return nil
	}
	return &v
}

// parseQuantity reads "70.12 W", "34 C", "36" or "95.4": a number with an
// optional unit suffix; nil for N/A or garbage.
func parseQuantity(s string) *float64 {
	s = strings.TrimSpace(s)
	if naValue(s) {
		return nil
	}
	f := strings.Fields(s)
	num := strings.TrimRight(f[0], "CWcw%")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v != v || v > 1e9 || v < -1e9 {
		return nil
	}
	return &v
}

// parseMiB reads a memory size with a unit ("81559 MiB", "64 GiB",
// "68702699520" bytes when unit is "B") into MiB; 0 when unreadable.
func parseMiB(s string, defUnit string) int64 {
	f := strings.Fields(strings.TrimSpace(s))
	if len(f) == 0 || naValue(f[0]) {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 || v > 1e15 {
		return 0
	}
	unit := defUnit
	if len(f) > 1 {
		unit = f[1]
	}
	switch strings.ToLower(unit) {
	case "b", "bytes":
		return int64(v / (1 << 20))
	case "kib", "kb":
		return int64(v / 1024)
	case "mib", "mb":
		return int64(v)
	case "gib", "gb":
		return int64(v * 1024)
	}
	return 0
}

// normBus writes a PCI address as domain:bus:device.function in lower
// case with a 4-digit domain ("00000000:18:00.0" → "0000:18:00.0"); "" if
// s is not one.
func normBus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	parts := strings.Split(s, ":")
	if len(parts) == 2 {
		parts = append([]string{"0000"}, parts...)
	}
	if len(parts) != 3 {
		return ""
	}
	dom := parts[0]
	if len(dom) > 4 {
		dom = dom[len(dom)-4:]
	}
	dev, fn, ok := strings.Cut(parts[2], ".")
	if !ok || !hexOK(dom) || !hexOK(parts[1]) || !hexOK(dev) || !hexOK(fn) {
		return ""
	}
	return fmt.Sprintf("%04s:%02s:%02s.%s", dom, parts[1], dev, fn)
}

func hexOK(s string) bool {
	if s == "" || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// bounded cuts data to MaxOutputBytes, with a warning if it did.
func bounded(tool string, data []byte, ws []Warning) ([]byte, []Warning) {
	if len(data) > MaxOutputBytes {
		ws = append(ws, Warning{Tool: tool, Msg: fmt.Sprintf("output longer than %d bytes; the rest is ignored", MaxOutputBytes)})
		data = data[:MaxOutputBytes]
	}
	return data, ws
}

func addError(h *Health, code string) {
	if len(h.Errors) < maxErrors {
		h.Errors = append(h.Errors, code)
	}
}
