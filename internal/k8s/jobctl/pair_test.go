package jobctl_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
	"github.com/granaryhq/granary/internal/sched"
)

// Space sharing on the real API server (issue 14): under
// las-hetero-packed two GranaryJobs of one GPU, on a node with a single
// GPU, are paired on it — each pod Running on that node, labelled with its
// partner, asking for the GPU in HAMi's names (nvidia.com/gpu: 1,
// nvidia.com/gpumem: 40960, half the H800's 80 GB; no nvidia.com/gpucores:
// both run free, as the pair throughputs were measured), the binder's fit
// counting the GPU once (the second pod would not fit if each pod counted
// it), the store holding the device 500 milli for each. The pair keeps its
// pods round after round. On a one-NPU Ascend node, where the table also
// has a pair but Ascend has no sharing names, two such jobs are never
// paired: one runs alone at a time (without jobctl.Pairable in the
// planner's configuration they share the NPU). The H800 node's HAMi
// register lists its GPU: both pods carry HAMi's assignment of it (half
// the memory, cores 0: no cap).
func TestPackedPairGranaryJobs(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	cl := installCRD(t, env)
	for _, nd := range []k8stest.Node{
		{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 1, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}},
		{Name: "910b-0", Resource: "huawei.com/Ascend910", Devices: 1, Labels: map[string]string{"node.kubernetes.io/npu.chip.name": "910B3"}},
	} {
		if _, err := env.CreateNode(context.Background(), nd); err != nil {
			t.Fatal(err)
		}
	}
	// HAMi's device plugin registered the H800 (its older form).
	annotateNode(t, env, "h800-0", k8s.HAMiNVIDIARegister, "GPU-f00d,10,81559,100,NVIDIA-NVIDIA H800,0,true:")
	// resnet: 4 steps/s alone on an H800, 3 + 3 together; bert: 2 alone
	// on a 910B3, 1.5 + 1.5 together (two classes: the packed LP groups
	// jobs by class, whatever models they may use).
	var es []sched.ThroughputEntry
	var ps []sched.PairEntry
	for _, e := range []struct {
		class, model string
		v            float64
	}{{"resnet", "h800-sxm5-80gb", 4}, {"bert", "ascend-910b3", 2}} {
		es = append(es, sched.ThroughputEntry{Class: e.class, Gang: 1, Model: e.model, StepsPerSecond: e.v})
		ps = append(ps, sched.PairEntry{Class: e.class, Other: e.class, Gang: 1, Model: e.model, Steps: [2]float64{0.75 * e.v, 0.75 * e.v}})
	}
	w, err := jobs.NewWorkloadsWithPairs(es, ps)
	if err != nil {
		t.Fatal(err)
	}
	c := startWith(t, env, cl, w, sched.LASHeteroPacked)
	ctx := context.Background()
	for _, n := range []string{"p", "q", "a", "b"} {
		vendor, class := "NVIDIA", "resnet"
		if n == "a" || n == "b" {
			vendor, class = "Huawei", "bert"
		}
		gj := job(n, 1, 1, vendor)
		gj.Spec.Model, gj.Spec.Workload, gj.Spec.Class = "", "", class
		if err := c.c.Create(ctx, gj); err != nil {
			t.Fatal(err)
		}
	}
	// All four in the queue before the first round: a job placed alone
	// keeps its whole-device pod when a partner joins it later.
	k8stest.Eventually(t, time.Minute, func() error {
		for _, n := range []string{"p", "q", "a", "b"} {
			if c.get(t, n).Status.JobID == "" {
				return fmt.Errorf("%s not submitted yet", n)
			}
		}
		return nil
	})
	ids := map[string]string{} // GranaryJob → store job id
	pairPods := func() (map[string]corev1.Pod, error) {
		out := map[string]corev1.Pod{}
		for _, n := range []string{"p", "q"} {
			gj := c.get(t, n)
			ids[n] = gj.Status.JobID
			live := c.livePods(t, gj)
			if len(live) != 1 {
				return nil, fmt.Errorf("%s: %d live pods (status %s: %s)", n, len(live), gj.Status.Phase, gj.Status.Message)
			}
			out[n] = live[0]
		}
		for n, p := range out {
			other := map[string]string{"p": "q", "q": "p"}[n]
			req := p.Spec.Containers[0].Resources.Requests
			gpu, mem := req["nvidia.com/gpu"], req["nvidia.com/gpumem"]
			_, cores := req["nvidia.com/gpucores"]
			switch {
			case p.Spec.NodeName != "h800-0" || p.Status.Phase != corev1.PodRunning:
				return nil, fmt.Errorf("%s: pod %s %s on %q", n, p.Name, p.Status.Phase, p.Spec.NodeName)
			case p.Labels[k8s.PairLabel] != ids[other]:
				return nil, fmt.Errorf("%s: label %s=%q, want %s's job %s", n, k8s.PairLabel, p.Labels[k8s.PairLabel], other, ids[other])
			case gpu.Value() != 1 || mem.Value() != 40960 || cores:
				return nil, fmt.Errorf("%s: requests %v, want nvidia.com/gpu 1, nvidia.com/gpumem 40960, no nvidia.com/gpucores", n, req)
			case p.Annotations[k8s.HAMiToAllocate] != "GPU-f00d,NVIDIA,40960,0:;" || p.Annotations[k8s.HAMiNode] != "h800-0":
				return nil, fmt.Errorf("%s: HAMi annotations %v, want GPU-f00d with 40960 MiB, no core cap, on h800-0", n, p.Annotations)
			}
		}
		return out, nil
	}
	var first map[string]corev1.Pod
	c.until(t, "the pair running on h800-0", func() (err error) { first, err = pairPods(); return err })
	for round := range 3 {
		c.round(t)
		now, err := pairPods()
		if err != nil {
			t.Fatalf("round %d after the pair started: %v", round, err)
		}
		for n, p := range now {
			if p.UID != first[n].UID {
				t.Errorf("round %d: %s's pod %s (%s) replaced %s (%s): want the pair kept", round, n, p.Name, p.UID, first[n].Name, first[n].UID)
			}
		}
		js, err := c.svc.List(ctx, jobs.Filter{States: []jobs.State{jobs.Running}})
		if err != nil {
			t.Fatal(err)
		}
		onAscend := 0
		for _, j := range js {
			switch pl := j.Placement; {
			case j.Name == jobctl.JobName("default", "p") || j.Name == jobctl.JobName("default", "q"):
				other := ids["q"]
				if j.ID == other {
					other = ids["p"]
				}
				if pl.With != other || pl.DeviceMilli() != jobs.PairMilli || j.Restarts != 0 {
					t.Errorf("round %d: %s %+v, %d restarts; want with %s, %d milli, no restart", round, j.Name, pl, j.Restarts, other, jobs.PairMilli)
				}
			case pl.Model == "ascend-910b3":
				onAscend++
				if pl.With != "" {
					t.Errorf("round %d: %s shares the 910B3 with %s; Ascend has no sharing names", round, j.Name, pl.With)
				}
			}
		}
		if onAscend != 1 {
			t.Errorf("round %d: %d jobs running on the one 910B3, want 1 (alone)", round, onAscend)
		}
	}
}
