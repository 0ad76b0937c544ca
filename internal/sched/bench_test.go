package sched_test

import (
	"fmt"
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

// BenchmarkRoundNodes times one round of the whole pipeline (filter,
// fairness, allocate, prioritize, guarantees, keep, pack, upgrade) on the
// issue's large shape: 100,000 devices of 10 models on 12,500 nodes of 8 (4
// sites of 8 switches), 10,000 active jobs in 5 teams, 500 of them
// multi-node gangs of 16–512 devices, las-hetero. Each iteration is the next
// round, 360 s later; the allocation is recomputed every 1,920 s (Gavel's
// reset interval), so about one round in five includes the LP.
func BenchmarkRoundNodes(b *testing.B) { benchRoundNodes(b, false) }

// BenchmarkRoundNodesCPU is BenchmarkRoundNodes with node CPU: the nodes
// of two sites in four (every odd-numbered node) have 16 cores, the others
// record none, and each multi-node gang asks 8 cores per device — 64 on a
// whole node, so only the nodes without recorded CPU can host it, and the
// packer's first choice by devices often lacks the CPU (noderoom.go,
// roomy). multinode-devices is the devices the multi-node gangs run on in
// the last round.
func BenchmarkRoundNodesCPU(b *testing.B) { benchRoundNodes(b, true) }

func benchRoundNodes(b *testing.B, cpu bool) {
	r := rand.New(rand.NewPCG(7, 8))
	models := make([]string, 10)
	for k := range models {
		models[k] = fmt.Sprintf("model-%d", k)
	}
	classes := schedtest.Classes(26)
	base := schedtest.Table(r, classes, models, false)
	big := []int{16, 32, 64, 128, 256, 512}
	var es []sched.ThroughputEntry
	var distributed []schedtest.Class
	for _, c := range classes {
		for _, g := range []int{1, 2, 4, 8} {
			for _, m := range models {
				if v, ok := base.Lookup(c.Name, g, m); ok {
					es = append(es, sched.ThroughputEntry{Class: c.Name, Gang: g, Model: m, StepsPerSecond: v})
				}
			}
		}
		if !c.Distributed {
			continue
		}
		distributed = append(distributed, c)
		for _, g := range big {
			for _, m := range models {
				v, _ := base.Lookup(c.Name, 8, m)
				es = append(es, sched.ThroughputEntry{Class: c.Name, Gang: g, Model: m, StepsPerSecond: v * float64(g) / 8 * 0.9})
			}
		}
	}
	tp, err := sched.NewThroughputs(es)
	if err != nil {
		b.Fatal(err)
	}
	s := &sched.Snapshot{Fleet: map[string]int{}}
	for n := 0; n < 1250; n++ {
		for _, m := range models {
			s.Nodes = append(s.Nodes, sched.Node{ID: fmt.Sprintf("%s-n%05d", m, n), Model: m, Devices: 8,
				Site: fmt.Sprint("site-", n%4), Switch: fmt.Sprint("sw-", n%32)})
			if cpu {
				s.Nodes[len(s.Nodes)-1].CPU = int64(16000 * (n % 2))
			}
			s.Fleet[m] += 8
		}
	}
	teams := []string{"search", "ads", "llm", "vision", "speech"}
	for i, t := range teams {
		s.Teams = append(s.Teams, sched.Team{Name: t, Weight: float64(1 + i%2)})
	}
	for i := 0; i < 10000; i++ {
		c := classes[r.IntN(len(classes))]
		g := 1
		switch {
		case i < 500:
			c = distributed[r.IntN(len(distributed))]
			g = big[r.IntN(len(big))]
		case c.Distributed:
			g = []int{1, 1, 1, 2, 4, 8}[r.IntN(6)]
		}
		s.Jobs = append(s.Jobs, sched.Job{ID: fmt.Sprint("j", i), Class: c.Name, Gang: g, Weight: 1, Team: teams[i%len(teams)],
			TotalSteps: 1e12, RemainingSteps: 1e12})
		if cpu && i < 500 {
			s.Jobs[i].CPU = int64(8000 * g)
		}
	}
	p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	st := sched.NewRoundState(p, sched.RoundConfig{})
	if _, err := st.Next(s, tp); err != nil {
		b.Fatal(err)
	}
	var last sched.Placement
	b.ReportAllocs()
	for b.Loop() {
		s.Now += 360
		if last, err = st.Next(s, tp); err != nil {
			b.Fatal(err)
		}
		for _, run := range last.Runs {
			st.Charge(run.Job, run.Model, 360)
		}
	}
	b.ReportMetric(float64(len(last.Runs)), "running")
	if cpu {
		multi := 0
		for _, run := range last.Runs {
			if len(run.Devices) > 8 {
				multi += len(run.Devices)
			}
		}
		b.ReportMetric(float64(multi), "multinode-devices")
	}
}
