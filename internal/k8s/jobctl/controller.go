// Package jobctl is the GranaryJob controller (controller-runtime): it
// submits each GranaryJob as a job of Granary's one queue (the jobs store,
// as `granary jobs submit` does; the store is the source of truth and the
// custom resource the user's spec and view of it), and turns the placement
// each scheduling round gives the job into pods: the vendor variant of the
// placed model (image, command, env, extra resources), the accelerator
// resource of the catalog's Kubernetes mapping × the per-pod count, the
// checkpoint contract's environment, spec.nodeName on the placed nodes
// after the binder's fit check, and an owner reference. When a round moves
// the job (another model, or a failed node) it deletes the pods and creates
// the next attempt's; it writes the job's status, conditions and Events.
// Its Backend wraps the binder as the live loop's backend, so the loop's
// rounds reach it. It acts only while the replica leads (SetLeading).
package jobctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// Jobs is what the controller needs of the jobs service (*jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, sp jobs.Spec, actor string) (jobs.Job, error)
	Get(ctx context.Context, id string) (jobs.Job, error)
	List(ctx context.Context, f jobs.Filter) ([]jobs.Job, error)
	Cancel(ctx context.Context, id, actor string) (jobs.Job, error)
}

var _ Jobs = (*jobs.Service)(nil)

// Fitter judges whether pods fit the nodes they name and, when they do,
// counts them there until its pod cache shows them (Assume), or stops
// counting them when their create failed (Forget): *binder.Backend.
type Fitter interface {
	Assume(pods []*corev1.Pod) string
	Forget(pods []*corev1.Pod)
}

var _ Fitter = (*binder.Backend)(nil)

// Devices are the fleet's devices in service (the loop's ledger).
type Devices interface {
	InService(ctx context.Context) ([]jobs.Device, error)
}

// Config configures a Controller. Every field but Names and Workers is
// required.
type Config struct {
	Jobs Jobs
	Fit  Fitter
	// Devices locates a placement's devices on nodes when the last round's
	// enactment does not (a reconcile between a round's save and its
	// enactment, or before a restarted Granary's first round).
	Devices Devices
	Mapping k8s.Mapping
	Names   jobs.Names // model short names in messages
	Log     *slog.Logger
	// Workers is how many GranaryJobs reconcile at once (default 4).
	Workers int
}

// Controller reconciles GranaryJobs.
type Controller struct {
	cfg     Config
	client  client.Client
	rec     recorder.EventRecorder
	leading atomic.Bool
	kick    chan event.GenericEvent
	stop    <-chan struct{}

	mu      sync.Mutex
	round   roundView // what the last enacted round said
	prog    binder.Progress
	waiters map[types.NamespacedName][]string // GranaryJobs whose pods did not fit → their nodes
	// whole: job id → the start whose pods all existed, and their names. A
	// pod of it that goes (deleted, evicted) is not recreated alone: the
	// next round restarts the whole gang.
	whole map[string]wholeGang
}

// wholeGang is a start of a job whose pods all existed.
type wholeGang struct {
	attempt int
	pods    []string
}

// actor is who the controller submits and cancels jobs as.
const actor = "kubernetes"

// pod index: the store job id of a pod.
const byJobID = "jobctl.jobID"

// New registers the controller with mgr (pods are cached only when they
// carry granaryjob.UIDLabel: build mgr with CacheOptions).
func New(ctx context.Context, mgr manager.Manager, cfg Config) (*Controller, error) {
	if cfg.Jobs == nil || cfg.Fit == nil || cfg.Devices == nil || cfg.Mapping.Catalog == nil || cfg.Log == nil {
		return nil, errors.New("jobctl: Config needs Jobs, Fit, Devices, a Mapping with a Catalog and a Log")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	c := &Controller{cfg: cfg, client: mgr.GetClient(), rec: mgr.GetEventRecorder("granary"),
		kick: make(chan event.GenericEvent, 1024), stop: ctx.Done(), waiters: map[types.NamespacedName][]string{},
		whole: map[string]wholeGang{}}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, byJobID, func(o client.Object) []string {
		if id := o.GetLabels()[JobIDLabel]; id != "" {
			return []string{id}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](200*time.Millisecond, MaxBackoff)
	err := builder.ControllerManagedBy(mgr).Named("granaryjob").
		For(&granaryjob.GranaryJob{}).
		Owns(&corev1.Pod{}).
		Watches(&corev1.Pod{}, handler.Funcs{
			DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				c.wake(e.Object, q)
			},
			UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				if p, ok := e.ObjectNew.(*corev1.Pod); ok && finished(p) {
					c.wake(p, q)
				}
			},
		}).
		WatchesRawSource(source.Channel(c.kick, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: cfg.Workers, RateLimiter: rl}).
		WithLogConstructor(func(*reconcile.Request) logr.Logger { return logr.FromSlogHandler(cfg.Log.Handler()) }).
		Complete(c)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// wake queues the GranaryJobs waiting for room on the node of a pod that
// went (deleted, or finished): without it they would wait out their
// backoff (up to MaxBackoff) when a move frees the devices they were
// placed on.
func (c *Controller) wake(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	p, ok := o.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, nodes := range c.waiters {
		if slices.Contains(nodes, p.Spec.NodeName) {
			q.Add(reconcile.Request{NamespacedName: key})
		}
	}
}

// waitFor records that gj's pods wait for room on nodes (nil: they do
// not wait).
func (c *Controller) waitFor(gj *granaryjob.GranaryJob, nodes []string) {
	key := types.NamespacedName{Namespace: gj.Namespace, Name: gj.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if nodes == nil {
		delete(c.waiters, key)
		return
	}
	c.waiters[key] = nodes
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// RoomPoll is how often a GranaryJob whose placed pods do not fit yet (the
// pods of the job that held the devices are still going) is checked again,
// besides being woken when a pod on its nodes goes.
const RoomPoll = 2 * time.Second

// MaxBackoff bounds the wait before a GranaryJob whose reconcile failed
// (API or store errors, pods that do not fit yet) is tried again.
const MaxBackoff = time.Minute

// SetLeading turns the controller on (this replica leads the scheduling
// loop) or off; turning it on starts a term (the progress of the runs it
// remembers is forgotten, as the binder's NewTerm does) and reconciles
// every GranaryJob.
func (c *Controller) SetLeading(on bool) {
	if c.leading.Swap(on) != on && on {
		c.mu.Lock()
		c.prog.Reset()
		c.whole = map[string]wholeGang{} // another replica may have led since
		c.mu.Unlock()
		c.kickAll()
	}
}

// kickAll queues every GranaryJob for a reconcile, without blocking.
func (c *Controller) kickAll() {
	var list granaryjob.GranaryJobList
	if err := c.client.List(context.Background(), &list); err != nil {
		c.cfg.Log.Warn("listing GranaryJobs", "err", err)
		return
	}
	go func() {
		for i := range list.Items {
			gj := &granaryjob.GranaryJob{}
			gj.Namespace, gj.Name = list.Items[i].Namespace, list.Items[i].Name
			select {
			case c.kick <- event.GenericEvent{Object: gj}:
			case <-c.stop:
				return
			}
		}
	}()
}

// Reconcile implements reconcile.Reconciler.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if !c.leading.Load() {
		return reconcile.Result{}, nil
	}
	var gj granaryjob.GranaryJob
	if err := c.client.Get(ctx, req.NamespacedName, &gj); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return reconcile.Result{}, c.forget(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	if gj.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	old := &granaryjob.Status{}
	gj.Status.DeepCopyInto(old)
	job, refused, err := c.job(ctx, &gj)
	if err != nil {
		return reconcile.Result{}, err
	}
	pods, err := c.pods(ctx, &gj, &job)
	if err != nil {
		return reconcile.Result{}, err
	}
	c.setStatus(&gj, &job, refused, pods)
	if err := c.writeStatus(ctx, &gj, old); err != nil {
		return reconcile.Result{}, err
	}
	if pods.room {
		// Waiting for room: a pod going on its nodes wakes it (wake); the
		// poll covers a wake lost between the two caches (the manager's,
		// which sees the delete, and the binder's, which the fit reads).
		return reconcile.Result{RequeueAfter: RoomPoll}, nil
	}
	if pods.wait != "" {
		return reconcile.Result{}, &waitError{pods.wait}
	}
	return reconcile.Result{}, nil
}

// waitError is a placement whose pods cannot be created yet (they do not
// fit, the round's devices are unknown): retried with backoff.
type waitError struct{ msg string }

func (e *waitError) Error() string { return "waiting: " + e.msg }

// forget cancels the job of a deleted GranaryJob and deletes its pods
// (the garbage collector would too, through the owner reference).
func (c *Controller) forget(ctx context.Context, key types.NamespacedName) error {
	j, ok, err := c.activeByName(ctx, JobName(key.Namespace, key.Name))
	if err != nil || !ok {
		return err
	}
	if _, err := c.cfg.Jobs.Cancel(ctx, j.ID, actor+" (GranaryJob deleted)"); err != nil && !finalErr(err) {
		return fmt.Errorf("jobctl: cancelling %s: %w", j.ID, err)
	}
	var ps corev1.PodList
	if err := c.client.List(ctx, &ps, client.InNamespace(key.Namespace), client.MatchingFields{byJobID: j.ID}); err != nil {
		return err
	}
	return c.deletePods(ctx, nil, podPtrs(ps.Items), "")
}

// activeByName finds the active job of a store name.
func (c *Controller) activeByName(ctx context.Context, name string) (jobs.Job, bool, error) {
	js, err := c.cfg.Jobs.List(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}})
	if err != nil {
		return jobs.Job{}, false, fmt.Errorf("jobctl: reading jobs: %w", err)
	}
	for _, j := range js {
		if j.Name == name {
			return j, true, nil
		}
	}
	return jobs.Job{}, false, nil
}

// job finds the store job of gj, submitting it when there is none (or
// resubmitting it when the spec was edited), or returns why gj cannot be
// submitted.
func (c *Controller) job(ctx context.Context, gj *granaryjob.GranaryJob) (jobs.Job, string, error) {
	sp, err := jobSpec(gj, c.cfg.Mapping)
	var se *specError
	if errors.As(err, &se) {
		return jobs.Job{}, se.Message, nil
	}
	j, found := jobs.Job{}, false
	if id := gj.Status.JobID; id != "" {
		if j, err = c.cfg.Jobs.Get(ctx, id); err == nil {
			found = true
		}
	}
	if !found {
		if j, found, err = c.activeByName(ctx, sp.Name); err != nil {
			return j, "", err
		}
	}
	edited := gj.Generation > gj.Status.ObservedGeneration && gj.Status.ObservedGeneration > 0
	if found && j.State.Active() && edited && !sameSpec(&j, sp) {
		if _, err := c.cfg.Jobs.Cancel(ctx, j.ID, actor+" (GranaryJob spec changed)"); err != nil && !finalErr(err) {
			return j, "", fmt.Errorf("jobctl: cancelling %s: %w", j.ID, err)
		}
		c.rec.Eventf(gj, nil, corev1.EventTypeNormal, "Resubmitted", "Submit", "the spec changed: job %s cancelled, a new job submitted", j.ID)
		found = false
	}
	if found {
		return j, "", nil
	}
	j, err = c.cfg.Jobs.Submit(ctx, sp, actor)
	if err != nil {
		if isInput(err) {
			return j, binder.InputMessage(err, specFields), nil
		}
		return j, "", fmt.Errorf("jobctl: submitting %s: %w", sp.Name, err)
	}
	c.rec.Eventf(gj, nil, corev1.EventTypeNormal, "Submitted", "Submit", "submitted to Granary's queue as job %s (team %s, %d devices)", j.ID, j.Team, j.Gang)
	return j, "", nil
}

// finalErr reports a cancel refused because the job finished meanwhile.
func finalErr(err error) bool {
	var se *jobs.StateError
	return errors.As(err, &se)
}

// isInput reports a submission refused for its content.
func isInput(err error) bool {
	var ie *fleet.InputError
	var ies fleet.InputErrors
	return errors.As(err, &ies) || errors.As(err, &ie) || errors.Is(err, fleet.ErrInvalid)
}
