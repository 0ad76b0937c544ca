package jobctl

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// The labels every pod of a GranaryJob carries (besides
// granaryjob.UIDLabel and the template's own).
const (
	JobIDLabel   = "granary.io/job-id"  // the store job's id
	AttemptLabel = "granary.io/attempt" // the job's restarts when the pod was made
	RankLabel    = "granary.io/rank"
	ModelLabel   = "granary.io/model" // the accelerator model (catalog id) it runs on
)

// The checkpoint contract: environment variables of every pod's
// containers (docs/kubernetes.md, "Checkpoint contract").
const (
	EnvJob           = "GRANARY_JOB"         // namespace/name of the GranaryJob
	EnvJobID         = "GRANARY_JOB_ID"      // the store job's id
	EnvModel         = "GRANARY_MODEL"       // catalog id of the accelerator model, e.g. h800-sxm5-80gb
	EnvVendor        = "GRANARY_VENDOR"      // the variant's vendor, e.g. NVIDIA
	EnvResource      = "GRANARY_ACCELERATOR" // the accelerator resource name, e.g. nvidia.com/gpu
	EnvPerPod        = "GRANARY_ACCELERATORS_PER_POD"
	EnvRank          = "GRANARY_RANK"           // this pod's rank in the gang, 0 … pods-1
	EnvGangPods      = "GRANARY_GANG_PODS"      // pods in the gang
	EnvWorldSize     = "GRANARY_WORLD_SIZE"     // accelerators in the gang (pods × per pod)
	EnvRestart       = "GRANARY_RESTART"        // restarts before this start (0 on the first)
	EnvCheckpointDir = "GRANARY_CHECKPOINT_DIR" // where to save and resume
	EnvRank0Pod      = "GRANARY_RANK0_POD"      // name of the rank-0 pod (the rendezvous)
)

// DefaultCheckpointRoot is where GRANARY_CHECKPOINT_DIR points unless the
// template's first container sets it: <root>/<namespace>/<name>.
const DefaultCheckpointRoot = "/checkpoints"

// attempt is one start of a GranaryJob: where each rank runs.
type attempt struct {
	JobID    string
	Restarts int32  // the job's restarts: names the attempt
	Model    string // catalog id
	Previous string // model of the previous start as the status last said, "" on the first
	Vendor   k8s.Vendor
	Resource corev1.ResourceName
	Nodes    []string // node of each rank
	// Milli and MemoryMiB are, for a share of one device, the share and
	// the device memory its pod requests in the vendor's sharing names.
	Milli, MemoryMiB int64
	// With is, for one job of a pair (space sharing), the partner's job
	// id: the pod asks for its device in the vendor's sharing names with
	// MemoryMiB (half the device's) and no compute share
	// (k8s.ShareNames.PairRequests), labelled k8s.PairLabel.
	With string
	// HAMi is, for a share or a pair member on a node whose HAMi device
	// plugin registered its GPUs, the GPU of the placement's device: the
	// pod carries HAMi's device assignment (k8s.HAMiDevice.Annotations)
	// made at Now.
	HAMi *k8s.HAMiDevice
	Now  time.Time
}

// podName is the name of one rank's pod in one attempt.
func podName(gj *granaryjob.GranaryJob, restarts int32, rank int) string {
	return fmt.Sprintf("%s-%d-%d", gj.Name, restarts, rank)
}

// buildPods makes the pods of an attempt from the template and the vendor's
// variant: image, command, args, env and extra resources on the first
// container; the accelerator resource × per-pod count on it (requests and
// limits); the checkpoint contract's env on every container; spec.nodeName
// set to the rank's node; owned by gj.
func buildPods(gj *granaryjob.GranaryJob, a attempt) ([]*corev1.Pod, error) {
	v := variantFor(gj, a.Vendor.Name)
	if v == nil {
		return nil, &specError{fmt.Sprintf("spec.variants has no %s variant, and the job was placed on %s", a.Vendor.Name, a.Model)}
	}
	if len(gj.Spec.Template.Spec.Containers) == 0 {
		return nil, &specError{"spec.template.spec.containers: the pod template needs a container (the variant fills the first)"}
	}
	if int(gj.Spec.Gang.Pods) != len(a.Nodes) {
		return nil, fmt.Errorf("jobctl: %d nodes for a gang of %d pods", len(a.Nodes), gj.Spec.Gang.Pods)
	}
	pods := make([]*corev1.Pod, len(a.Nodes))
	for rank, node := range a.Nodes {
		p := &corev1.Pod{ObjectMeta: *gj.Spec.Template.ObjectMeta.DeepCopy(), Spec: *gj.Spec.Template.Spec.DeepCopy()}
		p.Name, p.Namespace, p.GenerateName = podName(gj, a.Restarts, rank), gj.Namespace, ""
		p.Labels = with(p.Labels, map[string]string{granaryjob.UIDLabel: string(gj.UID), JobIDLabel: a.JobID,
			AttemptLabel: strconv.Itoa(int(a.Restarts)), RankLabel: strconv.Itoa(rank), ModelLabel: a.Model})
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(gj, granaryjob.GroupVersion.WithKind("GranaryJob"))}
		p.Spec.SchedulerName = binder.SchedulerName
		p.Spec.NodeName = node
		c := &p.Spec.Containers[0]
		c.Image = v.Image
		if len(v.Command) > 0 {
			c.Command = slices.Clone(v.Command)
		}
		if len(v.Args) > 0 {
			c.Args = slices.Clone(v.Args)
		}
		c.Env = append(c.Env, v.Env...)
		switch {
		case a.With != "":
			names, ok := k8s.ShareOf(a.Vendor.Name, a.Model)
			if !ok || len(a.Nodes) != 1 || gj.Spec.Gang.AcceleratorsPerPod != 1 {
				return nil, &specError{fmt.Sprintf("placed to share its device with job %s, but Granary shares only one %s device of one pod (%d × %d) in sharing names (docs/kubernetes.md, \"Space sharing\")",
					a.With, a.Vendor.Name, gj.Spec.Gang.Pods, gj.Spec.Gang.AcceleratorsPerPod)}
			}
			p.Labels[k8s.PairLabel] = a.With
			for r, q := range names.PairRequests(a.MemoryMiB) {
				setRequest(c, r, q)
			}
			if a.HAMi != nil { // half the memory, no compute cap
				p.Annotations = with(p.Annotations, a.HAMi.Annotations(p, 0, node, a.MemoryMiB, 0, a.Now))
			}
		case a.Milli > 0:
			names, ok := k8s.ShareOf(a.Vendor.Name, a.Model)
			if !ok {
				return nil, &specError{fmt.Sprintf("spec.share: Granary writes no share of a %s device (docs/sharing.md lists the vendors)", a.Vendor.Name)}
			}
			for r, q := range names.Requests(a.Milli, a.MemoryMiB) {
				setRequest(c, r, q)
			}
			if a.HAMi != nil {
				p.Annotations = with(p.Annotations, a.HAMi.Annotations(p, 0, node, a.MemoryMiB, names.CoreUnits(a.Milli), a.Now))
			}
		default:
			setRequest(c, a.Resource, *resource.NewQuantity(int64(gj.Spec.Gang.AcceleratorsPerPod), resource.DecimalSI))
		}
		for r, q := range v.Resources {
			setRequest(c, r, q)
		}
		contract := contractEnv(gj, a, rank)
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Env = withEnv(p.Spec.Containers[i].Env, contract)
		}
		pods[rank] = p
	}
	return pods, nil
}

// setRequest requests q of r; extended resources (accelerators, rdma/hca)
// get the same limit, as Kubernetes requires.
func setRequest(c *corev1.Container, r corev1.ResourceName, q resource.Quantity) {
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	c.Resources.Requests[r] = q
	if r != corev1.ResourceCPU && r != corev1.ResourceMemory && r != corev1.ResourceEphemeralStorage {
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		c.Resources.Limits[r] = q
	}
}

// contractEnv is the checkpoint contract of one rank.
func contractEnv(gj *granaryjob.GranaryJob, a attempt, rank int) []corev1.EnvVar {
	dir := DefaultCheckpointRoot + "/" + gj.Namespace + "/" + gj.Name
	for _, e := range gj.Spec.Template.Spec.Containers[0].Env {
		if e.Name == EnvCheckpointDir && e.Value != "" {
			dir = e.Value
		}
	}
	return []corev1.EnvVar{
		{Name: EnvJob, Value: gj.Namespace + "/" + gj.Name},
		{Name: EnvJobID, Value: a.JobID},
		{Name: EnvModel, Value: a.Model},
		{Name: EnvVendor, Value: a.Vendor.Name},
		{Name: EnvResource, Value: string(a.Resource)},
		{Name: EnvPerPod, Value: strconv.Itoa(int(gj.Spec.Gang.AcceleratorsPerPod))},
		{Name: EnvRank, Value: strconv.Itoa(rank)},
		{Name: EnvGangPods, Value: strconv.Itoa(int(gj.Spec.Gang.Pods))},
		{Name: EnvWorldSize, Value: strconv.Itoa(int(gj.Spec.Gang.Pods * gj.Spec.Gang.AcceleratorsPerPod))},
		{Name: EnvRestart, Value: strconv.Itoa(int(a.Restarts))},
		{Name: EnvCheckpointDir, Value: dir},
		{Name: EnvRank0Pod, Value: podName(gj, a.Restarts, 0)},
	}
}

// withEnv sets each of set in env, replacing a variable of the same name.
func withEnv(env, set []corev1.EnvVar) []corev1.EnvVar {
	out := slices.DeleteFunc(slices.Clone(env), func(e corev1.EnvVar) bool {
		return slices.ContainsFunc(set, func(s corev1.EnvVar) bool { return s.Name == e.Name })
	})
	return append(out, set...)
}

func with(m, add map[string]string) map[string]string {
	out := make(map[string]string, len(m)+len(add))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range add {
		out[k] = v
	}
	return out
}

// rankNodes spreads a placement's devices over the gang's ranks: each node
// takes (its devices ÷ per pod) ranks; the ranks left go, one each, to the
// nodes with the most devices left over (ties in name order) — the planner
// counts devices, not pods, so a node may hold 6 of a gang's 8-device pod
// and another 10; the fit check then judges whether the node has room.
// Ranks are in node name order, so ranks of one node are neighbours.
func rankNodes(devices []string, serialNode map[string]string, per, pods int) ([]string, error) {
	if len(devices) != per*pods {
		return nil, fmt.Errorf("the placement has %d devices, not %d pods × %d", len(devices), pods, per)
	}
	count := map[string]int{}
	for _, s := range devices {
		n, ok := serialNode[s]
		if !ok || n == "" {
			return nil, fmt.Errorf("device %s of the placement is on no known node", s)
		}
		count[n]++
	}
	nodes := sortedKeys(count)
	ranks := map[string]int{}
	placed := 0
	for _, n := range nodes {
		ranks[n] = count[n] / per
		placed += ranks[n]
	}
	left := slices.Clone(nodes)
	slices.SortStableFunc(left, func(a, b string) int { return count[b]%per - count[a]%per })
	for _, n := range left[:pods-placed] {
		ranks[n]++
	}
	var out []string
	for _, n := range nodes {
		for range ranks[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
