package nodesync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
	"github.com/granaryhq/granary/internal/k8s/nodesync"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

type harness struct {
	env    *k8stest.Env
	st     *sqlite.Store
	ledger *inventory.Service
	reg    *prometheus.Registry
	syncer *nodesync.Syncer
}

func start(t *testing.T, env *k8stest.Env) *harness {
	t.Helper()
	return startSeeded(t, env, nil)
}

// startSeeded is start with seed run on the ledger before the sync starts.
func startSeeded(t *testing.T, env *k8stest.Env, seed func(*inventory.Service)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if seed != nil {
		seed(ledger)
	}
	inf := informers.NewSharedInformerFactory(env.Client, 0)
	reg := prometheus.NewRegistry()
	s, err := nodesync.New(nodesync.Config{Informers: inf, Ledger: ledger, Mapping: k8s.Mapping{Catalog: accel.Default()},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; inf.Shutdown(); _ = st.Close() })
	return &harness{env: env, st: st, ledger: ledger, reg: reg, syncer: s}
}

// states returns the synced devices on node: serial → state.
func (h *harness) states(t *testing.T, node string) map[string]fleet.DeviceState {
	t.Helper()
	p, err := h.ledger.List(context.Background(), inventory.Filter{Node: node, Limit: inventory.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fleet.DeviceState{}
	for _, d := range p.Devices {
		out[d.Serial] = d.State
	}
	return out
}

// expect waits until the node's devices are exactly want.
func (h *harness) expect(t *testing.T, node string, want map[string]fleet.DeviceState) {
	t.Helper()
	k8stest.Eventually(t, 20*time.Second, func() error {
		got := h.states(t, node)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("node %s: ledger has %v, want %v", node, got, want)
		}
		return nil
	})
}

func devices(node, model string, n int, st fleet.DeviceState) map[string]fleet.DeviceState {
	m := map[string]fleet.DeviceState{}
	for i := range n {
		m[nodesync.Serial(node, model, i)] = st
	}
	return m
}

func merge(ms ...map[string]fleet.DeviceState) map[string]fleet.DeviceState {
	out := map[string]fleet.DeviceState{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func lastEvent(t *testing.T, l *inventory.Service, serial string) inventory.Event {
	t.Helper()
	h, err := l.History(context.Background(), serial)
	if err != nil || len(h) == 0 {
		t.Fatalf("history of %s: %v %v", serial, h, err)
	}
	return h[len(h)-1]
}

func update(t *testing.T, env *k8stest.Env, name string, f func(*corev1.Node), status bool) {
	t.Helper()
	ctx := context.Background()
	n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f(n)
	if status {
		_, err = env.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	} else {
		_, err = env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestNodeSync(t *testing.T) {
	env := k8stest.Start(t)
	ctx := context.Background()
	for _, n := range []k8stest.Node{
		{Name: "a800-0", Resource: "nvidia.com/gpu", Devices: 8, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB"}},
		{Name: "a800-1", Resource: "nvidia.com/gpu", Devices: 8, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB", nodesync.SiteLabel: "bj-1"}},
		{Name: "910b-0", Resource: "huawei.com/Ascend910", Devices: 8, Labels: map[string]string{"node.kubernetes.io/npu.chip.name": "910B3"}},
		{Name: "odd-0", Resource: "nvidia.com/gpu", Devices: 4, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-Z9000"}},
		{Name: "cpu-0"},
	} {
		if _, err := env.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	h := start(t, env)
	<-h.syncer.Ready()
	h.expect(t, "a800-0", devices("a800-0", "a800-sxm4-80gb", 8, fleet.InService))
	h.expect(t, "a800-1", devices("a800-1", "a800-sxm4-80gb", 8, fleet.InService))
	h.expect(t, "910b-0", devices("910b-0", "ascend-910b3", 8, fleet.InService))
	h.expect(t, "odd-0", map[string]fleet.DeviceState{})
	if ev := lastEvent(t, h.ledger, "a800-1:a800-sxm4-80gb:0"); ev.Actor != "kubernetes" || ev.To != fleet.InService {
		t.Errorf("creation event %+v: want actor kubernetes, in-service", ev)
	}
	if d, err := h.ledger.Get(ctx, "a800-1:a800-sxm4-80gb:0"); err != nil || d.Site != "bj-1" || d.Labels[nodesync.ResourceLabel] != "nvidia.com/gpu" {
		t.Errorf("device %+v %v: want site bj-1, label %s=nvidia.com/gpu", d, err, nodesync.ResourceLabel)
	}
	if got := h.metric(t, "granary_k8s_unknown_accelerators_total"); got != 4 {
		t.Errorf("unknown accelerators metric = %v, want 4 (odd-0's NVIDIA-Z9000)", got)
	}

	// Cordon → maintenance, uncordon → back in service; both events by the cluster.
	update(t, env, "a800-1", func(n *corev1.Node) { n.Spec.Unschedulable = true }, false)
	h.expect(t, "a800-1", devices("a800-1", "a800-sxm4-80gb", 8, fleet.Maintenance))
	if ev := lastEvent(t, h.ledger, "a800-1:a800-sxm4-80gb:3"); ev.Actor != "kubernetes" || ev.Reason != "node a800-1 cordoned" {
		t.Errorf("cordon event %+v", ev)
	}
	// An operator's own maintenance is not undone by the uncordon.
	if _, err := h.ledger.SetState(ctx, "a800-0:a800-sxm4-80gb:7", fleet.Maintenance, "fan noise", "ops"); err != nil {
		t.Fatal(err)
	}
	update(t, env, "a800-1", func(n *corev1.Node) { n.Spec.Unschedulable = false }, false)
	h.expect(t, "a800-1", devices("a800-1", "a800-sxm4-80gb", 8, fleet.InService))
	update(t, env, "a800-0", func(n *corev1.Node) { n.Labels["touched"] = "1" }, false)

	// The device plugin advertises 6 of 8.
	update(t, env, "910b-0", func(n *corev1.Node) {
		n.Status.Allocatable["huawei.com/Ascend910"] = *resource.NewQuantity(6, resource.DecimalSI)
	}, true)
	six := merge(devices("910b-0", "ascend-910b3", 8, fleet.Maintenance), devices("910b-0", "ascend-910b3", 6, fleet.InService))
	h.expect(t, "910b-0", six)
	if ev := lastEvent(t, h.ledger, "910b-0:ascend-910b3:7"); ev.Reason != "node 910b-0: the device plugin advertises 6 of 8 huawei.com/Ascend910" {
		t.Errorf("event %+v", ev)
	}
	// NotReady → maintenance; Ready again → the six advertised serve again.
	update(t, env, "910b-0", func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady"}}
	}, true)
	h.expect(t, "910b-0", devices("910b-0", "ascend-910b3", 8, fleet.Maintenance))
	if ev := lastEvent(t, h.ledger, "910b-0:ascend-910b3:0"); ev.Reason != "node 910b-0 NotReady (KubeletNotReady)" {
		t.Errorf("event %+v", ev)
	}
	update(t, env, "910b-0", func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	}, true)
	h.expect(t, "910b-0", six)

	// A relabel to another product: the old model's devices leave service,
	// the new model's arrive.
	update(t, env, "a800-0", func(n *corev1.Node) { n.Labels["nvidia.com/gpu.product"] = "NVIDIA-H800" }, false)
	old := devices("a800-0", "a800-sxm4-80gb", 8, fleet.Maintenance)
	h.expect(t, "a800-0", merge(old, devices("a800-0", "h800-sxm5-80gb", 8, fleet.InService)))
	if ev := lastEvent(t, h.ledger, "a800-0:a800-sxm4-80gb:7"); ev.Actor != "ops" {
		t.Errorf("the operator's maintenance was rewritten: %+v", ev)
	}

	// A deleted node keeps its devices and history.
	if err := env.Client.CoreV1().Nodes().Delete(ctx, "a800-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "a800-1", devices("a800-1", "a800-sxm4-80gb", 8, fleet.Maintenance))
	hist, err := h.ledger.History(ctx, "a800-1:a800-sxm4-80gb:2")
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range hist {
		reasons = append(reasons, string(e.To)+": "+e.Reason)
	}
	want := []string{"in-service: imported", "maintenance: node a800-1 cordoned", "in-service: node a800-1 ready and advertising nvidia.com/gpu", "maintenance: node a800-1 left the cluster"}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("history %q\nwant    %q", reasons, want)
	}
}

// metric sums a counter's series.
func (h *harness) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestNodeSyncScale is the figure: 5,000 nodes of 8 devices of five
// vendors synced into an empty ledger, then one label change. It takes a
// few minutes on 2 cores (creating the nodes dominates), so it runs only
// with GRANARY_FIGURES=1 (GRANARY_K8S_NODES changes the count); the times are reported, not asserted.
func TestNodeSyncScale(t *testing.T) {
	if os.Getenv("GRANARY_FIGURES") == "" {
		t.Skip("set GRANARY_FIGURES=1 for the 5,000-node figure")
	}
	nodes := 5000
	if v, err := strconv.Atoi(os.Getenv("GRANARY_K8S_NODES")); err == nil && v > 0 {
		nodes = v
	}
	env := k8stest.Start(t)
	ctx := context.Background()
	kinds := []k8stest.Node{
		{Resource: "nvidia.com/gpu", Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}},
		{Resource: "huawei.com/Ascend910", Labels: map[string]string{"node.kubernetes.io/npu.chip.name": "910B3"}},
		{Resource: "cambricon.com/mlu", Labels: map[string]string{"Model": "MLU370-X8"}},
		{Resource: "metax-tech.com/gpu", Labels: map[string]string{"metax-tech.com/gpu.product": "MXC500"}},
		{Resource: "kunlunxin.com/xpu", Labels: map[string]string{k8s.ModelLabel: "P800"}},
	}
	created := time.Now()
	sem := make(chan struct{}, 16)
	errs := make(chan error, nodes)
	for i := range nodes {
		n := kinds[i%len(kinds)]
		n.Name = fmt.Sprintf("n%05d", i)
		n.Devices = 8
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := env.CreateNode(ctx, n)
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("created %d nodes in %v", nodes, time.Since(created).Round(time.Millisecond))

	t0 := time.Now()
	h := start(t, env)
	<-h.syncer.Ready()
	took := time.Since(t0)
	var total int
	for p := (inventory.Page{Next: "start"}); p.Next != ""; {
		after := p.Next
		if after == "start" {
			after = ""
		}
		var err error
		p, err = h.ledger.List(ctx, inventory.Filter{After: after, Limit: inventory.MaxPageSize, State: fleet.InService})
		if err != nil {
			t.Fatal(err)
		}
		total += len(p.Devices)
	}
	if total != nodes*8 {
		t.Fatalf("ledger has %d devices in service, want %d", total, nodes*8)
	}
	t.Logf("FIGURE sync %d nodes × 8 devices (5 vendors) into an empty ledger: %v", nodes, took.Round(time.Millisecond))

	t1 := time.Now()
	update(t, env, "n00000", func(n *corev1.Node) { n.Labels["nvidia.com/gpu.product"] = "NVIDIA-H20" }, false)
	h.expect(t, "n00000", merge(devices("n00000", "h800-sxm5-80gb", 8, fleet.Maintenance), devices("n00000", "h20-96gb", 8, fleet.InService)))
	t.Logf("FIGURE label change (product H800 → H20) reached the ledger in %v", time.Since(t1).Round(time.Millisecond))
}

// expectFigures waits until the ledger's nodes are exactly want:
// hostname → {cpu_milli, memory_mib}.
func (h *harness) expectFigures(t *testing.T, want map[string][2]int64) {
	t.Helper()
	k8stest.Eventually(t, 20*time.Second, func() error {
		ns, err := h.ledger.Nodes(context.Background())
		if err != nil {
			return err
		}
		got := map[string][2]int64{}
		for _, n := range ns {
			got[n.Hostname] = [2]int64{n.CPUMilli, n.MemoryMiB}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("ledger nodes %v, want %v", got, want)
		}
		return nil
	})
}

// TestNodeFigures: the sync records each node's allocatable CPU and memory
// as its ledger figures (capacity where allocatable lacks them), replaces
// a figure an import recorded and follows a changed allocatable (the
// cluster is the authority for the nodes it syncs), leaves nodes without
// accelerators out; and a job asking more CPU than any node has is then
// refused at submit, where before it was no limit.
func TestNodeFigures(t *testing.T) {
	env := k8stest.Start(t)
	ctx := context.Background()
	h800 := map[string]string{"nvidia.com/gpu.product": "NVIDIA-H800"}
	for _, n := range []k8stest.Node{
		{Name: "gpu-0", Resource: "nvidia.com/gpu", Devices: 8, Labels: h800, CPU: "96", Memory: "512Gi"},
		{Name: "gpu-1", Resource: "nvidia.com/gpu", Devices: 8, Labels: h800, CPU: "48", Memory: "256Gi"},
		{Name: "cpu-0", CPU: "32", Memory: "128Gi"},
	} {
		if _, err := env.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// gpu-1's kubelet reports capacity only.
	update(t, env, "gpu-1", func(n *corev1.Node) {
		delete(n.Status.Allocatable, corev1.ResourceCPU)
		delete(n.Status.Allocatable, corev1.ResourceMemory)
	}, true)
	// An import recorded gpu-0 with other figures before the sync ran.
	h := startSeeded(t, env, func(l *inventory.Service) {
		csv := "serial,model,state,node,node_cpu_milli,node_memory_mib\nSPARE-1,H800,reserve,gpu-0,112000,2097152\n"
		if _, err := l.ImportCSV(ctx, "spare.csv", strings.NewReader(csv), "ops"); err != nil {
			t.Fatal(err)
		}
	})
	<-h.syncer.Ready()
	h.expectFigures(t, map[string][2]int64{"gpu-0": {96000, 524288}, "gpu-1": {48000, 262144}})

	// The kubelet reserves more: allocatable 94 cores, 500Gi.
	update(t, env, "gpu-0", func(n *corev1.Node) {
		n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("94")
		n.Status.Allocatable[corev1.ResourceMemory] = resource.MustParse("500Gi")
	}, true)
	h.expectFigures(t, map[string][2]int64{"gpu-0": {94000, 512000}, "gpu-1": {48000, 262144}})
	if got := h.metric(t, "granary_k8s_ledger_changes_total"); got != 16+3 {
		t.Errorf("ledger changes metric = %v, want 16 created + 3 figure changes", got)
	}

	// The jobs service reads the figures from the store: a gang of 8 H800s
	// asking 95 cores fits no node, 90 cores fits gpu-0.
	svc, _, _ := k8stest.Jobs(t, accel.Default(), h.st, h.st)
	spec := jobs.Spec{Name: "big", Team: "research", Model: "Llama-3-8B", Workload: "serve", Gang: 8, TotalSteps: 1e9,
		Allowed: []string{"h800-sxm5-80gb"}, CPUMilli: 95000}
	_, err := svc.Submit(ctx, spec, "t")
	var ies fleet.InputErrors
	if !errors.As(err, &ies) || len(ies) != 1 || ies[0].Pos.Field != "cpu_milli" || !strings.Contains(ies[0].Msg, "(94000)") {
		t.Errorf("a gang asking 95000 milli-cores: %v; want refused at cpu_milli naming the largest node's 94000", err)
	}
	spec.Name, spec.CPUMilli = "fits", 90000
	if _, err := svc.Submit(ctx, spec, "t"); err != nil {
		t.Errorf("a gang asking 90000 milli-cores: %v", err)
	}
}

// TestNodeFiguresFromStatus: allocatable first, capacity for a resource
// allocatable lacks, MiB rounded down, nothing reported is 0.
func TestNodeFiguresFromStatus(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		out := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return out
	}
	for _, c := range []struct {
		name             string
		alloc, capacity  corev1.ResourceList
		wantCPU, wantMem int64
	}{
		{"allocatable", rl("cpu", "96", "memory", "512Gi"), rl("cpu", "128", "memory", "1Ti"), 96000, 524288},
		{"milli and bytes", rl("cpu", "95500m", "memory", "1000000000"), nil, 95500, 953},
		{"capacity where allocatable lacks it", rl("memory", "500Gi"), rl("cpu", "48", "memory", "512Gi"), 48000, 512000},
		{"nothing reported", rl("nvidia.com/gpu", "8"), nil, 0, 0},
	} {
		n := &corev1.Node{Status: corev1.NodeStatus{Allocatable: c.alloc, Capacity: c.capacity}}
		if cpu, mem := nodesync.NodeFigures(n); cpu != c.wantCPU || mem != c.wantMem {
			t.Errorf("%s: %d milli, %d MiB; want %d, %d", c.name, cpu, mem, c.wantCPU, c.wantMem)
		}
	}
}
