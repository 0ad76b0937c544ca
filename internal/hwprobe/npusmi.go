package hwprobe

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ParseNPUInfo reads the summary table of `npu-smi info` (Ascend driver
// 20.x–24.x): each NPU is a pair of rows, "| NPU Name | Health | Power(W)
// Temp(C) … |" then "| Chip | Bus-Id | AICore(%) Memory-Usage(MB)
// HBM-Usage(MB) |". The table ends at the process table. An NPU with
// several chips (Atlas A3) is one device whose memory is the sum of its
// chips'. Serial numbers and firmware come from `npu-smi info -t board`
// (ApplyNPUBoard).
func ParseNPUInfo(data []byte) ([]Accelerator, []Warning) {
	const tool = "npu-smi"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	var (
		out     []Accelerator
		cur     *Accelerator
		inTable bool
		seen    bool
		version string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(t, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(t, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		head := strings.Fields(cells[0])
		switch {
		case len(head) >= 2 && head[0] == "npu-smi":
			version = head[1]
			continue
		case len(head) >= 2 && head[0] == "NPU" && head[1] == "Name":
			inTable, seen = true, true
			continue
		case len(head) >= 1 && head[0] == "Chip" && len(cells) > 1 && strings.HasPrefix(cells[1], "Bus-Id"):
			continue
		case len(head) >= 2 && head[0] == "NPU" && head[1] == "Chip":
			inTable = false // process table
			continue
		}
		if !inTable || strings.Trim(t, "|=+- ") == "" {
			continue
		}
		if len(cells) < 3 {
			ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("row has %d columns, want 3", len(cells))})
			continue
		}
		switch {
		case len(head) >= 2: // NPU row: id, name
			id, err := strconv.Atoi(head[0])
			if err != nil {
				ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("NPU id %q is not a number", head[0])})
				cur = nil
				continue
			}
			if len(out) >= MaxDevices {
				ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("more than %d NPUs; the rest are ignored", MaxDevices)})
				return out, ws
			}
			d := Accelerator{Vendor: "huawei", Tool: tool, Index: id, Product: strings.Join(head[1:], " "), Driver: version}
			if st := strings.ToLower(cleanValue(cells[1])); npuSeverity[st] > 0 {
				d.Health.Status = st
			} else if st != "" {
				ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("NPU %d: unknown health %q (want OK, Warning, Alarm or Critical)", id, cells[1])})
			}
			if f := strings.Fields(cells[2]); len(f) >= 2 {
				d.Health.PowerW = parseQuantity(f[0])
				d.Health.TemperatureC = parseQuantity(f[1])
			}
			out = append(out, d)
			cur = &out[len(out)-1]
		case len(head) == 1 && cur != nil: // chip row: chip id, bus, usage
			if _, err := strconv.Atoi(head[0]); err != nil {
				ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("chip id %q is not a number", head[0])})
				continue
			}
			if cur.PCIBus == "" {
				cur.PCIBus = normBus(cells[1])
			}
			if total, ok := lastTotal(cells[2]); ok {
				cur.MemoryMiB += total
			}
		default:
			ws = append(ws, Warning{Tool: tool, Line: line, Msg: "row is neither an NPU nor a chip row"})
		}
	}
	if !seen {
		ws = append(ws, Warning{Tool: tool, Line: 1, Msg: "no NPU table (want a header row \"| NPU Name | Health |\"): " + firstLine(data)})
	}
	return out, ws
}

// lastTotal reads the last "used / total" pair of a usage cell (the HBM
// column on 910 parts), in MB.
func lastTotal(cell string) (int64, bool) {
	i := strings.LastIndex(cell, "/")
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(cell[i+1:])
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || v < 0 || v > 1<<30 {
		return 0, false
	}
	return v, true
}

// ApplyNPUBoard fills d's serial, firmware and driver from the output of
// `npu-smi info -t board -i N`. A board report for a different NPU id or
// PCI bus is refused with a warning.
func ApplyNPUBoard(d *Accelerator, data []byte) []Warning {
	const tool = "npu-smi -t board"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	found := false
	for _, kv := range scanKV(data) {
		switch normKey(kv.Key) {
		case "npu id":
			found = true
			if id, err := strconv.Atoi(kv.Value); err != nil || id != d.Index {
				return append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("report is for NPU %q, asked for %d", kv.Value, d.Index)})
			}
		case "serial number":
			d.Serial = cleanValue(kv.Value)
		case "firmware version":
			d.Firmware = cleanValue(kv.Value)
		case "software version":
			if v := cleanValue(kv.Value); v != "" {
				d.Driver = v
			}
		case "pcie bus info":
			if b := normBus(kv.Value); b != "" && d.PCIBus != "" && b != d.PCIBus {
				return append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("board is on bus %s, the NPU table says %s", b, d.PCIBus)})
			}
		}
	}
	if !found {
		ws = append(ws, Warning{Tool: tool, Line: 1, Msg: fmt.Sprintf("NPU %d: no \"NPU ID\" line: %s", d.Index, firstLine(data))})
	}
	return ws
}

// ApplyNPUHealth fills d's health status and error codes from the output
// of `npu-smi info -t health -i N` (one block per chip; the worst status
// wins, error codes are collected from every chip).
func ApplyNPUHealth(d *Accelerator, data []byte) []Warning {
	const tool = "npu-smi -t health"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	found := false
	for _, kv := range scanKV(data) {
		switch normKey(kv.Key) {
		case "npu id":
			if id, err := strconv.Atoi(kv.Value); err != nil || id != d.Index {
				return append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("report is for NPU %q, asked for %d", kv.Value, d.Index)})
			}
		case "health", "healthy":
			found = true
			st := strings.ToLower(cleanValue(kv.Value))
			if _, known := npuSeverity[st]; !known && st != "" {
				ws = append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("unknown health %q (want OK, Warning, Alarm or Critical)", kv.Value)})
				continue
			}
			if npuSeverity[st] > npuSeverity[d.Health.Status] {
				d.Health.Status = st
			}
		case "error code":
			for _, c := range strings.Fields(kv.Value) {
				if naValue(c) {
					continue
				}
				if _, err := strconv.ParseUint(c, 16, 32); err != nil {
					ws = append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("error code %q is not hexadecimal", c)})
					continue
				}
				addError(&d.Health, strings.ToUpper(c))
			}
		}
	}
	if !found {
		ws = append(ws, Warning{Tool: tool, Line: 1, Msg: fmt.Sprintf("NPU %d: no \"Health\" line: %s", d.Index, firstLine(data))})
	}
	return ws
}

// npuSeverity orders npu-smi's health words.
var npuSeverity = map[string]int{"": 0, "ok": 1, "warning": 2, "alarm": 3, "critical": 4}
