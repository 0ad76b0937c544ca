package jobctl

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// JobNamePrefix starts the store name of every job that stands for a
// GranaryJob: "granaryjob:<namespace>/<name>". It differs from the
// binder's "k8s:" so a GranaryJob and a pod group of one name never meet.
const JobNamePrefix = "granaryjob:"

// JobName is the store name of the job that stands for a GranaryJob.
func JobName(namespace, name string) string { return JobNamePrefix + namespace + "/" + name }

// specError is a GranaryJob Granary cannot submit as written: it stays
// Pending with Message until its spec changes.
type specError struct{ Message string }

func (e *specError) Error() string { return e.Message }

// specFields names jobs.Spec's fields as a GranaryJob spells them.
var specFields = map[string]string{
	"name": "metadata.name", "team": "spec.team", "class": "spec.class", "model": "spec.model",
	"precision": "spec.precision", "workload": "spec.workload", "gang": "spec.gang (pods × acceleratorsPerPod)",
	"allowed": "spec.allowedModels (with the models of the vendors in spec.variants)", "forbidden": "spec.forbiddenModels",
	"device_milli": "spec.share.deviceMilli", "device_memory_mib": "spec.share.deviceMemoryMiB",
	"cpu_milli": "the template's cpu requests", "memory_mib": "the template's memory requests",
}

// jobSpec is the job submission that stands for gj. The job may run only
// on models of the vendors it has a variant for: Allowed is the catalog's
// models of those vendors (within spec.allowedModels when set), so the
// scheduler never places it where no image could run.
func jobSpec(gj *granaryjob.GranaryJob, m k8s.Mapping) (jobs.Spec, error) {
	s := gj.Spec
	sp := jobs.Spec{Name: JobName(gj.Namespace, gj.Name), Team: s.Team, Class: s.Class, Model: s.Model,
		Precision: s.Precision, Workload: s.Workload, Gang: int(s.Gang.Pods) * int(s.Gang.AcceleratorsPerPod),
		TotalSteps: binder.UntilDone, DeviceMilli: s.Share.DeviceMilli, DeviceMemoryMiB: s.Share.DeviceMemoryMiB}
	if len(s.Template.Spec.Containers) > 0 {
		// Every pod of the gang runs the template: the job asks for its
		// requests once per pod (the scheduler counts a node hosting d of
		// the gang's devices ⌈cpu × d / gang⌉, which is its pods' requests).
		req := resourcehelper.PodRequests(&corev1.Pod{Spec: s.Template.Spec}, resourcehelper.PodResourcesOptions{})
		pods := max(int64(s.Gang.Pods), 1)
		sp.CPUMilli, sp.MemoryMiB = pods*req.Cpu().MilliValue(), pods*(req.Memory().Value()>>20)
	}
	if len(s.Variants) == 0 {
		return sp, &specError{"spec.variants: a job needs a variant for at least one vendor"}
	}
	for _, v := range s.Variants {
		if _, ok := vendorNamed(m, v.Vendor); !ok {
			return sp, &specError{fmt.Sprintf("spec.variants: unknown vendor %q (known: %s)", v.Vendor, strings.Join(vendorNames(m), ", "))}
		}
	}
	if len(s.Template.Spec.Containers) == 0 {
		return sp, &specError{"spec.template.spec.containers: the pod template needs a container (the variant fills the first)"}
	}
	for _, c := range append(slices.Clone(s.Template.Spec.InitContainers), s.Template.Spec.Containers...) {
		for r := range c.Resources.Requests {
			if _, ok := m.VendorOf(r); ok {
				return sp, &specError{fmt.Sprintf("spec.template: container %s requests %s; leave accelerators out of the template (they come from spec.gang and the vendor Granary places the job on)", c.Name, r)}
			}
		}
		for r := range c.Resources.Limits {
			if _, ok := m.VendorOf(r); ok {
				return sp, &specError{fmt.Sprintf("spec.template: container %s limits %s; leave accelerators out of the template (they come from spec.gang and the vendor Granary places the job on)", c.Name, r)}
			}
		}
	}
	allowed, err := resolve(m, "spec.allowedModels", s.AllowedModels)
	if err != nil {
		return sp, err
	}
	if sp.Forbidden, err = resolve(m, "spec.forbiddenModels", s.ForbiddenModels); err != nil {
		return sp, err
	}
	for _, c := range m.Catalog.All() {
		if len(allowed) > 0 && !slices.Contains(allowed, c.ID) {
			continue
		}
		if v, ok := m.VendorOfModel(c.ID); ok && variantFor(gj, v.Name) != nil {
			if _, names := k8s.ShareOf(v.Name, c.ID); sp.DeviceMilli != 0 && !names {
				continue // no sharing names Granary can write for this vendor
			}
			sp.Allowed = append(sp.Allowed, c.ID)
		}
	}
	if len(sp.Allowed) == 0 {
		return sp, &specError{fmt.Sprintf("spec.allowedModels: none of %s is of a vendor spec.variants has a variant for (%s)",
			strings.Join(s.AllowedModels, ", "), strings.Join(variantVendors(gj), ", "))}
	}
	slices.Sort(sp.Allowed)
	return sp, nil
}

// resolve turns model names into catalog ids, sorted.
func resolve(m k8s.Mapping, field string, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		c, err := m.Catalog.Resolve(n)
		if err != nil {
			return nil, &specError{fmt.Sprintf("%s: %v", field, err)}
		}
		if !slices.Contains(out, c.ID) {
			out = append(out, c.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}

// variantFor returns gj's variant for a vendor (names compare
// case-insensitively), or nil.
func variantFor(gj *granaryjob.GranaryJob, vendor string) *granaryjob.Variant {
	for i := range gj.Spec.Variants {
		if strings.EqualFold(gj.Spec.Variants[i].Vendor, vendor) {
			return &gj.Spec.Variants[i]
		}
	}
	return nil
}

func variantVendors(gj *granaryjob.GranaryJob) []string {
	var out []string
	for _, v := range gj.Spec.Variants {
		out = append(out, v.Vendor)
	}
	return out
}

func vendorNamed(m k8s.Mapping, name string) (k8s.Vendor, bool) {
	for _, v := range m.AllVendors() {
		if strings.EqualFold(v.Name, name) {
			return v, true
		}
	}
	return k8s.Vendor{}, false
}

func vendorNames(m k8s.Mapping) []string {
	vs := m.AllVendors()
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

// sameSpec reports whether the stored job j was submitted from sp (as
// jobSpec builds it): a GranaryJob whose spec changed in any of these is
// resubmitted.
func sameSpec(j *jobs.Job, sp jobs.Spec) bool {
	return j.Team == sp.Team && j.Gang == sp.Gang && j.DeviceMilli == sp.DeviceMilli && j.DeviceMemoryMiB == sp.DeviceMemoryMiB && slices.Equal(j.Allowed, sp.Allowed) && slices.Equal(j.Forbidden, sp.Forbidden) &&
		(sp.Class == "" || j.Class == sp.Class) && strings.EqualFold(j.Model, sp.Model) &&
		(sp.Precision == "" || j.Precision == sp.Precision) && (sp.Workload == "" || j.Workload == sp.Workload)
}

// Pairable is what space sharing (a *-packed policy's pairs) may pair on
// Kubernetes (jobs.PlannerConfig.Pairable): GranaryJobs of one device —
// their pods are Granary's to write, so each asks for its device in the
// vendor's sharing names (k8s.ShareNames.PairRequests) — on models whose
// vendor has sharing names Granary writes (k8s.ShareOf). Pod gangs are
// never paired (their pods' requests are their own controller's, a whole
// device each), nor API jobs, which nothing runs on a cluster, nor gangs
// of several devices, nor shares.
func Pairable(m k8s.Mapping) *jobs.PairLimit {
	return &jobs.PairLimit{
		Job: func(j *jobs.Job) bool {
			return strings.HasPrefix(j.Name, JobNamePrefix) && j.Gang == 1 && j.DeviceMilli == 0
		},
		Model: func(model string) bool { _, ok := PairNames(m, model); return ok },
	}
}

// PairNames returns the sharing names a pair on model is written in, and
// false when its vendor has none (Ascend, Kunlunxin, …: such pairs are
// kept out of the plan).
func PairNames(m k8s.Mapping, model string) (k8s.ShareNames, bool) {
	v, ok := m.VendorOfModel(model)
	if !ok {
		return k8s.ShareNames{}, false
	}
	return k8s.ShareOf(v.Name, model)
}
