package inventory

import (
	"context"
	"fmt"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/forecast"
)

// DefaultMinDeviceYears is how much history a model needs before its
// ledger failure rate replaces the plan's default.
const DefaultMinDeviceYears = 10.0

// AFRSource says where one model's annual failure rate came from.
type AFRSource struct {
	Model  string  // catalog id
	AFR    float64 // what the forecast uses
	Source string  // "plan", "ledger" or "default"
	Why    string
}

// ApplyLedgerAFR sets, for every model of the fleet, the plan's AFR from
// the ledger's own history — unless the plan names a rate for that model
// (the plan wins) or the ledger has less than minYears device-years of it
// (the plan's default stays). It returns what it used for each model.
func ApplyLedgerAFR(p *forecast.Plan, cat *accel.Catalog, st FailureStats, minYears float64) []AFRSource {
	planned := map[string]float64{}
	for k, v := range p.AFR.ByModel {
		if c, err := cat.Resolve(k); err == nil {
			planned[c.ID] = v
		}
	}
	learned := map[string]ModelRate{}
	for _, m := range st.Models {
		if m.Band == "all" {
			learned[m.Model] = m
		}
	}
	var out []AFRSource
	seen := map[string]bool{}
	for _, h := range p.Fleet {
		c, err := cat.Resolve(h.Model)
		if err != nil || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		m, ok := learned[c.ID]
		switch {
		case hasKey(planned, c.ID):
			out = append(out, AFRSource{Model: c.ID, AFR: planned[c.ID], Source: "plan", Why: "the plan sets it"})
		case !ok || m.DeviceYears < minYears:
			dy := 0.0
			if ok {
				dy = m.DeviceYears
			}
			out = append(out, AFRSource{Model: c.ID, AFR: p.AFR.Default, Source: "default",
				Why: fmt.Sprintf("the ledger has %.1f device-years of it, under %g", dy, minYears)})
		default:
			if p.AFR.ByModel == nil {
				p.AFR.ByModel = map[string]float64{}
			}
			a := min(m.AFR, 0.999) // the forecast needs a rate below 1
			p.AFR.ByModel[c.ID] = a
			out = append(out, AFRSource{Model: c.ID, AFR: a, Source: "ledger",
				Why: fmt.Sprintf("%d failures in %.1f device-years, %g%% interval %.2f–%.2f%%", m.Failures, m.DeviceYears, 100*st.Confidence, 100*m.AFRLow, 100*m.AFRHigh)})
		}
	}
	return out
}

func hasKey(m map[string]float64, k string) bool {
	_, ok := m[k]
	return ok
}

// LedgerFleet gives a plan without a fleet the live one: per model, the
// devices in service and in reserve. Models the catalog cannot rate at the
// plan's precision are left out and returned. A plan that has a fleet is
// left as it is; a ledger with nothing to forecast is an input error on the
// plan's fleet field (file names the plan).
func (s *Service) LedgerFleet(ctx context.Context, p *forecast.Plan, file string) (skipped []string, err error) {
	if len(p.Fleet) > 0 {
		return nil, nil
	}
	sum, err := s.Summary(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range sum.Models {
		h := forecast.Holding{Model: m.Model, InService: m.ByState[fleet.InService], Reserve: m.ByState[fleet.Reserve]}
		if h.InService == 0 && h.Reserve == 0 {
			continue
		}
		if chip, ok := s.cat.Get(m.Model); !ok {
			skipped = append(skipped, m.Model)
			continue
		} else if _, ok := chip.Dense(p.Precision); !ok {
			skipped = append(skipped, m.Model)
			continue
		}
		p.Fleet = append(p.Fleet, h)
	}
	if len(p.Fleet) == 0 {
		return skipped, &fleet.InputError{Pos: fleet.Position{File: file, Field: "fleet"}, Msg: "the plan has no fleet and the ledger has no devices in service or in reserve"}
	}
	return skipped, nil
}
