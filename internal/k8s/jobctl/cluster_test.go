package jobctl_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
	"github.com/granaryhq/granary/internal/k8s/nodesync"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// cluster is Granary on a real API server: node sync, the binder, the
// GranaryJob controller and the live loop, whose rounds the test runs.
type cluster struct {
	env  *k8stest.Env
	loop *control.Loop
	c    client.Client // uncached, for the test's checks
	svc  *jobs.Service
}

// installCRD creates the GranaryJob CRD from deploy/ and waits until the
// type is served.
func installCRD(t testing.TB, env *k8stest.Env) client.Client {
	t.Helper()
	c := env.GranaryJobClient(t)
	ctx := context.Background()
	if err := c.Create(ctx, k8stest.GranaryJobCRD(t)); err != nil {
		t.Fatalf("creating the CRD: %v", err)
	}
	k8stest.Eventually(t, time.Minute, func() error {
		var l granaryjob.GranaryJobList
		return c.List(ctx, &l)
	})
	return c
}

// startOnPools starts a control plane with kwok and the GranaryJob CRD,
// creates n nodes of each pool (see pools) and runs Granary on it.
func startOnPools(t testing.TB, n int) (*k8stest.Env, *cluster) {
	t.Helper()
	env := k8stest.Start(t)
	env.StartKwok(t)
	cl := installCRD(t, env)
	pools(t, env, n)
	return env, start(t, env, cl)
}

// start runs Granary against env (whose CRD is installed).
func start(t testing.TB, env *k8stest.Env, c client.Client) *cluster {
	t.Helper()
	return startWith(t, env, c, nil, "")
}

// startWith is start with the workload table w (nil: every catalog
// model's estimated table) and policy ("": the default); a *-packed
// policy pairs what the cluster can run (jobctl.Pairable), as serve --kube.
func startWith(t testing.TB, env *k8stest.Env, c client.Client, w *jobs.Workloads, policy string) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	cat := accel.Default()
	led, err := inventory.New(inventory.Config{Store: st, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GRANARY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	inf := informers.NewSharedInformerFactory(env.Client, 0)
	reg := prometheus.NewRegistry()
	m := k8s.Mapping{Catalog: cat}
	syncer, err := nodesync.New(nodesync.Config{Informers: inf, Ledger: led, Mapping: m, Log: log, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	var (
		svc   *jobs.Service
		names jobs.Names
	)
	if w == nil {
		svc, w, names = k8stest.Jobs(t, cat, st, st)
	} else {
		svc, w, names = k8stest.JobsOn(t, cat, st, st, w)
	}
	b, err := binder.New(binder.Config{Client: env.Client, Informers: inf, Jobs: svc, Mapping: m, Names: names, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := jobctl.NewManager(env.Config, log)
	if err != nil {
		t.Fatal(err)
	}
	il := &control.InventoryLedger{Devices: st, Service: led, Actor: "scheduler"}
	ctl, err := jobctl.New(ctx, mgr, jobctl.Config{Jobs: svc, Fit: b, Devices: il, Mapping: m, Names: names, Log: log, Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	ledger := binder.Ledger{Ledger: il, Backend: b}
	loop, err := control.New(control.Config{Planner: jobs.PlannerConfig{Round: time.Second, Names: names, Policy: policy, Pairable: jobctl.Pairable(m)}}, w, st, ledger, ctl.Backend(b),
		control.WallClock{}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = syncer.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); inf.Shutdown(); _ = st.Close() })
	<-syncer.Ready()
	if !b.WaitForSync(ctx) || !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("caches did not sync")
	}
	ctl.SetLeading(true)
	return &cluster{env: env, loop: loop, c: c, svc: svc}
}

func (c *cluster) round(t testing.TB) control.Report {
	t.Helper()
	rep, err := c.loop.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// pools creates kwok nodes: an H800 pool and a 910B3 pool of n nodes of 8.
func pools(t testing.TB, env *k8stest.Env, n int) {
	t.Helper()
	for i := range n {
		for _, nd := range []k8stest.Node{
			{Name: fmt.Sprintf("h800-%02d", i), Resource: "nvidia.com/gpu", Devices: 8, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800", "pool": "h800"}},
			{Name: fmt.Sprintf("910b-%02d", i), Resource: "huawei.com/Ascend910", Devices: 8, Labels: map[string]string{"node.kubernetes.io/npu.chip.name": "910B3", "pool": "910b"}},
		} {
			if _, err := env.CreateNode(context.Background(), nd); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// cordon sets spec.unschedulable on every node of a pool.
func cordon(t testing.TB, env *k8stest.Env, pool string, on bool) {
	t.Helper()
	ctx := context.Background()
	ns, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "pool=" + pool})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		n.Spec.Unschedulable = on
		if _, err := env.Client.CoreV1().Nodes().Update(ctx, &n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// job is a GranaryJob of pods × per accelerators with the given variants
// ("NVIDIA", "Huawei").
func job(name string, pods, per int32, vendors ...string) *granaryjob.GranaryJob {
	gj := &granaryjob.GranaryJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: granaryjob.Spec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
				Containers:  []corev1.Container{{Name: "trainer"}}}},
			Gang: granaryjob.Gang{Pods: pods, AcceleratorsPerPod: per},
			Team: "research", Model: "Llama-3-8B", Workload: "serve",
		},
	}
	for _, v := range vendors {
		img := map[string]string{"NVIDIA": "nvcr.io/nvidia/pytorch:24.05-py3", "Huawei": "ascendhub.huawei.com/public-ascendhub/pytorch-modelzoo:24.0"}[v]
		gj.Spec.Variants = append(gj.Spec.Variants, granaryjob.Variant{Vendor: v, Image: img, Command: []string{"train", "--vendor=" + v}})
	}
	return gj
}

func (c *cluster) get(t testing.TB, name string) *granaryjob.GranaryJob {
	t.Helper()
	gj := &granaryjob.GranaryJob{}
	if err := c.c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, gj); err != nil {
		t.Fatal(err)
	}
	return gj
}

// livePods are a GranaryJob's pods not being deleted.
func (c *cluster) livePods(t testing.TB, gj *granaryjob.GranaryJob) []corev1.Pod {
	t.Helper()
	var ps corev1.PodList
	if err := c.c.List(context.Background(), &ps, client.InNamespace(gj.Namespace), client.MatchingLabels{granaryjob.UIDLabel: string(gj.UID)}); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range ps.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// runningOn checks the GranaryJob's live pods: n of them, all Running on
// nodes of pool, requesting per × resource with image.
func (c *cluster) runningOn(t testing.TB, name string, n int, pool, res, image string, per int64) func() error {
	return func() error {
		gj := c.get(t, name)
		ps := c.livePods(t, gj)
		if len(ps) != n {
			return fmt.Errorf("%s: %d live pods, want %d (status %s %s: %s)", name, len(ps), n, gj.Status.Phase, gj.Status.Reason, gj.Status.Message)
		}
		for _, p := range ps {
			ctr := p.Spec.Containers[0]
			q := ctr.Resources.Requests[corev1.ResourceName(res)]
			if !strings.HasPrefix(p.Spec.NodeName, pool) || ctr.Image != image || q.Value() != per {
				return fmt.Errorf("pod %s on %q image %s requests %v, want pool %s, %s, %d %s", p.Name, p.Spec.NodeName, ctr.Image, ctr.Resources.Requests, pool, image, per, res)
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
			}
		}
		return nil
	}
}

// events returns the messages of the Events on a GranaryJob with reason.
func (c *cluster) events(t testing.TB, name, reason string) []string {
	t.Helper()
	var es corev1.EventList
	if err := c.c.List(context.Background(), &es, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es.Items {
		if e.InvolvedObject.Kind == "GranaryJob" && e.InvolvedObject.Name == name && e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}
