package hwprobe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
)

// sixteen builds a 16-GPU nvidia-smi -q -x report from the recorded 8-GPU
// one: the GPU elements twice, the second copy with other serials and buses.
func sixteen(tb testing.TB) []byte {
	b := read(tb, "nvidia-smi-535.xml")
	start, end := bytes.Index(b, []byte("\t<gpu id=")), bytes.LastIndex(b, []byte("</nvidia_smi_log>"))
	gpus := b[start:end]
	second := bytes.ReplaceAll(gpus, []byte("<serial>165282301"), []byte("<serial>165282302"))
	second = bytes.ReplaceAll(second, []byte("GPU-5a1c"), []byte("GPU-6b2d"))
	second = bytes.ReplaceAll(second, []byte(":00.0"), []byte(":01.0"))
	out := append([]byte{}, b[:start]...)
	out = bytes.Replace(out, []byte("<attached_gpus>8<"), []byte("<attached_gpus>16<"), 1)
	out = append(out, gpus...)
	out = append(out, second...)
	return append(out, b[end:]...)
}

func TestSixteen(t *testing.T) {
	ds, ws := ParseNvidiaSMI(sixteen(t))
	if len(ds) != 16 || len(ws) != 0 {
		t.Fatalf("%d devices, %v", len(ds), ws)
	}
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.Key()] = true
	}
	if len(seen) != 16 {
		t.Fatalf("%d distinct serials", len(seen))
	}
}

// BenchmarkDiscover16 is the agent's own work for one report of a host with
// 16 GPUs: parse nvidia-smi -q -x and the kernel log (the tools' own run
// time is theirs, not the agent's).
func BenchmarkDiscover16(b *testing.B) {
	nv, dm := sixteen(b), read(b, "dmesg-xid.txt")
	run := func(name string, args ...string) ([]byte, error) {
		switch name {
		case "nvidia-smi":
			return nv, nil
		case "dmesg":
			return dm, nil
		}
		return nil, ErrNoTool
	}
	b.ReportAllocs()
	for b.Loop() {
		ds, _, _ := Discover(run)
		if len(ds) != 16 {
			b.Fatal(fmt.Sprint(len(ds)))
		}
	}
}

// BenchmarkReport16 is BenchmarkDiscover16 plus what the agent does before
// sending: resolve the models in the catalog and encode the report.
func BenchmarkReport16(b *testing.B) {
	nv, dm := sixteen(b), read(b, "dmesg-xid.txt")
	cat := accel.Default()
	run := func(name string, args ...string) ([]byte, error) {
		switch name {
		case "nvidia-smi":
			return nv, nil
		case "dmesg":
			return dm, nil
		}
		return nil, ErrNoTool
	}
	b.ReportAllocs()
	for b.Loop() {
		ds, _, _ := Discover(run)
		ResolveModels(cat, ds)
		if _, err := json.Marshal(ds); err != nil {
			b.Fatal(err)
		}
	}
}
