package simcmd

import (
	"fmt"
	"math/rand/v2"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/trace"
)

// newSharer builds the --share-packer called name, its ties broken by a
// stream seeded with seed, measuring fragmentation (fgd, granary) against
// target; an unknown name is a usage error listing the packers.
func newSharer(name string, seed uint64, target []share.Shape) (sched.Sharer, error) {
	p, err := share.New(name, share.Options{Rand: rand.New(rand.NewPCG(seed, 4)), Target: target})
	if err != nil {
		return nil, console.UsageError{Err: fmt.Errorf("--share-packer: %w", err)}
	}
	return p, nil
}

// sharerFor builds one simulation's packer (packers keep state) when the
// trace has shares, else nil. Its target is the trace's own request
// shapes (share.TargetShapes at the artifact's 95 % popularity): every
// job as a request for its share or its gang of whole devices, with its
// CPU and memory.
func sharerFor(o *options, in *inputs) (sched.Sharer, error) {
	var reqs []share.Request
	shares := false
	for _, j := range in.jobs {
		reqs = append(reqs, shareRequest(j))
		shares = shares || j.DeviceMilli > 0
	}
	if !shares {
		return nil, nil
	}
	return newSharer(o.sharePacker, o.seed, share.TargetShapes(reqs, 0.95))
}

// shareRequest is trace job j as the packers see it.
func shareRequest(j trace.Job) share.Request {
	r := share.Request{Devices: j.Gang, Milli: share.MilliPerDevice, CPU: j.CPUMilli, Mem: j.MemoryMiB}
	if j.DeviceMilli > 0 {
		r.Milli, r.DevMem = j.DeviceMilli, j.DeviceMemoryMiB
	}
	return r
}
