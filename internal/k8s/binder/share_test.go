package binder_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/granaryhq/granary/internal/jobs"
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
		o := podSpec{name: name, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}}.object()
		rl := corev1.ResourceList{}
		for k, v := range req {
			rl[corev1.ResourceName(k)] = resource.MustParse(v)
		}
		o.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: rl, Limits: rl}
		if _, err := env.Client.CoreV1().Pods("default").Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
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
