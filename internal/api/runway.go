package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/forecast"
	"github.com/granaryhq/granary/internal/inventory"
)

// Runway limits: the forecast is CPU work on the server, so one request
// may ask for at most MaxRunwayPaths paths and run for at most
// RunwayTimeout.
const (
	MaxRunwayPaths = 20_000
	RunwayTimeout  = 60 * time.Second
)

type runwayInput struct {
	File    string `query:"file" maxLength:"256" doc:"Name of the plan, used in error positions"`
	Paths   int    `query:"paths" minimum:"0" maximum:"20000" doc:"Override the plan's number of Monte Carlo paths (at most 20000 here)"`
	Ledger  bool   `query:"afr_from_ledger" doc:"Per model, use the annual failure rate learned from the ledger (GET /api/v1/failures) unless the plan sets one; the Granary-AFR-Sources header says which was used"`
	RawBody []byte `contentType:"application/yaml"`
}

type runwayOutput struct {
	Sources string `header:"Granary-AFR-Sources" doc:"With afr_from_ledger: model=afr:source for each model (source plan, ledger or default)"`
	Skipped string `header:"Granary-Skipped-Models" doc:"Models of the live ledger left out because the catalog has no dense rate for them at the plan's precision (comma-separated)"`
	Body    forecast.Result
}

// runwayRoute registers POST /api/v1/runway: the runway forecast of
// internal/forecast for a plan in the body (YAML or JSON, the format of
// granary runway --plan). A plan without a fleet uses the live ledger:
// per model, devices in service and in reserve.
func (s *server) runwayRoute(r *Registrar) {
	Operation(r, huma.Operation{
		OperationID: "runway", Method: http.MethodPost, Path: "/api/v1/runway", Tags: []string{"runway"},
		Summary: "Forecast how long the stockpile lasts",
		Description: "Runs the runway Monte Carlo for the plan in the body (YAML or JSON; see docs/runway.md). " +
			"When the plan has no fleet, the live ledger is used: per model, devices in service and in reserve " +
			"(models without a dense catalog rate at the plan's precision are left out and named in the Granary-Skipped-Models header). " +
			fmt.Sprintf("At most %d paths and %v per request.", MaxRunwayPaths, RunwayTimeout),
		SkipValidateBody: true,
		MaxBodyBytes:     1 << 20,
		Errors:           []int{http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json": {Schema: &huma.Schema{Type: "object", Description: "A runway plan"}},
		}},
	}, inventory.RoleViewer, func(ctx context.Context, in *runwayInput) (*runwayOutput, error) {
		file := in.File
		if file == "" {
			file = "plan"
		}
		plan, err := forecast.ParsePlan(file, in.RawBody)
		if err != nil {
			return nil, err
		}
		if in.Paths > 0 {
			plan.Paths = in.Paths
		}
		if plan.Paths > MaxRunwayPaths {
			return nil, &fleet.InputError{Pos: fleet.Position{File: file, Field: "paths"}, Msg: fmt.Sprintf("%d paths: the server runs at most %d (pass ?paths=N)", plan.Paths, MaxRunwayPaths)}
		}
		skipped, err := s.ledger.LedgerFleet(ctx, &plan, file)
		if err != nil {
			return nil, err
		}
		var sources []string
		if in.Ledger {
			st, err := s.ledger.Failures(ctx, 0.9)
			if err != nil {
				return nil, err
			}
			for _, a := range inventory.ApplyLedgerAFR(&plan, s.ledger.Catalog(), st, inventory.DefaultMinDeviceYears) {
				sources = append(sources, fmt.Sprintf("%s=%.4f:%s", a.Model, a.AFR, a.Source))
			}
		}
		ctx, cancel := context.WithTimeout(ctx, RunwayTimeout)
		defer cancel()
		res, err := forecast.Run(ctx, plan, s.ledger.Catalog(), forecast.Options{Workers: 1})
		if err != nil {
			if ctx.Err() != nil {
				return nil, newProblem(http.StatusServiceUnavailable, fmt.Sprintf("the forecast did not finish within %v; ask for fewer paths", RunwayTimeout))
			}
			return nil, err
		}
		return &runwayOutput{Sources: strings.Join(sources, ","), Skipped: strings.Join(skipped, ","), Body: res}, nil
	})
}
