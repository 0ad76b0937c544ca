package hwprobe

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json")

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type result struct {
	Devices  []Accelerator `json:"devices"`
	Warnings []Warning     `json:"warnings"`
}

// golden compares what a parser made of a recorded output with
// testdata/golden/NAME.json (refresh with -update, then read the diff).
func golden(t *testing.T, name string, ds []Accelerator, ws []Warning) {
	t.Helper()
	got, err := json.MarshalIndent(result{ds, ws}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(strings.TrimSpace(string(want)), string(got)); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

func TestGolden(t *testing.T) {
	parsers := map[string]func([]byte) ([]Accelerator, []Warning){
		"nvidia-smi": ParseNvidiaSMI, "npu-smi": ParseNPUInfo, "cnmon": ParseCnmon, "hy-smi": ParseHySMI,
	}
	files, _ := filepath.Glob("testdata/*")
	n := 0
	for _, f := range files {
		base := filepath.Base(f)
		var parse func([]byte) ([]Accelerator, []Warning)
		for prefix, p := range parsers {
			if strings.HasPrefix(base, prefix+"-") && !strings.Contains(base, "-board-") && !strings.Contains(base, "-health-") {
				parse = p
			}
		}
		if parse == nil {
			continue
		}
		n++
		t.Run(base, func(t *testing.T) {
			ds, ws := parse(read(t, base))
			golden(t, strings.TrimSuffix(base, filepath.Ext(base)), ds, ws)
		})
	}
	if n < 10 {
		t.Fatalf("only %d recorded outputs found", n)
	}
}

func i64(v int64) *int64 { return &v }

func TestNvidia535(t *testing.T) {
	ds, ws := ParseNvidiaSMI(read(t, "nvidia-smi-535.xml"))
	if len(ws) != 0 || len(ds) != 8 {
		t.Fatalf("got %d devices, warnings %v; want 8, none", len(ds), ws)
	}
	d := ds[5]
	if d.Serial != "1652823011005" || d.Product != "NVIDIA H800" || d.MemoryMiB != 81559 || d.Driver != "535.129.03" ||
		d.Firmware != "96.00.74.00.0B" || d.PCIBus != "0000:ab:00.0" {
		t.Errorf("identity of GPU 5: %+v", d)
	}
	h := d.Health
	if diff := cmp.Diff(Health{
		ECCCorrectable: i64(0), ECCUncorrectable: i64(3), RemappedRowsUncorrectable: i64(1), RemapFailure: true,
		TemperatureC: h.TemperatureC, PowerW: h.PowerW, Throttle: []string{"hw_thermal_slowdown"},
	}, h); diff != "" {
		t.Errorf("health of GPU 5 (-want +got):\n%s", diff)
	}
	if *h.TemperatureC != 88 || *h.PowerW != 72.05 {
		t.Errorf("temperature %v, power %v; want 88, 72.05", *h.TemperatureC, *h.PowerW)
	}
	if ds[0].Health.RetiredPages != nil {
		t.Errorf("retired pages N/A on Hopper read as %v", *ds[0].Health.RetiredPages)
	}
	if c := ds[3].Health.ECCCorrectable; c == nil || *c != 12 {
		t.Errorf("GPU 3 correctable = %v, want 12", c)
	}
}

func TestNvidia470(t *testing.T) {
	ds, ws := ParseNvidiaSMI(read(t, "nvidia-smi-470.xml"))
	if len(ws) != 0 || len(ds) != 2 {
		t.Fatalf("got %d devices, warnings %v", len(ds), ws)
	}
	h := ds[1].Health
	if *h.ECCCorrectable != 130 || *h.ECCUncorrectable != 2 || *h.RetiredPages != 68 || !h.RetirementPending || h.RemappedRowsUncorrectable != nil {
		t.Errorf("V100 health: %+v", h)
	}
	if !slices.Equal(ds[0].Health.Throttle, []string{"sw_power_cap"}) {
		t.Errorf("throttle %v, want [sw_power_cap]", ds[0].Health.Throttle)
	}
}

func TestNvidiaDamaged(t *testing.T) {
	ds, ws := ParseNvidiaSMI(read(t, "nvidia-smi-535-truncated.xml"))
	if len(ds) != 2 {
		t.Errorf("truncated in GPU 3: got %d devices, want the 2 complete ones", len(ds))
	}
	if len(ws) != 2 || ws[0].Line == 0 || !strings.Contains(ws[0].Msg, "incomplete") || !strings.Contains(ws[1].Msg, "8 GPUs attached but 2 read") {
		t.Errorf("warnings %v", ws)
	}
	ds, ws = ParseNvidiaSMI(read(t, "nvidia-smi-nodriver.txt"))
	if len(ds) != 0 || len(ws) != 1 || !strings.Contains(ws[0].String(), "nvidia-smi: line 1: not nvidia-smi XML") {
		t.Errorf("driver failure text: %v %v", ds, ws)
	}
	ds, ws = ParseNvidiaSMI(read(t, "nvidia-smi-580-unknown.xml"))
	if len(ds) != 1 || len(ws) != 0 || ds[0].Serial != "" || !strings.HasPrefix(ds[0].Key(), "GPU-") {
		t.Errorf("unknown version: %+v %v (want the UUID as key)", ds, ws)
	}
}

func TestNPU(t *testing.T) {
	ds, ws := ParseNPUInfo(read(t, "npu-smi-23.0.rc2-info.txt"))
	if len(ds) != 8 || len(ws) != 0 {
		t.Fatalf("got %d devices, %v", len(ds), ws)
	}
	d := ds[6]
	if d.Product != "910B3" || d.PCIBus != "0000:41:00.0" || d.MemoryMiB != 65536 || d.Health.Status != "ok" && d.Health.Status != "critical" {
		t.Errorf("NPU 6: %+v", d)
	}
	ws = ApplyNPUBoard(&d, read(t, "npu-smi-23.0.rc2-board-6.txt"))
	ws = append(ws, ApplyNPUHealth(&d, read(t, "npu-smi-23.0.rc2-health-6.txt"))...)
	if len(ws) != 0 || d.Serial != "1026"+"33VNY10M9000128" || d.Firmware != "7.1.0.3.220" || d.Health.Status != "critical" ||
		!slices.Equal(d.Health.Errors, []string{"80E18005", "80CB8009"}) {
		t.Errorf("NPU 6 after board+health: %+v %v", d, ws)
	}
	// A board report for another NPU is refused.
	d0 := ds[0]
	if ws := ApplyNPUBoard(&d0, read(t, "npu-smi-23.0.rc2-board-6.txt")); len(ws) != 1 || d0.Serial != "" {
		t.Errorf("board of NPU 6 applied to NPU 0: %+v %v", d0, ws)
	}
	ds, ws = ParseNPUInfo(read(t, "npu-smi-23.0.rc2-info-truncated.txt"))
	if len(ds) != 4 || len(ws) != 1 || ds[3].PCIBus != "" {
		t.Errorf("truncated: %d devices %v; last %+v", len(ds), ws, ds[len(ds)-1])
	}
	ds, ws = ParseNPUInfo(read(t, "npu-smi-20.2-info.txt"))
	if len(ds) != 2 || ds[1].Health.Status != "alarm" || ds[0].MemoryMiB != 32768 || ds[0].Driver != "20.2.0" {
		t.Errorf("20.2: %+v %v", ds, ws)
	}
}

func TestCnmonHySMI(t *testing.T) {
	ds, ws := ParseCnmon(read(t, "cnmon-5.10.22-info.txt"))
	if len(ds) != 2 || len(ws) != 0 {
		t.Fatalf("cnmon: %d devices %v", len(ds), ws)
	}
	d := ds[1]
	if d.Serial != "2211000382" || d.PCIBus != "0000:3d:00.0" || d.MemoryMiB != 49152 || *d.Health.ECCCorrectable != 17 ||
		*d.Health.ECCUncorrectable != 2 || *d.Health.RetiredPages != 5 || !d.Health.RetirementPending || *d.Health.TemperatureC != 44 {
		t.Errorf("cnmon card 1: %+v %+v", d, d.Health)
	}
	ds, ws = ParseCnmon(read(t, "cnmon-5.10.22-info-truncated.txt"))
	if len(ds) != 1 || len(ws) != 1 {
		t.Errorf("cnmon truncated: %d devices %v", len(ds), ws)
	}
	ds, ws = ParseHySMI(read(t, "hy-smi-2.0-all.txt"))
	if len(ds) != 2 || len(ws) != 0 {
		t.Fatalf("hy-smi: %d devices %v", len(ds), ws)
	}
	d = ds[1]
	if d.Product != "K100_AI" || d.Serial != "PJ2341A00188" || d.MemoryMiB != 65520 || d.Driver != "6.3.8-V1.5.1" ||
		*d.Health.TemperatureC != 91 || *d.Health.ECCCorrectable != 5 || *d.Health.ECCUncorrectable != 1 {
		t.Errorf("hy-smi DCU 1: %+v %+v", d, d.Health)
	}
	ds, ws = ParseHySMI(read(t, "hy-smi-2.0-garbage.txt"))
	if len(ds) != 0 || len(ws) != 1 {
		t.Errorf("garbage: %v %v", ds, ws)
	}
}

func TestXids(t *testing.T) {
	ds, _ := ParseNvidiaSMI(read(t, "nvidia-smi-535.xml"))
	ws := ApplyKernelXids(ds, read(t, "dmesg-xid.txt"))
	if !slices.Equal(ds[3].Health.Errors, []string{"48", "63"}) || !slices.Equal(ds[5].Health.Errors, []string{"79"}) || len(ds[0].Health.Errors) != 0 {
		t.Errorf("xids: 3=%v 5=%v 0=%v", ds[3].Health.Errors, ds[5].Health.Errors, ds[0].Health.Errors)
	}
	if len(ws) != 1 || ws[0].Line != 6 {
		t.Errorf("warnings %v, want one at line 6", ws)
	}
}

func TestResolveModels(t *testing.T) {
	cat := accel.Default()
	var all []Accelerator
	for _, c := range []struct {
		f     string
		parse func([]byte) ([]Accelerator, []Warning)
	}{{"nvidia-smi-535.xml", ParseNvidiaSMI}, {"nvidia-smi-470.xml", ParseNvidiaSMI}, {"npu-smi-23.0.rc2-info.txt", ParseNPUInfo},
		{"cnmon-5.10.22-info.txt", ParseCnmon}, {"hy-smi-2.0-all.txt", ParseHySMI}} {
		ds, _ := c.parse(read(t, c.f))
		all = append(all, ds[0])
	}
	all = append(all, Accelerator{Product: "Frobnicator 9000", Tool: "x"})
	ws := ResolveModels(cat, all)
	var got []string
	for _, d := range all {
		got = append(got, d.Model)
	}
	want := []string{"h800-sxm5-80gb", "v100-sxm2-32gb", "ascend-910b3", "mlu370-x8", "hygon-k100-ai", ""}
	if !slices.Equal(got, want) || len(ws) != 1 {
		t.Errorf("models %v, want %v; warnings %v", got, want, ws)
	}
}

func TestDiscover(t *testing.T) {
	files := map[string]string{
		"nvidia-smi -q -x":                       "nvidia-smi-470.xml",
		"dmesg":                                  "dmesg-xid.txt",
		"npu-smi info":                           "npu-smi-20.2-info.txt",
		"npu-smi info -t board -i 0":             "npu-smi-23.0.rc2-board-0.txt",
		"npu-smi info -t health -i 0":            "npu-smi-23.0.rc2-health-0.txt",
		"npu-smi info -t board -i 1":             "npu-smi-notfound.txt",
		"hy-smi " + strings.Join(HySMIArgs, " "): "hy-smi-2.0-all.txt",
	}
	var calls []string
	run := func(name string, args ...string) ([]byte, error) {
		c := strings.Join(append([]string{name}, args...), " ")
		calls = append(calls, c)
		if name == "cnmon" {
			return nil, ErrNoTool
		}
		if name == "npu-smi" && len(args) > 2 && args[2] == "health" && args[4] == "1" {
			return nil, errors.New("exit status 1")
		}
		f, ok := files[c]
		if !ok {
			t.Errorf("unexpected call %q", c)
			return nil, ErrNoTool
		}
		return read(t, f), nil
	}
	ds, ws, runs := Discover(run)
	if diff := cmp.Diff([]ToolRun{{"nvidia-smi", "nvidia", true}, {"npu-smi", "huawei", false}, {"hy-smi", "hygon", true}}, runs); diff != "" {
		t.Errorf("tool runs (-want +got):\n%s", diff)
	}
	if len(ds) != 2+2+2 {
		t.Fatalf("got %d devices, want 6: %+v", len(ds), ds)
	}
	if ds[2].Serial != "10203"+"3VNY10M9000128" || ds[3].Serial != "" {
		t.Errorf("npu serials %q %q", ds[2].Serial, ds[3].Serial)
	}
	var msgs []string
	for _, w := range ws {
		msgs = append(msgs, w.String())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"npu-smi -t board: line 1: NPU 1", "npu-smi: exit status 1", "npu-smi: NPU 1: no serial number"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	if len(calls) != 9 {
		t.Errorf("calls %q", calls)
	}
}

// fuzz checks what every parser must hold for any input: no panic, at most
// MaxDevices devices, no health status outside npu-smi's words, no device
// without a product, warnings with a tool name.
func fuzz(f *testing.F, seeds []string, parse func([]byte) ([]Accelerator, []Warning)) {
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join("testdata", s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, ws := parse(b)
		if len(ds) > MaxDevices {
			t.Fatalf("%d devices", len(ds))
		}
		for _, d := range ds {
			if _, ok := npuSeverity[d.Health.Status]; !ok {
				t.Fatalf("invented health status %q", d.Health.Status)
			}
			if len(d.Health.Errors) > maxErrors {
				t.Fatalf("%d errors", len(d.Health.Errors))
			}
		}
		for _, w := range ws {
			if w.Tool == "" || w.Msg == "" {
				t.Fatalf("warning without tool or message: %+v", w)
			}
		}
	})
}

func FuzzNvidiaSMI(f *testing.F) {
	fuzz(f, []string{"nvidia-smi-535.xml", "nvidia-smi-470.xml", "nvidia-smi-nodriver.txt"}, ParseNvidiaSMI)
}
func FuzzNPUInfo(f *testing.F) {
	fuzz(f, []string{"npu-smi-23.0.rc2-info.txt", "npu-smi-20.2-info.txt"}, ParseNPUInfo)
}
func FuzzNPUDetail(f *testing.F) {
	fuzz(f, []string{"npu-smi-23.0.rc2-board-6.txt", "npu-smi-23.0.rc2-health-6.txt"}, func(b []byte) ([]Accelerator, []Warning) {
		d := Accelerator{Index: 6, Product: "910B3"}
		ws := append(ApplyNPUBoard(&d, b), ApplyNPUHealth(&d, b)...)
		return []Accelerator{d}, ws
	})
}
func FuzzCnmon(f *testing.F) { fuzz(f, []string{"cnmon-5.10.22-info.txt"}, ParseCnmon) }
func FuzzHySMI(f *testing.F) { fuzz(f, []string{"hy-smi-2.0-all.txt"}, ParseHySMI) }
func FuzzKernelXids(f *testing.F) {
	nv, _ := os.ReadFile("testdata/nvidia-smi-535.xml")
	fuzz(f, []string{"dmesg-xid.txt"}, func(b []byte) ([]Accelerator, []Warning) {
		ds, _ := ParseNvidiaSMI(nv)
		return ds, ApplyKernelXids(ds, b)
	})
}
