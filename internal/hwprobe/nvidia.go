package hwprobe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// nvGPU is the part of one <gpu> element of nvidia-smi -q -x that Granary
// reads. Element names cover DTD versions 10–12: drivers up to 525 print
// clocks_throttle_reasons, power_readings and single_bit/double_bit ECC
// totals; 530 and later print clocks_event_reasons, gpu_power_readings and
// sram/dram ECC counters.
type nvGPU struct {
	ID      string `xml:"id,attr"`
	Product string `xml:"product_name"`
	Serial  string `xml:"serial"`
	UUID    string `xml:"uuid"`
	VBIOS   string `xml:"vbios_version"`
	PCI     struct {
		BusID string `xml:"pci_bus_id"`
	} `xml:"pci"`
	FB struct {
		Total string `xml:"total"`
	} `xml:"fb_memory_usage"`
	ECC struct {
		Volatile  nvECC `xml:"volatile"`
		Aggregate nvECC `xml:"aggregate"`
	} `xml:"ecc_errors"`
	Retired struct {
		SBE struct {
			Count string `xml:"retired_count"`
		} `xml:"multiple_single_bit_retirement"`
		DBE struct {
			Count string `xml:"retired_count"`
		} `xml:"double_bit_retirement"`
		PendingBlacklist  string `xml:"pending_blacklist"`
		PendingRetirement string `xml:"pending_retirement"`
	} `xml:"retired_pages"`
	Remap struct {
		Unc     string `xml:"remapped_row_unc"`
		Pending string `xml:"remapped_row_pending"`
		Failure string `xml:"remapped_row_failure"`
	} `xml:"remapped_rows"`
	Temp struct {
		GPU string `xml:"gpu_temp"`
	} `xml:"temperature"`
	PowerV11 struct {
		Draw string `xml:"power_draw"`
	} `xml:"power_readings"`
	PowerV12 struct {
		Draw    string `xml:"power_draw"`
		Instant string `xml:"instant_power_draw"`
	} `xml:"gpu_power_readings"`
	ThrottleV11 nvReasons `xml:"clocks_throttle_reasons"`
	ThrottleV12 nvReasons `xml:"clocks_event_reasons"`
}

type nvECC struct {
	SRAMCorr      string `xml:"sram_correctable"`
	SRAMUnc       string `xml:"sram_uncorrectable"`
	SRAMUncParity string `xml:"sram_uncorrectable_parity"`
	SRAMUncSECDED string `xml:"sram_uncorrectable_secded"`
	DRAMCorr      string `xml:"dram_correctable"`
	DRAMUnc       string `xml:"dram_uncorrectable"`
	SingleBit     struct {
		Total string `xml:"total"`
	} `xml:"single_bit"`
	DoubleBit struct {
		Total string `xml:"total"`
	} `xml:"double_bit"`
}

type nvReasons struct {
	Items []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

// counts returns (correctable, uncorrectable) from whichever counter
// family the driver printed; nil when neither.
func (e nvECC) counts() (*int64, *int64) {
	sum := func(vs ...string) *int64 {
		var tot int64
		seen := false
		for _, v := range vs {
			if c := parseCount(v); c != nil {
				tot += *c
				seen = true
			}
		}
		if !seen {
			return nil
		}
		return &tot
	}
	corr := sum(e.SRAMCorr, e.DRAMCorr)
	unc := sum(e.SRAMUnc, e.SRAMUncParity, e.SRAMUncSECDED, e.DRAMUnc)
	if corr == nil {
		corr = parseCount(e.SingleBit.Total)
	}
	if unc == nil {
		unc = parseCount(e.DoubleBit.Total)
	}
	return corr, unc
}

// benignReasons are clock limits that say nothing about health.
var benignReasons = map[string]bool{
	"gpu_idle": true, "applications_clocks_setting": true, "display_clocks_setting": true,
	"sync_boost": true, "unknown": true,
}

func (r nvReasons) active() []string {
	var out []string
	for _, it := range r.Items {
		name := strings.TrimPrefix(strings.TrimPrefix(it.XMLName.Local, "clocks_event_reason_"), "clocks_throttle_reason_")
		if benignReasons[name] || !strings.EqualFold(strings.TrimSpace(it.Value), "Active") {
			continue
		}
		out = append(out, name)
	}
	return out
}

// ParseNvidiaSMI reads the output of nvidia-smi -q -x. GPUs that are
// complete are returned even when the document is cut off later; the GPU
// being read when it broke is dropped with a warning naming the line.
func ParseNvidiaSMI(data []byte) ([]Accelerator, []Warning) {
	const tool = "nvidia-smi"
	var ws []Warning
	data, ws = bounded(tool, data, ws)
	if !bytes.Contains(data[:min(len(data), 4096)], []byte("<nvidia_smi_log")) {
		return nil, append(ws, Warning{Tool: tool, Line: 1, Msg: "not nvidia-smi XML (no <nvidia_smi_log>): " + firstLine(data)})
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var (
		driver   string
		attached = -1
		out      []Accelerator
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := dec.InputPos()
			ws = append(ws, Warning{Tool: tool, Line: line, Msg: "unreadable XML: " + xmlMsg(err)})
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "driver_version":
			var s string
			if err := dec.DecodeElement(&s, &se); err == nil {
				driver = cleanValue(s)
			}
		case "attached_gpus":
			var s string
			if err := dec.DecodeElement(&s, &se); err == nil {
				if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
					attached = n
				}
			}
		case "gpu":
			line, _ := dec.InputPos()
			var g nvGPU
			if err := dec.DecodeElement(&g, &se); err != nil {
				end, _ := dec.InputPos()
				ws = append(ws, Warning{Tool: tool, Line: end, Msg: fmt.Sprintf("GPU starting at line %d is incomplete and was skipped: %s", line, xmlMsg(err))})
				goto done
			}
			if len(out) >= MaxDevices {
				ws = append(ws, Warning{Tool: tool, Line: line, Msg: fmt.Sprintf("more than %d GPUs; the rest are ignored", MaxDevices)})
				goto done
			}
			d, w := g.device(len(out), driver, line)
			ws = append(ws, w...)
			out = append(out, d)
		}
	}
done:
	if attached >= 0 && attached != len(out) {
		ws = append(ws, Warning{Tool: tool, Msg: fmt.Sprintf("%d GPUs attached but %d read", attached, len(out))})
	}
	return out, ws
}

func (g nvGPU) device(i int, driver string, line int) (Accelerator, []Warning) {
	d := Accelerator{
		Vendor: "nvidia", Tool: "nvidia-smi", Index: i,
		Serial: cleanValue(g.Serial), UUID: cleanValue(g.UUID), Product: cleanValue(g.Product),
		MemoryMiB: parseMiB(g.FB.Total, "MiB"), Driver: driver, Firmware: cleanValue(g.VBIOS),
		PCIBus: normBus(g.PCI.BusID),
	}
	if d.PCIBus == "" {
		d.PCIBus = normBus(g.ID)
	}
	// Serials are digits; "0" or "Not Supported" on boards without one.
	if strings.Trim(d.Serial, "0") == "" {
		d.Serial = ""
	}
	var ws []Warning
	if d.Key() == "" {
		ws = append(ws, Warning{Tool: "nvidia-smi", Line: line, Msg: fmt.Sprintf("GPU %d has neither serial nor UUID", i)})
	}
	h := &d.Health
	h.ECCCorrectable, h.ECCUncorrectable = g.ECC.Aggregate.counts()
	if h.ECCCorrectable == nil && h.ECCUncorrectable == nil {
		h.ECCCorrectable, h.ECCUncorrectable = g.ECC.Volatile.counts()
	}
	sbe, dbe := parseCount(g.Retired.SBE.Count), parseCount(g.Retired.DBE.Count)
	if sbe != nil || dbe != nil {
		var n int64
		for _, c := range []*int64{sbe, dbe} {
			if c != nil {
				n += *c
			}
		}
		h.RetiredPages = &n
	}
	h.RetirementPending = yes(g.Retired.PendingBlacklist) || yes(g.Retired.PendingRetirement)
	h.RemappedRowsUncorrectable = parseCount(g.Remap.Unc)
	h.RemapPending = yes(g.Remap.Pending)
	h.RemapFailure = yes(g.Remap.Failure)
	h.TemperatureC = parseQuantity(g.Temp.GPU)
	for _, p := range []string{g.PowerV12.Draw, g.PowerV12.Instant, g.PowerV11.Draw} {
		if h.PowerW = parseQuantity(p); h.PowerW != nil {
			break
		}
	}
	h.Throttle = append(g.ThrottleV12.active(), g.ThrottleV11.active()...)
	return d, ws
}

func yes(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "yes") }

func xmlMsg(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return se.Msg
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "output ends in the middle of an element"
	}
	return err.Error()
}

// firstLine quotes the start of data for a message.
func firstLine(data []byte) string {
	l, _, _ := bytes.Cut(data, []byte("\n"))
	if len(l) > 80 {
		l = l[:80]
	}
	return strconv.Quote(string(bytes.TrimSpace(l)))
}
