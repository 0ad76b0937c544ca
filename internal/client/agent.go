package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/inventory"
)

// Report sends a node agent's report (needs an agent token for r.Node).
func (c *Client) Report(ctx context.Context, r inventory.AgentReport) (inventory.ReportResult, error) {
	var out inventory.ReportResult
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/agent/reports", r, &out)
	return out, err
}

// CreateAgentToken makes a token that may only report for node (needs an
// admin token).
func (c *Client) CreateAgentToken(ctx context.Context, node, name string) (api.CreatedToken, error) {
	var out api.CreatedToken
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/tokens", api.NewToken{Role: inventory.RoleAgent, Node: node, Name: name}, &out)
	return out, err
}

// AgentNodes lists the nodes whose agents report.
func (c *Client) AgentNodes(ctx context.Context) ([]inventory.AgentNode, error) {
	return allPages[inventory.AgentNode, api.AgentNodeList](ctx, c, "/api/v1/agents", nil)
}

// Conflicts lists serials reported on one node that the ledger holds on
// another.
func (c *Client) Conflicts(ctx context.Context) ([]inventory.Conflict, error) {
	return allPages[inventory.Conflict, api.ConflictList](ctx, c, "/api/v1/agents/conflicts", nil)
}

// DeviceHealth returns the latest agent report of every device on node
// ("" = all).
func (c *Client) DeviceHealth(ctx context.Context, node string) ([]inventory.DeviceHealth, error) {
	q := url.Values{}
	if node != "" {
		q.Set("node", node)
	}
	return allPages[inventory.DeviceHealth, api.HealthList](ctx, c, "/api/v1/health", q)
}

// Failures returns the failure rates learned from the ledger, with
// intervals at confidence conf (0 = the server's default, 0.9).
func (c *Client) Failures(ctx context.Context, conf float64) (inventory.FailureStats, error) {
	var out inventory.FailureStats
	q := url.Values{}
	if conf > 0 {
		q.Set("confidence", strconv.FormatFloat(conf, 'g', -1, 64))
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/failures", q, "", nil, &out)
	return out, err
}
