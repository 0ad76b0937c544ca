package k8s

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ShareNames are the extended-resource names a sharing layer takes a
// share of one device by (../shared/docs/accelerator-resources.md): HAMi's
// per vendor, and the Volcano and Koordinator names Granary reads back.
type ShareNames struct {
	Vendor string // a Vendors name ("NVIDIA"), or the layer's for read-only names
	// Whole is the vendor's whole-device resource: the models a share may
	// run on are those nodes advertise under it.
	Whole corev1.ResourceName
	// Count is the number of devices (1 for a share); "" when the layer
	// has none.
	Count corev1.ResourceName
	// Cores is the compute share, CoresPerDevice units to a whole device
	// (100: percent).
	Cores          corev1.ResourceName
	CoresPerDevice int64
	// Memory is the device memory, MemoryUnitMiB MiB a unit (0: bytes).
	Memory        corev1.ResourceName
	MemoryUnitMiB int64
	// BareMemoryUnitMiB, when set, is the unit of a memory quantity given
	// without a suffix, where a suffixed one is bytes (MemoryUnitMiB 0):
	// MetaX reads "4" as 4 GiB and "2048Mi" as 2048 MiB.
	BareMemoryUnitMiB int64
	// Model restricts the names to one catalog chip ("": every chip of the
	// vendor), for layers that name each chip (HAMi's Iluvatar names).
	Model string
}

// Shares are the names Granary writes a share of a device as, per vendor:
// HAMi's, with the units its device code reads (HAMi pkg/device/*):
// NVIDIA, AMD, Hygon, Enflame: percent and MiB; Moore Threads: 16 core
// units and 512 MiB units a card; MetaX: percent, and memory in bytes
// when suffixed, GiB when bare (sdevice.go); Cambricon: percent and
// 256 MiB units (device.go multiplies by 256); Iluvatar: per-chip names
// (iluvatar.ai/<chip>-vgpu, .vCore, .vMem) in percent and 256 MiB units,
// for the chips of the catalog. Kunlunxin's vXPU is sliced by memory
// alone and Ascend's vNPU by fixed templates: neither takes a compute
// share, so Granary writes none for them.
var Shares = []ShareNames{
	{Vendor: "NVIDIA", Whole: "nvidia.com/gpu", Count: "nvidia.com/gpu", Cores: "nvidia.com/gpucores", CoresPerDevice: 100, Memory: "nvidia.com/gpumem", MemoryUnitMiB: 1},
	{Vendor: "AMD", Whole: "amd.com/gpu", Count: "amd.com/gpu", Cores: "amd.com/gpucores", CoresPerDevice: 100, Memory: "amd.com/gpumem", MemoryUnitMiB: 1},
	{Vendor: "Hygon", Whole: "hygon.com/dcu", Count: "hygon.com/dcunum", Cores: "hygon.com/dcucores", CoresPerDevice: 100, Memory: "hygon.com/dcumem", MemoryUnitMiB: 1},
	{Vendor: "Enflame", Whole: "enflame.com/gcu", Count: "enflame.com/drs-gcu", Cores: "enflame.com/gcu-core", CoresPerDevice: 100, Memory: "enflame.com/gcu-memory", MemoryUnitMiB: 1},
	{Vendor: "Moore Threads", Whole: "mthreads.com/gpu", Count: "mthreads.com/vgpu", Cores: "mthreads.com/sgpu-core", CoresPerDevice: 16, Memory: "mthreads.com/sgpu-memory", MemoryUnitMiB: 512},
	{Vendor: "MetaX", Whole: "metax-tech.com/gpu", Count: "metax-tech.com/sgpu", Cores: "metax-tech.com/vcore", CoresPerDevice: 100, Memory: "metax-tech.com/vmemory", BareMemoryUnitMiB: 1024},
	{Vendor: "Cambricon", Whole: "cambricon.com/mlu", Count: "cambricon.com/vmlu", Cores: "cambricon.com/mlu.smlu.vcore", CoresPerDevice: 100, Memory: "cambricon.com/mlu.smlu.vmemory", MemoryUnitMiB: 256},
	{Vendor: "Iluvatar", Model: "iluvatar-bi-v150", Whole: "iluvatar.com/gpu", Count: "iluvatar.ai/BI-V150-vgpu", Cores: "iluvatar.ai/BI-V150.vCore", CoresPerDevice: 100, Memory: "iluvatar.ai/BI-V150.vMem", MemoryUnitMiB: 256},
}

// readOnlyShares are other schedulers' names for NVIDIA shares, read back
// from pods but never written.
var readOnlyShares = []ShareNames{
	{Vendor: "Volcano", Whole: "nvidia.com/gpu", Count: "volcano.sh/vgpu-number", Cores: "volcano.sh/vgpu-cores", CoresPerDevice: 100, Memory: "volcano.sh/vgpu-memory", MemoryUnitMiB: 1},
	{Vendor: "Koordinator", Whole: "nvidia.com/gpu", Cores: "koordinator.sh/gpu-core", CoresPerDevice: 100, Memory: "koordinator.sh/gpu-memory"},
}

// ShareOf returns the names a share of a vendor's chip model (a catalog
// id) is written with: the chip's own names where the layer names each
// chip, else the vendor's.
func ShareOf(vendor, model string) (ShareNames, bool) {
	var vendorWide ShareNames
	found := false
	for _, s := range Shares {
		switch {
		case s.Vendor != vendor:
		case s.Model == model && model != "":
			return s, true
		case s.Model == "" && !found:
			vendorWide, found = s, true
		}
	}
	return vendorWide, found
}

// Requests is a share of milli thousandths of one device and memMiB MiB of
// its memory (0: not asked) in these names: one device, the cores rounded
// up but below a whole device (999 milli is 99 %: 100 % would be the
// whole device's compute), the memory rounded up to whole units.
func (s ShareNames) Requests(milli, memMiB int64) corev1.ResourceList {
	rl := corev1.ResourceList{}
	if s.Count != "" {
		rl[s.Count] = *resource.NewQuantity(1, resource.DecimalSI)
	}
	cores := min((milli*s.CoresPerDevice+999)/1000, s.CoresPerDevice-1)
	rl[s.Cores] = *resource.NewQuantity(max(cores, 1), resource.DecimalSI)
	if memMiB > 0 {
		if s.MemoryUnitMiB == 0 {
			rl[s.Memory] = *resource.NewQuantity(memMiB<<20, resource.BinarySI)
		} else {
			rl[s.Memory] = *resource.NewQuantity((memMiB+s.MemoryUnitMiB-1)/s.MemoryUnitMiB, resource.DecimalSI)
		}
	}
	return rl
}

// PairLabel marks the pod of a job that shares its one device with
// another (space sharing, a *-packed policy's pair): its value is the
// partner's job id. The pod requests PairRequests; Granary's fit check
// counts its device as the planner does — held by the pair, once.
const PairLabel = "granary.io/shares-with"

// PairRequests is one job of a pair on one device in these names: the
// device (count 1) and memMiB MiB of its memory (0: not asked; rounded
// down to whole units, so the two halves never exceed the device), and no
// compute share. The pair throughputs a *-packed policy plans with are
// measured with both jobs running free on the device (Gavel's
// co-location); a compute share of 50 % each would cap both at half
// their speed alone, no better than taking turns.
func (s ShareNames) PairRequests(memMiB int64) corev1.ResourceList {
	rl := corev1.ResourceList{}
	if s.Count != "" {
		rl[s.Count] = *resource.NewQuantity(1, resource.DecimalSI)
	}
	if memMiB > 0 {
		if s.MemoryUnitMiB == 0 {
			rl[s.Memory] = *resource.NewQuantity(memMiB<<20, resource.BinarySI)
		} else {
			rl[s.Memory] = *resource.NewQuantity(memMiB/s.MemoryUnitMiB, resource.DecimalSI)
		}
	}
	return rl
}

// PairShare returns the names the pod of a pair member (PairLabel) asks
// for its device in, found by the memory name, else the count; false for
// any other pod.
func PairShare(labels map[string]string, req corev1.ResourceList) (ShareNames, bool) {
	if labels[PairLabel] == "" {
		return ShareNames{}, false
	}
	for _, s := range Shares {
		if _, ok := req[s.Memory]; ok {
			return s, true
		}
	}
	for _, s := range Shares {
		if _, ok := req[s.Count]; ok && s.Count != "" {
			return s, true
		}
	}
	return ShareNames{}, false
}

// Share is a share of one device read back from a pod's requests.
type Share struct {
	Names     ShareNames
	Milli     int64 // 1–999
	MemoryMiB int64 // 0: not asked
}

// IsShareResource reports whether r is a sharing layer's name (a count,
// cores or memory of Shares or of the names read back), which a node's
// allocatable need not list: Granary's share stage accounts for it.
func IsShareResource(r corev1.ResourceName) bool {
	for _, s := range append(slices.Clone(Shares), readOnlyShares...) {
		if r == s.Cores || r == s.Memory || (r == s.Count && s.Count != s.Whole) {
			return true
		}
	}
	return false
}

// ParseShare reads a share of one device back from a pod's requests:
// found is false when they ask for no share (no cores nor memory name of
// a sharing layer). A share must give its compute share (cores) below a
// whole device, and at most one device.
func ParseShare(req corev1.ResourceList) (sh Share, found bool, err error) {
	for _, s := range append(slices.Clone(Shares), readOnlyShares...) {
		cores, hasCores := req[s.Cores]
		mem, hasMem := req[s.Memory]
		if (!hasCores || cores.IsZero()) && (!hasMem || mem.IsZero()) {
			continue
		}
		if !hasCores || cores.IsZero() {
			return sh, true, fmt.Errorf("%s without %s: Granary places a share of a device by its compute share; give %s (%d = a whole device)", s.Memory, s.Cores, s.Cores, s.CoresPerDevice)
		}
		if s.Count != "" {
			if n, ok := req[s.Count]; ok && n.Value() > 1 {
				return sh, true, fmt.Errorf("%s: %d devices with %s; a share is of one device", s.Count, n.Value(), s.Cores)
			}
		}
		c := cores.Value()
		if c >= s.CoresPerDevice {
			return sh, true, fmt.Errorf("%s: %d is a whole device (%d); request %s alone for whole devices", s.Cores, c, s.CoresPerDevice, s.Whole)
		}
		sh = Share{Names: s, Milli: c * 1000 / s.CoresPerDevice}
		if sh.Milli < 1 {
			sh.Milli = 1
		}
		if hasMem {
			if s.BareMemoryUnitMiB != 0 && !strings.ContainsAny(mem.String(), "kMGTPEi") {
				sh.MemoryMiB = mem.Value() * s.BareMemoryUnitMiB
			} else if s.MemoryUnitMiB == 0 {
				sh.MemoryMiB = (mem.Value() + 1<<20 - 1) >> 20
			} else {
				sh.MemoryMiB = mem.Value() * s.MemoryUnitMiB
			}
		}
		return sh, true, nil
	}
	return sh, false, nil
}
