package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// BenchmarkScale times one allocation of every LP policy on issue 14's
// shape: 10,000 jobs, every one distinct (random weight, remaining work and
// arrival: see distinct), on 100,000 devices of 10 models; and las /
// las-hetero with 100,000 distinct jobs on 1,000,000 devices; and, loaded,
// the max-min policies with 10,000 jobs on 5,000 devices; and 512 distinct
// jobs on 5,120 devices, the largest max-min LP solved exactly.
func BenchmarkScale(b *testing.B) {
	type tc struct {
		jobs, perModel int
		policy         string
	}
	var cases []tc
	for _, p := range append(scalePolicies, sched.MaxThroughput, sched.MaxThroughputPerCost) {
		cases = append(cases, tc{10000, 10000, p})
	}
	cases = append(cases, tc{100000, 100000, sched.LAS}, tc{100000, 100000, sched.LASHetero})
	// Loaded: 10,000 jobs on 5,000 devices, where capacity binds.
	for _, p := range scalePolicies {
		cases = append(cases, tc{10000, 500, p})
	}
	// The largest LP still solved exactly (exactRows distinct rows).
	for _, p := range scalePolicies {
		cases = append(cases, tc{512, 512, p})
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/jobs=%d/devices=%d", c.policy, c.jobs, 10*c.perModel), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			s, tp := schedtest.Wide(r, c.jobs, 10, c.perModel)
			distinct(r, s)
			cost := map[string]float64{}
			for k, m := range tp.Models() {
				cost[m] = 1 + float64(k)
			}
			p, err := sched.PolicyByName(c.policy, sched.Options{Cost: cost})
			if err != nil {
				b.Fatal(err)
			}
			var a sched.Allocation
			for b.Loop() {
				if a, err = p.Allocate(s, tp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(a.Objective, "objective")
		})
	}
}
