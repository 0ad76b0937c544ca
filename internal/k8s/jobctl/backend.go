package jobctl

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// roundView is what the controller keeps of the last enacted round: where
// each device is, and how many devices of each model no job holds. It is
// rebuilt by every round (a restarted Granary waits for its first).
type roundView struct {
	serialNode map[string]string
	free       map[string]int
}

// Backend returns the live loop's backend on Kubernetes: inner (the
// binder) enacts pod gangs, and the controller GranaryJobs — it reports
// their progress in wall time and their completion (every pod of the
// current start succeeded), and after each round reconciles every
// GranaryJob against the store.
func (c *Controller) Backend(inner control.Backend) control.Backend {
	return &backend{inner: inner, c: c}
}

type backend struct {
	inner control.Backend
	c     *Controller
}

var _ control.Backend = (*backend)(nil)

// mine returns the active jobs that stand for GranaryJobs, by id.
func (c *Controller) mine(ctx context.Context) (map[string]jobs.Job, error) {
	js, err := c.cfg.Jobs.List(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}})
	if err != nil {
		return nil, fmt.Errorf("jobctl: reading jobs: %w", err)
	}
	out := map[string]jobs.Job{}
	for _, j := range js {
		if strings.HasPrefix(j.Name, JobNamePrefix) {
			out[j.ID] = j
		}
	}
	return out, nil
}

// Observe implements control.Backend.
func (b *backend) Observe(ctx context.Context, now time.Time) (control.Observation, error) {
	obs, err := b.inner.Observe(ctx, now)
	if err != nil {
		return obs, err
	}
	mine, err := b.c.mine(ctx)
	if err != nil {
		return obs, err
	}
	b.c.mu.Lock()
	prog := b.c.prog.Observe(now, func(id string) bool { _, ok := mine[id]; return ok })
	b.c.mu.Unlock()
	done := map[string]bool{}
	for id, j := range mine {
		if j.State == jobs.Running && j.Placement != nil {
			g, err := b.c.gang(ctx, &j)
			if err != nil {
				return obs, err
			}
			done[id] = g.succeeded
			switch gone := b.c.gone(&j, g.live); {
			case g.failed != nil:
				obs.Restarts = append(obs.Restarts, control.GangRestart{JobID: id, Reason: b.c.podFailed(g.failed, g.pods)})
			case len(gone) > 0 && !g.succeeded:
				owner := g.owner
				if owner == nil { // every pod went: the job's name says whose it is
					if ns, name, ok := strings.Cut(strings.TrimPrefix(j.Name, JobNamePrefix), "/"); ok {
						owner = &granaryjob.GranaryJob{}
						owner.Namespace, owner.Name = ns, name
					}
				}
				obs.Restarts = append(obs.Restarts, control.GangRestart{JobID: id, Reason: b.c.podsGone(owner, gone, max(g.pods, len(gone)))})
			}
		}
	}
	var completed []jobs.Progress
	b.c.mu.Lock()
	for id, w := range b.c.whole {
		if j, ok := mine[id]; !ok || j.Restarts != w.attempt {
			delete(b.c.whole, id)
		}
	}
	b.c.mu.Unlock()
	for id := range done {
		if done[id] {
			completed = append(completed, jobs.Progress{JobID: id, Completed: true, CompletedAt: now, Model: mine[id].Placement.Model})
		}
	}
	obs.Progress = binder.Merge(append(obs.Progress, completed...), prog)
	return obs, nil
}

// gangView is what the pods of a job's current start say.
type gangView struct {
	succeeded bool                   // every pod of the gang succeeded
	failed    *corev1.Pod            // a pod that failed, or nil
	pods      int                    // the gang's pods
	live      map[string]*corev1.Pod // the start's pods not being deleted, by name
	owner     *granaryjob.GranaryJob // the GranaryJob of the pods (name and uid only), or nil
}

// gang reads the pods of the job's current start.
func (c *Controller) gang(ctx context.Context, j *jobs.Job) (gangView, error) {
	var ps corev1.PodList
	if err := c.client.List(ctx, &ps, client.MatchingFields{byJobID: j.ID}); err != nil {
		return gangView{}, err
	}
	v := gangView{live: map[string]*corev1.Pod{}}
	n := 0
	for i := range ps.Items {
		p := &ps.Items[i]
		if p.Labels[AttemptLabel] != strconv.Itoa(j.Restarts) {
			continue
		}
		if v.owner == nil {
			v.owner = ownerOf(p)
		}
		if p.DeletionTimestamp == nil {
			v.live[p.Name] = p
		}
		v.pods = gangPods(p, v.pods)
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			n++
		case corev1.PodFailed:
			if v.failed == nil || p.Name < v.failed.Name {
				v.failed = p
			}
		}
	}
	v.succeeded = n > 0 && n == v.pods
	return v, nil
}

// podFailed says why a pod of a running gang failed, with an Event on its
// GranaryJob: the round restarts the whole gang.
func (c *Controller) podFailed(p *corev1.Pod, pods int) string {
	why := p.Status.Reason
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			why = fmt.Sprintf("container %s: %s, exit code %d", cs.Name, t.Reason, t.ExitCode)
			break
		}
	}
	if why == "" {
		why = p.Status.Message
	}
	msg := fmt.Sprintf("pod %s failed", p.Name)
	if why != "" {
		msg += " (" + why + ")"
	}
	if gj := ownerOf(p); gj != nil {
		c.rec.Eventf(gj, nil, corev1.EventTypeWarning, "PodFailed", "RestartGang", "%s: the gang's %d pods are deleted and the whole gang restarts from its checkpoint", msg, pods)
	}
	return msg
}

// podsGone says which pods of a running gang are gone (deleted, evicted:
// not by Granary, which deletes only other starts' pods), with an Event
// on its GranaryJob (owner, when known): the round restarts the whole
// gang.
func (c *Controller) podsGone(owner *granaryjob.GranaryJob, gone []string, pods int) string {
	msg := fmt.Sprintf("pod %s of the running gang was deleted", strings.Join(gone, ", "))
	if owner != nil {
		c.rec.Eventf(owner, nil, corev1.EventTypeWarning, "PodDeleted", "RestartGang", "%s: the gang's %d pods are deleted and the whole gang restarts from its checkpoint", msg, pods)
	}
	return msg
}

// ownerOf is the GranaryJob that controls p (name and uid only), or nil.
func ownerOf(p *corev1.Pod) *granaryjob.GranaryJob {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "GranaryJob" {
		return nil
	}
	gj := &granaryjob.GranaryJob{}
	gj.Namespace, gj.Name, gj.UID = p.Namespace, ref.Name, ref.UID
	return gj
}

// gangPods reads the gang size from a pod's contract env (the GranaryJob
// may be gone); prev when absent.
func gangPods(p *corev1.Pod, prev int) int {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == EnvGangPods {
			if n, err := strconv.Atoi(e.Value); err == nil {
				return n
			}
		}
	}
	return prev
}

// Enact implements control.Backend.
func (b *backend) Enact(ctx context.Context, in control.Enactment) error {
	err := b.inner.Enact(ctx, in)
	mine, merr := b.c.mine(ctx)
	if merr != nil {
		return merr
	}
	view := roundView{serialNode: make(map[string]string, len(in.Devices)), free: map[string]int{}}
	model := map[string]string{}
	for _, d := range in.Devices {
		view.serialNode[d.Serial] = d.Node
		view.free[d.Model]++
		model[d.Serial] = d.Model
	}
	runs := map[string]control.Run{}
	for _, r := range in.Runs {
		for _, s := range r.Devices {
			view.free[model[s]]--
		}
		if _, ok := mine[r.Job]; ok {
			runs[r.Job] = r
		}
	}
	b.c.mu.Lock()
	b.c.round = view
	b.c.prog.Enact(runs)
	b.c.mu.Unlock()
	b.c.kickAll()
	return err
}
