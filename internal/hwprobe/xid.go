package hwprobe

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// xidLine matches the NVIDIA kernel driver's error report,
// "NVRM: Xid (PCI:0000:5d:00): 48, pid=…", as dmesg prints it.
var xidLine = regexp.MustCompile(`NVRM: Xid \(PCI:([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2})\): ([^,]*)`)

// ApplyKernelXids adds the XIDs found in kernel log lines (dmesg output)
// to the NVIDIA devices on the named PCI buses, each XID once per device
// in first-seen order. Lines for a bus no device is on are ignored; an XID
// that is not a number is a warning.
func ApplyKernelXids(ds []Accelerator, data []byte) []Warning {
	const tool = "dmesg"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	byBus := map[string]*Accelerator{}
	for i := range ds {
		if ds[i].Vendor == "nvidia" && len(ds[i].PCIBus) > 2 {
			byBus[ds[i].PCIBus[:len(ds[i].PCIBus)-2]] = &ds[i] // drop ".F"
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		m := xidLine.FindSubmatch(sc.Bytes())
		if m == nil {
			continue
		}
		bus := normBus(string(m[1]) + ".0")
		if bus == "" {
			continue
		}
		d := byBus[bus[:len(bus)-2]]
		if d == nil {
			continue
		}
		xs := strings.TrimSpace(string(m[2]))
		x, err := strconv.Atoi(xs)
		if err != nil || x <= 0 || x > 1<<16 {
			ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("Xid %q is not a number", xs)})
			continue
		}
		code := strconv.Itoa(x)
		dup := false
		for _, e := range d.Health.Errors {
			dup = dup || e == code
		}
		if !dup {
			addError(&d.Health, code)
		}
	}
	return ws
}
