package jobctl_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

const (
	cuda = "nvcr.io/nvidia/pytorch:24.05-py3"
	cann = "ascendhub.huawei.com/public-ascendhub/pytorch-modelzoo:24.0"
)

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

// restarted runs rounds until the GranaryJob name has restarted n times and
// its pods of attempt n (all of its live pods) are Running, and returns it.
func (c *cluster) restarted(t *testing.T, name string, pods int, n int32) *granaryjob.GranaryJob {
	t.Helper()
	var gj *granaryjob.GranaryJob
	k8stest.Eventually(t, 60*time.Second, func() error {
		c.round(t)
		gj = c.get(t, name)
		if gj.Status.Restarts != n {
			j, _ := c.svc.Get(context.Background(), gj.Status.JobID)
			return fmt.Errorf("status.restarts %d, want %d (%s %s); history %+v", gj.Status.Restarts, n, gj.Status.Phase, gj.Status.Message, j.History)
		}
		ps := c.livePods(t, gj)
		if len(ps) != pods {
			return fmt.Errorf("%d live pods, want %d", len(ps), pods)
		}
		for _, p := range ps {
			if p.Labels[jobctl.AttemptLabel] != strconv.Itoa(int(n)) || p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s attempt %s is %s", p.Name, p.Labels[jobctl.AttemptLabel], p.Status.Phase)
			}
		}
		return nil
	})
	return gj
}

// TestMoveBetweenPools: a GranaryJob with a CUDA and a CANN variant runs
// on the H800 pool; when the H800 nodes are cordoned the next round moves
// it to the 910B3 pool — pods recreated with huawei.com/Ascend910 and the
// CANN image, restarts 1 — and back when the 910B3 nodes are cordoned and
// the H800 ones return. The store's job and the GranaryJob agree.
func TestMoveBetweenPools(t *testing.T) {
	env, c := startOnPools(t, 2)
	ctx := context.Background()
	cordon(t, env, "910b", true) // first on H800
	if err := c.c.Create(ctx, job("llama", 2, 8, "NVIDIA", "Huawei")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "on H800", c.runningOn(t, "llama", 2, "h800-", "nvidia.com/gpu", cuda, 8))
	gj := c.get(t, "llama")
	check := func(phase granaryjob.Phase, model string, restarts int32) {
		t.Helper()
		k8stest.Eventually(t, 10*time.Second, func() error {
			gj = c.get(t, "llama")
			s := gj.Status
			if s.Phase != phase || s.Model != model || s.Restarts != restarts || s.JobID == "" || len(s.Nodes) != 2 {
				return fmt.Errorf("status %+v, want %s on %s, restarts %d", s, phase, model, restarts)
			}
			if s.ObservedGeneration != gj.Generation {
				return fmt.Errorf("observedGeneration %d, generation %d", s.ObservedGeneration, gj.Generation)
			}
			for _, typ := range []string{jobctl.Admitted, jobctl.Scheduled, jobctl.PodsReady} {
				if !meta.IsStatusConditionTrue(s.Conditions, typ) {
					return fmt.Errorf("condition %s not True: %+v", typ, meta.FindStatusCondition(s.Conditions, typ))
				}
			}
			j, err := c.svc.Get(ctx, s.JobID)
			if err != nil {
				return err
			}
			if j.Name != "granaryjob:default/llama" || j.State != jobs.Running || j.Placement.Model != model || j.Restarts != int(restarts) {
				return fmt.Errorf("store job %s %s %s on %v, restarts %d", j.ID, j.Name, j.State, j.Placement, j.Restarts)
			}
			return nil
		})
	}
	check(granaryjob.Running, "h800-sxm5-80gb", 0)
	p := c.livePods(t, gj)[0]
	env0 := map[string]string{}
	for _, e := range p.Spec.Containers[0].Env {
		env0[e.Name] = e.Value
	}
	if env0[jobctl.EnvModel] != "h800-sxm5-80gb" || env0[jobctl.EnvVendor] != "NVIDIA" || env0[jobctl.EnvGangPods] != "2" || env0[jobctl.EnvWorldSize] != "16" || env0[jobctl.EnvRestart] != "0" {
		t.Errorf("pod %s contract env %v", p.Name, env0)
	}
	if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != gj.UID {
		t.Errorf("pod %s owners %+v", p.Name, p.OwnerReferences)
	}

	// H800 pool out, 910B3 pool in: moved.
	swap(t, env, "910b", "h800")
	c.until(t, "moved to 910B3", c.runningOn(t, "llama", 2, "910b-", "huawei.com/Ascend910", cann, 8))
	check(granaryjob.Running, "ascend-910b3", 1)
	for _, p := range c.livePods(t, gj) {
		if _, ok := p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"]; ok || !strings.Contains(strings.Join(p.Spec.Containers[0].Command, " "), "Huawei") {
			t.Errorf("pod %s after the move: requests %v, command %v", p.Name, p.Spec.Containers[0].Resources.Requests, p.Spec.Containers[0].Command)
		}
	}
	k8stest.Eventually(t, 10*time.Second, func() error {
		if ev := c.events(t, "llama", "Moved"); len(ev) == 0 || !strings.Contains(ev[0], "from H800 to") || !strings.Contains(ev[0], "Huawei variant") {
			return fmt.Errorf("Moved events %q; Restarted %q, Stopped %q", ev, c.events(t, "llama", "Restarted"), c.events(t, "llama", "Stopped"))
		}
		return nil
	})

	// And back.
	swap(t, env, "h800", "910b")
	c.until(t, "back on H800", c.runningOn(t, "llama", 2, "h800-", "nvidia.com/gpu", cuda, 8))
	check(granaryjob.Running, "h800-sxm5-80gb", 2)

	// Deleting the GranaryJob cancels its job.
	id := gj.Status.JobID
	if err := c.c.Delete(ctx, gj); err != nil {
		t.Fatal(err)
	}
	k8stest.Eventually(t, 10*time.Second, func() error {
		j, err := c.svc.Get(ctx, id)
		if err != nil {
			return err
		}
		if j.State != jobs.Cancelled {
			return fmt.Errorf("job %s is %s after its GranaryJob was deleted", id, j.State)
		}
		return nil
	})
}

// swap opens pool in and then cordons pool out, leaving the informers
// time to see the first before the second (a round between the two would
// stop the job rather than move it).
func swap(t *testing.T, env *k8stest.Env, in, out string) {
	cordon(t, env, in, false)
	time.Sleep(500 * time.Millisecond)
	cordon(t, env, out, true)
}

// TestMissingVariant: another scheduler's pod holds the H800 node's GPUs,
// so the only free vendor is Huawei, and the job has a CUDA variant only:
// it is admitted (the fleet has H800s) but waits, Pending, with the
// pipeline's code and a sentence naming the missing Huawei variant, and a
// Warning Event.
func TestMissingVariant(t *testing.T) {
	_, c := startOnPools(t, 1)
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "h800-00", Containers: []corev1.Container{{Name: "c", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}, Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}}}}}}
	if err := c.c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if err := c.c.Create(context.Background(), job("cuda-only", 1, 8, "NVIDIA")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "waiting", func() error {
		s := c.get(t, "cuda-only").Status
		if s.Phase != granaryjob.Pending || s.Reason != string(jobs.CodeNotAllowed) || !strings.Contains(s.Message, "spec.variants has no Huawei variant, so it cannot use the 8 free") {
			return fmt.Errorf("status %s %s: %s", s.Phase, s.Reason, s.Message)
		}
		if cond := meta.FindStatusCondition(s.Conditions, jobctl.Scheduled); cond == nil || cond.Reason != "NotAllowed" || !strings.Contains(cond.Message, "Huawei variant") {
			return fmt.Errorf("Scheduled condition %+v", cond)
		}
		return nil
	})
	k8stest.Eventually(t, 10*time.Second, func() error {
		// Events list in name order, not time order: the one before the
		// first round ("submitted") may come first.
		if ev := c.events(t, "cuda-only", "Waiting"); !slices.ContainsFunc(ev, func(e string) bool { return strings.Contains(e, "no Huawei variant") }) {
			return fmt.Errorf("Waiting events %q", ev)
		}
		return nil
	})
	if ps := c.livePods(t, c.get(t, "cuda-only")); len(ps) != 0 {
		t.Errorf("%d pods of a waiting job", len(ps))
	}
}

// TestBadSpecs: specs the CRD accepts but Granary cannot submit (an
// unknown model, a gang larger than the fleet, allowed models of no
// variant's vendor) stay Pending with reason invalid, a message naming the
// field, and one Warning Event; rounds do not rewrite them (no loop).
func TestBadSpecs(t *testing.T) {
	_, c := startOnPools(t, 1)
	ctx := context.Background()
	unknown := job("unknown-model", 1, 8, "NVIDIA")
	unknown.Spec.Model = "No-Such-LLM-9000B"
	huge := job("huge", 4, 8, "NVIDIA", "Huawei")
	novariant := job("no-variant-allowed", 1, 8, "NVIDIA")
	novariant.Spec.AllowedModels = []string{"910B3"}
	want := map[string]string{"unknown-model": "spec.model", "huge": "spec.gang", "no-variant-allowed": "spec.allowedModels"}
	for _, gj := range []*granaryjob.GranaryJob{unknown, huge, novariant} {
		if err := c.c.Create(ctx, gj); err != nil {
			t.Fatal(err)
		}
	}
	versions := map[string]string{}
	c.until(t, "refused", func() error {
		for name, field := range want {
			gj := c.get(t, name)
			s := gj.Status
			if s.Phase != granaryjob.Pending || s.Reason != jobctl.CodeInvalid || !strings.Contains(s.Message, field) || s.JobID != "" {
				return fmt.Errorf("%s: status %s %s %q, want invalid naming %s", name, s.Phase, s.Reason, s.Message, field)
			}
			if meta.IsStatusConditionTrue(s.Conditions, jobctl.Admitted) {
				return fmt.Errorf("%s admitted", name)
			}
			versions[name] = gj.ResourceVersion
		}
		return nil
	})
	for range 3 {
		c.round(t)
	}
	time.Sleep(500 * time.Millisecond)
	for name := range want {
		gj := c.get(t, name)
		if gj.ResourceVersion != versions[name] {
			t.Errorf("%s rewritten by later rounds: resourceVersion %s → %s", name, versions[name], gj.ResourceVersion)
		}
		if ev := c.events(t, name, "Invalid"); len(ev) != 1 {
			t.Errorf("%s: %d Invalid events %q, want 1", name, len(ev), ev)
		}
		if ps := c.livePods(t, gj); len(ps) != 0 {
			t.Errorf("%s: %d pods", name, len(ps))
		}
	}
	active, err := c.svc.List(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}})
	if err != nil || len(active) != 0 {
		t.Errorf("store holds %d active jobs (%v) for refused specs", len(active), err)
	}
}

// TestGangRestartOnPodFailure: a pod of a running 2-pod GranaryJob fails;
// the next round restarts the whole gang from its checkpoint — both pods
// of attempt 0 deleted, two pods of attempt 1 created and Running —
// counts the restart in the store and in status.restarts, and says why
// in a Warning Event PodFailed and in the job's history. Then a pod of
// attempt 1 is deleted: it is not recreated alone, and the next round
// restarts the whole gang again (attempt 2).
func TestGangRestartOnPodFailure(t *testing.T) {
	env, c := startOnPools(t, 1)
	ctx := context.Background()
	cordon(t, env, "910b", true)
	if err := c.c.Create(ctx, job("gang", 2, 4, "NVIDIA", "Huawei")); err != nil {
		t.Fatal(err)
	}
	c.until(t, "running", c.runningOn(t, "gang", 2, "h800-", "nvidia.com/gpu", cuda, 4))
	var failed corev1.Pod
	if err := c.c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "gang-0-1"}, &failed); err != nil {
		t.Fatal(err)
	}
	failed.Status.Phase = corev1.PodFailed
	failed.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "trainer", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
	if err := c.c.Status().Update(ctx, &failed); err != nil {
		t.Fatal(err)
	}
	gj := c.restarted(t, "gang", 2, 1)
	for _, name := range []string{"gang-0-0", "gang-0-1"} {
		var p corev1.Pod
		if err := c.c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &p); err == nil && p.DeletionTimestamp == nil {
			t.Errorf("pod %s of the failed attempt is still there (%s)", name, p.Status.Phase)
		}
	}
	ev := c.events(t, "gang", "PodFailed")
	if !slices.ContainsFunc(ev, func(e string) bool {
		return strings.Contains(e, "pod gang-0-1 failed (container trainer: OOMKilled, exit code 137)") && strings.Contains(e, "whole gang restarts")
	}) {
		t.Errorf("PodFailed events %q", ev)
	}
	if ev := c.events(t, "gang", "Restarted"); len(ev) == 0 || !strings.Contains(ev[0], "(restart 1)") {
		t.Errorf("Restarted events %q", ev)
	}
	j, err := c.svc.Get(ctx, gj.Status.JobID)
	if err != nil {
		t.Fatal(err)
	}
	var hist []string
	for _, e := range j.History {
		hist = append(hist, e.Kind+": "+e.Message)
	}
	if j.Restarts != 1 || !strings.Contains(strings.Join(hist, "\n"), "gang-restart: pod gang-0-1 failed (container trainer: OOMKilled, exit code 137) on h800-00") {
		t.Errorf("store job restarts %d, history:\n%s", j.Restarts, strings.Join(hist, "\n"))
	}

	// A pod of the running gang deleted (not failed): the pod is not
	// recreated alone; the next round restarts the whole gang.
	var gone corev1.Pod
	if err := c.c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "gang-1-0"}, &gone); err != nil {
		t.Fatal(err)
	}
	if err := c.c.Delete(ctx, &gone); err != nil {
		t.Fatal(err)
	}
	gj = c.restarted(t, "gang", 2, 2)
	var again corev1.Pod
	if err := c.c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "gang-1-0"}, &again); err == nil && again.UID != gone.UID && again.DeletionTimestamp == nil {
		t.Errorf("the deleted pod gang-1-0 was recreated alone (%s)", again.Status.Phase)
	}
	k8stest.Eventually(t, 10*time.Second, func() error { // the recorder writes Events asynchronously
		if ev := c.events(t, "gang", "PodDeleted"); !slices.ContainsFunc(ev, func(e string) bool {
			return strings.Contains(e, "pod gang-1-0 of the running gang was deleted: the gang's 2 pods are deleted and the whole gang restarts")
		}) {
			return fmt.Errorf("PodDeleted events %q", ev)
		}
		return nil
	})
	if j, err = c.svc.Get(ctx, gj.Status.JobID); err != nil {
		t.Fatal(err)
	}
	if last := j.History[len(j.History)-2]; last.Kind != "gang-restart" || !strings.HasPrefix(last.Message, "pod gang-1-0 of the running gang was deleted on h800-00") {
		t.Errorf("history event before the last start: %s: %s", last.Kind, last.Message)
	}
}
