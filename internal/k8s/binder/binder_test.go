package binder_test

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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
	"github.com/granaryhq/granary/internal/k8s/nodesync"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// cluster is Granary on a real API server: node sync, the binder, and the
// live loop, whose rounds the test runs.
type cluster struct {
	env   *k8stest.Env
	loop  *control.Loop
	stop  func()
	b     *binder.Backend
	store *sqlite.Store
}

func startCluster(t *testing.T, env *k8stest.Env) *cluster {
	t.Helper()
	return startClusterOn(t, env, filepath.Join(t.TempDir(), "g.db"))
}

// startClusterOn starts Granary on the SQLite file db; stop ends it.
func startClusterOn(t *testing.T, env *k8stest.Env, db string) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	cat := accel.Default()
	led, err := inventory.New(inventory.Config{Store: st, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inf := informers.NewSharedInformerFactory(env.Client, 0)
	reg := prometheus.NewRegistry()
	m := k8s.Mapping{Catalog: cat}
	syncer, err := nodesync.New(nodesync.Config{Informers: inf, Ledger: led, Mapping: m, Log: log, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{env: env, store: st}
	svc, w, names := k8stest.Jobs(t, cat, st, st)
	c.b, err = binder.New(binder.Config{Client: env.Client, Informers: inf, Jobs: svc, Mapping: m, Names: names, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ledger := binder.Ledger{Ledger: &control.InventoryLedger{Devices: st, Service: led, Actor: "scheduler"}, Backend: c.b}
	c.loop, err = control.New(control.Config{Planner: jobs.PlannerConfig{Round: time.Second, Names: names}}, w, st, ledger, c.b,
		control.WallClock{}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); _ = syncer.Run(ctx) }()
	var once sync.Once
	c.stop = func() { once.Do(func() { cancel(); <-done; inf.Shutdown(); _ = st.Close() }) }
	t.Cleanup(c.stop)
	<-syncer.Ready()
	if !c.b.WaitForSync(ctx) {
		t.Fatal("informers did not sync")
	}
	return c
}

// round runs one scheduling round.
func (c *cluster) round(t *testing.T) control.Report {
	t.Helper()
	rep, err := c.loop.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// until runs rounds until cond holds.
func (c *cluster) until(t *testing.T, what string, cond func() error) {
	t.Helper()
	k8stest.Eventually(t, 60*time.Second, func() error {
		c.round(t)
		if err := cond(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

type podSpec struct {
	name, ns, group string
	min             int
	resource        string
	n               int
	annotations     map[string]string
	nodeName        string // set: placed by "another scheduler"
	scheduler       string
	cpu             string
}

func (p podSpec) object() *corev1.Pod {
	ann := map[string]string{}
	for k, v := range p.annotations {
		ann[k] = v
	}
	lbl := map[string]string{}
	if p.group != "" {
		lbl[binder.PodGroupLabel] = p.group
		ann[binder.MinMemberAnnotation] = fmt.Sprint(p.min)
	}
	req := corev1.ResourceList{}
	if p.resource != "" {
		req[corev1.ResourceName(p.resource)] = *resource.NewQuantity(int64(p.n), resource.DecimalSI)
	}
	if p.cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(p.cpu)
	}
	sched := p.scheduler
	if sched == "" {
		sched = binder.SchedulerName
	}
	ns := p.ns
	if ns == "" {
		ns = "default"
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns, Labels: lbl, Annotations: ann},
		Spec: corev1.PodSpec{SchedulerName: sched, NodeName: p.nodeName,
			Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
			Containers:  []corev1.Container{{Name: "c", Image: "train", Resources: corev1.ResourceRequirements{Requests: req, Limits: req}}}},
	}
}

func (c *cluster) create(t *testing.T, ps ...podSpec) {
	t.Helper()
	for _, p := range ps {
		o := p.object()
		if _, err := c.env.Client.CoreV1().Pods(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *cluster) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := c.env.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func scheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// waitingWith checks a pod is Pending with Unschedulable and a message
// containing every part.
func (c *cluster) waitingWith(ns, name string, parts ...string) func() error {
	return func() error {
		p, err := c.env.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName != "" {
			return fmt.Errorf("pod %s bound to %s", name, p.Spec.NodeName)
		}
		cond := scheduledCondition(p)
		if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable {
			return fmt.Errorf("pod %s: PodScheduled condition %+v", name, cond)
		}
		for _, s := range parts {
			if !strings.Contains(cond.Message, s) {
				return fmt.Errorf("pod %s: message %q lacks %q", name, cond.Message, s)
			}
		}
		return nil
	}
}

func nodes(t *testing.T, env *k8stest.Env) {
	t.Helper()
	for _, n := range []k8stest.Node{
		{Name: "a800-0", Resource: "nvidia.com/gpu", Devices: 8, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB"}},
		{Name: "a800-1", Resource: "nvidia.com/gpu", Devices: 8, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB"}},
		{Name: "h800-0", Resource: "nvidia.com/gpu", Devices: 8, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}},
		{Name: "910b-0", Resource: "huawei.com/Ascend910", Devices: 8, Labels: map[string]string{"node.kubernetes.io/npu.chip.name": "910B3"}},
	} {
		if _, err := env.CreateNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCapacity verifies, over every node, that the requests of the pods
// bound there (whoever bound them) never exceed allocatable, and returns
// the node of each bound pod.
func checkCapacity(t *testing.T, env *k8stest.Env) map[string]string {
	t.Helper()
	ctx := context.Background()
	ns, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := env.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]string{}
	used := map[string]corev1.ResourceList{}
	for _, p := range ps.Items {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		where[p.Namespace+"/"+p.Name] = p.Spec.NodeName
		u := used[p.Spec.NodeName]
		if u == nil {
			u = corev1.ResourceList{}
			used[p.Spec.NodeName] = u
		}
		for _, c := range p.Spec.Containers {
			for r, q := range c.Resources.Requests {
				x := u[r]
				x.Add(q)
				u[r] = x
			}
		}
	}
	for _, n := range ns.Items {
		for r, q := range used[n.Name] {
			alloc := n.Status.Allocatable[r]
			if q.Cmp(alloc) > 0 {
				t.Errorf("node %s: pods request %s %s, allocatable %s", n.Name, q.String(), r, alloc.String())
			}
		}
	}
	return where
}

func TestBindGangs(t *testing.T) {
	env := k8stest.Start(t)
	env.StartKwok(t) // nodes Ready, bound pods Running, deleted pods gone
	nodes(t, env)
	ctx := context.Background()
	// Another scheduler's pod holds 6 of h800-0's 8 GPUs.
	c := startCluster(t, env)
	c.create(t, podSpec{name: "other", resource: "nvidia.com/gpu", n: 6, nodeName: "h800-0", scheduler: "default-scheduler"})
	c.create(t,
		// A gang of 2 pods × 4 GPUs = 8 devices: on one node of one model.
		podSpec{name: "train-0", group: "train", min: 2, resource: "nvidia.com/gpu", n: 4, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
		podSpec{name: "train-1", group: "train", min: 2, resource: "nvidia.com/gpu", n: 4, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
		// A lone pod on an Ascend.
		podSpec{name: "tune", ns: "kube-system", resource: "huawei.com/Ascend910", n: 1, annotations: map[string]string{binder.ClassAnnotation: "llm-finetune"}},
		// Bad input: an unknown class; a group whose members disagree; a
		// group still incomplete; nine GPUs in one pod.
		podSpec{name: "bad-class", resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "nope"}},
		podSpec{name: "mixed-0", group: "mixed", min: 2, resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
		podSpec{name: "mixed-1", group: "mixed", min: 2, resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "llm-finetune"}},
		podSpec{name: "half-0", group: "half", min: 3, resource: "nvidia.com/gpu", n: 1, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
		podSpec{name: "huge", resource: "nvidia.com/gpu", n: 9, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
	)
	c.until(t, "gang bound", func() error {
		for _, n := range []string{"train-0", "train-1"} {
			if c.pod(t, "default", n).Spec.NodeName == "" {
				return fmt.Errorf("%s not bound", n)
			}
		}
		if c.pod(t, "kube-system", "tune").Spec.NodeName != "910b-0" {
			return fmt.Errorf("tune not on 910b-0")
		}
		return nil
	})
	a, b := c.pod(t, "default", "train-0").Spec.NodeName, c.pod(t, "default", "train-1").Spec.NodeName
	if a != b || !strings.HasPrefix(a, "a800-") {
		t.Errorf("gang on %s and %s: want one A800 node (h800-0 has 2 GPUs free only)", a, b)
	}
	checkCapacity(t, env)
	if cond := scheduledCondition(c.pod(t, "default", "train-0")); cond == nil || cond.Status != corev1.ConditionTrue {
		t.Errorf("bound pod's PodScheduled = %+v, want True", cond)
	}

	waits := []func() error{
		c.waitingWith("default", "bad-class", "granary: invalid:", binder.ClassAnnotation, `unknown class "nope"`, "vision-train"),
		c.waitingWith("default", "mixed-0", "granary: invalid:", "disagree on annotation "+binder.ClassAnnotation),
		c.waitingWith("default", "half-0", "1 of 3 pods"),
		c.waitingWith("default", "huge", "granary: invalid:", binder.MinMemberAnnotation, "no throughput for a gang of 9"),
	}
	c.until(t, "bad input explained on its pods", func() error {
		for _, w := range waits {
			if err := w(); err != nil {
				return err
			}
		}
		return nil
	})
	evs, err := env.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=bad-class"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) == 0 || evs.Items[0].Reason != "FailedScheduling" || !strings.Contains(evs.Items[0].Message, binder.ClassAnnotation) {
		t.Errorf("events of bad-class: %+v", evs.Items)
	}
	// Rejected pods changed nothing else: no job, no binding.
	js, err := c.store.Jobs(ctx, jobs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range js {
		names = append(names, j.Name)
	}
	if fmt.Sprint(names) != "[k8s:default/train k8s:kube-system/pod:tune]" {
		t.Errorf("jobs %v: want the gang and the lone pod only", names)
	}

	// The gang's node fails (cordoned): its pods are deleted, the job
	// moves; the recreated pods (here by the test, as a controller would)
	// are bound on the other A800 node.
	n, err := env.Client.CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = true
	if _, err := env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.until(t, "gang deleted from the cordoned node", func() error {
		ps, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{binder.PodGroupLabel: "train"}.String()})
		if err != nil {
			return err
		}
		if len(ps.Items) > 0 {
			return fmt.Errorf("%d pods of the gang still exist", len(ps.Items))
		}
		return nil
	})
	c.create(t,
		podSpec{name: "train-2", group: "train", min: 2, resource: "nvidia.com/gpu", n: 4, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}},
		podSpec{name: "train-3", group: "train", min: 2, resource: "nvidia.com/gpu", n: 4, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}})
	other := "a800-1"
	if a == "a800-1" {
		other = "a800-0"
	}
	c.until(t, "gang rebound", func() error {
		for _, n := range []string{"train-2", "train-3"} {
			if got := c.pod(t, "default", n).Spec.NodeName; got != other {
				return fmt.Errorf("%s on %q, want %s", n, got, other)
			}
		}
		return nil
	})
	checkCapacity(t, env)
	j, err := c.store.Job(ctx, js[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Restarts != 1 || j.State != jobs.Running {
		t.Errorf("job after the move: %s, %d restarts; want running, 1 restart", j.State, j.Restarts)
	}
}

// TestBindScale is the figure: 1,000 pods in 125 gangs of 1–64
// pods (one GPU each) bound against the real API server on 160 nodes of
// three NVIDIA models, beside pods another scheduler placed (the test sets
// their nodeName). After the run, for every node, the bound requests stay
// within allocatable and every gang is on one model. Several minutes on 2
// cores, so only with GRANARY_FIGURES=1; the time is reported.
func TestBindScale(t *testing.T) {
	if os.Getenv("GRANARY_FIGURES") == "" {
		t.Skip("set GRANARY_FIGURES=1 for the 1,000-pod figure")
	}
	env := k8stest.Start(t)
	ctx := context.Background()
	products := []string{"NVIDIA-A800-SXM4-80GB", "NVIDIA-H800", "NVIDIA-H20"}
	model := map[string]string{}
	var nodeNames []string
	sem := make(chan struct{}, 16)
	errs := make(chan error, 160)
	for i := range 160 {
		n := k8stest.Node{Name: fmt.Sprintf("gpu-%03d", i), Resource: "nvidia.com/gpu", Devices: 8,
			Labels: map[string]string{"nvidia.com/gpu.product": products[i%3]}}
		model[n.Name] = products[i%3]
		nodeNames = append(nodeNames, n.Name)
		sem <- struct{}{}
		go func() { defer func() { <-sem }(); _, err := env.CreateNode(ctx, n); errs <- err }()
	}
	for range 160 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c := startCluster(t, env)
	// Another scheduler's pods: 2 GPUs on every eighth node.
	for i := 0; i < 160; i += 8 {
		c.create(t, podSpec{name: fmt.Sprintf("other-%d", i), resource: "nvidia.com/gpu", n: 2, nodeName: nodeNames[i], scheduler: "default-scheduler"})
	}
	var pods []podSpec
	gangs := 0
	for _, g := range []struct{ size, count int }{{64, 4}, {32, 8}, {16, 12}, {8, 16}, {4, 20}, {2, 23}, {1, 42}} {
		for range g.count {
			gangs++
			for p := range g.size {
				ps := podSpec{name: fmt.Sprintf("g%03d-%02d", gangs, p), resource: "nvidia.com/gpu", n: 1, cpu: "1",
					annotations: map[string]string{binder.ModelAnnotation: "Llama-3-8B", binder.WorkloadAnnotation: "serve"}}
				if g.size > 1 {
					ps.group, ps.min = fmt.Sprintf("g%03d", gangs), g.size
				}
				pods = append(pods, ps)
			}
		}
	}
	if len(pods) != 1000 || gangs != 125 {
		t.Fatalf("%d pods in %d gangs", len(pods), gangs)
	}
	t0 := time.Now()
	perr := make(chan error, len(pods))
	for _, p := range pods {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			o := p.object()
			_, err := env.Client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			perr <- err
		}()
	}
	for range pods {
		if err := <-perr; err != nil {
			t.Fatal(err)
		}
	}
	created := time.Since(t0)
	rounds := 0
	var unboundN int
	k8stest.Eventually(t, 2*time.Minute, func() error {
		c.round(t)
		rounds++
		ps, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		unboundN = 0
		why := map[string]int{}
		for _, p := range ps.Items {
			if p.Spec.NodeName == "" {
				unboundN++
				if cond := scheduledCondition(&p); cond != nil {
					why[cond.Message]++
				}
			}
		}
		if unboundN > 0 {
			return fmt.Errorf("%d of 1000 pods unbound after %d rounds (%v since the first create): %v", unboundN, rounds, time.Since(t0).Round(time.Second), why)
		}
		return nil
	})
	took := time.Since(t0)
	where := checkCapacity(t, env)
	byGang := map[string]map[string]bool{}
	for _, p := range pods {
		g := p.group
		if g == "" {
			g = p.name
		}
		if byGang[g] == nil {
			byGang[g] = map[string]bool{}
		}
		byGang[g][model[where["default/"+p.name]]] = true
	}
	for g, ms := range byGang {
		if len(ms) != 1 {
			t.Errorf("gang %s spans models %v", g, ms)
		}
	}
	t.Logf("FIGURE 1,000 pods in 125 gangs of 1–64 bound in %v from the first create (creates took %v; %d rounds); every node within allocatable, every gang on one model",
		took.Round(10*time.Millisecond), created.Round(10*time.Millisecond), rounds)
}

// TestRestartCompletesHalfBoundGang: a gang left half bound (one pod bound,
// its sibling recreated unbound, as after a crash between bindings or a
// lost pod) is completed by a restarted Granary in its first round: the
// persisted plan's node, no new job, no move.
func TestRestartCompletesHalfBoundGang(t *testing.T) {
	env := k8stest.Start(t)
	nodes(t, env)
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "g.db")
	c := startClusterOn(t, env, db)
	gang := func(name string) podSpec {
		return podSpec{name: name, group: "g", min: 2, resource: "nvidia.com/gpu", n: 4, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}}
	}
	c.create(t, gang("g-0"), gang("g-1"))
	c.until(t, "gang bound", func() error {
		for _, n := range []string{"g-0", "g-1"} {
			if c.pod(t, "default", n).Spec.NodeName == "" {
				return fmt.Errorf("%s unbound", n)
			}
		}
		return nil
	})
	node := c.pod(t, "default", "g-0").Spec.NodeName
	c.stop() // the "crash"
	// g-1 is lost and recreated by its controller as g-2, unbound.
	if err := env.Client.CoreV1().Pods("default").Delete(ctx, "g-1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	c.create(t, gang("g-2"))
	c2 := startClusterOn(t, env, db)
	k8stest.Eventually(t, 10*time.Second, func() error { // the informer sees g-2
		if _, err := env.Client.CoreV1().Pods("default").Get(ctx, "g-2", metav1.GetOptions{}); err != nil {
			return err
		}
		return nil
	})
	time.Sleep(time.Second) // informer delivery to the new Granary
	c2.round(t)
	if got := c2.pod(t, "default", "g-2").Spec.NodeName; got != node {
		t.Errorf("after one round of the restarted Granary, g-2 is on %q, want %s beside g-0", got, node)
	}
	if got := c2.pod(t, "default", "g-0"); got.Spec.NodeName != node || got.DeletionTimestamp != nil {
		t.Errorf("g-0 disturbed: on %s, deleting %v", got.Spec.NodeName, got.DeletionTimestamp)
	}
	js, err := c2.store.Jobs(ctx, jobs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].Restarts != 0 {
		t.Errorf("jobs %+v: want the one job, never restarted", js)
	}
}
