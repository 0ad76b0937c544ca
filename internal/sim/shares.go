package sim

import (
	"fmt"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

// Jobs that ask for a share of one device (Job.Milli) run through the
// same pipeline as in the live loop: the policy does not see them; the
// pack stage for shares (sched's fraction.go) puts each on a device with
// Config.Sharer, keeps it there while it runs (the snapshot says which
// device it holds, as the live loop's store does), and refuses it where
// its device memory or its node's CPU and memory are used up (nodes with
// those figures: Config.Nodes). A share runs at Milli/1000 of its class's
// one-device throughput on the model it is placed on, and keeps that much
// of the device busy: four shares of 250 on one device take as long as
// the four jobs would one after the other on the whole device, and the
// device is as busy.

// shareRate is the steps per second of job j at throughput v (its class's
// on one device, for a share): Milli/1000 of it for a share, all of it
// otherwise.
func shareRate(j *Job, v float64) float64 {
	if j.Milli > 0 {
		return v * float64(j.Milli) / 1000
	}
	return v
}

// devicesOf is how many devices job j keeps busy while it runs: its gang,
// or Milli/1000 of one for a share.
func devicesOf(j *Job) float64 {
	if j.Milli > 0 {
		return float64(j.Milli) / 1000
	}
	return float64(j.Gang)
}

// checkShare refuses a share the live job spec would refuse (jobs.Check):
// Milli 1..999 with Gang 1, DevMem only with Milli, nothing negative.
func checkShare(j *Job) error {
	bad := func(field, msg string) error {
		return &JobError{Job: j.ID, Field: field, Msg: msg, Kind: fleet.ErrInvalid}
	}
	switch {
	case j.Milli < 0 || j.Milli >= 1000:
		return bad("device_milli", fmt.Sprintf("must be between 1 and 999 thousandths of a device (0: whole devices), got %d", j.Milli))
	case j.Milli > 0 && j.Gang != 1:
		return bad("device_milli", fmt.Sprintf("a share of a device is one device's: gang must be 1, got %d", j.Gang))
	case j.DevMem < 0 || (j.DevMem > 0 && j.Milli == 0):
		return bad("device_memory_mib", fmt.Sprintf("must be ≥ 0 and only with a share of a device, got %d", j.DevMem))
	case j.CPU < 0:
		return bad("cpu_milli", fmt.Sprintf("must be ≥ 0, got %d", j.CPU))
	case j.Mem < 0:
		return bad("memory_mib", fmt.Sprintf("must be ≥ 0, got %d", j.Mem))
	}
	return nil
}

// shareRunnable returns "" for a job that is not a share, or a share that
// some node of a model it runs on can hold when empty (its CPU, memory
// and device memory, where the nodes have those figures), else
// sched.ReasonNoShareRoom: it would wait for ever. A share without a
// Config.Sharer is an error.
func (s *simulation) shareRunnable(j *Job) (sched.Reason, error) {
	if j.Milli == 0 {
		return "", nil
	}
	if s.cfg.Sharer == nil {
		return "", &JobError{Job: j.ID, Field: "device_milli", Kind: fleet.ErrInvalid,
			Msg: "a share of a device needs a packer (sim.Config.Sharer)"}
	}
	if s.cfg.Nodes == nil {
		return "", nil
	}
	for _, n := range s.cfg.Nodes {
		if v, _ := s.tp.Lookup(j.Class, 1, n.Model); v <= 0 || n.Devices < 1 {
			continue
		}
		if (n.CPU == 0 || j.CPU <= n.CPU) && (n.Mem == 0 || j.Mem <= n.Mem) && (n.DevMem == 0 || j.DevMem <= n.DevMem) {
			return "", nil
		}
	}
	return sched.ReasonNoShareRoom, nil
}

// shareHeld is the device a share ran on in the round just planned, which
// it holds into the next (the pack stage keeps it there while it fits);
// nil for other jobs. Since is its first start.
func (s *simulation) shareHeld(j *jobState) *sched.Held {
	if j.Milli == 0 || !j.started || j.lastRound != s.res.Rounds || len(j.lastDevs) != 1 {
		return nil
	}
	return &sched.Held{Model: j.lastModel, Devices: j.lastDevs, Since: j.start}
}
