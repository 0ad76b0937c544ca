package kubeserve_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
	"github.com/granaryhq/granary/internal/store/storetest"
)

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// replica starts `granary serve --kube` as a process named id.
func replica(t *testing.T, bin, kubeconfig, db, id string, lease, round time.Duration) (*exec.Cmd, *logBuf) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--kube", "--kubeconfig", kubeconfig,
		"--lease", lease.String(), "--round", round.String(), "--log-level", "info")
	cmd.Env = append(os.Environ(), "GRANARY_BOOTSTRAP_TOKEN=gry_failover_test", "POD_NAME="+id, "POD_NAMESPACE=default")
	logs := &logBuf{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving on") {
				once.Do(func() { close(served) })
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			s := logs.String()
			if len(s) > 6000 {
				s = s[len(s)-6000:]
			}
			t.Logf("replica %s log (tail):\n%s", id, s)
		}
	})
	select {
	case <-served:
	case <-time.After(90 * time.Second):
		t.Fatalf("replica %s did not serve within 90 s\n%s", id, logs)
	}
	return cmd, logs
}

func holder(env *k8stest.Env) string {
	l, err := env.Client.CoordinationV1().Leases("default").Get(context.Background(), "granary-scheduler", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func gangPod(name, group string, min, gpus int) *corev1.Pod {
	req := corev1.ResourceList{"nvidia.com/gpu": *resource.NewQuantity(int64(gpus), resource.DecimalSI)}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
		Spec: corev1.PodSpec{SchedulerName: binder.SchedulerName,
			Containers: []corev1.Container{{Name: "c", Image: "train", Resources: corev1.ResourceRequirements{Requests: req, Limits: req}}}},
	}
	if group != "" {
		p.Labels = map[string]string{binder.PodGroupLabel: group}
		p.Annotations[binder.MinMemberAnnotation] = fmt.Sprint(min)
	}
	return p
}

// TestLeaderFailover: two replicas on one PostgreSQL; only the Lease
// holder binds; after a SIGKILL of the leader the other binds the next
// pending gang, and no pod is bound twice. The failover time is reported
// (the bound: Lease duration + one round).
func TestLeaderFailover(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t)
	db := storetest.PostgresURL(t)
	ctx := context.Background()
	// Two models. The second gang may run on A800 only: a gang that could
	// use the H800 too would make the policy reallocate on its arrival and
	// may legitimately move the first gang, with or without a failover (an
	// uninterrupted server does the same; see binder's
	// TestRegainedLeadDoesNotChargeTwice and control's
	// TestRegainedLeadResumesFromStore for what a new term restores).
	for i, product := range []string{"NVIDIA-A800-SXM4-80GB", "NVIDIA-A800-SXM4-80GB", "NVIDIA-H800"} {
		if _, err := env.CreateNode(ctx, k8stest.Node{Name: fmt.Sprintf("n%d", i), Resource: "nvidia.com/gpu", Devices: 8,
			Labels: map[string]string{"nvidia.com/gpu.product": product}}); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "granary")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const lease, round = 4 * time.Second, time.Second
	a, _ := replica(t, bin, env.Kubeconfig, db, "replica-a", lease, round)
	k8stest.Eventually(t, 60*time.Second, func() error {
		if h := holder(env); h != "replica-a" {
			return fmt.Errorf("lease holder %q, want replica-a", h)
		}
		return nil
	})
	replica(t, bin, env.Kubeconfig, db, "replica-b", lease, round)

	pods := env.Client.CoreV1().Pods("default")
	for _, p := range []*corev1.Pod{gangPod("first-0", "first", 2, 4), gangPod("first-1", "first", 2, 4)} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bound := func(names ...string) func() error {
		return func() error {
			for _, n := range names {
				p, err := pods.Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if p.Spec.NodeName == "" {
					return fmt.Errorf("pod %s not bound", n)
				}
			}
			return nil
		}
	}
	k8stest.Eventually(t, 60*time.Second, bound("first-0", "first-1"))
	// The leader writes each pod's Scheduled event after binding the whole
	// gang: kill it only once they are written (a leader killed in between
	// leaves bound pods without their event, which the check below would
	// count as a missing binding; it failed so twice on a loaded machine).
	k8stest.Eventually(t, 30*time.Second, func() error {
		evs, err := env.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
		if err != nil {
			return err
		}
		if len(evs.Items) < 2 {
			return fmt.Errorf("%d Scheduled events, want the first gang's 2", len(evs.Items))
		}
		return nil
	})
	before, err := pods.Get(ctx, "first-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// SIGKILL the leader: it releases nothing.
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	second := gangPod("second", "", 0, 2)
	second.Annotations[binder.AllowedAnnotation] = "a800-sxm4-80gb"
	if _, err := pods.Create(ctx, second, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k8stest.Eventually(t, 60*time.Second, bound("second"))
	took := time.Since(killed)
	if h := holder(env); h != "replica-b" {
		t.Errorf("lease holder %q after the kill, want replica-b", h)
	}
	t.Logf("FIGURE leader failover: SIGKILL of the leader → next pending gang bound by the other replica in %v (Lease %v + round %v = %v)",
		took.Round(10*time.Millisecond), lease, round, lease+round)

	// No pod bound twice: the first gang kept its pods and nodes, and every
	// pod has exactly one Scheduled event.
	after, err := pods.Get(ctx, "first-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != before.UID || after.Spec.NodeName != before.Spec.NodeName {
		t.Errorf("first-0 changed across the failover: %s on %s → %s on %s", before.UID, before.Spec.NodeName, after.UID, after.Spec.NodeName)
	}
	evs, err := env.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs.Items {
		count[e.InvolvedObject.Name]++
	}
	for _, n := range []string{"first-0", "first-1", "second"} {
		if count[n] != 1 {
			t.Errorf("pod %s has %d Scheduled events, want 1", n, count[n])
		}
	}
}
