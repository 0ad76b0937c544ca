package jobstest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// Bench is the synthetic workload of the scheduling benchmarks (jobs'
// Planner, control's round on a store): 10 models, 26 classes of
// schedtest, and a throughput table that also holds, for the distributed
// classes, multi-node gangs of 16–512 devices at 90% of linear scaling
// from gang 8. The same seed gives the same table and the same jobs.
type Bench struct {
	Models    []string        // model-0 … model-9
	Workloads *jobs.Workloads // the table
	r         *rand.Rand
	classes   []schedtest.Class
	dist      []schedtest.Class // the distributed classes
}

// bigGangs are the gangs of the multi-node jobs.
var bigGangs = []int{16, 32, 64, 128, 256, 512}

// NewBench builds the benchmarks' workload.
func NewBench(b testing.TB) *Bench {
	b.Helper()
	bw := &Bench{r: rand.New(rand.NewPCG(7, 8)), Models: make([]string, 10), classes: schedtest.Classes(26)}
	for i := range bw.Models {
		bw.Models[i] = fmt.Sprintf("model-%d", i)
	}
	tp := schedtest.Table(bw.r, bw.classes, bw.Models, false)
	var es []sched.ThroughputEntry
	for _, c := range bw.classes {
		for _, g := range []int{1, 2, 4, 8} {
			for _, m := range bw.Models {
				if v, ok := tp.Lookup(c.Name, g, m); ok {
					es = append(es, sched.ThroughputEntry{Class: c.Name, Gang: g, Model: m, StepsPerSecond: v})
				}
			}
		}
		if !c.Distributed {
			continue
		}
		bw.dist = append(bw.dist, c)
		for _, g := range bigGangs {
			for _, m := range bw.Models {
				v, _ := tp.Lookup(c.Name, 8, m)
				es = append(es, sched.ThroughputEntry{Class: c.Name, Gang: g, Model: m, StepsPerSecond: v * float64(g) / 8 * 0.9})
			}
		}
	}
	var err error
	if bw.Workloads, err = jobs.NewWorkloads(es); err != nil {
		b.Fatal(err)
	}
	return bw
}

// Spec returns the spec of the benchmark's job i (called for i = 0, 1, …
// in order): the first gangs jobs are multi-node gangs of a distributed
// class; the others are of a random class, distributed ones with gang 1–8.
// Teams take turns.
func (bw *Bench) Spec(i, gangs int, teams []string) jobs.Spec {
	c := bw.classes[bw.r.IntN(len(bw.classes))]
	g := 1
	switch {
	case i < gangs:
		c = bw.dist[bw.r.IntN(len(bw.dist))]
		g = bigGangs[bw.r.IntN(len(bigGangs))]
	case c.Distributed:
		g = []int{1, 1, 1, 2, 4, 8}[bw.r.IntN(6)]
	}
	return jobs.Spec{Name: fmt.Sprint("j", i), Team: teams[i%len(teams)], Class: c.Name, Gang: g, Weight: 1, TotalSteps: 1e12}
}
