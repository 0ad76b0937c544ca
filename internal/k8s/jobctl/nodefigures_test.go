package jobctl_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
)

// TestSharesLimitedByNodeCPU: the node sync records each node's
// allocatable CPU (kwok nodes: 64 cores) with no import, and the loop
// places shares against it. A share GranaryJob whose template requests 65
// cores is refused (invalid, naming the template's cpu requests); of two
// NVIDIA-only shares requesting 40 cores each, the first runs on the H800
// node and the second waits no-share-room though its GPU has room.
// Without the node's figures in the ledger the 65-core share is admitted
// and the second 40-core one is placed, and neither happens.
func TestSharesLimitedByNodeCPU(t *testing.T) {
	_, c := startOnPools(t, 1)
	ctx := context.Background()
	share := func(name, cpu string) *granaryjob.GranaryJob {
		gj := job(name, 1, 1, "NVIDIA")
		gj.Spec.Share = granaryjob.Share{DeviceMilli: 250, DeviceMemoryMiB: 20480}
		gj.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		return gj
	}
	for _, gj := range []*granaryjob.GranaryJob{share("too-big", "65"), share("cpu-a", "40")} {
		if err := c.c.Create(ctx, gj); err != nil {
			t.Fatal(err)
		}
	}
	c.until(t, "too-big refused, cpu-a running", func() error {
		if s := c.get(t, "too-big").Status; s.Reason != jobctl.CodeInvalid || !strings.Contains(s.Message, "the template's cpu requests") || !strings.Contains(s.Message, "(64000)") {
			return fmt.Errorf("too-big: status %s %s %q, want invalid at the template's cpu requests naming 64000", s.Phase, s.Reason, s.Message)
		}
		return c.runningOn(t, "cpu-a", 1, "h800-", "nvidia.com/gpucores", "nvcr.io/nvidia/pytorch:24.05-py3", 25)()
	})
	if err := c.c.Create(ctx, share("cpu-b", "40")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "cpu-b waiting", func() error {
		gj := c.get(t, "cpu-b")
		if s := gj.Status; s.Phase != granaryjob.Pending || s.Reason != "no-share-room" || s.JobID == "" {
			return fmt.Errorf("cpu-b: status %s %s %q, want pending no-share-room", s.Phase, s.Reason, s.Message)
		}
		if ps := c.livePods(t, gj); len(ps) != 0 {
			return fmt.Errorf("cpu-b: %d pods of a waiting share", len(ps))
		}
		return nil
	})
}

// TestGangsLimitedByNodeCPU: a whole-device GranaryJob asks for its
// template's requests once per pod, and the loop places gangs against the
// node's allocatable CPU (the H800 node: 8 GPUs, 64 cores). A gang of two
// one-GPU pods of 40 cores each (80 on the one node that holds it) is
// refused at the template's cpu requests; of two gangs of two 20-core pods
// the first runs and the second waits no-node-room though 6 GPUs are free.
// When only shares carried their template's requests, the 80-core gang was
// admitted and the second 20-core gang placed past the node's CPU.
func TestGangsLimitedByNodeCPU(t *testing.T) {
	_, c := startOnPools(t, 1)
	ctx := context.Background()
	gang := func(name, cpu string) *granaryjob.GranaryJob {
		gj := job(name, 2, 1, "NVIDIA")
		gj.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		return gj
	}
	for _, gj := range []*granaryjob.GranaryJob{gang("g-big", "40"), gang("g-a", "20")} {
		if err := c.c.Create(ctx, gj); err != nil {
			t.Fatal(err)
		}
	}
	c.until(t, "g-big refused, g-a running", func() error {
		if s := c.get(t, "g-big").Status; s.Reason != jobctl.CodeInvalid || !strings.Contains(s.Message, "the template's cpu requests") || !strings.Contains(s.Message, "80000") {
			return fmt.Errorf("g-big: status %s %s %q, want invalid at the template's cpu requests naming 80000", s.Phase, s.Reason, s.Message)
		}
		return c.runningOn(t, "g-a", 2, "h800-", "nvidia.com/gpu", "nvcr.io/nvidia/pytorch:24.05-py3", 1)()
	})
	if err := c.c.Create(ctx, gang("g-b", "20")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "g-b waiting", func() error {
		gj := c.get(t, "g-b")
		if s := gj.Status; s.Phase != granaryjob.Pending || s.Reason != "no-node-room" || s.JobID == "" {
			return fmt.Errorf("g-b: status %s %s %q, want pending no-node-room", s.Phase, s.Reason, s.Message)
		}
		if ps := c.livePods(t, gj); len(ps) != 0 {
			return fmt.Errorf("g-b: %d pods of a waiting gang", len(ps))
		}
		return nil
	})
}
