package hwprobe

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// HySMIArgs are the flags the agent passes to hy-smi (Hygon DCU; its output
// follows rocm-smi's "DCU[i] : key: value" lines).
var HySMIArgs = []string{"--showproductname", "--showserial", "--showuniqueid", "--showbus", "--showmeminfo", "vram",
	"--showtemp", "--showpower", "--showdriverversion", "--showvbios", "--showrasinfo", "all"}

var hyLine = regexp.MustCompile(`^(?:DCU|HCU|GPU)\[(\d+)\]\s*:\s*(.*)$`)

// ParseHySMI reads the output of hy-smi with HySMIArgs (hy-smi 1.x–2.x of
// DTK 23–25). Every device line is "DCU[i]\t\t: key: value"; RAS lines are
// "DCU[i] : BLOCK STATUS CORRECTABLE UNCORRECTABLE" and are summed over
// blocks. A device without a product or serial line is dropped with a
// warning.
func ParseHySMI(data []byte) ([]Accelerator, []Warning) {
	const tool = "hy-smi"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	byIdx := map[int]*Accelerator{}
	var order []int
	first := map[int]int{}
	var corr, unc = map[int]*sumCount{}, map[int]*sumCount{}
	driver := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(t, ":"); ok && normKey(k) == "driver version" {
			driver = cleanValue(v)
			continue
		}
		m := hyLine.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		idx, err := strconv.Atoi(m[1])
		if err != nil || idx > 1<<16 {
			ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("device index %q is out of range", m[1])})
			continue
		}
		d := byIdx[idx]
		if d == nil {
			if len(order) >= MaxDevices {
				ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("more than %d devices; the rest are ignored", MaxDevices)})
				break
			}
			d = &Accelerator{Vendor: "hygon", Tool: tool, Index: idx}
			byIdx[idx], first[idx] = d, line
			corr[idx], unc[idx] = &sumCount{}, &sumCount{}
			order = append(order, idx)
		}
		rest := m[2]
		key, val, ok := strings.Cut(rest, ": ")
		if !ok {
			// A RAS row: BLOCK STATUS CE UE.
			f := strings.Fields(rest)
			if len(f) == 4 && (f[1] == "ENABLED" || f[1] == "DISABLED") {
				corr[idx].add(f[2])
				unc[idx].add(f[3])
			}
			continue
		}
		k, v := normKey(key), cleanValue(val)
		switch {
		case k == "card series" || (k == "card model" && d.Product == ""):
			d.Product = v
		case k == "serial number":
			d.Serial = v
		case k == "unique id":
			d.UUID = v
		case k == "pci bus":
			d.PCIBus = normBus(v)
		case k == "vram total memory (b)":
			d.MemoryMiB = parseMiB(v, "B")
		case k == "vbios version":
			d.Firmware = v
		case strings.HasPrefix(k, "temperature") && (strings.Contains(k, "junction") || (strings.Contains(k, "edge") && d.Health.TemperatureC == nil)):
			d.Health.TemperatureC = parseQuantity(v)
		case strings.Contains(k, "graphics package power (w)"):
			d.Health.PowerW = parseQuantity(v)
		case k == "driver version":
			driver = v
		}
	}
	var out []Accelerator
	for _, idx := range order {
		d := byIdx[idx]
		d.Driver = driver
		d.Health.ECCCorrectable, d.Health.ECCUncorrectable = corr[idx].v, unc[idx].v
		if d.Product == "" || d.Key() == "" {
			ws = append(ws, Warning{Tool: tool, Line: first[idx], Msg: fmt.Sprintf("DCU %d has no product or serial line and was skipped", idx)})
			continue
		}
		out = append(out, *d)
	}
	if len(order) == 0 {
		ws = append(ws, Warning{Tool: tool, Line: 1, Msg: "no \"DCU[i] :\" lines: " + firstLine(data)})
	}
	return out, ws
}
