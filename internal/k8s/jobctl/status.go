package jobctl

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// The condition types of a GranaryJob's status.
const (
	// Admitted: the job is in Granary's queue (False: its spec cannot be
	// submitted, and why).
	Admitted = "Admitted"
	// Scheduled: this round placed it (False: why it waits).
	Scheduled = "Scheduled"
	// PodsReady: every pod of the current start is running (or done).
	PodsReady = "PodsReady"
)

// CodeInvalid is the status reason of a GranaryJob Granary cannot submit
// as written (the pipeline's codes cover everything else).
const CodeInvalid = "invalid"

// setStatus writes what the store says of the job, and what the reconcile
// saw of its pods, into gj's status.
func (c *Controller) setStatus(gj *granaryjob.GranaryJob, job *jobs.Job, refused string, pv podsView) {
	s := &gj.Status
	s.ObservedGeneration = gj.Generation
	cond := func(typ string, ok bool, reason, msg string) {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: gj.Generation})
	}
	if refused != "" {
		if s.Message != refused {
			c.rec.Eventf(gj, nil, corev1.EventTypeWarning, "Invalid", "Submit", "%s", refused)
		}
		s.Phase, s.Reason, s.Message, s.Model, s.Nodes, s.JobID = granaryjob.Pending, CodeInvalid, refused, "", nil, ""
		cond(Admitted, false, "Invalid", refused)
		cond(Scheduled, false, "Invalid", "not submitted")
		cond(PodsReady, false, "NotScheduled", "not submitted")
		return
	}
	before := s.Message
	s.JobID, s.Phase, s.Restarts = job.ID, phase(job.State), int32(job.Restarts)
	s.Reason, s.Message = string(job.Why.Code), job.Why.Message
	if job.Placement != nil {
		s.Model, s.Nodes = job.Placement.Model, slices.Clone(job.Placement.Nodes)
	} else if job.State.Active() {
		s.Model, s.Nodes = "", nil
	}
	cond(Admitted, true, "Submitted", fmt.Sprintf("job %s in Granary's queue", job.ID))
	switch {
	case job.State == jobs.Running:
		cond(Scheduled, true, camel(job.Why.Code), job.Why.Message)
	case job.State.Active():
		if note := c.missingVariant(gj); note != "" {
			s.Message += "; " + note
		}
		cond(Scheduled, false, camel(job.Why.Code), s.Message)
		if s.Message != before {
			typ := corev1.EventTypeNormal
			if strings.Contains(s.Message, "has no ") {
				typ = corev1.EventTypeWarning
			}
			c.rec.Eventf(gj, nil, typ, "Waiting", "Schedule", "%s: %s", job.Why.Code, s.Message)
		}
	default:
		cond(Scheduled, false, camel(job.Why.Code), job.Why.Message)
	}
	switch {
	case pv.wait != "":
		cond(PodsReady, false, "Waiting", pv.wait)
	case pv.want > 0 && pv.ready == pv.want:
		cond(PodsReady, true, "Running", fmt.Sprintf("%d of %d pods running", pv.ready, pv.want))
	case pv.want > 0:
		cond(PodsReady, false, "Starting", fmt.Sprintf("%d of %d pods running", pv.ready, pv.want))
	default:
		cond(PodsReady, false, "NotScheduled", "no pods: the job is "+string(job.State))
	}
}

// writeStatus stores gj's status when it differs from old.
func (c *Controller) writeStatus(ctx context.Context, gj *granaryjob.GranaryJob, old *granaryjob.Status) error {
	if equality.Semantic.DeepEqual(old, &gj.Status) {
		return nil
	}
	return c.client.Status().Update(ctx, gj)
}

// missingVariant names the vendors whose free devices the job could use
// but for a variant, or "".
func (c *Controller) missingVariant(gj *granaryjob.GranaryJob) string {
	c.mu.Lock()
	free := c.round.free
	c.mu.Unlock()
	allowed, _ := resolve(c.cfg.Mapping, "", gj.Spec.AllowedModels)
	forbidden, _ := resolve(c.cfg.Mapping, "", gj.Spec.ForbiddenModels)
	byVendor := map[string][]string{}
	for _, m := range sortedKeys(free) {
		if free[m] == 0 || slices.Contains(forbidden, m) || (len(allowed) > 0 && !slices.Contains(allowed, m)) {
			continue
		}
		v, ok := c.cfg.Mapping.VendorOfModel(m)
		if !ok || variantFor(gj, v.Name) != nil {
			continue
		}
		byVendor[v.Name] = append(byVendor[v.Name], fmt.Sprintf("%d free %s", free[m], c.name(m)))
	}
	var parts []string
	for _, v := range sortedKeys(byVendor) {
		parts = append(parts, fmt.Sprintf("spec.variants has no %s variant, so it cannot use the %s", v, strings.Join(byVendor[v], ", ")))
	}
	return strings.Join(parts, "; ")
}

// phase is a job state as a GranaryJob phase.
func phase(s jobs.State) granaryjob.Phase {
	if s == "" {
		return granaryjob.Pending
	}
	return granaryjob.Phase(strings.ToUpper(string(s[:1])) + string(s[1:]))
}

// camel turns a reason code ("placed-best") into a condition reason
// ("PlacedBest"), as the API conventions spell them.
func camel(c jobs.Code) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(string(c), func(r rune) bool { return r == '-' || r == '_' || r == ' ' }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	if b.Len() == 0 {
		return "Unknown"
	}
	return b.String()
}
