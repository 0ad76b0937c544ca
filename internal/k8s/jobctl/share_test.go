package jobctl_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// GranaryJobs asking for a quarter of a GPU (spec.share) on the real API
// server: the CRD takes the field, each job's pod is Running on the H800
// node requesting HAMi's nvidia.com/gpucores 25 and nvidia.com/gpumem
// 20480, and the store has all four on one device, 250 milli each.
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
