package binder

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func testPod(req corev1.ResourceList, mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}}}}
	if mod != nil {
		mod(p)
	}
	return p
}

// The node fit, case by case as kube-scheduler's filters judge them.
func TestFit(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Allocatable: rl("cpu", "8", "memory", "64Gi", "pods", "3", "nvidia.com/gpu", "8")}}
	other := testPod(rl("cpu", "2", "nvidia.com/gpu", "6"), nil) // another scheduler's pod
	done := testPod(rl("cpu", "6"), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })
	cases := []struct {
		name string
		node func(*corev1.Node)
		pod  *corev1.Pod
		want string // substring; "" = fits
	}{
		{"fits beside the other pod", nil, testPod(rl("cpu", "6", "nvidia.com/gpu", "2"), nil), ""},
		{"gpu taken by the other pod", nil, testPod(rl("nvidia.com/gpu", "3"), nil), "insufficient nvidia.com/gpu (requested 3, free 2 of 8)"},
		{"cpu", nil, testPod(rl("cpu", "6500m"), nil), "insufficient cpu"},
		{"memory", nil, testPod(rl("memory", "65Gi"), nil), "insufficient memory"},
		{"resource the node lacks", nil, testPod(rl("huawei.com/Ascend910", "1"), nil), "insufficient huawei.com/Ascend910 (requested 1, free 0 of 0)"},
		{"cordoned", func(n *corev1.Node) { n.Spec.Unschedulable = true }, testPod(nil, nil), "cordoned"},
		{"cordon tolerated", func(n *corev1.Node) { n.Spec.Unschedulable = true }, testPod(nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}}
		}), ""},
		{"taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Value: "reserved", Effect: corev1.TaintEffectNoSchedule}}
		}, testPod(nil, nil), "taint gpu=reserved:NoSchedule"},
		{"taint tolerated", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Value: "reserved", Effect: corev1.TaintEffectNoSchedule}}
		}, testPod(nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "reserved", Effect: corev1.TaintEffectNoSchedule}}
		}), ""},
		{"PreferNoSchedule is no bar", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}
		}, testPod(nil, nil), ""},
		{"nodeSelector", nil, testPod(nil, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "b"} }), "nodeSelector"},
		{"nodeSelector matches", nil, testPod(nil, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} }), ""},
		{"required affinity", nil, testPod(nil, func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"a"}}}}}}}}
		}), "required node affinity"},
		{"pod count", func(n *corev1.Node) { n.Status.Allocatable["pods"] = resource.MustParse("1") }, testPod(nil, nil), "no more pods"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := node.DeepCopy()
			if c.node != nil {
				c.node(n)
			}
			got := newNodeState(n, []*corev1.Pod{other, done}).fit(c.pod)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("fit = %q, want %q", got, c.want)
			}
		})
	}
}

// A gang's pods are added one by one: the second pod sees the first.
func TestFitAccumulates(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{Allocatable: rl("nvidia.com/gpu", "8", "pods", "110")}}
	s := newNodeState(n, nil)
	p := testPod(rl("nvidia.com/gpu", "4"), nil)
	for i := range 2 {
		if msg := s.fit(p); msg != "" {
			t.Fatalf("pod %d: %s", i, msg)
		}
		s.add(p)
	}
	if msg := s.fit(p); !strings.Contains(msg, "insufficient nvidia.com/gpu (requested 4, free 0 of 8)") {
		t.Errorf("third pod: %q", msg)
	}
}
