package sched

import (
	"fmt"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// PairEntry is one measured space-sharing throughput: a job of Class and one
// of Other, both gangs of Gang devices of Model, run together on the same
// devices (Gavel's co-located throughputs). Steps is the steps/s each makes:
// Steps[0] for Class, Steps[1] for Other. 0 means the pair cannot share.
type PairEntry struct {
	Class, Other string
	Gang         int
	Model        string
	Steps        [2]float64
}

type pairKey struct {
	a, b  string
	gang  int
	model string
}

// WithPairs returns a copy of t that also holds the pair throughputs of
// entries (each in both orders). It rejects, wrapping fleet.ErrInvalid and
// naming the entry, empty names, Gang < 1, throughputs that are not finite
// numbers ≥ 0, a pair whose class has no single-job entry on that model, and
// a pair given twice with different values.
func (t *Throughputs) WithPairs(entries []PairEntry) (*Throughputs, error) {
	out := &Throughputs{m: t.m, models: t.models, pairs: make(map[pairKey][2]float64, 2*len(entries))}
	for i, e := range entries {
		switch {
		case e.Class == "" || e.Other == "" || e.Model == "":
			return nil, fmt.Errorf("%w: pair entry %d: empty class or model", fleet.ErrInvalid, i)
		case e.Gang < 1:
			return nil, fmt.Errorf("%w: pair entry %d (%s + %s): gang size %d < 1", fleet.ErrInvalid, i, e.Class, e.Other, e.Gang)
		case !finite(e.Steps[0]) || !finite(e.Steps[1]) || e.Steps[0] < 0 || e.Steps[1] < 0:
			return nil, fmt.Errorf("%w: pair entry %d (%s + %s, gang %d, %s): steps/s %v must be finite numbers ≥ 0",
				fleet.ErrInvalid, i, e.Class, e.Other, e.Gang, e.Model, e.Steps)
		}
		for _, c := range []string{e.Class, e.Other} {
			if _, ok := t.Lookup(c, e.Gang, e.Model); !ok {
				return nil, fmt.Errorf("%w: pair entry %d (%s + %s, gang %d, %s): no single-job throughput for %s",
					fleet.ErrInvalid, i, e.Class, e.Other, e.Gang, e.Model, c)
			}
		}
		k := pairKey{e.Class, e.Other, e.Gang, e.Model}
		r := pairKey{e.Other, e.Class, e.Gang, e.Model}
		rev := [2]float64{e.Steps[1], e.Steps[0]}
		if old, dup := out.pairs[k]; dup && old != e.Steps {
			return nil, fmt.Errorf("%w: pair entry %d: (%s + %s, gang %d, %s) given twice with different values (%v, %v)",
				fleet.ErrInvalid, i, e.Class, e.Other, e.Gang, e.Model, old, e.Steps)
		}
		out.pairs[k], out.pairs[r] = e.Steps, rev
	}
	return out, nil
}

// PairLookup returns the steps/s of a job of class and one of other run
// together as gangs of gang devices of model (in that order), and whether
// the table has the pair.
func (t *Throughputs) PairLookup(class, other string, gang int, model string) ([2]float64, bool) {
	if t == nil {
		return [2]float64{}, false
	}
	v, ok := t.pairs[pairKey{class, other, gang, model}]
	return v, ok
}

// HasPairs reports whether the table holds any pair throughput.
func (t *Throughputs) HasPairs() bool { return t != nil && len(t.pairs) > 0 }

// CheckPairs is what a *-packed policy needs of the table: for every two
// (class, gang) of jobs (gangs equal, a class with itself included) and
// every model where both run alone, a pair entry. It returns nil, or an
// error wrapping fleet.ErrNotFound that names the first missing pair (by
// class, then other class, then model).
func (t *Throughputs) CheckPairs(classes []string, gangs []int, models []string) error {
	type cg struct {
		c string
		g int
	}
	seen := map[cg]bool{}
	var kinds []cg
	for i, c := range classes {
		k := cg{c, gangs[i]}
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	sort.Slice(kinds, func(a, b int) bool {
		if kinds[a].c != kinds[b].c {
			return kinds[a].c < kinds[b].c
		}
		return kinds[a].g < kinds[b].g
	})
	ms := append([]string(nil), models...)
	sort.Strings(ms)
	for a, x := range kinds {
		for _, y := range kinds[a:] {
			if x.g != y.g {
				continue
			}
			for _, m := range ms {
				u, _ := t.Lookup(x.c, x.g, m)
				v, _ := t.Lookup(y.c, y.g, m)
				if u <= 0 || v <= 0 {
					continue
				}
				if _, ok := t.PairLookup(x.c, y.c, x.g, m); !ok {
					what := "the table has no pair throughputs at all"
					if t.HasPairs() {
						what = "the table has no entry for it"
					}
					return fmt.Errorf("%w: space sharing needs pair throughputs: missing pair (%s, %s) with gang %d on %s (%s)",
						fleet.ErrNotFound, x.c, y.c, x.g, m, what)
				}
			}
		}
	}
	return nil
}

// PairShare is the share of wall time two jobs (rows A < B of the
// allocation) run together on the same devices, per model (the
// allocation's columns).
type PairShare struct {
	A, B int
	X    []float64
}
