package sched_test

import (
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// BenchmarkAllocate times one las-hetero allocation.
//
//	jobs=2048:  Gavel's runtime-sweep shape: 2048 active jobs, 512 devices of
//	            each of k80/p100/v100 (Gavel + ECOS: 84 ms on this kind of machine).
//	jobs=10000: 10,000 jobs on 100,000 devices of 10 models.
func BenchmarkAllocate(b *testing.B) {
	cases := []struct {
		name  string
		build func(r *rand.Rand) (*sched.Snapshot, *sched.Throughputs)
	}{
		{"jobs=2048", func(r *rand.Rand) (*sched.Snapshot, *sched.Throughputs) { return schedtest.GavelShape(r, 2048) }},
		{"jobs=10000", func(r *rand.Rand) (*sched.Snapshot, *sched.Throughputs) { return schedtest.Wide(r, 10000, 10, 10000) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, tp := c.build(rand.New(rand.NewPCG(1, 2)))
			p, err := sched.PolicyByName(sched.LASHetero, sched.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Allocate(s, tp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRound times one round of the mechanism (priorities, selection,
// placement) with 10,000 active jobs on 10,000 devices of Gavel's three
// models, the allocation already computed.
func BenchmarkRound(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	s, tp := schedtest.GavelShape(r, 10000)
	for _, m := range schedtest.GavelModels() {
		s.Fleet[m] = 3333
	}
	p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(p, sched.RoundConfig{})
	if _, err := st.Next(s, tp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Now += 360
		pl, err := st.Next(s, tp)
		if err != nil {
			b.Fatal(err)
		}
		for _, run := range pl.Runs {
			st.Charge(run.Job, run.Model, 360)
		}
	}
}
