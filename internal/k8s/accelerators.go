package k8s

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/granaryhq/granary/internal/accel"
)

// ModelLabel is the label an operator sets on a node to name its
// accelerator model when the vendor's own labels do not (Kunlunxin,
// Iluvatar, Moore Threads publish none): any name the catalog resolves
// ("P800", "BI-V150"). It wins over every vendor label.
const ModelLabel = "granary.io/accelerator"

// Vendor is how one vendor's device plugin shows its accelerators on a
// node: the extended-resource names it registers, and the node labels that
// name the product, tried in order. The tables come from
// docs/kubernetes.md (vendors' device plugins, GPU Feature Discovery and
// HAMi).
type Vendor struct {
	Name string
	// Resources are the whole-device resource names.
	Resources []string
	// Prefixes are resource-name prefixes whose suffix names the product
	// (HAMi's per-chip names such as huawei.com/Ascend910B3, Cambricon's
	// cambricon.com/mlu370), tried when no label resolves.
	Prefixes []string
	// Labels name the product (e.g. nvidia.com/gpu.product=NVIDIA-H800).
	Labels []string
}

// Vendors are the default mappings.
var Vendors = []Vendor{
	{Name: "NVIDIA", Resources: []string{"nvidia.com/gpu"}, Labels: []string{"nvidia.com/gpu.product"}},
	{Name: "Huawei", Resources: []string{"huawei.com/Ascend910", "huawei.com/Ascend310P", "huawei.com/Ascend310"},
		Prefixes: []string{"huawei.com/"}, Labels: []string{"node.kubernetes.io/npu.chip.name"}},
	{Name: "Cambricon", Resources: []string{"cambricon.com/mlu"}, Prefixes: []string{"cambricon.com/"}, Labels: []string{"Model"}},
	{Name: "Hygon", Resources: []string{"hygon.com/dcu", "dcu.com/gpu"}, Labels: []string{"hygon.com/dcu.name", "hygon.com/dcu.product"}},
	{Name: "Kunlunxin", Resources: []string{"kunlunxin.com/xpu", "baidu.com/xpu"}},
	{Name: "MetaX", Resources: []string{"metax-tech.com/gpu"}, Labels: []string{"metax-tech.com/gpu.product"}},
	{Name: "Iluvatar", Resources: []string{"iluvatar.com/gpu"}},
	{Name: "Moore Threads", Resources: []string{"mthreads.com/gpu"}},
	{Name: "Enflame", Resources: []string{"enflame.com/gcu"}, Labels: []string{"enflame.com/gcu.model"}},
	{Name: "AMD", Resources: []string{"amd.com/gpu"}, Labels: []string{"amd.com/gpu.product-name"}},
}

// Accelerators are one node's devices of one resource name.
type Accelerators struct {
	Resource string // e.g. nvidia.com/gpu
	Vendor   string
	// Model is the catalog id, or "" when nothing on the node resolves
	// (Unknown then says what was tried).
	Model   string
	Unknown string
	// Capacity and Allocatable are the node's counts of the resource.
	Capacity, Allocatable int
}

// Mapping resolves a node's accelerators against a catalog.
type Mapping struct {
	Catalog *accel.Catalog
	Vendors []Vendor // nil: Vendors
}

// AllVendors returns the mapping's vendors (Vendors when none are given).
func (m Mapping) AllVendors() []Vendor { return m.vendors() }

func (m Mapping) vendors() []Vendor {
	if m.Vendors == nil {
		return Vendors
	}
	return m.Vendors
}

// VendorOf returns the vendor that registers resource name r, and whether
// it is an accelerator resource at all.
func (m Mapping) VendorOf(r corev1.ResourceName) (Vendor, bool) {
	for _, v := range m.vendors() {
		if slices.Contains(v.Resources, string(r)) {
			return v, true
		}
		for _, p := range v.Prefixes {
			if rest, ok := strings.CutPrefix(string(r), p); ok && rest != "" && !strings.ContainsAny(rest, ".") && !sharing(rest) {
				if _, err := m.Catalog.Resolve(rest); err == nil {
					return v, true
				}
			}
		}
	}
	return Vendor{}, false
}

// sharing tells HAMi's and the vendors' fractional resources (memory,
// cores, vNPU templates) from whole devices.
func sharing(suffix string) bool {
	s := strings.ToLower(suffix)
	for _, w := range []string{"mem", "core", "-2c", "-4c", "-8c", "-16c", "percentage", "priority"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// Node returns the accelerators a node advertises, by resource name in
// order. A node with none returns nil.
func (m Mapping) Node(n *corev1.Node) []Accelerators {
	var out []Accelerators
	names := map[corev1.ResourceName]bool{}
	for r := range n.Status.Capacity {
		names[r] = true
	}
	for r := range n.Status.Allocatable {
		names[r] = true
	}
	rs := make([]string, 0, len(names))
	for r := range names {
		rs = append(rs, string(r))
	}
	slices.Sort(rs)
	for _, r := range rs {
		v, ok := m.VendorOf(corev1.ResourceName(r))
		if !ok {
			continue
		}
		a := Accelerators{Resource: r, Vendor: v.Name}
		if q, ok := n.Status.Capacity[corev1.ResourceName(r)]; ok {
			a.Capacity = int(q.Value())
		}
		if q, ok := n.Status.Allocatable[corev1.ResourceName(r)]; ok {
			a.Allocatable = int(q.Value())
		}
		if a.Capacity == 0 && a.Allocatable == 0 {
			continue
		}
		a.Model, a.Unknown = m.model(n.Labels, v, r)
		out = append(out, a)
	}
	return out
}

// model resolves the product: Granary's own label, the vendor's labels,
// then the resource name's suffix.
func (m Mapping) model(labels map[string]string, v Vendor, resource string) (id, unknown string) {
	var tried []string
	try := func(key, val string) bool {
		if val == "" {
			return false
		}
		c, err := m.Catalog.Resolve(val)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s=%s", key, val))
			return false
		}
		id = c.ID
		return true
	}
	if try(ModelLabel, labels[ModelLabel]) {
		return id, ""
	}
	for _, l := range v.Labels {
		if try(l, labels[l]) {
			return id, ""
		}
	}
	for _, p := range v.Prefixes {
		if rest, ok := strings.CutPrefix(resource, p); ok && try("resource", rest) {
			return id, ""
		}
	}
	if len(tried) == 0 {
		want := append([]string{ModelLabel}, v.Labels...)
		return "", fmt.Sprintf("%s: no product label (%s)", resource, strings.Join(want, ", "))
	}
	return "", fmt.Sprintf("%s: %s is no catalog chip", resource, strings.Join(tried, ", "))
}

// ResourceFor returns the resource name a model's devices are requested
// by on a node of the fleet (the first one Node reported for it), from the
// accelerators seen; "" when none.
func ResourceFor(model string, seen []Accelerators) string {
	for _, a := range seen {
		if a.Model == model {
			return a.Resource
		}
	}
	return ""
}

// VendorOfModel returns the vendor whose device plugin serves a catalog
// model (the chip's vendor, e.g. "Kunlunxin (Baidu)", starts with the
// mapping's vendor name), and whether there is one.
func (m Mapping) VendorOfModel(id string) (Vendor, bool) {
	c, ok := m.Catalog.Get(id)
	if !ok {
		return Vendor{}, false
	}
	for _, v := range m.vendors() {
		if strings.HasPrefix(strings.ToLower(c.Vendor), strings.ToLower(v.Name)) {
			return v, true
		}
	}
	return Vendor{}, false
}
