package binder

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
)

// The labels and annotations a pod gives Granary. Only pods with
// spec.schedulerName: granary are Granary's.
const (
	SchedulerName = "granary"
	// PodGroupLabel groups pods into a gang (the coscheduling plugin's
	// label); a pod without it is a gang of one.
	PodGroupLabel = "scheduling.x-k8s.io/pod-group"
	// MinMemberAnnotation is a pod group's size: Granary waits until that
	// many pods of the group exist, then binds them all or none. Required
	// on pods with PodGroupLabel; every member must carry the same value.
	MinMemberAnnotation = "granary.io/min-member"
	// TeamLabel is the job's team; default: the namespace.
	TeamLabel = "granary.io/team"
	// The job, as `granary jobs submit` takes it: a class of the
	// throughput table, or model + precision + workload.
	ClassAnnotation     = "granary.io/class"
	ModelAnnotation     = "granary.io/model"
	PrecisionAnnotation = "granary.io/precision"
	WorkloadAnnotation  = "granary.io/workload"
	// AllowedAnnotation and ForbiddenAnnotation are comma-separated
	// accelerator models.
	AllowedAnnotation   = "granary.io/allowed"
	ForbiddenAnnotation = "granary.io/forbidden"
	// StepsAnnotation is the job's work in steps (default: runs until its
	// pods finish).
	StepsAnnotation = "granary.io/total-steps"
	// WeightAnnotation is the job's weight inside its team.
	WeightAnnotation = "granary.io/weight"
)

// UntilDone is the work of a job whose pods give none (a pod gang without
// StepsAnnotation, a GranaryJob): it runs until its pods succeed.
const UntilDone = 1e15

// JobNamePrefix starts the name of every job that stands for a pod gang:
// "k8s:<namespace>/<group or pod name>".
const JobNamePrefix = "k8s:"

// gang is the pods of one pod group (or one lone pod).
type gang struct {
	key  string // namespace/group, or namespace/pod for a lone pod
	pods []*corev1.Pod
}

func gangKey(p *corev1.Pod) string {
	if g := p.Labels[PodGroupLabel]; g != "" {
		return p.Namespace + "/" + g
	}
	return p.Namespace + "/pod:" + p.Name
}

// JobName is the job name of a gang key.
func JobName(key string) string { return JobNamePrefix + key }

// accelOf returns the accelerator resource a pod requests and how many; a
// pod asking for a share of a device (k8s.ParseShare) requests one of its
// layer's whole-device resource.
func accelOf(m k8s.Mapping, p *corev1.Pod) (corev1.ResourceName, int, error) {
	req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	if sh, found, err := k8s.ParseShare(req); found {
		if err != nil {
			return "", 0, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		return sh.Names.Whole, 1, nil
	}
	var name corev1.ResourceName
	n := 0
	for r, q := range req {
		if _, ok := m.VendorOf(r); !ok || q.IsZero() {
			continue
		}
		if name != "" {
			return "", 0, fmt.Errorf("pod %s requests two accelerator resources (%s and %s); a gang runs on one model", p.Name, name, r)
		}
		name, n = r, int(q.Value())
	}
	return name, n, nil
}

// specError is a gang Granary cannot turn into a job: its pods wait with
// Message.
type specError struct{ Message string }

func (e *specError) Error() string { return e.Message }

// spec turns a complete gang into a job submission. models are the
// accelerator models each resource name stands for in the cluster.
func spec(m k8s.Mapping, g gang, size int, models map[corev1.ResourceName][]string) (jobs.Spec, error) {
	first := g.pods[0]
	res, per, err := accelOf(m, first)
	if err != nil {
		return jobs.Spec{}, &specError{err.Error()}
	}
	if per == 0 {
		return jobs.Spec{}, &specError{fmt.Sprintf("pod %s requests no accelerator (resources Granary knows: %s)", first.Name, knownResources(m))}
	}
	for _, p := range g.pods[1:] {
		r, n, err := accelOf(m, p)
		if err != nil {
			return jobs.Spec{}, &specError{err.Error()}
		}
		if r != res || n != per {
			return jobs.Spec{}, &specError{fmt.Sprintf("pod group members disagree: %s requests %d %s, %s requests %d %s", first.Name, per, res, p.Name, n, r)}
		}
	}
	for _, a := range []string{ClassAnnotation, ModelAnnotation, PrecisionAnnotation, WorkloadAnnotation, AllowedAnnotation, ForbiddenAnnotation, StepsAnnotation, WeightAnnotation, MinMemberAnnotation} {
		for _, p := range g.pods[1:] {
			if p.Annotations[a] != first.Annotations[a] {
				return jobs.Spec{}, &specError{fmt.Sprintf("pod group members disagree on annotation %s: %s has %q, %s has %q", a, first.Name, first.Annotations[a], p.Name, p.Annotations[a])}
			}
		}
	}
	for _, p := range g.pods[1:] {
		if p.Labels[TeamLabel] != first.Labels[TeamLabel] {
			return jobs.Spec{}, &specError{fmt.Sprintf("pod group members disagree on label %s", TeamLabel)}
		}
	}
	a := first.Annotations
	sp := jobs.Spec{
		Name: JobName(g.key), Team: first.Namespace,
		Class: a[ClassAnnotation], Model: a[ModelAnnotation], Precision: a[PrecisionAnnotation], Workload: a[WorkloadAnnotation],
		Gang: size * per, TotalSteps: UntilDone,
	}
	if t := first.Labels[TeamLabel]; t != "" {
		sp.Team = t
	}
	if v := a[StepsAnnotation]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) {
			return jobs.Spec{}, &specError{fmt.Sprintf("annotation %s=%q: want a number of steps > 0", StepsAnnotation, v)}
		}
		sp.TotalSteps = f
	}
	if v := a[WeightAnnotation]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) {
			return jobs.Spec{}, &specError{fmt.Sprintf("annotation %s=%q: want a weight > 0", WeightAnnotation, v)}
		}
		sp.Weight = f
	}
	// A share of one device (HAMi's names, or Volcano's, Koordinator's):
	// its share, its device memory, and the pod's CPU and memory.
	req := resourcehelper.PodRequests(first, resourcehelper.PodResourcesOptions{})
	if sh, found, _ := k8s.ParseShare(req); found {
		sp.DeviceMilli, sp.DeviceMemoryMiB = sh.Milli, sh.MemoryMiB
		sp.CPUMilli = req.Cpu().MilliValue()
		sp.MemoryMiB = req.Memory().Value() >> 20
	}
	sp.Allowed = list(a[AllowedAnnotation])
	sp.Forbidden = list(a[ForbiddenAnnotation])
	// The resource name restricts the models: nvidia.com/gpu pods run on
	// NVIDIA nodes only, so every model advertised under another name is
	// forbidden.
	if len(models[res]) == 0 {
		return jobs.Spec{}, &specError{fmt.Sprintf("no node of the cluster advertises %s with a known model", res)}
	}
	sp.Forbidden = append(sp.Forbidden, otherModels(models, res)...)
	return sp, nil
}

func otherModels(models map[corev1.ResourceName][]string, res corev1.ResourceName) []string {
	var out []string
	for r, ms := range models {
		if r == res {
			continue
		}
		for _, m := range ms {
			if !slices.Contains(models[res], m) && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func knownResources(m k8s.Mapping) string {
	var rs []string
	for _, v := range m.Vendors {
		rs = append(rs, v.Resources...)
	}
	if len(rs) == 0 {
		for _, v := range k8s.Vendors {
			rs = append(rs, v.Resources...)
		}
	}
	if len(rs) > 6 {
		rs = append(rs[:6], "…")
	}
	return strings.Join(rs, ", ")
}

// size returns how many pods the gang needs before it can run, or why the
// gang is malformed.
func size(g gang) (int, error) {
	first := g.pods[0]
	if first.Labels[PodGroupLabel] == "" {
		return 1, nil
	}
	v := first.Annotations[MinMemberAnnotation]
	if v == "" {
		return 0, &specError{fmt.Sprintf("pod %s has label %s=%s but no annotation %s (the number of pods of the group)", first.Name, PodGroupLabel, first.Labels[PodGroupLabel], MinMemberAnnotation)}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return 0, &specError{fmt.Sprintf("annotation %s=%q: want a whole number of pods from 1 to 10000", MinMemberAnnotation, v)}
	}
	return n, nil
}

// fieldAnnotation names the annotation behind a jobs.Spec field.
var fieldAnnotation = map[string]string{
	"class": ClassAnnotation, "model": ModelAnnotation, "precision": PrecisionAnnotation, "workload": WorkloadAnnotation,
	"allowed": AllowedAnnotation, "forbidden": ForbiddenAnnotation, "total_steps": StepsAnnotation, "weight": WeightAnnotation,
	"team": "label " + TeamLabel + " (or the namespace)", "gang": "the gang (" + MinMemberAnnotation + " × accelerators per pod)",
	"name":         "the pod group name",
	"device_milli": "the pod's share of a device (e.g. nvidia.com/gpucores)", "device_memory_mib": "the pod's device memory (e.g. nvidia.com/gpumem)",
	"cpu_milli": "the pod's cpu request", "memory_mib": "the pod's memory request",
}

// submitMessage turns a rejected submission into the sentence its pods
// show, naming annotations instead of API fields.
func submitMessage(err error) string { return InputMessage(err, fieldAnnotation) }

// InputMessage turns a rejected submission into one sentence, naming each
// field by what the user wrote (fields maps jobs.Spec's JSON field names
// to, e.g., annotations or CRD paths; a field it lacks keeps its name).
func InputMessage(err error, fields map[string]string) string {
	var ies fleet.InputErrors
	if errors.As(err, &ies) {
		var parts []string
		for _, e := range ies {
			f := e.Pos.Field
			if a, ok := fields[f]; ok {
				f = a
			}
			if f == "" {
				parts = append(parts, e.Msg)
				continue
			}
			parts = append(parts, f+": "+e.Msg)
		}
		return strings.Join(parts, "; ")
	}
	var ie *fleet.InputError
	if errors.As(err, &ie) {
		f := ie.Pos.Field
		if a, ok := fields[f]; ok {
			f = a
		}
		return f + ": " + ie.Msg
	}
	return err.Error()
}
