// Package binder is the Kubernetes backend of the live scheduling loop
// (control.Backend): pods with spec.schedulerName: granary are Granary's.
// Observe turns each complete pod gang into a job (validated exactly as
// `granary jobs submit`), reports gangs whose pods all succeeded as
// completed, and shows why a gang cannot be a job on its pods. Enact binds
// each placed gang's pods to the placement's nodes through the Binding
// subresource, all or none, after checking each pod fits its node as
// kube-scheduler would; deletes the pods of gangs the policy moved or
// stopped (their controller recreates them); and gives every waiting pod
// the PodScheduled=False/Unschedulable condition and an Event with
// Granary's stable reason code and sentence.
//
// The persistent state is the jobs store (a job's name is its gang's
// namespace/group) and the cluster (which pods are bound where); the
// in-memory caches are rebuilt from both, so a restarted or newly elected
// Granary completes a persisted plan.
package binder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// Jobs is what the backend needs from the jobs service (*jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, sp jobs.Spec, actor string) (jobs.Job, error)
	List(ctx context.Context, f jobs.Filter) ([]jobs.Job, error)
}

var _ Jobs = (*jobs.Service)(nil)

// Config configures a Backend. Every field but Names is required.
type Config struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Jobs      Jobs
	Mapping   k8s.Mapping
	Names     jobs.Names // model short names in messages
	Log       *slog.Logger
}

// Backend binds pods. Its methods are called from the loop's goroutine.
type Backend struct {
	cfg       Config
	pods      listersv1.PodLister
	nodes     listersv1.NodeLister
	podIndex  cache.Indexer
	hasSynced []cache.InformerSynced

	mu      sync.Mutex
	shown   map[types.UID]string // message last shown on a waiting pod
	rejects map[string]string    // gang key → why it is not a job
	ids     map[string]string    // job id → gang key
	running Progress
	assumed map[string]map[string]assumed // node → namespace/name → a pod created or bound there that the informer may not show yet
	now     func() time.Time
}

var _ control.Backend = (*Backend)(nil)

const byNode = "node"

// New builds the backend and registers its informers (start the factory
// after New).
func New(cfg Config) (*Backend, error) {
	if cfg.Client == nil || cfg.Informers == nil || cfg.Jobs == nil || cfg.Mapping.Catalog == nil || cfg.Log == nil {
		return nil, errors.New("binder: Config needs a Client, Informers, Jobs, a Mapping with a Catalog and a Log")
	}
	pi := cfg.Informers.Core().V1().Pods()
	if err := pi.Informer().AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	ni := cfg.Informers.Core().V1().Nodes()
	b := &Backend{cfg: cfg, pods: pi.Lister(), nodes: ni.Lister(), podIndex: pi.Informer().GetIndexer(),
		hasSynced: []cache.InformerSynced{pi.Informer().HasSynced, ni.Informer().HasSynced},
		shown:     map[types.UID]string{}, rejects: map[string]string{}, ids: map[string]string{},
		assumed: map[string]map[string]assumed{}, now: time.Now}
	if _, err := pi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    b.seen,
		UpdateFunc: func(_, obj any) { b.seen(obj) },
		DeleteFunc: b.seen,
	}); err != nil {
		return nil, err
	}
	return b, nil
}

// NewTerm forgets what the backend remembers of the rounds it enacted (the
// gangs it ran and when it last observed them). Call it when this replica
// becomes leader: another replica may have led since, and charging its
// rounds again (or a gang it moved) would skew the policy's attained
// service. The first Observe of a term reports no progress, as a fresh
// process's does.
func (b *Backend) NewTerm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running.Reset()
}

// WaitForSync waits for the informer caches.
func (b *Backend) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), b.hasSynced...)
}

// gangs returns Granary's pods grouped by gang, in key order, without pods
// being deleted or finished ones of gangs that still have live pods.
func (b *Backend) gangs() (map[string]*gang, error) {
	all, err := b.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := map[string]*gang{}
	for _, p := range all {
		if p.Spec.SchedulerName != SchedulerName || p.DeletionTimestamp != nil || p.Labels[granaryjob.UIDLabel] != "" {
			continue // not Granary's, going, or a GranaryJob's (its controller runs it)
		}
		k := gangKey(p)
		g := out[k]
		if g == nil {
			g = &gang{key: k}
			out[k] = g
		}
		g.pods = append(g.pods, p)
	}
	for _, g := range out {
		sort.Slice(g.pods, func(i, j int) bool { return g.pods[i].Name < g.pods[j].Name })
	}
	return out, nil
}

// models maps each accelerator resource name to the catalog models nodes
// advertise under it.
func (b *Backend) models() (map[corev1.ResourceName][]string, error) {
	ns, err := b.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := map[corev1.ResourceName][]string{}
	for _, n := range ns {
		for _, a := range b.cfg.Mapping.Node(n) {
			r := corev1.ResourceName(a.Resource)
			if a.Model != "" && !slices.Contains(out[r], a.Model) {
				out[r] = append(out[r], a.Model)
			}
		}
	}
	for r := range out {
		slices.Sort(out[r])
	}
	return out, nil
}

// Observe implements control.Backend: it submits new complete gangs as
// jobs, and reports progress and completions of the gangs running.
func (b *Backend) Observe(ctx context.Context, now time.Time) (control.Observation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var obs control.Observation
	gs, err := b.gangs()
	if err != nil {
		return obs, err
	}
	active, err := b.cfg.Jobs.List(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}})
	if err != nil {
		return obs, fmt.Errorf("binder: reading jobs: %w", err)
	}
	byName := map[string]*jobs.Job{}
	clear(b.ids)
	for i := range active {
		j := &active[i]
		if k, ok := strings.CutPrefix(j.Name, JobNamePrefix); ok {
			byName[k] = j
			b.ids[j.ID] = k
		}
	}
	models, err := b.models()
	if err != nil {
		return obs, err
	}
	keys := make([]string, 0, len(gs))
	for k := range gs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	clear(b.rejects)
	for _, k := range keys {
		g := gs[k]
		if j, ok := byName[k]; ok {
			if allSucceeded(g.pods) && j.State == jobs.Running {
				obs.Progress = append(obs.Progress, jobs.Progress{JobID: j.ID, Completed: true, CompletedAt: now, Model: modelOf(j)})
			}
			continue
		}
		if anyFinished(g.pods) {
			continue // a finished gang's leftovers
		}
		n, err := size(*g)
		if err == nil && len(unbound(g.pods)) < n {
			b.reject(ctx, g, fmt.Sprintf("waiting for the pod group: %d of %d pods (%s) exist", len(unbound(g.pods)), n, MinMemberAnnotation))
			continue
		}
		var sp jobs.Spec
		if err == nil {
			sp, err = spec(b.cfg.Mapping, gang{key: g.key, pods: unbound(g.pods)[:n]}, n, models)
		}
		if err == nil {
			var j jobs.Job
			j, err = b.cfg.Jobs.Submit(ctx, sp, "kubernetes")
			if err == nil {
				b.ids[j.ID] = k
				b.cfg.Log.Info("pod gang submitted", "gang", k, "job", j.ID, "class", j.Class, "devices", j.Gang)
				continue
			}
		}
		var se *specError
		msg := submitMessage(err)
		if errors.As(err, &se) {
			msg = se.Message
		}
		b.reject(ctx, g, "invalid: "+msg)
	}
	// Progress of the running gangs: wall time on their model; a gang
	// that completed this round reports its completion only.
	obs.Progress = Merge(obs.Progress, b.running.Observe(now, func(id string) bool { _, ok := b.ids[id]; return ok }))
	return obs, nil
}

func modelOf(j *jobs.Job) string {
	if j.Placement == nil {
		return ""
	}
	return j.Placement.Model
}

func allSucceeded(ps []*corev1.Pod) bool {
	for _, p := range ps {
		if p.Status.Phase != corev1.PodSucceeded {
			return false
		}
	}
	return len(ps) > 0
}

func anyFinished(ps []*corev1.Pod) bool {
	for _, p := range ps {
		if finished(p) {
			return true
		}
	}
	return false
}

func unbound(ps []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range ps {
		if p.Spec.NodeName == "" {
			out = append(out, p)
		}
	}
	return out
}

func bound(ps []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range ps {
		if p.Spec.NodeName != "" {
			out = append(out, p)
		}
	}
	return out
}

// reject shows why a gang is not a job on its pods.
func (b *Backend) reject(ctx context.Context, g *gang, msg string) {
	b.rejects[g.key] = msg
	for _, p := range unbound(g.pods) {
		b.wait(ctx, p, msg)
	}
}

// Unschedulable is the condition reason of a pod Granary does not bind now,
// as kube-scheduler's.
const Unschedulable = corev1.PodReasonUnschedulable

// wait gives a pod PodScheduled=False/Unschedulable with msg and an Event,
// once per distinct message.
func (b *Backend) wait(ctx context.Context, p *corev1.Pod, msg string) {
	msg = "granary: " + msg
	if b.shown[p.UID] == msg {
		return
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == Unschedulable && c.Message == msg {
			b.shown[p.UID] = msg
			return
		}
	}
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"PodScheduled","status":"False","reason":%q,"message":%q,"lastTransitionTime":%q}]}}`,
		Unschedulable, msg, metav1.Now().UTC().Format(time.RFC3339))
	if _, err := b.cfg.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		if !apierrors.IsNotFound(err) {
			b.cfg.Log.Warn("setting a pod's PodScheduled condition", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		return
	}
	b.event(ctx, p, corev1.EventTypeWarning, "FailedScheduling", msg)
	b.shown[p.UID] = msg
}

// event records a core/v1 Event on a pod, as kube-scheduler does.
func (b *Backend) event(ctx context.Context, p *corev1.Pod, typ, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID, APIVersion: "v1", ResourceVersion: p.ResourceVersion},
		Reason:         reason, Message: msg, Type: typ,
		Source:         corev1.EventSource{Component: SchedulerName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "granary.io/scheduler", ReportingInstance: SchedulerName,
	}
	if _, err := b.cfg.Client.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		b.cfg.Log.Debug("recording an event", "pod", p.Name, "err", err)
	}
}

// Enact implements control.Backend.
func (b *Backend) Enact(ctx context.Context, in control.Enactment) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	gs, err := b.gangs()
	if err != nil {
		return err
	}
	state := b.nodeStates()
	serialNode := map[string]string{}
	for _, d := range in.Devices {
		serialNode[d.Serial] = d.Node
	}
	runs := map[string]control.Run{}
	var errs []error
	for _, r := range in.Runs {
		key, ok := b.ids[r.Job]
		if !ok {
			continue // not a pod gang
		}
		runs[r.Job] = r
		g := gs[key]
		if g == nil {
			continue
		}
		if err := b.enactRun(ctx, g, r, serialNode, state); err != nil {
			errs = append(errs, err)
		}
	}
	// Gangs not running: stop the bound ones, explain the others.
	active, err := b.cfg.Jobs.List(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}})
	if err != nil {
		return fmt.Errorf("binder: reading jobs: %w", err)
	}
	for i := range active {
		j := &active[i]
		key, ok := b.ids[j.ID]
		if !ok {
			continue
		}
		if _, ok := runs[j.ID]; ok {
			continue
		}
		g := gs[key]
		if g == nil {
			continue
		}
		if bp := bound(g.pods); len(bp) > 0 {
			b.deletePods(ctx, bp, fmt.Sprintf("granary stopped gang %s (%s): %s", j.ID, j.Why.Code, j.Why.Message))
			continue
		}
		for _, p := range g.pods {
			b.wait(ctx, p, fmt.Sprintf("%s: %s (%s)", j.Why.Code, j.Why.Message, j.ID))
		}
	}
	b.running.Enact(runs)
	return errors.Join(errs...)
}

// nodeStates returns a lookup of each node's state (the node and the
// requests of the pods on it, and of the pods assumed there that the
// informer does not show yet), each read once from the caches and then
// updated by the caller as it places pods. Call with b.mu held.
func (b *Backend) nodeStates() func(string) (*nodeState, error) {
	nodes := map[string]*nodeState{}
	return func(name string) (*nodeState, error) {
		if s, ok := nodes[name]; ok {
			return s, nil
		}
		n, err := b.nodes.Get(name)
		if err != nil {
			return nil, err
		}
		objs, err := b.podIndex.ByIndex(byNode, name)
		if err != nil {
			return nil, err
		}
		pods := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			pods = append(pods, o.(*corev1.Pod))
		}
		s := newNodeState(n, append(pods, b.assumedOn(name)...))
		nodes[name] = s
		return s, nil
	}
}

// Fit says why pods cannot run on the nodes their spec.nodeName names —
// judged as Enact judges a gang before binding it (cordon, taints,
// affinity, allocatable minus the requests of the pods already there, of
// the pods assumed there (Assume) and of the earlier pods of the list) —
// or "" when they all fit. It assumes nothing: the GranaryJob controller
// uses Assume. Safe for concurrent use.
func (b *Backend) Fit(pods []*corev1.Pod) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fit(pods)
}

// enactRun makes one placed gang run on its placement's nodes.
func (b *Backend) enactRun(ctx context.Context, g *gang, r control.Run, serialNode map[string]string, state func(string) (*nodeState, error)) error {
	n, err := size(*g)
	if err != nil {
		return nil
	}
	if r.With != "" {
		// Never planned (jobctl.Pairable): a pod gang's pods ask for whole
		// devices, which two gangs cannot both have.
		for _, p := range unbound(g.pods) {
			b.wait(ctx, p, fmt.Sprintf("placed to share %s with job %s, but a pod gang's pods ask for whole devices: only GranaryJobs share a device", strings.Join(r.Devices, ", "), r.With))
		}
		return nil
	}
	_, per, err := accelOf(b.cfg.Mapping, g.pods[0])
	if err != nil || per == 0 {
		return nil
	}
	// Slots: how many pods each node of the placement takes.
	slots := map[string]int{}
	for _, s := range r.Devices {
		slots[serialNode[s]]++
	}
	for node := range slots {
		slots[node] /= per
	}
	bp := bound(g.pods)
	misplaced := r.Restart && len(bp) > 0
	for _, p := range bp {
		if slots[p.Spec.NodeName] == 0 {
			misplaced = true
			break
		}
		slots[p.Spec.NodeName]--
	}
	if misplaced {
		b.deletePods(ctx, bp, fmt.Sprintf("granary moved gang %s to %s on %s", r.Job, b.name(r.Model), strings.Join(sortedNodes(r.Devices, serialNode), ", ")))
		return nil
	}
	need := n - len(bp)
	if need <= 0 {
		return nil
	}
	pending := unbound(g.pods)
	if len(pending) < need {
		for _, p := range pending {
			b.wait(ctx, p, fmt.Sprintf("placed on %s, waiting for the pod group's recreated pods (%d of %d)", b.name(r.Model), len(pending), need))
		}
		return nil
	}
	pending = pending[:need]
	// Assign pods to node slots, checking each fits.
	var plan []bind
	order := sortedKeys(slots)
	var why string
	taken := map[string][]*corev1.Pod{}
	for _, p := range pending {
		placed := false
		for _, node := range order {
			if slots[node] == 0 {
				continue
			}
			st, err := state(node)
			if err != nil {
				why = fmt.Sprintf("node %s: %v", node, err)
				continue
			}
			if msg := st.fit(p); msg != "" {
				why = msg
				continue
			}
			st.add(p)
			taken[node] = append(taken[node], p)
			slots[node]--
			plan = append(plan, bind{pod: p, node: node})
			placed = true
			break
		}
		if !placed {
			break
		}
	}
	if len(plan) < need {
		b.undo(taken, state) // nothing is bound
		msg := fmt.Sprintf("placed on %s (%s) but the pods do not fit there: %s", b.name(r.Model), strings.Join(order, ", "), why)
		for _, p := range pending {
			b.wait(ctx, p, msg)
		}
		return nil
	}
	if msg := b.tellHAMi(plan, r, state); msg != "" {
		b.undo(taken, state)
		for _, p := range pending {
			b.wait(ctx, p, msg)
		}
		return nil
	}
	return b.bindAll(ctx, r, plan)
}

// bind is one pod of a gang to bind to a node, with the annotations the
// Binding writes on it (HAMi's device assignment of a share).
type bind struct {
	pod         *corev1.Pod
	node        string
	annotations map[string]string
}

// tellHAMi gives each share's pod of plan the annotations that tell HAMi's
// device plugin which GPU of its node the share is on (k8s.HAMiDeviceOf:
// the placement's device), or says why it cannot be bound: the node's
// HAMi register lists no GPU for that device. Pods of nodes without HAMi,
// of other vendors and of whole devices get none.
func (b *Backend) tellHAMi(plan []bind, r control.Run, state func(string) (*nodeState, error)) string {
	if len(r.Devices) != 1 {
		return "" // a share holds one device
	}
	for i, x := range plan {
		req := resourcehelper.PodRequests(x.pod, resourcehelper.PodResourcesOptions{})
		sh, found, err := k8s.ParseShare(req)
		if !found || err != nil || sh.Names.Vendor != "NVIDIA" {
			continue
		}
		st, err := state(x.node)
		if err != nil {
			return fmt.Sprintf("node %s: %v", x.node, err)
		}
		dev, err := k8s.HAMiDeviceOf(st.node, sh.Names.Vendor, r.Model, r.Devices[0])
		if err != nil {
			return fmt.Sprintf("placed on %s but not bound: %v", b.name(r.Model), err)
		}
		if dev == nil {
			continue
		}
		c := k8s.ShareContainer(x.pod, sh.Names)
		csh, _, _ := k8s.ParseShare(x.pod.Spec.Containers[c].Resources.Requests)
		plan[i].annotations = dev.Annotations(x.pod, c, x.node, csh.MemoryMiB, sh.Names.CoreUnits(csh.Milli), b.now())
	}
	return ""
}

// undo takes the pods taken on each node back out of its state.
func (b *Backend) undo(taken map[string][]*corev1.Pod, state func(string) (*nodeState, error)) {
	for node, ps := range taken {
		st, _ := state(node)
		for _, p := range ps {
			for res, q := range podRequests(p) {
				u := st.used[res]
				u.Sub(q)
				st.used[res] = u
			}
			st.pods--
		}
	}
}

// bindAll binds the pods of plan, all or none: when one fails, those bound
// go back to their controller.
func (b *Backend) bindAll(ctx context.Context, r control.Run, plan []bind) error {
	var done []*corev1.Pod
	for _, x := range plan {
		err := b.cfg.Client.CoreV1().Pods(x.pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: x.pod.Name, Namespace: x.pod.Namespace, UID: x.pod.UID, Annotations: x.annotations},
			Target:     corev1.ObjectReference{Kind: "Node", Name: x.node},
		}, metav1.CreateOptions{})
		if err != nil {
			// All or none: the pods bound so far go back to their controller.
			b.deletePods(ctx, done, fmt.Sprintf("granary could not bind the whole gang %s (%s: %v)", r.Job, x.pod.Name, err))
			return fmt.Errorf("binder: binding %s/%s to %s: %w", x.pod.Namespace, x.pod.Name, x.node, err)
		}
		bc := x.pod.DeepCopy()
		bc.Spec.NodeName = x.node
		for k, v := range x.annotations {
			metav1.SetMetaDataAnnotation(&bc.ObjectMeta, k, v)
		}
		done = append(done, bc)
	}
	b.assume(done) // counted on their nodes before the informer shows the bindings
	for _, x := range plan {
		b.event(ctx, x.pod, corev1.EventTypeNormal, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s (granary: gang %s on %s)", x.pod.Namespace, x.pod.Name, x.node, r.Job, b.name(r.Model)))
		delete(b.shown, x.pod.UID)
	}
	return nil
}

func podRequests(p *corev1.Pod) corev1.ResourceList {
	s := &nodeState{used: corev1.ResourceList{}}
	s.add(p)
	return s.used
}

// deletePods deletes pods (their controller recreates them) with an Event
// saying why.
func (b *Backend) deletePods(ctx context.Context, ps []*corev1.Pod, why string) {
	for _, p := range ps {
		b.event(ctx, p, corev1.EventTypeNormal, "Preempted", why)
		uid := p.UID
		err := b.cfg.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			b.cfg.Log.Warn("deleting a pod", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
	if len(ps) > 0 {
		b.cfg.Log.Info("deleted pods", "pods", len(ps), "why", why)
	}
}

func (b *Backend) name(model string) string {
	if b.cfg.Names == nil {
		return model
	}
	return b.cfg.Names(model)
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedNodes(serials []string, serialNode map[string]string) []string {
	var out []string
	for _, s := range serials {
		if n := serialNode[s]; !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
