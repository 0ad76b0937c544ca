package sched

import (
	"fmt"
	"math"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// LASHeteroPacked is las-hetero with space sharing (Gavel's
// max_min_fairness_packed): two jobs may share the same devices, each
// progressing at its measured pair throughput.
const LASHeteroPacked = "las-hetero-packed"

// IsPacked reports whether p co-locates pairs of jobs (a *-packed policy):
// its Allocation has Pairs, and it needs pair throughputs in the table
// (Throughputs.CheckPairs).
func IsPacked(p Policy) bool {
	pk, ok := p.(interface{ packs() bool })
	return ok && pk.packs()
}

// lasPackedPolicy is Gavel's MaxMinFairnessPolicyWithPacking: the max-min
// LP of las-hetero over single jobs and job pairs,
//
//	max min_i  (s_i / (w_i · prop_i)) · (Σ_k T[i][k]·X[i][k] + Σ_j Σ_k T[i|j][k]·Y[ij][k])
//
// with Σ_k X[i][k] + Σ_j Σ_k Y[ij][k] ≤ 1 per job and Σ_i s_i·X[i][k] +
// Σ_{i<j} s_i·Y[ij][k] ≤ N_k per model; T[i|j] is i's throughput when it
// shares its devices with j, and a pair is a variable only when both have
// the same gang and the table has the pair on that model.
//
// Jobs of the same (class, gang, weight) are interchangeable in this LP, so
// it is solved over those groups (G ≤ classes, pairs ≤ G(G+1)/2, whatever
// the number of jobs) and each group's time is split evenly among its jobs
// and their pairs — the symmetric optimum an interior-point solver (Gavel's
// ECOS) returns. Max-min pins only the minimum; the rest of the optimal face
// is chosen by water-filling (raise the level of the groups that can still
// rise, freezing the others, until none can), where Gavel's ECOS returns a
// central point of the face. prop_i is las-hetero's (equal split of every
// model); Gavel normalises the packed LP by Σ_k T[i][k], the same up to a
// constant factor on a fleet with as many devices of every model.
type lasPackedPolicy struct{}

func (lasPackedPolicy) Name() string { return LASHeteroPacked }
func (lasPackedPolicy) packs() bool  { return true }

type packGroup struct {
	members []int   // job rows
	n       float64 // len(members)
	norm    float64 // level per step/s: gang / (weight · prop)
	gang    int
	class   string
}

// packCol is one LP variable: group g alone (h < 0) or groups g ≤ h
// together (u, v: their steps/s) on column k.
type packCol struct {
	g, h, k int
	u, v    float64
}

func (l lasPackedPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	if !tp.HasPairs() {
		return Allocation{}, fmt.Errorf("%w: %s: the throughput table has no pair throughputs (space sharing needs them)", fleet.ErrNotFound, l.Name())
	}
	p, err := newProblem(s, tp)
	if err != nil {
		return Allocation{}, err
	}
	groups := packGroups(s, p)
	cols := packColumns(s, p, tp, groups)
	al := p.emptyAllocation()
	if len(groups) == 0 {
		al.Objective, al.Bound = math.Inf(1), math.Inf(1)
		return al, nil
	}
	t0, sol, err := waterFill(groups, cols, p.cap, len(groups))
	if err != nil {
		return Allocation{}, fmt.Errorf("%s: %w", l.Name(), err)
	}
	al.Pairs = spreadPairs(groups, cols, sol, len(p.models), al.X)
	al.Objective, al.Bound = t0, t0
	return al, nil
}

// packGroups groups the usable jobs by (class, gang, weight, models the
// filter stage denies them), in job order: members share one throughput
// row, so jobs of one class allowed on different models are different
// groups.
func packGroups(s *Snapshot, p *problem) []packGroup {
	type key struct {
		class string
		gang  int
		w     float64
		deny  uint64
	}
	total := p.totalCap()
	idx := map[key]int{}
	var groups []packGroup
	for i := range s.Jobs {
		if !p.ok[i] {
			continue
		}
		j := &s.Jobs[i]
		k := key{j.Class, j.Gang, p.weight[i], j.deny}
		g, ok := idx[k]
		if !ok {
			prop := 0.0
			for c, v := range p.tput[i] {
				prop += v * p.cap[c] / total
			}
			g = len(groups)
			idx[k] = g
			groups = append(groups, packGroup{norm: p.gang[i] / (p.weight[i] * prop), gang: j.Gang, class: j.Class})
		}
		groups[g].members = append(groups[g].members, i)
		groups[g].n++
	}
	return groups
}

// packColumns lists the LP's variables: every group on every model where it
// runs, and every pair of groups with equal gangs (a group with itself when
// it has two jobs) on every model where both run and the table has the pair
// with both throughputs > 0.
func packColumns(s *Snapshot, p *problem, tp *Throughputs, groups []packGroup) []packCol {
	var cols []packCol
	for g, gr := range groups {
		for k, v := range p.tput[gr.members[0]] {
			if v > 0 {
				cols = append(cols, packCol{g: g, h: -1, k: k, u: v})
			}
		}
	}
	for g, a := range groups {
		for h := g; h < len(groups); h++ {
			b := groups[h]
			if a.gang != b.gang || (g == h && len(a.members) < 2) {
				continue
			}
			for k, m := range p.models {
				if p.tput[a.members[0]][k] <= 0 || p.tput[b.members[0]][k] <= 0 {
					continue
				}
				pt, ok := tp.PairLookup(a.class, b.class, a.gang, m)
				if ok && pt[0] > 0 && pt[1] > 0 {
					cols = append(cols, packCol{g: g, h: h, k: k, u: pt[0], v: pt[1]})
				}
			}
		}
	}
	return cols
}

// waterFill solves the grouped max-min LP and then raises, in turn, the
// groups that can still rise. It returns the max-min level and the value of
// each column (device-time of the group or pair of groups on the model).
//
// Rows: level of group g (t − level_g ≤ 0, or, once g is frozen at L_g,
// L_g·z_g − level_g ≤ 0 with z_g ≤ 1 and a large reward on z_g, so that the
// slack basis stays feasible for the simplex), the time budget of group g
// (Σ its time ÷ n_g ≤ 1) and the capacity of model k (÷ N_k ≤ 1). A group
// is frozen when its level row has a positive dual: it is tight in every
// optimum, so it cannot rise without lowering another. At most rounds
// LPs are solved (1: the max-min level alone).
func waterFill(groups []packGroup, cols []packCol, capacity []float64, rounds int) (float64, []float64, error) {
	G, nk := len(groups), len(capacity)
	frozen := make([]float64, G) // level, 0: not frozen
	var best []float64
	first := math.NaN()
	for round := 0; round < min(G, rounds); round++ {
		var fz []int
		for g := range groups {
			if frozen[g] > 0 {
				fz = append(fz, g)
			}
		}
		m := 2*G + nk + len(fz)
		n := 1 + len(cols) + len(fz)
		colR := make([][]int32, n)
		colV := make([][]float64, n)
		obj := make([]float64, n)
		b := make([]float64, m)
		for r := G; r < m; r++ {
			b[r] = 1
		}
		obj[0] = 1
		for g := range groups {
			if frozen[g] == 0 {
				colR[0] = append(colR[0], int32(g))
				colV[0] = append(colV[0], 1)
			}
		}
		for c, pc := range cols {
			j := 1 + c
			a := &groups[pc.g]
			cap := float64(a.gang) / capacity[pc.k]
			if pc.h < 0 {
				colR[j] = []int32{int32(pc.g), int32(G + pc.g), int32(2*G + pc.k)}
				colV[j] = []float64{-a.norm * pc.u / a.n, 1 / a.n, cap}
				continue
			}
			if pc.h == pc.g {
				colR[j] = []int32{int32(pc.g), int32(G + pc.g), int32(2*G + pc.k)}
				colV[j] = []float64{-a.norm * (pc.u + pc.v) / a.n, 2 / a.n, cap}
				continue
			}
			bg := &groups[pc.h]
			colR[j] = []int32{int32(pc.g), int32(pc.h), int32(G + pc.g), int32(G + pc.h), int32(2*G + pc.k)}
			colV[j] = []float64{-a.norm * pc.u / a.n, -bg.norm * pc.v / bg.n, 1 / a.n, 1 / bg.n, cap}
		}
		const reward = 1e6
		for f, g := range fz {
			j := 1 + len(cols) + f
			colR[j] = []int32{int32(g), int32(2*G + nk + f)}
			colV[j] = []float64{frozen[g], 1}
			obj[j] = reward
		}
		if len(colR[0]) == 0 {
			obj[0] = 0
		}
		lp := newRevisedCols(m, colR, colV, b, obj)
		if err := lp.solve(); err != nil {
			if best != nil {
				break // keep the last solved round
			}
			return 0, nil, err
		}
		x := lp.x()
		ok := true
		for f := range fz {
			if x[1+len(cols)+f] < 1-1e-7 {
				ok = false
			}
		}
		if !ok {
			break
		}
		best = x[1 : 1+len(cols)]
		t := x[0]
		if round == 0 {
			first = t
		}
		if len(colR[0]) == 0 || math.IsInf(t, 0) {
			break
		}
		pi := lp.duals()
		more := false
		for g := range groups {
			if frozen[g] == 0 && pi[g] > 1e-9 {
				frozen[g] = t * (1 - 1e-9)
				more = true
			}
		}
		if !more {
			break
		}
		if t <= 0 {
			break
		}
	}
	return first, best, nil
}

// spreadPairs splits each group's time evenly among its jobs (x, by row
// and column) and each pair of groups' time evenly among their job pairs,
// which it returns sorted by (A, B).
func spreadPairs(groups []packGroup, cols []packCol, sol []float64, nk int, x [][]float64) []PairShare {
	type gh struct{ g, h int }
	pairTime := map[gh][]float64{}
	var order []gh
	for c, pc := range cols {
		v := math.Max(0, sol[c])
		if v <= 1e-12 {
			continue
		}
		if pc.h < 0 {
			a := &groups[pc.g]
			for _, i := range a.members {
				x[i][pc.k] = math.Min(1, v/a.n)
			}
			continue
		}
		key := gh{pc.g, pc.h}
		if pairTime[key] == nil {
			pairTime[key] = make([]float64, nk)
			order = append(order, key)
		}
		pairTime[key][pc.k] += v
	}
	var out []PairShare
	for _, key := range order {
		a, b := &groups[key.g], &groups[key.h]
		per := a.n * b.n
		if key.g == key.h {
			per = a.n * (a.n - 1) / 2
		}
		for ai, i := range a.members {
			bs := b.members
			if key.g == key.h {
				bs = a.members[ai+1:]
			}
			for _, j := range bs {
				row := make([]float64, nk)
				for k, v := range pairTime[key] {
					row[k] = math.Min(1, v/per)
				}
				A, B := min(i, j), max(i, j)
				out = append(out, PairShare{A: A, B: B, X: row})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].A != out[j].A {
			return out[i].A < out[j].A
		}
		return out[i].B < out[j].B
	})
	return out
}
