package jobctl

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

func example() *granaryjob.GranaryJob {
	return &granaryjob.GranaryJob{
		ObjectMeta: metav1.ObjectMeta{Name: "llama", Namespace: "ml", UID: "u-1"},
		Spec: granaryjob.Spec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "llama"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "trainer", Image: "placeholder", Env: []corev1.EnvVar{{Name: "KEEP", Value: "1"}},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}},
					{Name: "sidecar", Image: "log:1"},
				}}},
			Gang:  granaryjob.Gang{Pods: 3, AcceleratorsPerPod: 4},
			Team:  "research",
			Model: "Llama-3-8B",
			Variants: []granaryjob.Variant{
				{Vendor: "NVIDIA", Image: "cuda:1", Command: []string{"torchrun", "train.py"},
					Env: []corev1.EnvVar{{Name: "NCCL_IB_DISABLE", Value: "0"}}, Resources: corev1.ResourceList{"rdma/hca": resource.MustParse("1")}},
				{Vendor: "Huawei", Image: "cann:1", Command: []string{"torchrun", "train.py", "--device=npu"}},
			},
		},
	}
}

func mapping() k8s.Mapping { return k8s.Mapping{Catalog: accel.Default()} }

func TestBuildPodsPerVendor(t *testing.T) {
	gj := example()
	m := mapping()
	for _, tc := range []struct {
		vendor, resource, image, model string
		restarts                       int32
		extra                          corev1.ResourceName
	}{
		{"NVIDIA", "nvidia.com/gpu", "cuda:1", "h800-sxm5-80gb", 0, "rdma/hca"},
		{"Huawei", "huawei.com/Ascend910", "cann:1", "ascend-910b3", 1, ""},
	} {
		v, _ := vendorNamed(m, tc.vendor)
		a := attempt{JobID: "job-7", Restarts: tc.restarts, Model: tc.model, Vendor: v, Resource: corev1.ResourceName(tc.resource), Nodes: []string{"n0", "n0", "n1"}}
		pods, err := buildPods(gj, a)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) != 3 {
			t.Fatalf("%d pods", len(pods))
		}
		for rank, p := range pods {
			c := p.Spec.Containers[0]
			if want := []string{"llama-" + itoa(int(tc.restarts)) + "-" + itoa(rank)}; p.Name != want[0] || p.Namespace != "ml" {
				t.Errorf("pod %s/%s, want ml/%s", p.Namespace, p.Name, want[0])
			}
			if c.Image != tc.image || p.Spec.NodeName != a.Nodes[rank] || p.Spec.SchedulerName != "granary" {
				t.Errorf("%s: image %s node %s scheduler %s", p.Name, c.Image, p.Spec.NodeName, p.Spec.SchedulerName)
			}
			q := c.Resources.Requests[corev1.ResourceName(tc.resource)]
			l := c.Resources.Limits[corev1.ResourceName(tc.resource)]
			if q.Value() != 4 || l.Value() != 4 {
				t.Errorf("%s: %s request %s limit %s, want 4", p.Name, tc.resource, q.String(), l.String())
			}
			if cpu := c.Resources.Requests[corev1.ResourceCPU]; cpu.String() != "4" {
				t.Errorf("%s: template cpu request lost: %s", p.Name, cpu.String())
			}
			if _, ok := c.Resources.Requests["rdma/hca"]; ok != (tc.extra != "") {
				t.Errorf("%s: rdma/hca requested %v, want %v", p.Name, ok, tc.extra != "")
			}
			if p.Labels["app"] != "llama" || p.Labels[granaryjob.UIDLabel] != "u-1" || p.Labels[JobIDLabel] != "job-7" || p.Labels[RankLabel] != itoa(rank) {
				t.Errorf("%s: labels %v", p.Name, p.Labels)
			}
			if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].Kind != "GranaryJob" || p.OwnerReferences[0].Controller == nil || !*p.OwnerReferences[0].Controller {
				t.Errorf("%s: owner %+v", p.Name, p.OwnerReferences)
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			want := map[string]string{"KEEP": "1", EnvJob: "ml/llama", EnvJobID: "job-7", EnvModel: tc.model, EnvVendor: tc.vendor,
				EnvResource: tc.resource, EnvPerPod: "4", EnvRank: itoa(rank), EnvGangPods: "3", EnvWorldSize: "12",
				EnvRestart: itoa(int(tc.restarts)), EnvCheckpointDir: "/checkpoints/ml/llama", EnvRank0Pod: "llama-" + itoa(int(tc.restarts)) + "-0"}
			if tc.vendor == "NVIDIA" {
				want["NCCL_IB_DISABLE"] = "0"
			}
			if d := cmp.Diff(want, env); d != "" {
				t.Errorf("%s env (-want +got):\n%s", p.Name, d)
			}
			if side := p.Spec.Containers[1]; side.Image != "log:1" || len(side.Env) != len(contractEnv(gj, a, rank)) {
				t.Errorf("%s: sidecar %s with %d env", p.Name, side.Image, len(side.Env))
			}
		}
	}
	// The template is untouched.
	if gj.Spec.Template.Spec.Containers[0].Image != "placeholder" || len(gj.Spec.Template.Spec.Containers[0].Env) != 1 {
		t.Error("buildPods changed the template")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestBuildPodsNoVariant(t *testing.T) {
	gj := example()
	v, _ := vendorNamed(mapping(), "Cambricon")
	_, err := buildPods(gj, attempt{Model: "mlu370-x8", Vendor: v, Resource: "cambricon.com/mlu", Nodes: []string{"a", "a", "a"}})
	if err == nil || !strings.Contains(err.Error(), "no Cambricon variant") {
		t.Errorf("err = %v, want one naming the Cambricon variant", err)
	}
}

func TestRankNodes(t *testing.T) {
	sn := map[string]string{}
	var devs []string
	for i, n := range []string{"b", "b", "b", "b", "a", "a", "a", "a", "c", "c"} {
		s := "s" + itoa(i)
		sn[s] = n
		devs = append(devs, s)
	}
	got, err := rankNodes(devs, sn, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a", "a", "b", "b", "c"}, got); d != "" {
		t.Error(d)
	}
	if _, err := rankNodes(devs, sn, 4, 2); err == nil || !strings.Contains(err.Error(), "10 devices, not 2 pods × 4") {
		t.Errorf("10 devices for 2 × 4: err = %v", err)
	}
	// Per-node counts that are not whole pods: 6 on a, 10 on b, 8 per pod.
	sn, devs = map[string]string{}, nil
	for i := range 16 {
		s := "d" + itoa(i)
		sn[s], devs = map[bool]string{true: "a", false: "b"}[i < 6], append(devs, s)
	}
	if got, err := rankNodes(devs, sn, 8, 2); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("6 + 10 devices, 2 pods of 8: %v, %v; want [a b]", got, err)
	}
	// 3 + 3 + 2 devices, 2 pods of 4: the two nodes with the most left.
	sn = map[string]string{"x0": "c", "x1": "c", "x2": "a", "x3": "a", "x4": "a", "x5": "b", "x6": "b", "x7": "b"}
	if got, err := rankNodes([]string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"}, sn, 4, 2); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("3 + 3 + 2 devices, 2 pods of 4: %v, %v; want [a b]", got, err)
	}
	if _, err := rankNodes(devs, map[string]string{}, 2, 5); err == nil {
		t.Error("unknown devices: no error")
	}
}

func TestJobSpec(t *testing.T) {
	m := mapping()
	gj := example()
	sp, err := jobSpec(gj, m)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Name != "granaryjob:ml/llama" || sp.Gang != 12 || sp.Team != "research" {
		t.Errorf("spec %+v", sp)
	}
	// Allowed: exactly the catalog's NVIDIA and Huawei models.
	var want []string
	for _, c := range m.Catalog.All() {
		if strings.HasPrefix(c.Vendor, "NVIDIA") || strings.HasPrefix(c.Vendor, "Huawei") {
			want = append(want, c.ID)
		}
	}
	if d := cmp.Diff(sortedStrings(want), sp.Allowed); d != "" {
		t.Errorf("allowed (-want +got):\n%s", d)
	}
	gj.Spec.AllowedModels = []string{"H800", "MLU370-X8"}
	if sp, err = jobSpec(gj, m); err != nil || len(sp.Allowed) != 1 || sp.Allowed[0] != "h800-sxm5-80gb" {
		t.Errorf("allowed H800 + a Cambricon: %v %v, want [h800-sxm5-80gb]", sp.Allowed, err)
	}
	for _, tc := range []struct {
		edit func(*granaryjob.GranaryJob)
		want string
	}{
		{func(g *granaryjob.GranaryJob) { g.Spec.AllowedModels = []string{"MLU370-X8"} }, "spec.allowedModels: none of MLU370-X8"},
		{func(g *granaryjob.GranaryJob) { g.Spec.ForbiddenModels = []string{"no-such-chip"} }, "spec.forbiddenModels"},
		{func(g *granaryjob.GranaryJob) { g.Spec.Template.Spec.Containers = nil }, "spec.template.spec.containers"},
		{func(g *granaryjob.GranaryJob) {
			g.Spec.Template.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1")
		}, "requests nvidia.com/gpu"},
	} {
		g := example()
		tc.edit(g)
		if _, err := jobSpec(g, m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestCamel(t *testing.T) {
	for in, want := range map[string]string{"placed-best": "PlacedBest", "no-devices": "NoDevices", "queued": "Queued", "": "Unknown"} {
		if got := camel(jobs.Code(in)); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
}

// A GranaryJob asking for a share of one device: its job asks for the
// share (and the template's CPU and memory), on the models of vendors
// Granary writes shares for; its pod requests HAMi's names instead of a
// whole device; a share placed where no sharing names are known is refused.
func TestShareGranaryJob(t *testing.T) {
	gj := example()
	gj.Spec.Gang = granaryjob.Gang{Pods: 1, AcceleratorsPerPod: 1}
	gj.Spec.Share = granaryjob.Share{DeviceMilli: 250, DeviceMemoryMiB: 20480}
	gj.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("32Gi")
	m := mapping()
	sp, err := jobSpec(gj, m)
	if err != nil {
		t.Fatal(err)
	}
	if sp.DeviceMilli != 250 || sp.DeviceMemoryMiB != 20480 || sp.CPUMilli != 4000 || sp.MemoryMiB != 32768 || sp.Gang != 1 {
		t.Errorf("job spec %+v, want 250 milli, 20480 MiB, 4000 milli-cores, 32768 MiB, gang 1", sp)
	}
	for _, id := range sp.Allowed {
		if v, _ := m.VendorOfModel(id); v.Name != "NVIDIA" {
			t.Errorf("allowed %s (%s): Granary writes no %s share", id, v.Name, v.Name)
		}
	}
	if len(sp.Allowed) == 0 {
		t.Error("no model allowed")
	}
	nv, _ := vendorNamed(m, "NVIDIA")
	pods, err := buildPods(gj, attempt{JobID: "job-3", Model: "h800-sxm5-80gb", Vendor: nv, Resource: "nvidia.com/gpu", Nodes: []string{"n0"}, Milli: 250, MemoryMiB: 20480})
	if err != nil {
		t.Fatal(err)
	}
	c := pods[0].Spec.Containers[0]
	for r, want := range map[corev1.ResourceName]int64{"nvidia.com/gpu": 1, "nvidia.com/gpucores": 25, "nvidia.com/gpumem": 20480} {
		if q, l := c.Resources.Requests[r], c.Resources.Limits[r]; q.Value() != want || l.Value() != want {
			t.Errorf("%s: request %s limit %s, want %d", r, q.String(), l.String(), want)
		}
	}
	if sh, found, err := k8s.ParseShare(c.Resources.Requests); !found || err != nil || sh.Milli != 250 || sh.MemoryMiB != 20480 {
		t.Errorf("the pod's share reads back as %+v %v %v", sh, found, err)
	}
	hw, _ := vendorNamed(m, "Huawei")
	if _, err := buildPods(gj, attempt{JobID: "job-3", Model: "ascend-910b3", Vendor: hw, Resource: "huawei.com/Ascend910", Nodes: []string{"n0"}, Milli: 250}); err == nil || !strings.Contains(err.Error(), "no share of a Huawei device") {
		t.Errorf("a share on Ascend: %v", err)
	}
}
