package k8s

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/granaryhq/granary/internal/accel"
)

func node(labels map[string]string, res map[string]int64) *corev1.Node {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}
	for k, v := range res {
		rl[corev1.ResourceName(k)] = *resource.NewQuantity(v, resource.DecimalSI)
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}, Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl}}
}

// The table of ../shared/docs/accelerator-resources.md, one node per row:
// the resource name and labels a vendor's plugin publishes → catalog chip.
func TestMappingVendors(t *testing.T) {
	m := Mapping{Catalog: accel.Default()}
	cases := []struct {
		name   string
		labels map[string]string
		res    map[string]int64
		want   []Accelerators
	}{
		{"gfd h800", map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}, map[string]int64{"nvidia.com/gpu": 8},
			[]Accelerators{{Resource: "nvidia.com/gpu", Vendor: "NVIDIA", Model: "h800-sxm5-80gb", Capacity: 8, Allocatable: 8}}},
		{"gfd a800", map[string]string{"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB"}, map[string]int64{"nvidia.com/gpu": 8},
			[]Accelerators{{Resource: "nvidia.com/gpu", Vendor: "NVIDIA", Model: "a800-sxm4-80gb", Capacity: 8, Allocatable: 8}}},
		{"ascend native", map[string]string{"node.kubernetes.io/npu.chip.name": "910B3", "accelerator": "huawei-Ascend910"}, map[string]int64{"huawei.com/Ascend910": 8},
			[]Accelerators{{Resource: "huawei.com/Ascend910", Vendor: "Huawei", Model: "ascend-910b3", Capacity: 8, Allocatable: 8}}},
		{"ascend hami per-chip name, memory ignored", nil, map[string]int64{"huawei.com/Ascend910B3": 8, "huawei.com/Ascend910B3-memory": 65536},
			[]Accelerators{{Resource: "huawei.com/Ascend910B3", Vendor: "Huawei", Model: "ascend-910b3", Capacity: 8, Allocatable: 8}}},
		{"cambricon unprefixed Model label", map[string]string{"Model": "MLU370-X8"}, map[string]int64{"cambricon.com/mlu": 8},
			[]Accelerators{{Resource: "cambricon.com/mlu", Vendor: "Cambricon", Model: "mlu370-x8", Capacity: 8, Allocatable: 8}}},
		{"metax", map[string]string{"metax-tech.com/gpu.product": "MXC500"}, map[string]int64{"metax-tech.com/gpu": 8},
			[]Accelerators{{Resource: "metax-tech.com/gpu", Vendor: "MetaX", Model: "metax-c500", Capacity: 8, Allocatable: 8}}},
		{"kunlunxin via granary label", map[string]string{ModelLabel: "P800"}, map[string]int64{"kunlunxin.com/xpu": 8},
			[]Accelerators{{Resource: "kunlunxin.com/xpu", Vendor: "Kunlunxin", Model: "kunlunxin-p800", Capacity: 8, Allocatable: 8}}},
		{"hygon", map[string]string{"hygon.com/dcu.name": "K100-AI"}, map[string]int64{"hygon.com/dcu": 8},
			[]Accelerators{{Resource: "hygon.com/dcu", Vendor: "Hygon", Model: "hygon-k100-ai", Capacity: 8, Allocatable: 8}}},
		{"iluvatar without label is unknown", nil, map[string]int64{"iluvatar.com/gpu": 4},
			[]Accelerators{{Resource: "iluvatar.com/gpu", Vendor: "Iluvatar", Unknown: "iluvatar.com/gpu: no product label (granary.io/accelerator)", Capacity: 4, Allocatable: 4}}},
		{"unknown product", map[string]string{"nvidia.com/gpu.product": "NVIDIA-Z9000"}, map[string]int64{"nvidia.com/gpu": 2},
			[]Accelerators{{Resource: "nvidia.com/gpu", Vendor: "NVIDIA", Unknown: "nvidia.com/gpu: nvidia.com/gpu.product=NVIDIA-Z9000 is no catalog chip", Capacity: 2, Allocatable: 2}}},
		{"granary label wins", map[string]string{ModelLabel: "H20", "nvidia.com/gpu.product": "NVIDIA-H800"}, map[string]int64{"nvidia.com/gpu": 8},
			[]Accelerators{{Resource: "nvidia.com/gpu", Vendor: "NVIDIA", Model: "h20-96gb", Capacity: 8, Allocatable: 8}}},
		{"hami gpumem and cores are not devices", map[string]string{"nvidia.com/gpu.product": "NVIDIA-L20"}, map[string]int64{"nvidia.com/gpu": 4, "nvidia.com/gpumem": 1000, "nvidia.com/gpucores": 100},
			[]Accelerators{{Resource: "nvidia.com/gpu", Vendor: "NVIDIA", Model: "l20-48gb", Capacity: 4, Allocatable: 4}}},
		{"cpu only", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := m.Node(node(c.labels, c.res))
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}
