// Package share places fractional and multi-resource requests on nodes that
// have CPU, memory and devices, and compares packing policies on how much of
// a fleet they leave stranded in slivers no request can use.
//
// A Request asks for whole devices (a gang of Devices devices, Milli 1000
// each) or a share of one device (Devices 1, Milli below 1000, optionally
// device memory), plus CPU and memory on the node, and may restrict the
// device models it accepts. A Cluster holds the nodes and what is left of
// each; Assign and Release keep it consistent (resource conservation is
// property-tested).
//
// A Packer chooses a Placement (node and device indices) for one request on
// a snapshot of the Cluster; it never changes the Cluster. The policies of
// Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads
// with Fragmentation Gradient Descent" (USENIX ATC 2023) are implemented
// with the semantics of their simulator (hkust-adsl/kubernetes-scheduler-
// simulator, read for reference, not copied): random, dot-product,
// gpu-clustering, gpu-packing, best-fit and fgd, including its integer node
// scores and its tie-break (the first node of a random order fixed per
// run). Granary's own packer ("granary") adds to FGD's measure the CPU
// that a node's wholly free devices will need, so that CPU-heavy and
// CPU-only requests do not strand whole devices; docs/sharing.md compares
// them all on Alibaba's openb trace.
//
// Experiment reproduces the paper's evaluation: requests arrive (the
// workload inflated with seeded random copies) until the cluster is full,
// each placed or failed, and the allocation rate and fragmentation are
// recorded per 1 % of capacity arrived. With Setup.PreemptBE
// (RunPreempting, preempt.go) a request that is not Preemptible and fits
// nowhere evicts the cheapest set of Preemptible ones (openb's qos BE) on
// one node that lets it fit, only when that raises the allocated device
// capacity; the evicted are placed again where they fit, or fail. Told of
// it (Options.PreemptBE), Granary's packer counts the CPU of preemptible
// CPU-only requests as free.
//
// # Plugging into the scheduling pipeline
//
// The scheduler's pipeline (internal/sched) filters and ranks nodes for a
// job. A stage that places a fractional or multi-resource request declares
// the one method it needs,
//
//	type placer interface {
//		Place(c *share.Cluster, r share.Request) (share.Placement, bool)
//	}
//
// builds a Cluster from its snapshot (NewCluster, then Assign for every
// running allocation), calls Place for the pending request and Assign with
// the result. The package is pure: no I/O, no clock; randomness comes in as
// a seeded *rand.Rand.
package share
