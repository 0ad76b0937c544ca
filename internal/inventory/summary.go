package inventory

import (
	"context"
	"math"
	"sort"

	"github.com/granaryhq/granary/internal/fleet"
)

// Summary is the fleet at a glance: per catalog model present, and totals.
//
// PFLOPS and HBMTB count devices that are held — every state except
// retired — since retired devices are gone from the stockpile. PFLOPS maps a
// precision to dense PFLOPS (integer precisions: dense POPS) = devices ×
// catalog TFLOPS / 1000; a precision the chip's catalog entry does not know
// is absent (never zero). HBMTB = devices × catalog memory GB / 1000 (nil
// when the memory size is unknown). Totals sum the known values only.
type Summary struct {
	Totals SummaryTotals  `json:"totals"`
	Models []ModelSummary `json:"models"`
}

// SummaryTotals is the whole fleet.
type SummaryTotals struct {
	Devices int                         `json:"devices"`
	Held    int                         `json:"held"`     // devices not retired
	ByState map[fleet.DeviceState]int   `json:"by_state"` // every state, zeros included
	PFLOPS  map[fleet.Precision]float64 `json:"pflops"`
	HBMTB   float64                     `json:"hbm_tb"`
	ByClass map[string]int              `json:"by_classification"` // held devices per export class
}

// ModelSummary is one catalog model present in the fleet.
type ModelSummary struct {
	Model          string                      `json:"model"` // catalog id
	Name           string                      `json:"name"`
	Vendor         string                      `json:"vendor,omitempty"`
	Origin         string                      `json:"origin,omitempty"`
	Devices        int                         `json:"devices"`
	Held           int                         `json:"held"`
	ByState        map[fleet.DeviceState]int   `json:"by_state"`
	PFLOPS         map[fleet.Precision]float64 `json:"pflops"`
	HBMTB          *float64                    `json:"hbm_tb"`
	Classification string                      `json:"classification"`
}

func zeroStates() map[fleet.DeviceState]int {
	m := make(map[fleet.DeviceState]int, len(fleet.DeviceStates))
	for _, s := range fleet.DeviceStates {
		m[s] = 0
	}
	return m
}

// Summary computes the fleet summary from the store's (model, state)
// aggregation and the catalog. Models are ordered by device count, largest
// first, then by id. A model id no longer in the catalog is listed with its
// id as name and no figures.
func (s *Service) Summary(ctx context.Context) (Summary, error) {
	counts, err := s.store.CountByModelState(ctx)
	if err != nil {
		return Summary{}, err
	}
	return s.summarize(counts), nil
}

func (s *Service) summarize(counts []ModelStateCount) Summary {
	sum := Summary{
		Totals: SummaryTotals{ByState: zeroStates(), PFLOPS: map[fleet.Precision]float64{}, ByClass: map[string]int{}},
		Models: []ModelSummary{},
	}
	idx := map[string]int{}
	for _, c := range counts {
		i, ok := idx[c.Model]
		if !ok {
			i = len(sum.Models)
			idx[c.Model] = i
			m := ModelSummary{Model: c.Model, Name: c.Model, ByState: zeroStates(), PFLOPS: map[fleet.Precision]float64{}}
			sum.Models = append(sum.Models, m)
		}
		m := &sum.Models[i]
		m.Devices += c.Devices
		m.ByState[c.State] += c.Devices
		if c.State != fleet.Retired {
			m.Held += c.Devices
		}
	}
	for i := range sum.Models {
		m := &sum.Models[i]
		sum.Totals.Devices += m.Devices
		sum.Totals.Held += m.Held
		for st, n := range m.ByState {
			sum.Totals.ByState[st] += n
		}
		chip, ok := s.cat.Get(m.Model)
		if !ok {
			m.Classification = "unknown model"
			continue
		}
		m.Name, m.Vendor, m.Origin = chip.Name, chip.Vendor, chip.Origin
		m.Classification = s.classify(chip)
		sum.Totals.ByClass[m.Classification] += m.Held
		for _, p := range fleet.Precisions {
			if t, ok := chip.Dense(p); ok {
				v := float64(m.Held) * t / 1000
				m.PFLOPS[p] = v
				sum.Totals.PFLOPS[p] += v
			}
		}
		if chip.MemoryGB != nil {
			v := float64(m.Held) * *chip.MemoryGB / 1000
			m.HBMTB = &v
			sum.Totals.HBMTB += v
		}
	}
	// Products like 3 × 0.92 carry binary noise (2.7600000000000002); round
	// to a millionth (1 GFLOPS, 1 GB) so the JSON shows what a person wrote.
	for i := range sum.Models {
		m := &sum.Models[i]
		for p, v := range m.PFLOPS {
			m.PFLOPS[p] = roundMicro(v)
		}
		if m.HBMTB != nil {
			v := roundMicro(*m.HBMTB)
			m.HBMTB = &v
		}
	}
	for p, v := range sum.Totals.PFLOPS {
		sum.Totals.PFLOPS[p] = roundMicro(v)
	}
	sum.Totals.HBMTB = roundMicro(sum.Totals.HBMTB)
	sort.SliceStable(sum.Models, func(a, b int) bool {
		if sum.Models[a].Devices != sum.Models[b].Devices {
			return sum.Models[a].Devices > sum.Models[b].Devices
		}
		return sum.Models[a].Model < sum.Models[b].Model
	})
	return sum
}

// Tally counts devices by (model, state), ordered by model then state. It is
// the naive reference for Store.CountByModelState, and what stores use to
// keep their counts current within an insert.
func Tally(ds []Device) []ModelStateCount {
	n := map[modelState]int{}
	for _, d := range ds {
		n[modelState{d.Model, d.State}]++
	}
	return tallied(n)
}

type modelState struct {
	m string
	s fleet.DeviceState
}

// tallied is Tally's answer for the counts n.
func tallied(n map[modelState]int) []ModelStateCount {
	out := make([]ModelStateCount, 0, len(n))
	for k, v := range n {
		out = append(out, ModelStateCount{Model: k.m, State: k.s, Devices: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].State < out[j].State
	})
	return out
}

func roundMicro(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// SiteCount is one series of the granary_devices gauge: how many devices
// of a model at a site are in a state, with the model's export class
// ("unknown model" for an id no longer in the catalog).
type SiteCount struct {
	SiteModelStateCount
	Class string
}

// CountBySite counts every device by (site, model, state) in the store and
// adds each model's export class.
func (s *Service) CountBySite(ctx context.Context) ([]SiteCount, error) {
	cs, err := s.store.CountBySiteModelState(ctx)
	if err != nil {
		return nil, err
	}
	class := map[string]string{}
	out := make([]SiteCount, len(cs))
	for i, c := range cs {
		cl, ok := class[c.Model]
		if !ok {
			cl = "unknown model"
			if chip, known := s.cat.Get(c.Model); known {
				cl = s.classify(chip)
			}
			class[c.Model] = cl
		}
		out[i] = SiteCount{SiteModelStateCount: c, Class: cl}
	}
	return out, nil
}
