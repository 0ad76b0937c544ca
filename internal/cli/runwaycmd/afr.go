package runwaycmd

import (
	"context"
	"fmt"
	"net/http"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/forecast"
	"github.com/granaryhq/granary/internal/inventory"
)

// LedgerFailures reads the failure rates a control plane learned from its
// ledger (GET /api/v1/failures).
func LedgerFailures(ctx context.Context, client *http.Client, server, token string) (inventory.FailureStats, error) {
	var st inventory.FailureStats
	_, err := getJSON(ctx, client, server, "/api/v1/failures", token, &st)
	return st, err
}

// LedgerCohorts reads the fleet by model and entry month from a control
// plane (GET /api/v1/fleet/cohorts) as holdings whose useful life starts
// in that month, and says how many dates were acquisition days and how
// many first-seen dates.
func LedgerCohorts(ctx context.Context, client *http.Client, server, token string) ([]forecast.Holding, string, error) {
	var body struct {
		Cohorts []inventory.Cohort `json:"cohorts"`
	}
	u, err := getJSON(ctx, client, server, "/api/v1/fleet/cohorts", token, &body)
	if err != nil {
		return nil, "", err
	}
	var (
		out            []forecast.Holding
		acquired, seen int
	)
	for _, c := range body.Cohorts {
		m, err := forecast.ParseMonth(c.Month)
		if err != nil {
			return nil, "", fmt.Errorf("%s: cohort %s %s: %w", u, c.Model, c.Month, err)
		}
		out = append(out, forecast.Holding{Model: c.Model, InService: c.InService, Reserve: c.Reserve, Acquired: &m})
		if c.Source == "acquired" {
			acquired += c.InService
		} else {
			seen += c.InService
		}
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("%s: the live inventory has no devices in service or in reserve: %w", u, fleet.ErrInvalid)
	}
	return out, fmt.Sprintf("useful life of %d devices in service counted from their acquisition month, of %d from the month the ledger first saw them", acquired, seen), nil
}
