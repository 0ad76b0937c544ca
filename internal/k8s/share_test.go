package k8s

import (
	"strings"
	"testing"

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
	nv, ok := ShareOf("NVIDIA")
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
	mt, _ := ShareOf("Moore Threads")
	if q := mt.Requests(250, 1000)["mthreads.com/sgpu-memory"]; q.Value() != 2 {
		t.Errorf("Moore Threads 1000 MiB: %s units, want 2", q.String())
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
