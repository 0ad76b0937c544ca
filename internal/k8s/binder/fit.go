package binder

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/granaryhq/granary/internal/k8s"
)

// nodeState is a node and what the pods already on it request: every pod
// bound to it that has not finished, whoever placed it.
type nodeState struct {
	node *corev1.Node
	used corev1.ResourceList
	pods int
}

func newNodeState(n *corev1.Node, pods []*corev1.Pod) *nodeState {
	s := &nodeState{node: n, used: corev1.ResourceList{}}
	for _, p := range pods {
		if finished(p) {
			continue
		}
		s.add(p)
	}
	return s
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (s *nodeState) add(p *corev1.Pod) {
	req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	skip := deviceShared(p, req)
	for r, q := range req {
		if skip(r) {
			continue
		}
		u := s.used[r]
		u.Add(q)
		s.used[r] = u
	}
	s.pods++
}

// fit says why pod cannot run on the node as kube-scheduler would judge it
// (cordon, taints and tolerations, nodeSelector and required node
// affinity, allocatable minus the requests of the pods already there), or
// "" when it fits.
func (s *nodeState) fit(p *corev1.Pod) string {
	n := s.node
	if n.Spec.Unschedulable && !tolerates(p, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return fmt.Sprintf("node %s is cordoned", n.Name)
	}
	taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false)
	if untolerated {
		return fmt.Sprintf("node %s has taint %s the pod does not tolerate", n.Name, taint.ToString())
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(n); err != nil || !ok {
		return fmt.Sprintf("node %s does not match the pod's nodeSelector or required node affinity", n.Name)
	}
	if max := n.Status.Allocatable.Pods().Value(); max > 0 && int64(s.pods+1) > max {
		return fmt.Sprintf("node %s has room for no more pods (%d)", n.Name, max)
	}
	req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	skip := deviceShared(p, req)
	names := make([]string, 0, len(req))
	for r := range req {
		// A share's device is Granary's share stage's to account, a pair's
		// the planner's: its count, cores and memory need not be in
		// allocatable.
		if skip(r) {
			continue
		}
		names = append(names, string(r))
	}
	slices.Sort(names)
	for _, name := range names {
		r := corev1.ResourceName(name)
		q := req[r]
		if q.IsZero() {
			continue
		}
		alloc, ok := n.Status.Allocatable[r]
		if !ok {
			alloc = resource.Quantity{}
		}
		free := alloc.DeepCopy()
		free.Sub(s.used[r])
		if q.Cmp(free) > 0 {
			if free.Sign() < 0 {
				free = resource.Quantity{}
			}
			return fmt.Sprintf("node %s: insufficient %s (requested %s, free %s of %s)", n.Name, r, q.String(), free.String(), alloc.String())
		}
	}
	return ""
}

// deviceShared returns whether each of pod p's requests (req) is of a
// device it shares — a share's (k8s.ParseShare) or a pair member's
// (k8s.PairShare) count, cores, memory and whole-device resource — which
// Granary accounts for itself: the planner holds a pair's device once,
// half for each job, so neither pod counts it on its node.
func deviceShared(p *corev1.Pod, req corev1.ResourceList) func(corev1.ResourceName) bool {
	if pair, ok := k8s.PairShare(p.Labels, req); ok {
		return func(r corev1.ResourceName) bool {
			return r == pair.Whole || r == pair.Count || r == pair.Memory || r == pair.Cores
		}
	}
	shared := isShare(req)
	return func(r corev1.ResourceName) bool { return shared && (k8s.IsShareResource(r) || isWholeOfShare(req, r)) }
}

// isShare reports whether requests ask for a share of a device.
func isShare(req corev1.ResourceList) bool {
	_, found, _ := k8s.ParseShare(req)
	return found
}

// isWholeOfShare reports whether r is the whole-device resource of the
// share req asks for (HAMi's nvidia.com/gpu: 1 beside nvidia.com/gpucores).
func isWholeOfShare(req corev1.ResourceList, r corev1.ResourceName) bool {
	sh, found, _ := k8s.ParseShare(req)
	return found && (r == sh.Names.Whole || r == sh.Names.Count)
}

func tolerates(p *corev1.Pod, t corev1.Taint) bool {
	for _, tol := range p.Spec.Tolerations {
		if tol.ToleratesTaint(klog.Background(), &t, false) {
			return true
		}
	}
	return false
}
