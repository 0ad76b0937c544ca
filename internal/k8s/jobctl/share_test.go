package jobctl_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

// GranaryJobs asking for a quarter of a GPU (spec.share) on the real API
// server: the CRD takes the field, each job's pod is Running on the H800
// node requesting HAMi's nvidia.com/gpucores 25 and nvidia.com/gpumem
// 20480, and the store has all four on one device, 250 milli each. The
// nodes have no HAMi register: the pods carry no HAMi annotation.
func TestShareGranaryJobs(t *testing.T) {
	_, c := startOnPools(t, 1)
	names := []string{"q0", "q1", "q2", "q3"}
	for _, n := range names {
		gj := job(n, 1, 1, "NVIDIA", "Huawei")
		gj.Spec.Share = granaryjob.Share{DeviceMilli: 250, DeviceMemoryMiB: 20480}
		if err := c.c.Create(context.Background(), gj); err != nil {
			t.Fatal(err)
		}
	}
	c.until(t, "shares running", func() error {
		for _, n := range names {
			if err := c.runningOn(t, n, 1, "h800-", "nvidia.com/gpucores", "nvcr.io/nvidia/pytorch:24.05-py3", 25)(); err != nil {
				return err
			}
			p := c.livePods(t, c.get(t, n))[0]
			if q := p.Spec.Containers[0].Resources.Limits["nvidia.com/gpumem"]; q.Value() != 20480 {
				return fmt.Errorf("%s: nvidia.com/gpumem limit %s", p.Name, q.String())
			}
			for k := range p.Annotations {
				if strings.HasPrefix(k, "hami.io/") {
					t.Errorf("%s on a node without HAMi's register carries %s", p.Name, k)
				}
			}
		}
		return nil
	})
	js, err := c.svc.List(context.Background(), jobs.Filter{Shared: true, States: []jobs.State{jobs.Running}})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 4 {
		t.Fatalf("%d running shared jobs, want 4", len(js))
	}
	for _, j := range js {
		if j.Placement.Milli != 250 || j.Placement.Devices[0] != js[0].Placement.Devices[0] {
			t.Errorf("%s: %+v, want 250 milli of %s", j.Name, j.Placement, js[0].Placement.Devices[0])
		}
	}
}

// annotateNode sets a node annotation (HAMi's device plugin's register).
func annotateNode(t *testing.T, env *k8stest.Env, node, key, value string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if _, err := env.Client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// running returns the running store job of a GranaryJob.
func (c *cluster) running(t *testing.T, name string) (jobs.Job, error) {
	t.Helper()
	js, err := c.svc.List(context.Background(), jobs.Filter{States: []jobs.State{jobs.Running}})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if j.Name == jobctl.JobName("default", name) && j.Placement != nil {
			return j, nil
		}
	}
	return jobs.Job{}, fmt.Errorf("%s is not running", name)
}

// GranaryJob shares on a node whose HAMi device plugin registered two
// GPUs (HAMi's older annotation form): a whole-GPU job runs first and
// holds one; two quarter shares then go on the other, and each share's pod
// is created carrying HAMi's device assignment of that GPU — its UUID (the
// node's i-th registered GPU for Granary's device node:model:i), 20480 MiB
// and 25 %, bind phase "allocating" on the node. The whole job's pod
// carries none. Without it HAMi's plugin picks the GPU itself, and the
// ledger may say GPU 1 while the pod runs on GPU 0.
func TestShareGranaryJobsHAMi(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	cl := installCRD(t, env)
	if _, err := env.CreateNode(context.Background(), k8stest.Node{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 2,
		Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}}); err != nil {
		t.Fatal(err)
	}
	uuids := []string{"GPU-00552014-5c87-89ac-b1a6-7b53aa24b0ec", "GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448"}
	annotateNode(t, env, "h800-0", k8s.HAMiNVIDIARegister,
		uuids[0]+",10,81559,100,NVIDIA-NVIDIA H800,0,true:"+uuids[1]+",10,81559,100,NVIDIA-NVIDIA H800,0,true:")
	c := start(t, env, cl)
	ctx := context.Background()
	if err := c.c.Create(ctx, job("whole", 1, 1, "NVIDIA")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "the whole job running", c.runningOn(t, "whole", 1, "h800-0", "nvidia.com/gpu", "nvcr.io/nvidia/pytorch:24.05-py3", 1))
	names := []string{"q0", "q1"}
	for _, n := range names {
		gj := job(n, 1, 1, "NVIDIA")
		gj.Spec.Share = granaryjob.Share{DeviceMilli: 250, DeviceMemoryMiB: 20480}
		if err := c.c.Create(ctx, gj); err != nil {
			t.Fatal(err)
		}
	}
	c.until(t, "shares running", func() error {
		for _, n := range names {
			if err := c.runningOn(t, n, 1, "h800-0", "nvidia.com/gpucores", "nvcr.io/nvidia/pytorch:24.05-py3", 25)(); err != nil {
				return err
			}
		}
		return nil
	})
	whole, err := c.running(t, "whole")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		j, err := c.running(t, n)
		if err != nil {
			t.Fatal(err)
		}
		dev := j.Placement.Devices[0]
		i, ok := k8s.DeviceIndex(dev, "h800-0", "h800-sxm5-80gb")
		if !ok || dev == whole.Placement.Devices[0] {
			t.Fatalf("%s on %s, the whole job on %s", n, dev, whole.Placement.Devices[0])
		}
		t.Logf("%s on %s (HAMi GPU %s); the whole job on %s", n, dev, uuids[i], whole.Placement.Devices[0])
		p := c.livePods(t, c.get(t, n))[0]
		want := uuids[i] + ",NVIDIA,20480,25:;"
		a := p.Annotations
		if a[k8s.HAMiToAllocate] != want || a[k8s.HAMiAllocated] != want || a[k8s.HAMiNode] != "h800-0" || a[k8s.HAMiBindPhase] != "allocating" ||
			a[k8s.HAMiBindTime] == "" || a[k8s.HAMiTime] == "" {
			t.Errorf("%s: annotations %v, want %q to allocate on h800-0", p.Name, a, want)
		}
	}
	p := c.livePods(t, c.get(t, "whole"))[0]
	for k := range p.Annotations {
		if strings.HasPrefix(k, "hami.io/") {
			t.Errorf("the whole job's pod carries %s", k)
		}
	}
}

// A node whose HAMi register lists fewer GPUs than it advertises: a share
// placed on GPU 1 when the register lists one GPU gets no pod; the
// GranaryJob says which node, device and annotation (PodsReady and a
// Warning event).
func TestShareGranaryJobHAMiRegisterShort(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	cl := installCRD(t, env)
	if _, err := env.CreateNode(context.Background(), k8stest.Node{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 2,
		Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}}); err != nil {
		t.Fatal(err)
	}
	c := start(t, env, cl)
	ctx := context.Background()
	if err := c.c.Create(ctx, job("whole", 1, 1, "NVIDIA")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "the whole job running", c.runningOn(t, "whole", 1, "h800-0", "nvidia.com/gpu", "nvcr.io/nvidia/pytorch:24.05-py3", 1))
	whole, err := c.running(t, "whole")
	if err != nil {
		t.Fatal(err)
	}
	if whole.Placement.Devices[0] != "h800-0:h800-sxm5-80gb:0" {
		t.Fatalf("the whole job is on %s; the test needs GPU 1 free (the planner takes a node's devices in order)", whole.Placement.Devices[0])
	}
	annotateNode(t, env, "h800-0", k8s.HAMiNVIDIARegister, `[{"id":"GPU-a","count":10,"devmem":81559,"devcore":100,"type":"NVIDIA-NVIDIA H800","health":true}]`)
	gj := job("q0", 1, 1, "NVIDIA")
	gj.Spec.Share = granaryjob.Share{DeviceMilli: 250, DeviceMemoryMiB: 20480}
	if err := c.c.Create(ctx, gj); err != nil {
		t.Fatal(err)
	}
	want := "node h800-0: device h800-0:h800-sxm5-80gb:1 is GPU 1 of the node, but annotation hami.io/node-nvidia-register lists 1 GPUs (GPU-a)"
	c.until(t, "the share waits naming the register", func() error {
		gj := c.get(t, "q0")
		cond := meta.FindStatusCondition(gj.Status.Conditions, jobctl.PodsReady)
		if cond == nil || !strings.Contains(cond.Message, want) {
			return fmt.Errorf("PodsReady %+v", cond)
		}
		if ev := c.events(t, "q0", "HAMiDevice"); len(ev) == 0 || !strings.Contains(ev[0], want) {
			return fmt.Errorf("events %q", ev)
		}
		return nil
	})
	if ps := c.livePods(t, c.get(t, "q0")); len(ps) != 0 {
		t.Errorf("%d pods created for the share", len(ps))
	}
}
