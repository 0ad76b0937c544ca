package k8s

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/granaryhq/granary/internal/accel"
)

func rl(kv map[string]string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range kv {
		out[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return out
}

// A share written in each vendor's HAMi names reads back as the same share
// (memory rounded up to the vendor's unit); the NVIDIA names are HAMi's
// documented ones.
func TestShareRoundTrip(t *testing.T) {
	nv, ok := ShareOf("NVIDIA", "h800")
	if !ok {
		t.Fatal("no NVIDIA share names")
	}
	got := nv.Requests(250, 20480)
	want := rl(map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpucores": "25", "nvidia.com/gpumem": "20480"})
	if len(got) != len(want) {
		t.Fatalf("NVIDIA quarter: %v, want %v", got, want)
	}
	for r, q := range want {
		if g := got[r]; g.Cmp(q) != 0 {
			t.Errorf("NVIDIA quarter: %s = %s, want %s", r, g.String(), q.String())
		}
	}
	for _, s := range Shares {
		for _, c := range []struct{ milli, mem, wantMilli, wantMem int64 }{
			{250, 20480, 250, 20480}, {500, 0, 500, 0}, {1, 100, 0, 0}, {999, 1000, 0, 0},
		} {
			sh, found, err := ParseShare(s.Requests(c.milli, c.mem))
			if !found || err != nil {
				t.Errorf("%s %d milli: found %v, %v", s.Vendor, c.milli, found, err)
				continue
			}
			if c.wantMilli != 0 && (sh.Milli != c.wantMilli || sh.MemoryMiB != c.wantMem) {
				t.Errorf("%s %d milli %d MiB: read back %d milli %d MiB", s.Vendor, c.milli, c.mem, sh.Milli, sh.MemoryMiB)
			}
			// Rounding: never less than asked (cores up, memory up to
			// units), except below a whole device.
			if (c.milli < 900 && sh.Milli < c.milli) || sh.Milli >= 1000 || sh.MemoryMiB < c.mem || sh.Names.Vendor != s.Vendor {
				t.Errorf("%s %d milli %d MiB: read back %+v", s.Vendor, c.milli, c.mem, sh)
			}
		}
	}
	// Moore Threads counts 16 core units and 512 MiB units a card.
	mt, _ := ShareOf("Moore Threads", "")
	if q := mt.Requests(250, 1000)["mthreads.com/sgpu-memory"]; q.Value() != 2 {
		t.Errorf("Moore Threads 1000 MiB: %s units, want 2", q.String())
	}
	// Cambricon counts 256 MiB units (HAMi multiplies vmemory by 256).
	mlu, _ := ShareOf("Cambricon", "mlu370-x8")
	if q := mlu.Requests(500, 1000)["cambricon.com/mlu.smlu.vmemory"]; q.Value() != 4 {
		t.Errorf("Cambricon 1000 MiB: %s units, want 4", q.String())
	}
}

// Iluvatar's HAMi names are per chip: a catalog chip with names gets
// them, another Iluvatar chip gets none (no vendor-wide names to fall back
// on); vendors whose sharing takes no compute share get none.
func TestShareOfPerChip(t *testing.T) {
	il, ok := ShareOf("Iluvatar", "iluvatar-bi-v150")
	if !ok || il.Cores != "iluvatar.ai/BI-V150.vCore" || il.Count != "iluvatar.ai/BI-V150-vgpu" {
		t.Errorf("Iluvatar BI-V150: %+v %v, want the BI-V150 names", il, ok)
	}
	if q := il.Requests(300, 512)["iluvatar.ai/BI-V150.vMem"]; q.Value() != 2 {
		t.Errorf("Iluvatar 512 MiB: %s units of 256 MiB, want 2", q.String())
	}
	for _, c := range [][2]string{{"Iluvatar", "iluvatar-mr-v100"}, {"Kunlunxin", "p800"}, {"Huawei", "ascend-910b3"}} {
		if s, ok := ShareOf(c[0], c[1]); ok {
			t.Errorf("ShareOf(%s, %s) = %+v, want none", c[0], c[1], s)
		}
	}
	if s, ok := ShareOf("NVIDIA", "a800"); !ok || s.Cores != "nvidia.com/gpucores" {
		t.Errorf("ShareOf(NVIDIA, a800) = %+v %v, want the vendor's names", s, ok)
	}
}

// MetaX reads a bare vmemory as GiB and a suffixed one as bytes, as HAMi's
// sdevice.go does; Granary writes it suffixed.
func TestMetaXMemoryUnits(t *testing.T) {
	for _, c := range []struct {
		mem  string
		want int64
	}{{"4", 4096}, {"2048Mi", 2048}, {"3Gi", 3072}, {"4096", 4096 * 1024}} {
		sh, found, err := ParseShare(rl(map[string]string{"metax-tech.com/sgpu": "1", "metax-tech.com/vcore": "60", "metax-tech.com/vmemory": c.mem}))
		if !found || err != nil || sh.MemoryMiB != c.want || sh.Milli != 600 || sh.Names.Whole != "metax-tech.com/gpu" {
			t.Errorf("vmemory %s: %+v %v %v, want 600 milli %d MiB", c.mem, sh, found, err, c.want)
		}
	}
	mx, _ := ShareOf("MetaX", "metax-c500")
	q := mx.Requests(600, 2048)["metax-tech.com/vmemory"]
	if q.String() != "2Gi" {
		t.Errorf("MetaX 2048 MiB written as %s, want 2Gi (suffixed: bytes)", q.String())
	}
}

// Other layers' names read back; malformed shares say what to change; a
// whole-device request is no share.
func TestParseShare(t *testing.T) {
	for _, c := range []struct {
		req       map[string]string
		milli     int64
		mem       int64
		whole     corev1.ResourceName
		errorPart string
	}{
		{req: map[string]string{"volcano.sh/vgpu-number": "1", "volcano.sh/vgpu-cores": "50", "volcano.sh/vgpu-memory": "8000"}, milli: 500, mem: 8000, whole: "nvidia.com/gpu"},
		{req: map[string]string{"koordinator.sh/gpu-core": "30", "koordinator.sh/gpu-memory": "8Gi"}, milli: 300, mem: 8192, whole: "nvidia.com/gpu"},
		{req: map[string]string{"hygon.com/dcunum": "1", "hygon.com/dcucores": "60", "hygon.com/dcumem": "2000"}, milli: 600, mem: 2000, whole: "hygon.com/dcu"},
		{req: map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpumem": "4096"}, errorPart: "nvidia.com/gpumem without nvidia.com/gpucores"},
		{req: map[string]string{"nvidia.com/gpu": "2", "nvidia.com/gpucores": "50"}, errorPart: "2 devices with nvidia.com/gpucores; a share is of one device"},
		{req: map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpucores": "100"}, errorPart: "100 is a whole device"},
	} {
		sh, found, err := ParseShare(rl(c.req))
		switch {
		case !found:
			t.Errorf("%v: not found", c.req)
		case c.errorPart != "":
			if err == nil || !strings.Contains(err.Error(), c.errorPart) {
				t.Errorf("%v: %v, want an error with %q", c.req, err, c.errorPart)
			}
		case err != nil || sh.Milli != c.milli || sh.MemoryMiB != c.mem || sh.Names.Whole != c.whole:
			t.Errorf("%v: %+v %v, want %d milli %d MiB of %s", c.req, sh, err, c.milli, c.mem, c.whole)
		}
	}
	if _, found, _ := ParseShare(rl(map[string]string{"nvidia.com/gpu": "8", "cpu": "4"})); found {
		t.Error("whole devices read as a share")
	}
	if !IsShareResource("nvidia.com/gpucores") || !IsShareResource("hygon.com/dcunum") || IsShareResource("nvidia.com/gpu") {
		t.Error("IsShareResource: gpucores and dcunum are share names, nvidia.com/gpu is not")
	}
}

// A node that advertises a sharing layer's names beside its devices (as
// HAMi's and the vendors' plugins may) counts its devices only: the share
// names are never read as accelerators of their own.
func TestNodeWithShareNames(t *testing.T) {
	m := Mapping{Catalog: accel.Default()}
	n := node(map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}, map[string]int64{
		"nvidia.com/gpu": 8, "nvidia.com/gpucores": 800, "nvidia.com/gpumem": 655360,
		"hygon.com/dcunum": 4, "hygon.com/dcucores": 400, "mthreads.com/sgpu-core": 128, "volcano.sh/vgpu-number": 80,
	})
	got := m.Node(n)
	if len(got) != 1 || got[0].Resource != "nvidia.com/gpu" || got[0].Capacity != 8 || got[0].Model == "" {
		t.Errorf("accelerators %+v, want 8 × nvidia.com/gpu only", got)
	}
	for _, s := range Shares {
		for _, r := range []corev1.ResourceName{s.Cores, s.Memory} {
			if _, ok := m.VendorOf(r); ok {
				t.Errorf("share name %s read as an accelerator", r)
			}
		}
	}
}

// The two forms HAMi's device plugin registers a node's GPUs in: the
// protocol document's (7 fields a device), the 9-field one with index and
// mode, and JSON (newer HAMi, fields left out when zero) — each read to
// the same devices in order.
func TestParseHAMiRegister(t *testing.T) {
	legacy := "GPU-00552014-5c87-89ac-b1a6-7b53aa24b0ec,10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true:" +
		"GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448,10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true:"
	nine := "GPU-a,10,81559,100,NVIDIA-H800,0,true,0,hami-core:GPU-b,10,81559,100,NVIDIA-H800,1,false,1,mig:"
	js := `[{"id":"GPU-a","count":10,"devmem":81559,"devcore":100,"type":"NVIDIA-H800","mode":"hami-core","health":true},` +
		`{"id":"GPU-b","index":1,"count":10,"devmem":81559,"devcore":100,"type":"NVIDIA-H800","numa":1,"mode":"mig"}]`
	for _, tc := range []struct {
		in   string
		want []HAMiDevice
	}{
		{legacy, []HAMiDevice{
			{UUID: "GPU-00552014-5c87-89ac-b1a6-7b53aa24b0ec", Count: 10, MemoryMiB: 32768, Cores: 100, Type: "NVIDIA-Tesla V100-PCIE-32GB", Healthy: true, Index: -1},
			{UUID: "GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448", Count: 10, MemoryMiB: 32768, Cores: 100, Type: "NVIDIA-Tesla V100-PCIE-32GB", Healthy: true, Index: -1}}},
		{nine, []HAMiDevice{
			{UUID: "GPU-a", Count: 10, MemoryMiB: 81559, Cores: 100, Type: "NVIDIA-H800", Healthy: true, Index: 0, Mode: "hami-core"},
			{UUID: "GPU-b", Count: 10, MemoryMiB: 81559, Cores: 100, Type: "NVIDIA-H800", Numa: 1, Index: 1, Mode: "mig"}}},
		{js, []HAMiDevice{
			{UUID: "GPU-a", Count: 10, MemoryMiB: 81559, Cores: 100, Type: "NVIDIA-H800", Healthy: true, Index: -1, Mode: "hami-core"},
			{UUID: "GPU-b", Count: 10, MemoryMiB: 81559, Cores: 100, Type: "NVIDIA-H800", Numa: 1, Index: 1, Mode: "mig"}}},
	} {
		got, err := ParseHAMiRegister(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", ":", "[]", "null", "[null]", `[{"count":1}]`, "GPU-a,10,x,100,T,0,true:", "GPU-a,10,1,100,T,0:",
		"GPU-a,10,1,100,T,0,maybe:", ",10,1,100,T,0,true:", "GPU-a,10,1,100,T,0,true,-1,hami-core:", `[{"id":"GPU-a","devmem":"80GB"}]`} {
		if _, err := ParseHAMiRegister(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Granary's device i of a model on a node is the node's i-th registered
// GPU; a node without the register (no HAMi) or another vendor is nothing
// to tell; a register with too few GPUs, or a serial of another form, is
// an error naming node, device and annotation.
func TestHAMiDeviceOf(t *testing.T) {
	node := &corev1.Node{}
	node.Name = "h800-0"
	node.Annotations = map[string]string{HAMiNVIDIARegister: "GPU-a,10,81559,100,NVIDIA-H800,0,true:GPU-b,10,81559,100,NVIDIA-H800,0,true:"}
	d, err := HAMiDeviceOf(node, "NVIDIA", "h800-sxm5-80gb", "h800-0:h800-sxm5-80gb:1")
	if err != nil || d == nil || d.UUID != "GPU-b" {
		t.Fatalf("device 1: %+v, %v; want GPU-b", d, err)
	}
	for _, tc := range []struct{ serial, want string }{
		{"h800-0:h800-sxm5-80gb:2", "h800-0: device h800-0:h800-sxm5-80gb:2 is GPU 2 of the node, but annotation hami.io/node-nvidia-register lists 2 GPUs (GPU-a, GPU-b)"},
		{"h800-0:h800-sxm5-80gb:01", "not of the form h800-0:h800-sxm5-80gb:<index>"},
		{"other:h800-sxm5-80gb:0", "not of the form"},
		{"serial-123", "not of the form"},
	} {
		if _, err := HAMiDeviceOf(node, "NVIDIA", "h800-sxm5-80gb", tc.serial); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.serial, err, tc.want)
		}
	}
	if d, err := HAMiDeviceOf(node, "AMD", "mi300x", "h800-0:mi300x:0"); d != nil || err != nil {
		t.Errorf("AMD: %+v, %v; want nothing", d, err)
	}
	delete(node.Annotations, HAMiNVIDIARegister)
	if d, err := HAMiDeviceOf(node, "NVIDIA", "h800-sxm5-80gb", "h800-0:h800-sxm5-80gb:1"); d != nil || err != nil {
		t.Errorf("no register: %+v, %v; want nothing", d, err)
	}
	node.Annotations = map[string]string{HAMiNVIDIARegister: "garbage"}
	if _, err := HAMiDeviceOf(node, "NVIDIA", "h800-sxm5-80gb", "h800-0:h800-sxm5-80gb:0"); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("garbage: %v", err)
	}
}

// The pod annotations: one device list entry per container, init
// containers first, the device on the share's container; the whole
// device's memory when the share asks for none.
func TestHAMiAnnotations(t *testing.T) {
	d := HAMiDevice{UUID: "GPU-b", MemoryMiB: 81559}
	pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "fetch"}},
		Containers: []corev1.Container{{Name: "sidecar"}, {Name: "trainer", Resources: corev1.ResourceRequirements{Limits: rl(map[string]string{"nvidia.com/gpucores": "25"})}}}}}
	names, _ := ShareOf("NVIDIA", "h800-sxm5-80gb")
	c := ShareContainer(pod, names)
	if c != 1 {
		t.Fatalf("share container %d, want 1", c)
	}
	now := time.Unix(1716199325, 0)
	got := d.Annotations(pod, c, "h800-0", 20480, 25, now)
	want := map[string]string{HAMiNode: "h800-0", HAMiTime: "1716199325", HAMiBindTime: "1716199325", HAMiBindPhase: "allocating",
		HAMiToAllocate: ";;GPU-b,NVIDIA,20480,25:;", HAMiAllocated: ";;GPU-b,NVIDIA,20480,25:;"}
	if !maps.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	one := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	if got := d.Annotations(one, 0, "h800-0", 0, 0, now)[HAMiToAllocate]; got != "GPU-b,NVIDIA,81559,0:;" {
		t.Errorf("no memory, no cap: %q", got)
	}
}

// Nothing a node annotation may hold makes the parser panic, and what it
// accepts has a UUID for every device.
func FuzzParseHAMiRegister(f *testing.F) {
	for _, s := range []string{"GPU-a,10,32768,100,NVIDIA-Tesla V100,0,true:", "GPU-a,10,81559,100,NVIDIA-H800,0,true,0,hami-core:",
		`[{"id":"GPU-a","count":10,"devmem":81559,"devcore":100,"type":"NVIDIA-H800","health":true}]`, "[null]", ":::", ",,,,,,:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		devs, err := ParseHAMiRegister(s)
		if err != nil {
			return
		}
		if len(devs) == 0 {
			t.Fatalf("%q: no device and no error", s)
		}
		for _, d := range devs {
			if d.UUID == "" {
				t.Fatalf("%q: a device without UUID: %+v", s, d)
			}
		}
	})
}
