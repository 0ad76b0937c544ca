package binder

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
)

// Ledger is the loop's view of the fleet on Kubernetes: the ledger's
// in-service devices minus those Granary may not use now — the
// accelerators held by pods other schedulers placed (or that name their
// node themselves), those held by Granary's pods still terminating (a gang
// moved or stopped) except the devices a running job's placement already
// holds, and every device of a cordoned node. The per-pod checks (taints,
// affinity, cpu and memory, and the terminating pods' room) happen at
// binding and pod creation.
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
	running, err := l.Backend.cfg.Jobs.List(ctx, jobs.Filter{States: []jobs.State{jobs.Running}})
	if err != nil {
		return nil, fmt.Errorf("binder: reading jobs: %w", err)
	}
	placed := map[string]bool{}
	for _, j := range running {
		if j.Placement != nil {
			for _, s := range j.Placement.Devices {
				placed[s] = true
			}
		}
	}
	return l.Backend.free(devs, placed), nil
}

// free drops, on each node, as many devices as foreign pods request of
// them (the last ones by serial order), then as many as Granary's
// terminating pods request, among the devices no running job is placed on
// (placed: serial → true), and all devices of cordoned nodes.
//
// Granary's terminating pods do not take a placed device: the round that
// moved their gang gave its devices to another job, whose pods wait (the
// fit check) until they are gone — a second or two. Taking the device
// from the fleet would make the next round see it lost and restart that
// job elsewhere, and so on (a restarted gang's own terminating pods
// restarted it again).
func (b *Backend) free(devs []jobs.Device, placed map[string]bool) []jobs.Device {
	held := map[string]int{}        // node → devices held by foreign pods
	terminating := map[string]int{} // node → devices held by Granary's terminating pods
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
			if finished(p) || (p.Spec.SchedulerName == SchedulerName && p.DeletionTimestamp == nil) {
				continue // Granary's live pods are the running jobs' placements, which the planner knows
			}
			if _, n, err := accelOf(b.cfg.Mapping, p); err == nil {
				if p.Spec.SchedulerName == SchedulerName {
					terminating[d.Node] += n
				} else {
					held[d.Node] += n
				}
			}
		}
	}
	if len(held) == 0 && len(terminating) == 0 && len(cordoned) == 0 {
		return devs
	}
	total := map[string]int{}
	for _, d := range devs {
		total[d.Node]++
	}
	// The foreign pods' devices: the last ones of each node.
	kept := make([]jobs.Device, 0, len(devs))
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
		kept = append(kept, d)
	}
	if len(terminating) == 0 {
		return kept
	}
	// The terminating pods' devices: the last unplaced ones of each node.
	drop := map[string]bool{}
	for i := len(kept) - 1; i >= 0; i-- {
		d := kept[i]
		if terminating[d.Node] > 0 && !placed[d.Serial] {
			drop[d.Serial] = true
			terminating[d.Node]--
		}
	}
	out := make([]jobs.Device, 0, len(kept))
	for _, d := range kept {
		if !drop[d.Serial] {
			out = append(out, d)
		}
	}
	return out
}
