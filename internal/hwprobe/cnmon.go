package hwprobe

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseCnmon reads `cnmon info` (Cambricon MLU driver 4.x–5.x): one block
// per card, opened by a "Card N" line, of indented "Key : Value" lines
// grouped under headings (PCIe, Physical Memory Usage, Power, Temperature,
// ECC, Retired Pages). A card block cut off before its identity is dropped
// with a warning.
func ParseCnmon(data []byte) ([]Accelerator, []Warning) {
	const tool = "cnmon"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	var (
		out   []Accelerator
		cur   *Accelerator
		start int
		bus   [4]string // domain, bus, device, function
		corr  sumCount
		unc   sumCount
		ret   sumCount
	)
	finish := func() {
		if cur == nil {
			return
		}
		if bus[1] != "" {
			cur.PCIBus = normBus(fmt.Sprintf("%s:%s:%s.%s", pad(bus[0], "0"), bus[1], pad(bus[2], "0"), pad(bus[3], "0")))
		}
		cur.Health.ECCCorrectable, cur.Health.ECCUncorrectable, cur.Health.RetiredPages = corr.v, unc.v, ret.v
		if cur.Product == "" || cur.Key() == "" {
			ws = append(ws, Warning{Tool: tool, Line: start, Msg: fmt.Sprintf("card %d has no product name or serial and was skipped (output cut off?)", cur.Index)})
			out = out[:len(out)-1]
		}
		cur, bus, corr, unc, ret = nil, [4]string{}, sumCount{}, sumCount{}, sumCount{}
	}
	seen := false
	for _, kv := range scanKV(data) {
		if f := strings.Fields(kv.Key); kv.Value == "" && len(f) == 2 && f[0] == "Card" {
			finish()
			id, err := strconv.Atoi(f[1])
			if err != nil {
				ws = append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("card number %q is not a number", f[1])})
				continue
			}
			if len(out) >= MaxDevices {
				ws = append(ws, Warning{Tool: tool, Line: kv.Line, Msg: fmt.Sprintf("more than %d cards; the rest are ignored", MaxDevices)})
				return out, ws
			}
			seen = true
			out = append(out, Accelerator{Vendor: "cambricon", Tool: tool, Index: id})
			cur, start = &out[len(out)-1], kv.Line
			continue
		}
		if cur == nil || kv.Value == "" {
			continue
		}
		k, sec := normKey(kv.Key), normKey(kv.Section)
		switch {
		case k == "product name":
			cur.Product = cleanValue(kv.Value)
		case k == "serial number":
			cur.Serial = cleanValue(kv.Value)
		case k == "uuid":
			cur.UUID = cleanValue(kv.Value)
		case k == "driver":
			cur.Driver = cleanValue(kv.Value)
		case k == "firmware" || (k == "mcu" && cur.Firmware == ""):
			cur.Firmware = cleanValue(kv.Value)
		case sec == "pcie" || sec == "pcie info":
			switch k {
			case "domain id":
				bus[0] = kv.Value
			case "bus num":
				bus[1] = kv.Value
			case "device":
				bus[2] = kv.Value
			case "function":
				bus[3] = kv.Value
			}
		case sec == "physical memory usage" && k == "total":
			cur.MemoryMiB = parseMiB(kv.Value, "MiB")
		case sec == "power" && k == "usage":
			cur.Health.PowerW = parseQuantity(kv.Value)
		case sec == "temperature" && (k == "chip" || (k == "board" && cur.Health.TemperatureC == nil)):
			cur.Health.TemperatureC = parseQuantity(kv.Value)
		case sec == "ecc":
			switch {
			case strings.Contains(k, "double bit") || strings.Contains(k, "multiple bits") || strings.Contains(k, "uncorrect"):
				unc.add(kv.Value)
			case strings.Contains(k, "single bit") || strings.Contains(k, "correct"):
				corr.add(kv.Value)
			}
		case sec == "retired pages" || sec == "retired page":
			if k == "pending" {
				cur.Health.RetirementPending = yes(kv.Value)
			} else {
				ret.add(kv.Value)
			}
		}
	}
	finish()
	if !seen {
		ws = append(ws, Warning{Tool: tool, Line: 1, Msg: "no \"Card N\" block: " + firstLine(data)})
	}
	return out, ws
}

// sumCount adds counts, staying nil until one is readable.
type sumCount struct{ v *int64 }

func (s *sumCount) add(v string) {
	c := parseCount(v)
	if c == nil {
		return
	}
	if s.v == nil {
		s.v = new(int64)
	}
	*s.v += *c
}

func pad(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return strings.TrimSpace(s)
}
