package binder

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

// AssumeTTL is how long a pod Granary created or bound is counted on its
// node before the pod informer shows it there (then the informer's copy
// counts). A pod the informer never shows — deleted before it was seen,
// or a create that failed without Forget — stops counting after it.
const AssumeTTL = 30 * time.Second

// assumed is a pod counted on its node before the informer has it.
type assumed struct {
	pod *corev1.Pod
	at  time.Time
}

// assume counts pods (spec.nodeName set) on their nodes until the informer
// shows them. Call with b.mu held.
func (b *Backend) assume(pods []*corev1.Pod) {
	now := b.now()
	for _, p := range pods {
		byNode := b.assumed[p.Spec.NodeName]
		if byNode == nil {
			byNode = map[string]assumed{}
			b.assumed[p.Spec.NodeName] = byNode
		}
		byNode[p.Namespace+"/"+p.Name] = assumed{pod: p, at: now}
	}
}

// assumedOn returns the pods assumed on node that the informer does not
// show there yet, dropping those it shows and those older than
// AssumeTTL. Call with b.mu held.
func (b *Backend) assumedOn(node string) []*corev1.Pod {
	byNode := b.assumed[node]
	if len(byNode) == 0 {
		return nil
	}
	now := b.now()
	var out []*corev1.Pod
	for key, a := range byNode {
		seen, err := b.pods.Pods(a.pod.Namespace).Get(a.pod.Name)
		switch {
		case err == nil && seen.Spec.NodeName != "":
			delete(byNode, key) // the informer's copy counts (or, if it moved, is counted where it is)
		case err != nil && !apierrors.IsNotFound(err):
			out = append(out, a.pod)
		case now.Sub(a.at) > AssumeTTL:
			delete(byNode, key)
		default:
			out = append(out, a.pod)
		}
	}
	if len(byNode) == 0 {
		delete(b.assumed, node)
	}
	return out
}

// Assume judges pods as Fit does — counting, besides the informer's pods,
// the pods assumed by earlier calls and bindings that the informer does
// not show yet — and when they all fit, counts them on their nodes until
// the informer shows them (or AssumeTTL passes, or Forget). It returns ""
// then, or why they do not fit (nothing is assumed). The GranaryJob
// controller calls it right before creating a gang's pods, so two gangs
// whose creates race (concurrent reconciles, a cache a moment behind) are
// never both let onto the same accelerators. Safe for concurrent use.
func (b *Backend) Assume(pods []*corev1.Pod) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if why := b.fit(pods); why != "" {
		return why
	}
	b.assume(pods)
	return ""
}

// seen stops counting a pod the informer now shows on a node, or no
// longer shows at all (an informer event handler).
func (b *Backend) seen(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if byNode := b.assumed[p.Spec.NodeName]; byNode != nil {
		delete(byNode, p.Namespace+"/"+p.Name)
	}
}

// Forget stops counting pods an Assume counted (their create failed).
func (b *Backend) Forget(pods []*corev1.Pod) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range pods {
		if byNode := b.assumed[p.Spec.NodeName]; byNode != nil {
			delete(byNode, p.Namespace+"/"+p.Name)
		}
	}
}

// fit is Fit with b.mu held.
func (b *Backend) fit(pods []*corev1.Pod) string {
	state := b.nodeStates()
	for _, p := range pods {
		st, err := state(p.Spec.NodeName)
		if err != nil {
			return fmt.Sprintf("node %s: %v", p.Spec.NodeName, err)
		}
		if msg := st.fit(p); msg != "" {
			return msg
		}
		st.add(p)
	}
	return ""
}
