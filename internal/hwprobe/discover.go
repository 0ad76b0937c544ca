package hwprobe

import (
	"errors"
	"fmt"
	"strconv"
)

// Discover asks every vendor tool in turn what this host holds, through
// run: nvidia-smi -q -x (and dmesg for XIDs when there are NVIDIA GPUs),
// npu-smi info with -t board and -t health per NPU, cnmon info and hy-smi.
// A tool that is not installed (run returns ErrNoTool) is skipped; one that
// fails is a warning, and the other vendors are still read. Devices come
// back in tool order, each tool's in its own order.
func Discover(run Run) ([]Accelerator, []Warning) {
	var (
		out []Accelerator
		ws  []Warning
	)
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
	if b, ok := call("nvidia-smi", "-q", "-x"); ok {
		ds, w := ParseNvidiaSMI(b)
		ws = append(ws, w...)
		if len(ds) > 0 {
			if k, ok := call("dmesg"); ok {
				ws = append(ws, ApplyKernelXids(ds, k)...)
			}
		}
		out = append(out, ds...)
	}
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
	}
	if b, ok := call("cnmon", "info"); ok {
		ds, w := ParseCnmon(b)
		ws = append(ws, w...)
		out = append(out, ds...)
	}
	if b, ok := call("hy-smi", HySMIArgs...); ok {
		ds, w := ParseHySMI(b)
		ws = append(ws, w...)
		out = append(out, ds...)
	}
	return out, ws
}
