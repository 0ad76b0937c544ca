package jobctl_test

import (
	"github.com/granaryhq/granary/internal/jobs"
	"os"

	"context"
	"fmt"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	corev1 "k8s.io/api/core/v1"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

// TestMoveGang16: a 16-pod gang (1 accelerator per pod) on two H800 nodes
// is moved to two 910B3 nodes; the figure is the time from the end of the
// round that decided the move to all 16 new pods Running on the 910B3
// nodes (old pods deleted, new ones created on their nodes, kwok runs
// them), with no further round. Reported, not asserted (issue's bound:
// 5 s); small enough for CI.
func TestMoveGang16(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	cl := installCRD(t, env)
	pools(t, env, 2)
	c := start(t, env, cl)
	ctx := context.Background()
	cordon(t, env, "910b", true)
	if err := c.c.Create(ctx, job("big", 16, 1, "NVIDIA", "Huawei")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "on H800", c.runningOn(t, "big", 16, "h800-", "nvidia.com/gpu", cuda, 1))
	swap(t, env, "910b", "h800")
	time.Sleep(500 * time.Millisecond) // the informers see the cordon
	c.round(t)
	decided := time.Now()
	id := c.get(t, "big").Status.JobID
	j, err := c.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Placement == nil || j.Placement.Model != "ascend-910b3" {
		t.Fatalf("the round did not move the job: %+v", j.Placement)
	}
	k8stest.Eventually(t, 60*time.Second, func() error {
		if err := c.runningOn(t, "big", 16, "910b-", "huawei.com/Ascend910", cann, 1)(); err != nil {
			return fmt.Errorf("moved: %w", err)
		}
		return nil
	})
	t.Logf("FIGURE 16-pod gang move H800 → 910B3: all 16 pods Running %v after the round that decided it (bound 5 s)", time.Since(decided).Round(10*time.Millisecond))
}

// TestManyGranaryJobs: GranaryJobs of 1–32 pods (1 accelerator each,
// deterministic sizes) created at once on a kwok fleet of H800 and 910B3
// nodes; rounds run until every job is admitted or explained (a reason)
// and every pod of each running job is Running on its node. The figure is
// the time from the last create to that state. CI runs 20 jobs on 4
// nodes; GRANARY_FIGURES=1 runs the 200 jobs on 80 nodes (bound
// 60 s).
func TestManyGranaryJobs(t *testing.T) {
	n, nodes := 20, 2
	if os.Getenv("GRANARY_FIGURES") == "1" {
		n, nodes = 200, 40
	}
	env := k8stest.Start(t)
	env.StartKwok(t)
	cl := installCRD(t, env)
	pools(t, env, nodes)
	c := start(t, env, cl)
	ctx := context.Background()
	for i := range n {
		if err := c.c.Create(ctx, job(fmt.Sprintf("j%03d", i), int32(1+(i*7)%32), 1, "NVIDIA", "Huawei")); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Now()
	var running, pods, rounds int
	k8stest.Eventually(t, 3*time.Minute, func() error {
		c.round(t)
		rounds++
		var list granaryjob.GranaryJobList
		if err := c.c.List(ctx, &list); err != nil {
			return err
		}
		running, pods = 0, 0
		for i := range list.Items {
			gj := &list.Items[i]
			if gj.Status.Reason == "" || gj.Status.Reason == string(jobs.CodeSubmitted) {
				return fmt.Errorf("%s has no round's reason yet", gj.Name)
			}
			if gj.Status.Phase != granaryjob.Running {
				continue
			}
			live := c.livePods(t, gj)
			for _, p := range live {
				if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" {
					return fmt.Errorf("pod %s is %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName)
				}
			}
			if len(live) != int(gj.Spec.Gang.Pods) {
				return fmt.Errorf("%s: %d of %d pods", gj.Name, len(live), gj.Spec.Gang.Pods)
			}
			running++
			pods += len(live)
		}
		return nil
	})
	t.Logf("FIGURE %d GranaryJobs of 1–32 pods on %d nodes × 8: all admitted or explained, %d running with %d pods created, bound and Running %v after the last create (%d rounds; bound 60 s)",
		n, 2*nodes, running, pods, time.Since(created).Round(10*time.Millisecond), rounds)
	if running == 0 {
		t.Error("no job runs")
	}
}
