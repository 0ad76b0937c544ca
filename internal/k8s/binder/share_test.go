package binder_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

// Pods asking for a share of a GPU in HAMi's names (nvidia.com/gpu: 1,
// nvidia.com/gpucores: 25, nvidia.com/gpumem: 20480) on the real API
// server: each becomes a job of 250 milli and 20480 MiB of device memory;
// the four are bound to the node beside a whole-GPU pod, all on one of its
// two GPUs while the whole pod has the other; a share with memory but no
// cores waits saying what to add, and changes nothing.
func TestBindShares(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	if _, err := env.CreateNode(context.Background(), k8stest.Node{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 2,
		Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := startCluster(t, env)
	share := func(name string, req map[string]string) {
		t.Helper()
		createShare(t, env, name, req)
	}
	quarters := []string{"q0", "q1", "q2", "q3"}
	for _, n := range quarters {
		share(n, map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpucores": "25", "nvidia.com/gpumem": "20480"})
	}
	c.create(t, podSpec{name: "whole", resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}})
	share("memonly", map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpumem": "4096"})
	c.until(t, "shares and the whole pod bound", func() error {
		for _, n := range append(quarters, "whole") {
			if got := c.pod(t, "default", n).Spec.NodeName; got != "h800-0" {
				return fmt.Errorf("%s on %q", n, got)
			}
		}
		return nil
	})
	c.until(t, "memory without cores explained", c.waitingWith("default", "memonly", "nvidia.com/gpumem without nvidia.com/gpucores"))
	for _, n := range append(quarters, "whole") {
		if a := hamiAnnotations(c.pod(t, "default", n)); len(a) > 0 {
			t.Errorf("%s on a node without HAMi's register carries %v", n, a)
		}
	}
	js, err := c.store.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}})
	if err != nil {
		t.Fatal(err)
	}
	dev := map[string]string{} // job name → device
	for _, j := range js {
		if j.Placement == nil || len(j.Placement.Devices) != 1 {
			t.Fatalf("%s: placement %+v", j.Name, j.Placement)
		}
		dev[j.Name] = j.Placement.Devices[0]
		switch j.Name {
		case "k8s:default/pod:whole":
			if j.DeviceMilli != 0 || j.Placement.Milli != 0 {
				t.Errorf("whole pod's job: %d milli, placement %+v", j.DeviceMilli, j.Placement)
			}
		default:
			if j.DeviceMilli != 250 || j.DeviceMemoryMiB != 20480 || j.Placement.Milli != 250 {
				t.Errorf("%s: %d milli %d MiB, placement %+v; want 250 milli, 20480 MiB", j.Name, j.DeviceMilli, j.DeviceMemoryMiB, j.Placement)
			}
		}
	}
	if len(dev) != 5 {
		t.Fatalf("running jobs %v, want the four shares and the whole pod", dev)
	}
	q := dev["k8s:default/pod:q0"]
	for _, n := range quarters {
		if dev["k8s:default/pod:"+n] != q {
			t.Errorf("%s on %s, want the shared device %s", n, dev["k8s:default/pod:"+n], q)
		}
	}
	if dev["k8s:default/pod:whole"] == q {
		t.Errorf("the whole-GPU pod is on the shared device %s", q)
	}
	if _, err := c.store.Jobs(ctx, jobs.Filter{Text: "memonly"}); err != nil {
		t.Fatal(err)
	} else if n, _ := c.store.CountJobs(ctx, jobs.Filter{Text: "memonly"}); n != 0 {
		t.Errorf("the refused share made %d jobs", n)
	}
}

// createShare creates a pod of class vision-train asking for req.
func createShare(t *testing.T, env *k8stest.Env, name string, req map[string]string) {
	t.Helper()
	o := podSpec{name: name, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}}.object()
	rl := corev1.ResourceList{}
	for k, v := range req {
		rl[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	o.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: rl, Limits: rl}
	if _, err := env.Client.CoreV1().Pods("default").Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// hamiAnnotations are a pod's annotations of HAMi's (hami.io/…).
func hamiAnnotations(p *corev1.Pod) map[string]string {
	out := map[string]string{}
	for k, v := range p.Annotations {
		if strings.HasPrefix(k, "hami.io/") {
			out[k] = v
		}
	}
	return out
}

// annotateNode sets a node annotation (HAMi's device plugin's register).
func annotateNode(t *testing.T, env *k8stest.Env, node, key, value string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if _, err := env.Client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runningDevices maps each running job's name to its one device.
func runningDevices(t *testing.T, c *cluster) map[string]string {
	t.Helper()
	js, err := c.store.Jobs(context.Background(), jobs.Filter{States: []jobs.State{jobs.Running}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range js {
		if j.Placement != nil && len(j.Placement.Devices) == 1 {
			out[j.Name] = j.Placement.Devices[0]
		}
	}
	return out
}

// On a node whose HAMi device plugin registered two GPUs (the annotation
// in HAMi's JSON form), a whole-GPU pod is bound first and holds one; two
// quarter shares then go on the other, and each share's Binding writes
// HAMi's device assignment: that GPU's UUID (the node's i-th registered
// GPU for Granary's device node:model:i), the share's 20480 MiB and 25 %,
// bind phase "allocating" on node h800-0. The whole pod gets none. Without
// the binder's HAMi step the shares carry no UUID and HAMi's plugin would
// pick a GPU itself.
func TestBindSharesHAMi(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, k8stest.Node{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 2,
		Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}}); err != nil {
		t.Fatal(err)
	}
	uuids := []string{"GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448", "GPU-00552014-5c87-89ac-b1a6-7b53aa24b0ec"}
	annotateNode(t, env, "h800-0", "hami.io/node-nvidia-register", fmt.Sprintf(
		`[{"id":%q,"count":10,"devmem":81559,"devcore":100,"type":"NVIDIA-NVIDIA H800","health":true},{"id":%q,"index":1,"count":10,"devmem":81559,"devcore":100,"type":"NVIDIA-NVIDIA H800","health":true}]`,
		uuids[0], uuids[1]))
	c := startCluster(t, env)
	c.create(t, podSpec{name: "whole", resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}})
	c.until(t, "the whole pod bound", func() error {
		if got := c.pod(t, "default", "whole").Spec.NodeName; got != "h800-0" {
			return fmt.Errorf("whole on %q", got)
		}
		return nil
	})
	for _, n := range []string{"q0", "q1"} {
		createShare(t, env, n, map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpucores": "25", "nvidia.com/gpumem": "20480"})
	}
	c.until(t, "shares bound", func() error {
		for _, n := range []string{"q0", "q1"} {
			if got := c.pod(t, "default", n).Spec.NodeName; got != "h800-0" {
				return fmt.Errorf("%s on %q", n, got)
			}
		}
		return nil
	})
	dev := runningDevices(t, c)
	shared := dev["k8s:default/pod:q0"]
	if shared == "" || dev["k8s:default/pod:q1"] != shared || dev["k8s:default/pod:whole"] == shared {
		t.Fatalf("devices %v: want both shares on one device, the whole pod on the other", dev)
	}
	i, ok := k8s.DeviceIndex(shared, "h800-0", "h800-sxm5-80gb")
	if !ok {
		t.Fatalf("shared device %s", shared)
	}
	t.Logf("whole pod on %s, shares on %s (HAMi GPU %s)", dev["k8s:default/pod:whole"], shared, uuids[i])
	for _, n := range []string{"q0", "q1"} {
		got := hamiAnnotations(c.pod(t, "default", n))
		alloc := uuids[i] + ",NVIDIA,20480,25:;"
		if got["hami.io/vgpu-devices-to-allocate"] != alloc || got["hami.io/vgpu-devices-allocated"] != alloc ||
			got["hami.io/vgpu-node"] != "h800-0" || got["hami.io/bind-phase"] != "allocating" || got["hami.io/bind-time"] == "" || got["hami.io/vgpu-time"] == "" {
			t.Errorf("%s: HAMi annotations %v, want %q to allocate on h800-0", n, got, alloc)
		}
	}
	if a := hamiAnnotations(c.pod(t, "default", "whole")); len(a) > 0 {
		t.Errorf("the whole-GPU pod carries %v", a)
	}
}

// A node whose HAMi register lists fewer GPUs than it advertises: a share
// Granary places on a GPU the register does not list is not bound; it
// waits saying which node, device and annotation.
func TestBindShareHAMiRegisterShort(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, k8stest.Node{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 2,
		Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}}); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, env)
	c.create(t, podSpec{name: "whole", resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}})
	c.until(t, "the whole pod bound", func() error {
		if got := c.pod(t, "default", "whole").Spec.NodeName; got != "h800-0" {
			return fmt.Errorf("whole on %q", got)
		}
		return nil
	})
	i, ok := k8s.DeviceIndex(runningDevices(t, c)["k8s:default/pod:whole"], "h800-0", "h800-sxm5-80gb")
	if !ok {
		t.Fatal("the whole pod's device is not known")
	}
	if i != 0 {
		t.Fatalf("the whole pod is on GPU %d; the test needs GPU 1 free (the planner takes a node's devices in order)", i)
	}
	// The register (HAMi's older form) lists one GPU; the share goes on GPU 1.
	annotateNode(t, env, "h800-0", "hami.io/node-nvidia-register", "GPU-a,10,81559,100,NVIDIA-H800,0,true:")
	createShare(t, env, "q0", map[string]string{"nvidia.com/gpu": "1", "nvidia.com/gpucores": "25", "nvidia.com/gpumem": "20480"})
	c.until(t, "the share waits", c.waitingWith("default", "q0", "node h800-0: device h800-0:h800-sxm5-80gb:1 is GPU 1 of the node, but annotation hami.io/node-nvidia-register lists 1 GPUs (GPU-a)"))
	if p := c.pod(t, "default", "q0"); p.Spec.NodeName != "" || len(hamiAnnotations(p)) > 0 {
		t.Errorf("q0 on %q with %v, want unbound", p.Spec.NodeName, hamiAnnotations(p))
	}
}
