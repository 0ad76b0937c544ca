package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/granaryhq/granary/internal/inventory"
)

type failuresInput struct {
	Confidence float64 `query:"confidence" default:"0.9" exclusiveMinimum:"0" exclusiveMaximum:"1" doc:"Confidence of the intervals"`
}

// failuresRoute registers GET /api/v1/failures.
func (s *server) failuresRoute(r *Registrar) {
	Operation(r, huma.Operation{
		OperationID: "failures", Method: http.MethodGet, Path: "/api/v1/failures", Tags: []string{"devices"},
		Summary: "Failure rates learned from the ledger",
		Description: "Per model, overall and by age band: failures (events into failed from in service or maintenance) over device-years in service, " +
			"with exact Poisson intervals, and the annualized failure probability granary runway uses (docs/agent.md).",
		Errors: []int{http.StatusUnprocessableEntity},
	}, inventory.RoleViewer, func(ctx context.Context, in *failuresInput) (*body[inventory.FailureStats], error) {
		st, err := s.ledger.Failures(ctx, in.Confidence)
		if err != nil {
			return nil, err
		}
		return &body[inventory.FailureStats]{Body: st}, nil
	})
}

// CohortList is the body of GET /api/v1/fleet/cohorts.
type CohortList struct {
	Cohorts []inventory.Cohort `json:"cohorts"`
}

// cohortsRoute registers GET /api/v1/fleet/cohorts.
func (s *server) cohortsRoute(r *Registrar) {
	Operation(r, huma.Operation{
		OperationID: "fleet-cohorts", Method: http.MethodGet, Path: "/api/v1/fleet/cohorts", Tags: []string{"fleet"},
		Summary: "Devices in service and in reserve by model and entry month",
		Description: "The entry month is the acquisition month, or the month the ledger first saw the device when it has no acquisition day; " +
			"granary runway --life-from-ledger counts useful life from it.",
	}, inventory.RoleViewer, func(ctx context.Context, _ *struct{}) (*body[CohortList], error) {
		cs, err := s.ledger.Cohorts(ctx)
		if err != nil {
			return nil, err
		}
		return &body[CohortList]{Body: CohortList{Cohorts: cs}}, nil
	})
}
