// Package k8stest starts a real Kubernetes control plane for tests: the
// kube-apiserver and etcd that scripts/env.d/k8s.sh builds from the Go
// module proxy (KUBEBUILDER_ASSETS), through controller-runtime's envtest,
// and optionally kwok to turn fake nodes Ready and bound pods Running
// (GRANARY_KWOK_STAGES). Where the binaries are missing the test skips, or
// fails under CI=true (sharedtest.Missing). Only tests import it.
package k8stest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/granaryhq/granary/internal/sharedtest"
)

// Env is a running control plane.
type Env struct {
	Config     *rest.Config // admin (system:masters)
	Client     kubernetes.Interface
	Kubeconfig string // a kubeconfig file for Config
	Assets     string // KUBEBUILDER_ASSETS
	env        *envtest.Environment
}

// Start starts kube-apiserver and etcd for the test and stops them at its
// end. The TaintNodesByCondition admission plugin is off: no
// kube-controller-manager runs to remove the not-ready taint it adds.
func Start(t testing.TB) *Env {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		sharedtest.Missing(t, "KUBEBUILDER_ASSETS is not set: run the tests through scripts/testenv.sh (make test), which builds kube-apiserver and etcd")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			sharedtest.Missing(t, "%s missing in KUBEBUILDER_ASSETS=%s", b, assets)
		}
	}
	te := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	te.ControlPlane.GetAPIServer().Configure().Set("disable-admission-plugins", "ServiceAccount,TaintNodesByCondition")
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	cfg.QPS, cfg.Burst = 500, 1000
	user, err := te.ControlPlane.AddUser(envtest.User{Name: "granary-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Config: cfg, Client: cs, Kubeconfig: path, Assets: assets, env: te}
}

// KwokAnnotation marks the nodes kwok manages.
const KwokAnnotation = "kwok.x-k8s.io/node"

// StartKwok runs kwok against the control plane until the test ends: it
// makes nodes annotated KwokAnnotation=fake Ready (and keeps their
// heartbeats) and turns pods bound to them Running.
func (e *Env) StartKwok(t testing.TB) {
	t.Helper()
	bin := filepath.Join(e.Assets, "kwok")
	stages := os.Getenv("GRANARY_KWOK_STAGES")
	if _, err := os.Stat(bin); err != nil {
		sharedtest.Missing(t, "kwok missing in KUBEBUILDER_ASSETS=%s", e.Assets)
	}
	if stages == "" {
		sharedtest.Missing(t, "GRANARY_KWOK_STAGES is not set (scripts/env.d/k8s.sh exports it)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", e.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+KwokAnnotation+"=fake", "-c", stages,
		"--node-lease-duration-seconds=40")
	logf, err := os.Create(filepath.Join(t.TempDir(), "kwok.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting kwok: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil && len(b) > 0 {
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("kwok log (tail):\n%s", b)
			}
		}
	})
}

// Node is a fake node: name, accelerator resource and count, labels.
type Node struct {
	Name     string
	Resource string // e.g. nvidia.com/gpu
	Devices  int
	Labels   map[string]string
	CPU      string // default "64"
	Memory   string // default "512Gi"
	Taints   []corev1.Taint
}

// Object builds the Node (managed by kwok, with its capacity set in the
// status).
func (n Node) Object() *corev1.Node {
	cpu, mem := n.CPU, n.Memory
	if cpu == "" {
		cpu = "64"
	}
	if mem == "" {
		mem = "512Gi"
	}
	labels := map[string]string{"kubernetes.io/hostname": n.Name, "type": "kwok"}
	for k, v := range n.Labels {
		labels[k] = v
	}
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	if n.Resource != "" {
		rl[corev1.ResourceName(n.Resource)] = *resource.NewQuantity(int64(n.Devices), resource.DecimalSI)
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels, Annotations: map[string]string{KwokAnnotation: "fake"}},
		Spec:       corev1.NodeSpec{Taints: n.Taints},
		Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl.DeepCopy(),
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}},
	}
}

// CreateNode creates a node and sets its status (capacity, allocatable,
// Ready), as a kubelet would.
func (e *Env) CreateNode(ctx context.Context, n Node) (*corev1.Node, error) {
	obj := n.Object()
	st := obj.Status
	created, err := e.Client.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	created.Status = st
	out, err := e.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting node %s status: %w", n.Name, err)
	}
	return out, nil
}

// Eventually polls cond every 20 ms until it returns nil or timeout passes,
// then fails the test with its last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
