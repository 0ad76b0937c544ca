package jobctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// podsView is what a reconcile saw and did of a job's pods.
type podsView struct {
	want, ready int    // pods of the current attempt wanted, and running or done
	wait        string // why the attempt's pods cannot be created yet
	room        bool   // wait is for room on the placed nodes (other pods still there)
}

// pods makes the GranaryJob's pods match its store job: the current
// attempt's (job id and restarts) exist on their nodes when it runs; every
// other live pod goes.
func (c *Controller) pods(ctx context.Context, gj *granaryjob.GranaryJob, job *jobs.Job) (podsView, error) {
	var list corev1.PodList
	if err := c.client.List(ctx, &list, client.InNamespace(gj.Namespace), client.MatchingLabels{granaryjob.UIDLabel: string(gj.UID)}); err != nil {
		return podsView{}, err
	}
	running := job.State == jobs.Running && job.Placement != nil
	cur := map[string]*corev1.Pod{}
	var stale []*corev1.Pod
	previous := "" // the model of an earlier start's pods
	for i := range list.Items {
		p := &list.Items[i]
		if p.Labels[AttemptLabel] != strconv.Itoa(job.Restarts) || p.Labels[JobIDLabel] != job.ID {
			previous = p.Labels[ModelLabel]
		}
		switch {
		case p.DeletionTimestamp != nil:
		case running && p.Labels[JobIDLabel] == job.ID && p.Labels[AttemptLabel] == strconv.Itoa(job.Restarts):
			cur[p.Name] = p
		case job.State != jobs.Completed:
			stale = append(stale, p)
		}
	}
	c.waitFor(gj, nil)
	if err := c.deletePods(ctx, gj, stale, stopReason(job, c.cfg.Names)); err != nil {
		return podsView{}, err
	}
	if !running {
		return podsView{}, nil
	}
	v := podsView{want: int(gj.Spec.Gang.Pods)}
	for _, p := range cur {
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
			v.ready++
		}
	}
	if len(cur) >= v.want {
		c.setWhole(job, cur)
		return v, nil
	}
	if gone := c.gone(job, cur); len(gone) > 0 {
		v.wait = fmt.Sprintf("pod %s of the running gang is gone; the whole gang restarts at the next round", strings.Join(gone, ", "))
		return v, nil
	}
	a, wait := c.attempt(ctx, gj, job)
	if previous != "" {
		a.Previous = previous
	}
	if wait != "" {
		v.wait = wait
		return v, nil
	}
	all, err := buildPods(gj, a)
	var se *specError
	if errors.As(err, &se) {
		v.wait = se.Message
		return v, nil
	} else if err != nil {
		return v, err
	}
	var missing []*corev1.Pod
	for _, p := range all {
		if cur[p.Name] == nil {
			missing = append(missing, p)
		}
	}
	// A waiter before the check, so a pod that goes meanwhile wakes it.
	c.waitFor(gj, uniq(a.Nodes))
	if why := c.cfg.Fit.Assume(missing); why != "" {
		v.wait, v.room = fmt.Sprintf("placed on %s, but its pods do not fit there yet: %s", c.name(a.Model), why), true
		return v, nil
	}
	c.waitFor(gj, nil)
	return v, c.create(ctx, gj, a, missing, len(cur) == 0)
}

// setWhole records that every pod of the job's current start exists, as
// the pod cache shows them (pods just created are not yet in it, and a
// pod it has not shown would look gone to the next Observe).
func (c *Controller) setWhole(job *jobs.Job, cur map[string]*corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.whole[job.ID]; ok && w.attempt == job.Restarts {
		return
	}
	c.whole[job.ID] = wholeGang{attempt: job.Restarts, pods: sortedKeys(cur)}
}

// gone names the pods of the job's current start that all existed once
// and are not among live now (nil when the start never was whole).
func (c *Controller) gone(job *jobs.Job, live map[string]*corev1.Pod) []string {
	c.mu.Lock()
	w, ok := c.whole[job.ID]
	c.mu.Unlock()
	if !ok || w.attempt != job.Restarts {
		return nil
	}
	var out []string
	for _, name := range w.pods {
		if live[name] == nil {
			out = append(out, name)
		}
	}
	return out
}

// create creates an attempt's missing pods; first says none existed.
func (c *Controller) create(ctx context.Context, gj *granaryjob.GranaryJob, a attempt, pods []*corev1.Pod, first bool) error {
	for i, p := range pods {
		if err := c.client.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
			c.cfg.Fit.Forget(pods[i:])
			c.rec.Eventf(gj, nil, corev1.EventTypeWarning, "FailedCreate", "CreatePod", "creating pod %s on %s: %v", p.Name, p.Spec.NodeName, err)
			return fmt.Errorf("jobctl: creating pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	if !first {
		return nil
	}
	nodes := uniq(a.Nodes)
	switch {
	case a.Previous != "" && a.Previous != a.Model:
		c.rec.Eventf(gj, nil, corev1.EventTypeNormal, "Moved", "CreatePods", "moved from %s to %s: %d pods with the %s variant on %s (restart %d)",
			c.name(a.Previous), c.name(a.Model), len(a.Nodes), a.Vendor.Name, strings.Join(nodes, ", "), a.Restarts)
	case a.Restarts > 0:
		c.rec.Eventf(gj, nil, corev1.EventTypeNormal, "Restarted", "CreatePods", "restarted on %s: %d pods with the %s variant on %s (restart %d)",
			c.name(a.Model), len(a.Nodes), a.Vendor.Name, strings.Join(nodes, ", "), a.Restarts)
	default:
		c.rec.Eventf(gj, nil, corev1.EventTypeNormal, "Started", "CreatePods", "started on %s: %d pods with the %s variant on %s",
			c.name(a.Model), len(a.Nodes), a.Vendor.Name, strings.Join(nodes, ", "))
	}
	return nil
}

// attempt says where the job's current attempt runs, or why that is not
// known yet.
func (c *Controller) attempt(ctx context.Context, gj *granaryjob.GranaryJob, job *jobs.Job) (attempt, string) {
	pl := job.Placement
	c.mu.Lock()
	serialNode := c.round.serialNode
	c.mu.Unlock()
	per, pods := int(gj.Spec.Gang.AcceleratorsPerPod), int(gj.Spec.Gang.Pods)
	nodes, err := rankNodes(pl.Devices, serialNode, per, pods)
	if err != nil {
		nodes, err = c.rankFromLedger(ctx, pl.Devices, per, pods)
	}
	if err != nil {
		return attempt{}, fmt.Sprintf("placed on %s, but %v", c.name(pl.Model), err)
	}
	v, ok := c.cfg.Mapping.VendorOfModel(pl.Model)
	if !ok {
		return attempt{}, fmt.Sprintf("placed on %s, which no vendor of the Kubernetes mapping serves", c.name(pl.Model))
	}
	var n corev1.Node
	if err := c.client.Get(ctx, client.ObjectKey{Name: nodes[0]}, &n); err != nil {
		return attempt{}, fmt.Sprintf("placed on %s, but node %s: %v", c.name(pl.Model), nodes[0], err)
	}
	res := k8s.ResourceFor(pl.Model, c.cfg.Mapping.Node(&n))
	if res == "" {
		return attempt{}, fmt.Sprintf("placed on %s, but node %s advertises no accelerator resource of that model", c.name(pl.Model), nodes[0])
	}
	a := attempt{JobID: job.ID, Restarts: int32(job.Restarts), Model: pl.Model, Vendor: v, Resource: corev1.ResourceName(res), Nodes: nodes,
		Milli: pl.Milli, MemoryMiB: job.DeviceMemoryMiB}
	if pl.With != "" {
		a.With, a.MemoryMiB = pl.With, pairMemoryMiB(c.cfg.Mapping, pl.Model)
	}
	if job.Restarts > 0 && gj.Status.Model != pl.Model {
		a.Previous = gj.Status.Model
	}
	if a.Milli > 0 || a.With != "" {
		// A share of one device: HAMi's device plugin is told which GPU.
		dev, err := k8s.HAMiDeviceOf(&n, v.Name, pl.Model, pl.Devices[0])
		if err != nil {
			msg := fmt.Sprintf("placed on %s, but its pod is not created: %v", c.name(pl.Model), err)
			c.rec.Eventf(gj, nil, corev1.EventTypeWarning, "HAMiDevice", "CreatePods", "%s", msg)
			return attempt{}, msg
		}
		a.HAMi, a.Now = dev, time.Now()
	}
	return a, ""
}

// pairMemoryMiB is the device memory each job of a pair asks for: half of
// the model's (the catalog's memory_gb × 1024, as vendors count "80 GB"),
// 0 when the catalog does not say.
func pairMemoryMiB(m k8s.Mapping, model string) int64 {
	if m.Catalog == nil {
		return 0
	}
	c, ok := m.Catalog.Get(model)
	if !ok || c.MemoryGB == nil {
		return 0
	}
	return int64(*c.MemoryGB*1024) / 2
}

// rankFromLedger is rankNodes with the devices' nodes read from the ledger.
func (c *Controller) rankFromLedger(ctx context.Context, devices []string, per, pods int) ([]string, error) {
	ds, err := c.cfg.Devices.InService(ctx)
	if err != nil {
		return nil, err
	}
	sn := make(map[string]string, len(ds))
	for _, d := range ds {
		sn[d.Serial] = d.Node
	}
	return rankNodes(devices, sn, per, pods)
}

// deletePods deletes pods (each once: the UID precondition) with an Event
// on the GranaryJob saying why; gj nil records none.
func (c *Controller) deletePods(ctx context.Context, gj *granaryjob.GranaryJob, pods []*corev1.Pod, why string) error {
	if len(pods) == 0 {
		return nil
	}
	if gj != nil {
		c.rec.Eventf(gj, nil, corev1.EventTypeNormal, "Stopped", "DeletePods", "deleted %d pods: %s", len(pods), why)
	}
	for _, p := range pods {
		uid := p.UID
		err := c.client.Delete(ctx, p, &client.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("jobctl: deleting pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// stopReason says why a job's live pods go.
func stopReason(job *jobs.Job, names jobs.Names) string {
	switch {
	case job.State == jobs.Running && job.Placement != nil:
		return fmt.Sprintf("job %s starts again on %s on %s (restart %d)", job.ID, nameOf(names, job.Placement.Model), strings.Join(job.Placement.Nodes, ", "), job.Restarts)
	case job.ID == "":
		return "the GranaryJob has no job in Granary's queue"
	}
	return fmt.Sprintf("job %s is %s: %s", job.ID, job.State, job.Why.Message)
}

func (c *Controller) name(model string) string { return nameOf(c.cfg.Names, model) }

func nameOf(names jobs.Names, model string) string {
	if names == nil {
		return model
	}
	return names(model)
}

func uniq(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func podPtrs(ps []corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(ps))
	for i := range ps {
		out[i] = &ps[i]
	}
	return out
}
