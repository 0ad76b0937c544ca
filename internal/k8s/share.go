package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	rl[s.Cores] = *resource.NewQuantity(s.CoreUnits(milli), resource.DecimalSI)
	if memMiB > 0 {
		if s.MemoryUnitMiB == 0 {
			rl[s.Memory] = *resource.NewQuantity(memMiB<<20, resource.BinarySI)
		} else {
			rl[s.Memory] = *resource.NewQuantity((memMiB+s.MemoryUnitMiB-1)/s.MemoryUnitMiB, resource.DecimalSI)
		}
	}
	return rl
}

// CoreUnits is a share of milli thousandths of a device in the layer's
// compute units: rounded up, at least 1 and below a whole device (999
// milli is 99 %).
func (s ShareNames) CoreUnits(milli int64) int64 {
	return max(min((milli*s.CoresPerDevice+999)/1000, s.CoresPerDevice-1), 1)
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

// HAMi's NVIDIA device protocol (HAMi's docs, developers/protocol.md, and
// pkg/device/nvidia): the device plugin registers a node's GPUs in the
// node annotation HAMiNVIDIARegister; the scheduler tells it which GPU a
// pod gets through the pod annotations below, and the plugin, on
// Allocate, takes the pod pending on its node with HAMiBindPhase
// "allocating" and reads HAMiToAllocate.
const (
	HAMiNVIDIARegister = "hami.io/node-nvidia-register"
	HAMiNode           = "hami.io/vgpu-node"
	HAMiTime           = "hami.io/vgpu-time"
	HAMiBindTime       = "hami.io/bind-time"
	HAMiBindPhase      = "hami.io/bind-phase"
	HAMiToAllocate     = "hami.io/vgpu-devices-to-allocate"
	HAMiAllocated      = "hami.io/vgpu-devices-allocated"
	// HAMiAllocating is HAMiBindPhase of a pod the plugin has yet to
	// allocate (it writes "success" or "failed" after).
	HAMiAllocating = "allocating"
	// hamiNVIDIAType is the device type of an NVIDIA GPU in a pod's
	// device annotations.
	hamiNVIDIAType = "NVIDIA"
)

// HAMiDevice is one GPU of a node's HAMiNVIDIARegister annotation.
type HAMiDevice struct {
	UUID      string
	Count     int64 // how many vGPUs the device may be split into
	MemoryMiB int64
	Cores     int64 // compute, 100 a device
	Type      string
	Numa      int64
	Healthy   bool
	Index     int64  // NVML index when the annotation gives it, else -1
	Mode      string // "hami-core", "mig", "mps"; "" when not given
}

// hamiRegisterEntry is one device of the JSON form of the register
// annotation (HAMi's DeviceInfo: fields left out when zero).
type hamiRegisterEntry struct {
	ID      string `json:"id"`
	Index   *int64 `json:"index"`
	Count   int64  `json:"count"`
	Devmem  int64  `json:"devmem"`
	Devcore int64  `json:"devcore"`
	Type    string `json:"type"`
	Numa    int64  `json:"numa"`
	Mode    string `json:"mode"`
	Health  bool   `json:"health"`
}

// ParseHAMiRegister reads a HAMiNVIDIARegister annotation, in either form
// HAMi's device plugin writes: JSON (a list of {"id", "index", "count",
// "devmem", "devcore", "type", "numa", "mode", "health"}; newer HAMi) or
// the older "UUID,count,memMiB,cores,type,numa,healthy[,index,mode]:"
// repeated. The devices are in the annotation's order (the plugin's, NVML
// index order). A malformed annotation is an error, never a panic.
func ParseHAMiRegister(s string) ([]HAMiDevice, error) {
	s = strings.TrimSpace(s)
	var out []HAMiDevice
	var err error
	if strings.HasPrefix(s, "[") {
		out, err = parseHAMiJSON(s)
	} else {
		out, err = parseHAMiLegacy(s)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no device")
	}
	return out, nil
}

func parseHAMiJSON(s string) ([]HAMiDevice, error) {
	var es []*hamiRegisterEntry
	if err := json.Unmarshal([]byte(s), &es); err != nil {
		return nil, fmt.Errorf("not a JSON list of devices: %v", err)
	}
	out := make([]HAMiDevice, 0, len(es))
	for i, e := range es {
		if e == nil || e.ID == "" {
			return nil, fmt.Errorf("device %d has no id", i)
		}
		d := HAMiDevice{UUID: e.ID, Count: e.Count, MemoryMiB: e.Devmem, Cores: e.Devcore, Type: e.Type, Numa: e.Numa, Healthy: e.Health, Index: -1, Mode: e.Mode}
		if e.Index != nil {
			d.Index = *e.Index
		}
		out = append(out, d)
	}
	return out, nil
}

func parseHAMiLegacy(s string) ([]HAMiDevice, error) {
	var out []HAMiDevice
	for i, seg := range strings.Split(s, ":") {
		if seg == "" {
			continue
		}
		f := strings.Split(seg, ",")
		if len(f) != 7 && len(f) != 9 {
			return nil, fmt.Errorf("entry %d (%q): %d fields, want UUID,count,memMiB,cores,type,numa,healthy[,index,mode]", i, seg, len(f))
		}
		if f[0] == "" {
			return nil, fmt.Errorf("entry %d (%q) has no UUID", i, seg)
		}
		d := HAMiDevice{UUID: f[0], Type: f[4], Index: -1}
		var err error
		for _, n := range []struct {
			dst   *int64
			field string
			v     string
		}{{&d.Count, "count", f[1]}, {&d.MemoryMiB, "memory", f[2]}, {&d.Cores, "cores", f[3]}, {&d.Numa, "numa", f[5]}} {
			if *n.dst, err = strconv.ParseInt(n.v, 10, 64); err != nil {
				return nil, fmt.Errorf("entry %d (%q): %s %q is not a whole number", i, seg, n.field, n.v)
			}
		}
		if d.Healthy, err = strconv.ParseBool(f[6]); err != nil {
			return nil, fmt.Errorf("entry %d (%q): healthy %q is not true or false", i, seg, f[6])
		}
		if len(f) == 9 {
			if d.Index, err = strconv.ParseInt(f[7], 10, 64); err != nil || d.Index < 0 {
				return nil, fmt.Errorf("entry %d (%q): index %q is not a whole number", i, seg, f[7])
			}
			d.Mode = f[8]
		}
		out = append(out, d)
	}
	return out, nil
}

// DeviceIndex is the index i of a device serial node:model:i (the ledger
// serials of nodes synced from the cluster): the i-th device of model on
// node. ok is false for a serial of another form.
func DeviceIndex(serial, node, model string) (int, bool) {
	rest, ok := strings.CutPrefix(serial, node+":"+model+":")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || strconv.Itoa(i) != rest {
		return 0, false
	}
	return i, true
}

// HAMiDeviceOf is the GPU of HAMi's register on node that the ledger's
// device serial (of a catalog model of vendor) stands for: Granary's
// device i of a model on a node is the i-th device the node's
// HAMiNVIDIARegister annotation lists. A node runs one NVIDIA model, so i
// counts the node's GPUs, in the order the device plugin registers them
// (NVML index order). It is nil with no error when there is nothing to
// tell HAMi: another vendor than NVIDIA, or a node without the annotation
// (no HAMi). A malformed annotation, a serial of another form or an
// annotation listing fewer devices than i+1 is an error naming the node,
// the device and the annotation.
func HAMiDeviceOf(node *corev1.Node, vendor, model, serial string) (*HAMiDevice, error) {
	if vendor != hamiNVIDIAType || node == nil {
		return nil, nil
	}
	reg, ok := node.Annotations[HAMiNVIDIARegister]
	if !ok {
		return nil, nil
	}
	devs, err := ParseHAMiRegister(reg)
	if err != nil {
		return nil, fmt.Errorf("node %s: annotation %s cannot be read (%v), so HAMi cannot be told which GPU device %s is", node.Name, HAMiNVIDIARegister, err, serial)
	}
	i, ok := DeviceIndex(serial, node.Name, model)
	if !ok {
		return nil, fmt.Errorf("node %s: device %s is not of the form %s:%s:<index>, so it has no place in annotation %s", node.Name, serial, node.Name, model, HAMiNVIDIARegister)
	}
	if i >= len(devs) {
		return nil, fmt.Errorf("node %s: device %s is GPU %d of the node, but annotation %s lists %d GPUs (%s)", node.Name, serial, i, HAMiNVIDIARegister, len(devs), hamiUUIDs(devs))
	}
	d := devs[i]
	return &d, nil
}

func hamiUUIDs(devs []HAMiDevice) string {
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.UUID
	}
	return strings.Join(ids, ", ")
}

// Annotations are the pod annotations that tell HAMi's device plugin to
// give pod's container (an index into pod.Spec.Containers) this GPU with
// memMiB MiB of its memory (0: the whole device's, as HAMi gives a vGPU
// asking for none) and cores % of its compute (0: not capped), the pod
// bound to node at now. The device lists hold one entry per container,
// init containers first, as HAMi's scheduler writes them:
// "UUID,NVIDIA,memMiB,cores:" for the container, "" for the others, each
// ended by ";".
func (d HAMiDevice) Annotations(pod *corev1.Pod, container int, node string, memMiB, cores int64, now time.Time) map[string]string {
	if memMiB <= 0 {
		memMiB = d.MemoryMiB
	}
	var b strings.Builder
	at := len(pod.Spec.InitContainers) + container
	for i := range len(pod.Spec.InitContainers) + len(pod.Spec.Containers) {
		if i == at {
			fmt.Fprintf(&b, "%s,%s,%d,%d:", d.UUID, hamiNVIDIAType, memMiB, cores)
		}
		b.WriteString(";")
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	return map[string]string{
		HAMiNode: node, HAMiTime: ts, HAMiBindTime: ts, HAMiBindPhase: HAMiAllocating,
		HAMiToAllocate: b.String(), HAMiAllocated: b.String(),
	}
}

// ShareContainer is the index of the first of pod's containers asking for
// the share's names (its count, cores or memory), 0 when none does.
func ShareContainer(pod *corev1.Pod, s ShareNames) int {
	for i, c := range pod.Spec.Containers {
		for _, r := range []corev1.ResourceName{s.Count, s.Cores, s.Memory} {
			_, req := c.Resources.Requests[r]
			_, lim := c.Resources.Limits[r]
			if r != "" && (req || lim) {
				return i
			}
		}
	}
	return 0
}
