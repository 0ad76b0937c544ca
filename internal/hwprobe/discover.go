package hwprobe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ToolRun says whether one vendor tool ran and was read without warnings.
// Only a clean run lets the server conclude that a device it no longer
// lists has disappeared.
type ToolRun struct {
	Tool   string `json:"tool"`   // "nvidia-smi", "npu-smi", "cnmon", "hy-smi"
	Vendor string `json:"vendor"` // "nvidia", "huawei", "cambricon", "hygon"
	Clean  bool   `json:"clean"`
}

// Discover asks every vendor tool in turn what this host holds, through
// run: nvidia-smi -q -x (and dmesg for XIDs when there are NVIDIA GPUs),
// npu-smi info with -t board and -t health per NPU, cnmon info and hy-smi.
// A tool that is not installed (run returns ErrNoTool) is skipped; one that
// fails is a warning, and the other vendors are still read. Devices come
// back in tool order, each tool's in its own order, with one ToolRun per
// installed vendor tool.
func Discover(run Run) ([]Accelerator, []Warning, []ToolRun) {
	var (
		out  []Accelerator
		ws   []Warning
		runs []ToolRun
	)
	// track records a vendor tool's run: clean unless a warning since
	// mark names it.
	track := func(tool, vendor string, mark int) {
		clean := true
		for _, w := range ws[mark:] {
			clean = clean && !strings.HasPrefix(w.Tool, tool)
		}
		runs = append(runs, ToolRun{Tool: tool, Vendor: vendor, Clean: clean})
	}
	call := func(tool string, args ...string) ([]byte, bool) {
		b, err := run(tool, args...)
		if errors.Is(err, ErrNoTool) {
			return nil, false
		}
		if err != nil {
			// A tool that fails may still have printed a usable report.
			ws = append(ws, Warning{Tool: tool, Msg: fmt.Sprintf("%v", err)})
			return b, len(b) > 0
		}
		return b, true
	}
	mark := len(ws)
	if b, ok := call("nvidia-smi", "-q", "-x"); ok {
		ds, w := ParseNvidiaSMI(b)
		ws = append(ws, w...)
		if len(ds) > 0 {
			if k, ok := call("dmesg"); ok {
				ws = append(ws, ApplyKernelXids(ds, k)...)
			}
		}
		out = append(out, ds...)
		track("nvidia-smi", "nvidia", mark)
	}
	mark = len(ws)
	if b, ok := call("npu-smi", "info"); ok {
		ds, w := ParseNPUInfo(b)
		ws = append(ws, w...)
		for i := range ds {
			id := strconv.Itoa(ds[i].Index)
			if b, ok := call("npu-smi", "info", "-t", "board", "-i", id); ok {
				ws = append(ws, ApplyNPUBoard(&ds[i], b)...)
			}
			if b, ok := call("npu-smi", "info", "-t", "health", "-i", id); ok {
				ws = append(ws, ApplyNPUHealth(&ds[i], b)...)
			}
			if ds[i].Key() == "" {
				ws = append(ws, Warning{Tool: "npu-smi", Msg: fmt.Sprintf("NPU %d: no serial number (npu-smi info -t board gave none)", ds[i].Index)})
			}
		}
		out = append(out, ds...)
		track("npu-smi", "huawei", mark)
	}
	mark = len(ws)
	if b, ok := call("cnmon", "info"); ok {
		ds, w := ParseCnmon(b)
		ws = append(ws, w...)
		out = append(out, ds...)
		track("cnmon", "cambricon", mark)
	}
	mark = len(ws)
	if b, ok := call("hy-smi", HySMIArgs...); ok {
		ds, w := ParseHySMI(b)
		ws = append(ws, w...)
		out = append(out, ds...)
		track("hy-smi", "hygon", mark)
	}
	return out, ws, runs
}
