package trace

// Bounds of a trace, checked by every reader with an error naming the
// line, the field and the limit. They keep a simulation's size and virtual
// time finite and meaningful: the longest public traces (Philly, Helios)
// span months and hold up to ~10^6 jobs.
const (
	MaxJobs           = 1_000_000
	MaxArrivalSeconds = 10 * 365 * 24 * 3600 // 10 years
	MaxSteps          = 1e15
	MaxGang           = 1 << 20
	MaxWeight         = 1e6
	MaxSLO            = 1e6
	// A share's and a job's node resources, as the live job spec bounds
	// them (jobs.MaxDeviceMemoryMiB, MaxCPUMilli, MaxMemoryMiB).
	MaxDeviceMemoryMiB = 1 << 24 // 16 TiB
	MaxCPUMilli        = 1 << 30 // a million cores
	MaxMemoryMiB       = 1 << 34 // 16 PiB
)

// Job is one job of a trace.
type Job struct {
	// ID is the job's index in the trace, 0-based (for Gavel traces, the
	// line number counted from 0, as Gavel numbers jobs).
	ID int `json:"id"`
	// Name is an optional label (JSONL "name").
	Name string `json:"name,omitempty"`
	// Team is the job's team (JSONL "team"); "" is none.
	Team string `json:"team,omitempty"`
	// Arrival is the submission time in seconds from the start of the trace.
	Arrival float64 `json:"arrival_s"`
	// Class is the job class: the key into the throughput table together
	// with Gang (Gavel's job_type, e.g. "ResNet-50 (batch size 64)").
	Class string `json:"class"`
	// Gang is the number of accelerators the job needs at once, all of one
	// model (Gavel's scale_factor), ≥ 1.
	Gang int `json:"gang"`
	// Steps is the job's length in training steps of the whole gang
	// (Gavel's total_steps), > 0.
	Steps float64 `json:"steps"`
	// Weight is the priority weight (default 1), > 0.
	Weight float64 `json:"weight"`
	// SLO is Gavel's SLO factor; 0 means none.
	SLO float64 `json:"slo,omitempty"`
	// DeviceMilli, when 1–999, asks for that share of one device in
	// thousandths (250 = a quarter) instead of whole devices, with Gang 1
	// (docs/sharing.md); 0 is whole devices. DeviceMemoryMiB is the device
	// memory the share needs (0: not constrained; only with DeviceMilli).
	// CPUMilli (milli-cores) and MemoryMiB are what any job needs of its
	// node besides devices (0: nothing). The field names are the live job
	// spec's (jobs.Spec).
	DeviceMilli     int64 `json:"device_milli,omitempty"`
	DeviceMemoryMiB int64 `json:"device_memory_mib,omitempty"`
	CPUMilli        int64 `json:"cpu_milli,omitempty"`
	MemoryMiB       int64 `json:"memory_mib,omitempty"`
	// Line is the 1-based line of the job in its source file (0 when
	// generated); it is not written out.
	Line int `json:"-"`
}
