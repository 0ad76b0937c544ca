package kubeserve_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

// TestServeRunsGranaryJobs: `granary serve --kube` started before the
// GranaryJob CRD exists warns and keeps serving; once the CRD is installed
// (no restart) its controller, on the leader, runs a GranaryJob: pods with
// the NVIDIA variant's image and nvidia.com/gpu on the H800 node, Running,
// and the job's status Running on H800.
func TestServeRunsGranaryJobs(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, k8stest.Node{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 8,
		Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "granary")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, logs := replica(t, bin, env.Kubeconfig, filepath.Join(t.TempDir(), "g.db"), "replica-a", 4*time.Second, time.Second)
	k8stest.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(logs.String(), "GranaryJob CRD is not installed") {
			return fmt.Errorf("no warning about the missing CRD yet")
		}
		return nil
	})

	c := env.GranaryJobClient(t)
	if err := c.Create(ctx, k8stest.GranaryJobCRD(t)); err != nil {
		t.Fatal(err)
	}
	gj := &granaryjob.GranaryJob{ObjectMeta: metav1.ObjectMeta{Name: "llama", Namespace: "default"},
		Spec: granaryjob.Spec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
				Containers:  []corev1.Container{{Name: "trainer"}}}},
			Gang: granaryjob.Gang{Pods: 2, AcceleratorsPerPod: 4}, Team: "research", Model: "Llama-3-8B", Workload: "serve",
			Variants: []granaryjob.Variant{{Vendor: "NVIDIA", Image: "nvcr.io/nvidia/pytorch:24.05-py3"}, {Vendor: "Huawei", Image: "ascend:24"}},
		}}
	k8stest.Eventually(t, time.Minute, func() error { return c.Create(ctx, gj.DeepCopy()) })
	k8stest.Eventually(t, 90*time.Second, func() error {
		var ps corev1.PodList
		if err := c.List(ctx, &ps, client.InNamespace("default"), client.HasLabels{granaryjob.UIDLabel}); err != nil {
			return err
		}
		running := 0
		for _, p := range ps.Items {
			q := p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"]
			if p.Spec.NodeName != "h800-0" || p.Spec.Containers[0].Image != "nvcr.io/nvidia/pytorch:24.05-py3" || q.Value() != 4 {
				return fmt.Errorf("pod %s on %q image %s requests %v", p.Name, p.Spec.NodeName, p.Spec.Containers[0].Image, p.Spec.Containers[0].Resources.Requests)
			}
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		var got granaryjob.GranaryJob
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "llama"}, &got); err != nil {
			return err
		}
		if running != 2 || got.Status.Phase != granaryjob.Running || got.Status.Model != "h800-sxm5-80gb" {
			return fmt.Errorf("%d of %d pods running; status %s on %q: %s", running, len(ps.Items), got.Status.Phase, got.Status.Model, got.Status.Message)
		}
		return nil
	})
}
