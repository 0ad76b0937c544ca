// Package granaryjob holds the Go types of the GranaryJob custom resource
// (granary.io/v1alpha1), mirroring the hand-written CRD in
// deploy/kubernetes/crd-granaryjobs.yaml: a gang of pods that Granary may
// place on any accelerator vendor the job has a variant for. Only the types
// and the scheme live here; the controller that turns a job into pods is
// internal/k8s/jobctl (docs/kubernetes.md, "GranaryJob (CRD)").
package granaryjob

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is granary.io/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "granary.io", Version: "v1alpha1"}

// AddToScheme registers GranaryJob and GranaryJobList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &GranaryJob{}, &GranaryJobList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// GranaryJob is one job: a pod template, a gang, and a variant per vendor.
type GranaryJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              Spec   `json:"spec"`
	Status            Status `json:"status,omitempty"`
}

// GranaryJobList is a list of GranaryJobs.
type GranaryJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GranaryJob `json:"items"`
}

// UIDLabel marks every pod the controller creates for a GranaryJob, with
// the job's UID (a name may be longer than a label value). The binder
// leaves these pods alone: they are created on their nodes.
const UIDLabel = "granary.io/granaryjob-uid"

// Spec is what the user asks for. Either Class, or Model (+ Precision +
// Workload) as in jobs.Spec.
type Spec struct {
	// Template is the pod template of every pod of the gang; the chosen
	// vendor's variant fills its first container.
	Template corev1.PodTemplateSpec `json:"template"`
	Gang     Gang                   `json:"gang"`
	// Share, when set, asks for a share of one device instead of whole
	// devices (gang 1 × 1; docs/sharing.md): its pod requests the
	// vendor's sharing names (k8s.Shares) instead of the whole device.
	Share Share  `json:"share,omitzero"`
	Team  string `json:"team"`
	// Class is a job class of the loaded throughput table.
	Class string `json:"class,omitempty"`
	// Model is a models catalog name (e.g. Llama-3-8B); Precision is bf16
	// and Workload train when unset.
	Model     string `json:"model,omitempty"`
	Precision string `json:"precision,omitempty"`
	Workload  string `json:"workload,omitempty"`
	// AllowedModels, when set, restricts the job to these accelerator
	// models (catalog ids); ForbiddenModels excludes models.
	AllowedModels   []string `json:"allowedModels,omitempty"`
	ForbiddenModels []string `json:"forbiddenModels,omitempty"`
	// Variants: one per vendor the job can run on.
	Variants []Variant `json:"variants"`
}

// Gang is pods × accelerators per pod, all of one accelerator model.
type Gang struct {
	Pods               int32 `json:"pods"`
	AcceleratorsPerPod int32 `json:"acceleratorsPerPod"`
}

// Share is a share of one device: DeviceMilli thousandths of it (1–999)
// and optionally DeviceMemoryMiB of its memory.
type Share struct {
	DeviceMilli     int64 `json:"deviceMilli,omitempty"`
	DeviceMemoryMiB int64 `json:"deviceMemoryMiB,omitempty"`
}

// Variant is how the job runs on one vendor's accelerators. The
// accelerator resource name and count are not here: they come from the
// catalog's Kubernetes mapping (k8s.Vendors) and the gang.
type Variant struct {
	Vendor  string          `json:"vendor"` // a k8s.Vendors name
	Image   string          `json:"image"`
	Command []string        `json:"command,omitempty"`
	Args    []string        `json:"args,omitempty"`
	Env     []corev1.EnvVar `json:"env,omitempty"`
	// Resources are extra requests per pod on this vendor.
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// Status is what the scheduler decided.
type Status struct {
	Phase Phase `json:"phase,omitempty"`
	// Model is the accelerator model (catalog id) the job runs on, Nodes
	// its nodes.
	Model string   `json:"model,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Reason is the stable code of the last decision (jobs.Code), Message
	// its sentence.
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	Restarts int32  `json:"restarts,omitempty"`
	// JobID is the id of the job in Granary's store that stands for this
	// GranaryJob (the store is the one source of truth; see
	// docs/kubernetes.md).
	JobID              string             `json:"jobID,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
}

// Phase is the job's life-cycle phase (jobs.State, capitalized as the
// Kubernetes API conventions ask).
type Phase string

// The phases.
const (
	Pending   Phase = "Pending"
	Running   Phase = "Running"
	Preempted Phase = "Preempted"
	Completed Phase = "Completed"
	Failed    Phase = "Failed"
	Cancelled Phase = "Cancelled"
)
