package binder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
)

type noJobs struct{}

func (noJobs) Submit(context.Context, jobs.Spec, string) (jobs.Job, error) { return jobs.Job{}, nil }
func (noJobs) List(context.Context, jobs.Filter) ([]jobs.Job, error)       { return nil, nil }

// Pods Assume let onto a node count there before the pod informer shows
// them, once when it does, and no longer after Forget or AssumeTTL: two
// gangs whose creates race never get the same accelerators.
func TestAssume(t *testing.T) {
	cs := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(cs, 0)
	b, err := New(Config{Client: cs, Informers: inf, Jobs: noJobs{}, Mapping: k8s.Mapping{Catalog: accel.Default()}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{Allocatable: rl("nvidia.com/gpu", "8", "pods", "110")}}
	if err := inf.Core().V1().Nodes().Informer().GetIndexer().Add(node); err != nil {
		t.Fatal(err)
	}
	pods := inf.Core().V1().Pods().Informer().GetIndexer()
	gpus := func(name, n string) *corev1.Pod {
		return testPod(rl("nvidia.com/gpu", n), func(p *corev1.Pod) { p.Name, p.Namespace, p.Spec.NodeName = name, "ns", "n" })
	}
	refused := func(why, free string) {
		t.Helper()
		if want := "insufficient nvidia.com/gpu (requested " + free; !strings.Contains(why, want) {
			t.Errorf("got %q, want %q…", why, want)
		}
	}
	a, bb := gpus("a", "4"), gpus("b", "4")
	if why := b.Assume([]*corev1.Pod{a}); why != "" {
		t.Fatalf("a: %s", why)
	}
	if why := b.Assume([]*corev1.Pod{bb}); why != "" {
		t.Fatalf("b beside a: %s", why)
	}
	refused(b.Assume([]*corev1.Pod{gpus("c", "1")}), "1, free 0 of 8")
	refused(b.Fit([]*corev1.Pod{gpus("c", "1")}), "1, free 0 of 8")

	// The informer shows a: counted once, not twice.
	if err := pods.Add(a); err != nil {
		t.Fatal(err)
	}
	b.Forget([]*corev1.Pod{bb})
	refused(b.Fit([]*corev1.Pod{gpus("c", "5")}), "5, free 4 of 8")
	if why := b.Fit([]*corev1.Pod{gpus("c", "4")}); why != "" {
		t.Errorf("after Forget(b): %s", why)
	}

	// An assumed pod the informer never shows stops counting after the TTL.
	if why := b.Assume([]*corev1.Pod{gpus("d", "4")}); why != "" {
		t.Fatalf("d: %s", why)
	}
	refused(b.Fit([]*corev1.Pod{gpus("c", "1")}), "1, free 0 of 8")
	now = now.Add(AssumeTTL + time.Second)
	if why := b.Fit([]*corev1.Pod{gpus("c", "4")}); why != "" {
		t.Errorf("after the TTL: %s", why)
	}

	// The informer's events end an assumption: a deleted pod frees its room.
	e := gpus("e", "4")
	if why := b.Assume([]*corev1.Pod{e}); why != "" {
		t.Fatalf("e: %s", why)
	}
	b.seen(e) // the informer's delete of a pod it never listed
	if why := b.Fit([]*corev1.Pod{gpus("c", "4")}); why != "" {
		t.Errorf("after e's delete event: %s", why)
	}
}

// The loop's fleet leaves out the devices Granary's terminating pods hold,
// but never a device a running job is placed on (the round that moved the
// old gang gave it to that job, whose pods wait for room); a foreign pod's
// devices are left out whoever is placed on them.
func TestFreeTerminatingKeepsPlacedDevices(t *testing.T) {
	cs := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(cs, 0)
	b, err := New(Config{Client: cs, Informers: inf, Jobs: noJobs{}, Mapping: k8s.Mapping{Catalog: accel.Default()}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{Allocatable: rl("nvidia.com/gpu", "8", "pods", "110")}}
	if err := inf.Core().V1().Nodes().Informer().GetIndexer().Add(node); err != nil {
		t.Fatal(err)
	}
	var devs []jobs.Device
	for i := range 8 {
		devs = append(devs, jobs.Device{Serial: fmt.Sprintf("n:h800:%d", i), Model: "h800", Node: "n"})
	}
	placedOn := func(n int) map[string]bool {
		m := map[string]bool{}
		for _, d := range devs[:n] {
			m[d.Serial] = true
		}
		return m
	}
	pods := inf.Core().V1().Pods().Informer().GetIndexer()
	gone := metav1.Now()
	old := testPod(rl("nvidia.com/gpu", "4"), func(p *corev1.Pod) {
		p.Name, p.Namespace, p.Spec.NodeName, p.Spec.SchedulerName, p.DeletionTimestamp = "old", "ns", "n", SchedulerName, &gone
	})
	if err := pods.Add(old); err != nil {
		t.Fatal(err)
	}
	if got := len(b.free(devs, placedOn(8))); got != 8 {
		t.Errorf("all 8 placed: %d devices kept, want 8", got)
	}
	if got := b.free(devs, placedOn(2)); len(got) != 4 || got[3].Serial != "n:h800:3" {
		t.Errorf("2 placed: kept %v, want devices 0–3 (the terminating pod's 4 from the unplaced)", got)
	}
	foreign := testPod(rl("nvidia.com/gpu", "2"), func(p *corev1.Pod) { p.Name, p.Namespace, p.Spec.NodeName = "foreign", "ns", "n" })
	if err := pods.Add(foreign); err != nil {
		t.Fatal(err)
	}
	if got := b.free(devs, placedOn(8)); len(got) != 6 {
		t.Errorf("all placed, a foreign pod of 2: kept %d, want 6", len(got))
	}
}
