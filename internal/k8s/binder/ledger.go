package binder

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// Ledger is the loop's view of the fleet on Kubernetes: the ledger's
// in-service devices minus those Granary may not use now — the
// accelerators held by pods other schedulers placed (or that name their
// node themselves) and by Granary's pods still terminating, and every
// device of a cordoned node. The per-pod checks
// (taints, affinity, cpu and memory) happen at binding.
type Ledger struct {
	control.Ledger
	Backend *Backend
}

var _ control.Ledger = Ledger{}

// InService implements control.Ledger.
func (l Ledger) InService(ctx context.Context) ([]jobs.Device, error) {
	devs, err := l.Ledger.InService(ctx)
	if err != nil {
		return nil, err
	}
	return l.Backend.free(devs), nil
}

// free drops, on each node, as many devices as foreign pods request of
// them (the last ones by serial order), and all devices of cordoned nodes.
func (b *Backend) free(devs []jobs.Device) []jobs.Device {
	held := map[string]int{} // node → devices held by foreign pods
	cordoned := map[string]bool{}
	seen := map[string]bool{}
	for _, d := range devs {
		if d.Node == "" || seen[d.Node] {
			continue
		}
		seen[d.Node] = true
		if n, err := b.nodes.Get(d.Node); err == nil && n.Spec.Unschedulable {
			cordoned[d.Node] = true
		}
		objs, err := b.podIndex.ByIndex(byNode, d.Node)
		if err != nil {
			continue
		}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			// Granary's live pods are the running jobs' placements, which
			// the planner knows; its terminating ones (a gang moved or
			// stopped) still hold their devices until they are gone.
			if finished(p) || (p.Spec.SchedulerName == SchedulerName && p.DeletionTimestamp == nil) {
				continue
			}
			if _, n, err := accelOf(b.cfg.Mapping, p); err == nil {
				held[d.Node] += n
			}
		}
	}
	if len(held) == 0 && len(cordoned) == 0 {
		return devs
	}
	total := map[string]int{}
	for _, d := range devs {
		total[d.Node]++
	}
	out := make([]jobs.Device, 0, len(devs))
	idx := map[string]int{}
	for _, d := range devs {
		if cordoned[d.Node] {
			continue
		}
		i := idx[d.Node]
		idx[d.Node]++
		if i >= total[d.Node]-held[d.Node] {
			continue
		}
		out = append(out, d)
	}
	return out
}
