package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/share"
)

func sharer(t testing.TB, seed uint64) sched.Sharer {
	t.Helper()
	p, err := share.New(share.Granary, share.Options{Rand: rand.New(rand.NewPCG(seed, 2)),
		Target: []share.Shape{{Req: share.Request{Devices: 1, Milli: 250}, Freq: 0.5}, {Req: share.Request{Devices: 1, Milli: 1000}, Freq: 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func completions(res *Result) map[int]float64 {
	out := map[int]float64{}
	for _, j := range res.Jobs {
		out[j.ID] = j.Completion
	}
	return out
}

// Four jobs of a quarter of a device, each of 900 steps at 1 step/s on a
// whole device, share the one device: each runs at 0.25 step/s, 90 steps
// a 360-s round, and all four finish at 3,600 s — when the same four jobs
// asking for whole devices finish one after the other (900, 1,800, 2,700,
// 3,600 s). The device is busy the whole time either way.
func TestFourQuartersShareOneDevice(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: v100, StepsPerSecond: 1})
	var quarters, wholes []Job
	for i := range 4 {
		quarters = append(quarters, Job{ID: i, Class: "c", Gang: 1, Steps: 900, Milli: 250})
		wholes = append(wholes, Job{ID: i, Class: "c", Gang: 1, Steps: 900})
	}
	for _, nodes := range [][]sched.Node{nil, {{ID: "n1", Model: v100, Devices: 1}}} {
		cfg := Config{Fleet: map[string]int{v100: 1}, Nodes: nodes, Sharer: sharer(t, 1)}
		res, err := Run(policy(t, sched.LASHetero), tp, quarters, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for id, c := range completions(res) {
			if math.Abs(c-3600) > 1e-6 {
				t.Errorf("nodes %v: quarter %d finished at %v s, want 3600", nodes, id, c)
			}
		}
		if len(res.Jobs) != 4 || math.Abs(res.Summary.Utilization-1) > 1e-9 || math.Abs(res.Summary.Makespan-3600) > 1e-6 {
			t.Errorf("nodes %v: %d jobs, utilization %v, makespan %v; want 4, 1, 3600", nodes, len(res.Jobs), res.Summary.Utilization, res.Summary.Makespan)
		}
	}
	res, err := Run(policy(t, sched.LASHetero), tp, wholes, Config{Fleet: map[string]int{v100: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, j := range res.Jobs {
		got = append(got, j.Completion)
	}
	if len(got) != 4 || math.Abs(res.Summary.Makespan-3600) > 1e-6 || math.Abs(res.Summary.Utilization-1) > 1e-9 {
		t.Errorf("whole-device jobs: completions %v, utilization %v; want the last at 3600 and 1", got, res.Summary.Utilization)
	}
}

// A node's CPU bounds the shares on it: on a node of 8 cores and one
// device, three quarter shares asking 3 cores each cannot all run; two
// finish at 3,600 s, the third starts then and finishes at 7,200 s.
// Without the node's CPU all three finish at 3,600 s.
func TestSharesWaitForNodeCPU(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: v100, StepsPerSecond: 1})
	var jobs []Job
	for i := range 3 {
		jobs = append(jobs, Job{ID: i, Class: "c", Gang: 1, Steps: 900, Milli: 250, CPU: 3000})
	}
	for _, tc := range []struct {
		cpu  int64
		want []float64
	}{{8000, []float64{3600, 3600, 7200}}, {0, []float64{3600, 3600, 3600}}} {
		cfg := Config{Fleet: map[string]int{v100: 1}, Nodes: []sched.Node{{ID: "n1", Model: v100, Devices: 1, CPU: tc.cpu}}, Sharer: sharer(t, 1)}
		res, err := Run(policy(t, sched.LASHetero), tp, jobs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := completions(res)
		for id, w := range tc.want {
			if math.Abs(c[id]-w) > 1e-6 {
				t.Errorf("node CPU %d: job %d finished at %v s, want %v", tc.cpu, id, c[id], w)
			}
		}
	}
	// A share no node can ever hold is unrunnable, not a stuck run.
	big := []Job{{ID: 0, Class: "c", Gang: 1, Steps: 900, Milli: 250, CPU: 9000}}
	res, err := Run(policy(t, sched.LASHetero), tp, big, Config{Fleet: map[string]int{v100: 1},
		Nodes: []sched.Node{{ID: "n1", Model: v100, Devices: 1, CPU: 8000}}, Sharer: sharer(t, 1)})
	if err != nil || len(res.Unrunnable) != 1 || res.Unrunnable[0].Reason != sched.ReasonNoShareRoom {
		t.Errorf("a share of 9 cores on an 8-core node: %+v, %v; want unrunnable (no-share-room)", res, err)
	}
}

// Shares are refused as the live job spec refuses them, and a trace with
// shares needs a packer.
func TestShareInputErrors(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: v100, StepsPerSecond: 1}, sched.ThroughputEntry{Class: "c", Gang: 2, Model: v100, StepsPerSecond: 2})
	for _, tc := range []struct {
		j     Job
		field string
		noSh  bool
	}{
		{Job{Class: "c", Gang: 1, Steps: 1, Milli: 1000}, "device_milli", false},
		{Job{Class: "c", Gang: 1, Steps: 1, Milli: -5}, "device_milli", false},
		{Job{Class: "c", Gang: 2, Steps: 1, Milli: 500}, "device_milli", false},
		{Job{Class: "c", Gang: 1, Steps: 1, DevMem: 1024}, "device_memory_mib", false},
		{Job{Class: "c", Gang: 1, Steps: 1, Milli: 500, CPU: -1}, "cpu_milli", false},
		{Job{Class: "c", Gang: 1, Steps: 1, Milli: 500}, "device_milli", true},
	} {
		cfg := Config{Fleet: map[string]int{v100: 2}, Sharer: sharer(t, 1)}
		if tc.noSh {
			cfg.Sharer = nil
		}
		_, err := Run(policy(t, sched.LASHetero), tp, []Job{tc.j}, cfg)
		var je *JobError
		if !errors.As(err, &je) || je.Field != tc.field || !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%+v (packer %v): %v, want a JobError on %s", tc.j, !tc.noSh, err, tc.field)
		}
	}
}

// Oracle: on random traces of shares and whole-device jobs (one model, so
// a job's rate is fixed), every job finishes no sooner than its work at
// its rate allows, no round keeps more devices busy than the fleet has,
// and the fleet's busy device-seconds are the naive sum of the work:
// steps ÷ one-device throughput for a share (it runs at milli/1000 of it
// and holds milli/1000 of a device), steps ÷ gang throughput × gang for a
// gang.
func TestSharesAgainstNaiveWork(t *testing.T) {
	tp := table(t,
		sched.ThroughputEntry{Class: "c", Gang: 1, Model: v100, StepsPerSecond: 2},
		sched.ThroughputEntry{Class: "c", Gang: 2, Model: v100, StepsPerSecond: 3.5},
		sched.ThroughputEntry{Class: "c", Gang: 4, Model: v100, StepsPerSecond: 6})
	rate := map[int]float64{1: 2, 2: 3.5, 4: 6}
	nodes := []sched.Node{{ID: "a", Model: v100, Devices: 4, CPU: 64000}, {ID: "b", Model: v100, Devices: 4, CPU: 16000}, {ID: "c", Model: v100, Devices: 2}}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 9))
		var jobs []Job
		at, work := 0.0, 0.0
		for i := range 40 {
			at += rng.ExpFloat64() * 600
			j := Job{ID: i, Arrival: at, Class: "c", Gang: 1, Steps: 500 + rng.Float64()*20000}
			if rng.IntN(3) > 0 {
				j.Milli = int64(100 + rng.IntN(9)*100)
				j.CPU = int64(rng.IntN(12)) * 1000
				work += j.Steps / rate[1]
			} else {
				j.Gang = []int{1, 2, 4}[rng.IntN(3)]
				work += j.Steps / rate[j.Gang] * float64(j.Gang)
			}
			jobs = append(jobs, j)
		}
		for _, pol := range []string{sched.LASHetero, sched.FIFOHetero, sched.Granary} {
			res, err := Run(policy(t, pol), tp, jobs, Config{Fleet: map[string]int{v100: 10}, Nodes: nodes, Sharer: sharer(t, seed)})
			if err != nil {
				t.Fatalf("seed %d %s: %v", seed, pol, err)
			}
			if len(res.Jobs) != len(jobs) {
				t.Fatalf("seed %d %s: %d of %d jobs finished (unrunnable %v)", seed, pol, len(res.Jobs), len(jobs), res.Unrunnable)
			}
			busy := 0.0
			for _, u := range res.Util {
				if u.Busy[0] > 10*(u.End-u.Start)*(1+1e-9)+1e-6 {
					t.Errorf("seed %d %s: round %v–%v keeps %v device-seconds busy, more than 10 devices", seed, pol, u.Start, u.End, u.Busy[0])
				}
				busy += u.Busy[0]
			}
			if math.Abs(busy-work) > 1e-6*work {
				t.Errorf("seed %d %s: busy %v device-seconds, the work is %v", seed, pol, busy, work)
			}
			for _, r := range res.Jobs {
				j := jobs[r.ID]
				fastest := j.Steps / rate[j.Gang]
				if j.Milli > 0 {
					fastest = j.Steps / (rate[1] * float64(j.Milli) / 1000)
				}
				if r.JCT < fastest*(1-1e-9) {
					t.Errorf("seed %d %s: job %d (%+v) took %v s, faster than its rate allows (%v s)", seed, pol, r.ID, j, r.JCT, fastest)
				}
			}
		}
	}
}

// A running share keeps its device, as in the live loop: a whole-device
// job arriving later on a one-device fleet waits until the share is done
// (1,800 s: 900 steps at half of 1 step/s), then runs its 900 s.
func TestShareKeepsItsDevice(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: v100, StepsPerSecond: 1})
	jobs := []Job{{ID: 0, Class: "c", Gang: 1, Steps: 900, Milli: 500}, {ID: 1, Arrival: 10, Class: "c", Gang: 1, Steps: 900}}
	res, err := Run(policy(t, sched.LASHetero), tp, jobs, Config{Fleet: map[string]int{v100: 1}, Sharer: sharer(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := completions(res)
	if math.Abs(c[0]-1800) > 1e-6 || math.Abs(c[1]-2700) > 1e-6 {
		t.Errorf("share done at %v s, whole job at %v s; want 1800 and 2700", c[0], c[1])
	}
}
