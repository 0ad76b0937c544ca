package runwaycmd

import (
	"context"
	"net/http"

	"github.com/granaryhq/granary/internal/inventory"
)

// LedgerFailures reads the failure rates a control plane learned from its
// ledger (GET /api/v1/failures).
func LedgerFailures(ctx context.Context, client *http.Client, server, token string) (inventory.FailureStats, error) {
	var st inventory.FailureStats
	_, err := getJSON(ctx, client, server, "/api/v1/failures", token, &st)
	return st, err
}
