package sched_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/sched/schedtest"
)

// topoFleet: site a has switch a1 (2 nodes of 8) and a2 (4 nodes of 8);
// site b has switch b1 (8 nodes of 8). 112 devices of model m.
func topoFleet() ([]sched.Node, map[string]int) {
	var nodes []sched.Node
	add := func(site, sw string, n int) {
		for i := 0; i < n; i++ {
			nodes = append(nodes, sched.Node{ID: fmt.Sprintf("%s-%d", sw, i), Model: "m", Devices: 8, Site: site, Switch: sw})
		}
	}
	add("a", "a1", 2)
	add("a", "a2", 4)
	add("b", "b1", 8)
	return nodes, map[string]int{"m": 112}
}

func switchesOf(nodes []sched.Node, ids []string) (sws, sites []string) {
	for _, id := range ids {
		for _, n := range nodes {
			if n.ID == id {
				if !slices.Contains(sws, n.Switch) {
					sws = append(sws, n.Switch)
				}
				if !slices.Contains(sites, n.Site) {
					sites = append(sites, n.Site)
				}
			}
		}
	}
	slices.Sort(sws)
	slices.Sort(sites)
	return sws, sites
}

func TestMultiNodeGangsTopology(t *testing.T) {
	nodes, fl := topoFleet()
	var es []sched.ThroughputEntry
	for _, g := range []int{16, 32, 40, 64, 80, 200} {
		es = append(es, sched.ThroughputEntry{Class: "c", Gang: g, Model: "m", StepsPerSecond: float64(g)})
	}
	tp := table(t, es...)
	cases := []struct {
		name      string
		jobs      []sched.Job
		wantSw    map[string][]string // job → switches
		wantSites map[string][]string
		wait      map[string]sched.Reason
	}{
		{name: "best-fitting switch first",
			jobs:   []sched.Job{job("j32", "c", 32), job("j64", "c", 64), job("j16", "c", 16)},
			wantSw: map[string][]string{"j32": {"a2"}, "j64": {"b1"}, "j16": {"a1"}}},
		{name: "one site when no switch holds it",
			jobs:      []sched.Job{job("j64", "c", 64), job("j40", "c", 40)},
			wantSw:    map[string][]string{"j64": {"b1"}, "j40": {"a1", "a2"}},
			wantSites: map[string][]string{"j40": {"a"}}},
		{name: "never across sites unless allowed",
			jobs: []sched.Job{job("j80", "c", 80)},
			wait: map[string]sched.Reason{"j80": sched.ReasonGangTooLarge}},
		{name: "across sites when allowed",
			jobs:      []sched.Job{func() sched.Job { j := job("j80", "c", 80); j.SpanSites = true; return j }()},
			wantSites: map[string][]string{"j80": {"a", "b"}}},
		{name: "larger than the fleet",
			jobs: []sched.Job{func() sched.Job { j := job("j200", "c", 200); j.SpanSites = true; return j }()},
			wait: map[string]sched.Reason{"j200": sched.ReasonGangTooLarge}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := map[string]map[string]float64{}
			for _, j := range c.jobs {
				x[j.ID] = map[string]float64{"m": 1}
			}
			st := sched.NewRoundState(&fixed{"test", x}, sched.RoundConfig{})
			s := &sched.Snapshot{Fleet: fl, Nodes: nodes, Jobs: c.jobs}
			p := runRounds(t, st, s, tp, 2)[1]
			for id, want := range c.wantSw {
				r, ok := p.RunOf(id)
				if !ok {
					t.Fatalf("%s not running: %+v", id, p.Waiting)
				}
				if sw, _ := switchesOf(nodes, r.Nodes); !slices.Equal(sw, want) {
					t.Errorf("%s on switches %v, want %v", id, sw, want)
				}
				if len(r.Nodes) != len(r.Devices)/8 {
					t.Errorf("%s: %d devices on %d nodes, want whole nodes", id, len(r.Devices), len(r.Nodes))
				}
			}
			for id, want := range c.wantSites {
				r, ok := p.RunOf(id)
				if !ok {
					t.Fatalf("%s not running: %+v", id, p.Waiting)
				}
				if _, sites := switchesOf(nodes, r.Nodes); !slices.Equal(sites, want) {
					t.Errorf("%s in sites %v, want %v", id, sites, want)
				}
			}
			for id, want := range c.wait {
				if _, ok := p.RunOf(id); ok {
					t.Errorf("%s runs, want it waiting (%s)", id, want)
				}
				for _, w := range p.Waiting {
					if w.Job == id && w.Reason != want {
						t.Errorf("%s waits because %s, want %s", id, w.Reason, want)
					}
				}
			}
		})
	}
}

// TestPackSingleNodeGangs: gangs that fit a node go on one node each,
// largest first, best fit — a set that fills the fleet exactly is placed
// whole.
func TestPackSingleNodeGangs(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "c", Gang: 1, Model: "m", StepsPerSecond: 1},
		sched.ThroughputEntry{Class: "c", Gang: 2, Model: "m", StepsPerSecond: 1},
		sched.ThroughputEntry{Class: "c", Gang: 4, Model: "m", StepsPerSecond: 1})
	nodes := []sched.Node{{ID: "n0", Model: "m", Devices: 4}, {ID: "n1", Model: "m", Devices: 4}, {ID: "n2", Model: "m", Devices: 2}}
	s := &sched.Snapshot{Fleet: map[string]int{"m": 10}, Nodes: nodes,
		Jobs: []sched.Job{job("a", "c", 2), job("b", "c", 4), job("c", "c", 2), job("d", "c", 1), job("e", "c", 1)}}
	x := map[string]map[string]float64{}
	for _, j := range s.Jobs {
		x[j.ID] = map[string]float64{"m": 1}
	}
	st := sched.NewRoundState(&fixed{"test", x}, sched.RoundConfig{})
	p := runRounds(t, st, s, tp, 1)[0]
	// 4 + 2 + 2 + 1 + 1 = 10 devices: best fit places all of them (first
	// fit in job order would put a on n0 and strand b).
	if len(p.Runs) != 5 {
		t.Fatalf("runs %+v, waiting %+v", p.Runs, p.Waiting)
	}
	for _, r := range p.Runs {
		if len(r.Nodes) != 1 {
			t.Errorf("%s spans %v", r.Job, r.Nodes)
		}
	}
	if err := schedtest.CheckPlacement(s, tp, p); err != nil {
		t.Fatal(err)
	}
}
