package sched

import (
	"fmt"
	"math"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// ThroughputEntry is one measured (or estimated) throughput: training steps per
// second of a whole job of Class run as a gang of Gang devices of Model.
// StepsPerSecond 0 means the job cannot run there.
type ThroughputEntry struct {
	Class          string  // job class, e.g. "ResNet-50 (batch size 64)"
	Gang           int     // devices per job (Gavel's scale factor), ≥ 1
	Model          string  // accelerator model id from the catalog, e.g. "v100-sxm2-32gb"
	StepsPerSecond float64 // steps/s of the whole job, ≥ 0
}

type tpKey struct {
	class string
	gang  int
	model string
}

// Throughputs is an immutable table of steps/s per (job class, gang size,
// accelerator model). It is what makes scheduling heterogeneity-aware. Build
// it with NewThroughputs; readers for files live in internal/trace.
type Throughputs struct {
	m      map[tpKey]float64
	models []string               // sorted, distinct
	pairs  map[pairKey][2]float64 // space sharing (pairs.go); nil: none
}

// NewThroughputs builds a table from entries. It rejects (with an error
// wrapping fleet.ErrInvalid that names the entry index) empty class or model,
// Gang < 1, negative/NaN/Inf throughput, and duplicate keys.
func NewThroughputs(entries []ThroughputEntry) (*Throughputs, error) {
	t := &Throughputs{m: make(map[tpKey]float64, len(entries))}
	seen := map[string]bool{}
	for i, e := range entries {
		switch {
		case e.Class == "":
			return nil, fmt.Errorf("%w: throughput entry %d: empty job class", fleet.ErrInvalid, i)
		case e.Model == "":
			return nil, fmt.Errorf("%w: throughput entry %d (%s): empty accelerator model", fleet.ErrInvalid, i, e.Class)
		case e.Gang < 1:
			return nil, fmt.Errorf("%w: throughput entry %d (%s): gang size %d < 1", fleet.ErrInvalid, i, e.Class, e.Gang)
		case math.IsNaN(e.StepsPerSecond) || math.IsInf(e.StepsPerSecond, 0) || e.StepsPerSecond < 0:
			return nil, fmt.Errorf("%w: throughput entry %d (%s, gang %d, %s): steps/s %v must be a finite number ≥ 0",
				fleet.ErrInvalid, i, e.Class, e.Gang, e.Model, e.StepsPerSecond)
		}
		k := tpKey{e.Class, e.Gang, e.Model}
		if _, dup := t.m[k]; dup {
			return nil, fmt.Errorf("%w: throughput entry %d: duplicate (%s, gang %d, %s)", fleet.ErrInvalid, i, e.Class, e.Gang, e.Model)
		}
		t.m[k] = e.StepsPerSecond
		if !seen[e.Model] {
			seen[e.Model] = true
			t.models = append(t.models, e.Model)
		}
	}
	sort.Strings(t.models)
	return t, nil
}

// Lookup returns the steps/s of a job of class run as a gang of gang devices
// of model, and whether the table has that entry at all. (0, true) means
// "known not to run there"; (0, false) means "no entry".
func (t *Throughputs) Lookup(class string, gang int, model string) (float64, bool) {
	if t == nil {
		return 0, false
	}
	v, ok := t.m[tpKey{class, gang, model}]
	return v, ok
}

// Models returns the sorted distinct model ids the table mentions.
func (t *Throughputs) Models() []string {
	if t == nil {
		return nil
	}
	return append([]string(nil), t.models...)
}

// Len is the number of entries.
func (t *Throughputs) Len() int {
	if t == nil {
		return 0
	}
	return len(t.m)
}
