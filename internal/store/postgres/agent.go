package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/granaryhq/granary/internal/inventory"
)

// SaveAgentReport implements inventory.AgentStore.
func (s *Store) SaveAgentReport(ctx context.Context, a inventory.AgentSave) error {
	warn := a.Node.Warnings
	if warn == nil {
		warn = []string{}
	}
	wj, err := json.Marshal(warn)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n := a.Node
		if _, err := tx.Exec(ctx, `INSERT INTO agent_nodes (hostname, token, last_report, devices, warnings) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (hostname) DO UPDATE SET token = excluded.token, last_report = excluded.last_report, devices = excluded.devices, warnings = excluded.warnings`,
			n.Hostname, n.Token, n.LastReport, n.Devices, string(wj)); err != nil {
			return err
		}
		var b pgx.Batch
		for _, h := range a.Health {
			probe, err := json.Marshal(h.Probe)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO device_health (serial, node, model, at, probe, thermal_streak) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (serial) DO UPDATE SET node = excluded.node, model = excluded.model, at = excluded.at, probe = excluded.probe, thermal_streak = excluded.thermal_streak`,
				h.Serial, h.Node, h.Model, h.At, string(probe), h.ThermalStreak)
		}
		for _, serial := range a.Adopt {
			b.Queue("UPDATE devices SET node = $1 WHERE serial = $2 AND node = ''", n.Hostname, serial)
		}
		if len(a.Adopt) > 0 {
			b.Queue("INSERT INTO nodes (hostname) VALUES ($1) ON CONFLICT (hostname) DO NOTHING", n.Hostname)
		}
		for _, c := range a.Conflicts {
			b.Queue(`INSERT INTO agent_conflicts (serial, node, ledger_node, first_at, last_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (serial, node) DO UPDATE SET ledger_node = excluded.ledger_node, last_at = excluded.last_at`,
				c.Serial, c.Node, c.LedgerNode, c.FirstAt, c.LastAt)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

// DeviceHealth implements inventory.AgentStore.
func (s *Store) DeviceHealth(ctx context.Context, node string) ([]inventory.DeviceHealth, error) {
	q, args := "SELECT serial, node, model, at, probe, thermal_streak FROM device_health ORDER BY serial", []any{}
	if node != "" {
		// A separate statement, so the planner uses device_health_node.
		q, args = "SELECT serial, node, model, at, probe, thermal_streak FROM device_health WHERE node = $1 ORDER BY serial", []any{node}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.DeviceHealth, error) {
		var (
			h     inventory.DeviceHealth
			probe []byte
		)
		if err := r.Scan(&h.Serial, &h.Node, &h.Model, &h.At, &probe, &h.ThermalStreak); err != nil {
			return h, err
		}
		h.At = h.At.UTC()
		if err := json.Unmarshal(probe, &h.Probe); err != nil {
			return h, fmt.Errorf("device_health %s: %w", h.Serial, err)
		}
		return h, nil
	})
	if out == nil && err == nil {
		out = []inventory.DeviceHealth{}
	}
	return out, err
}

// AgentNodes implements inventory.AgentStore.
func (s *Store) AgentNodes(ctx context.Context) ([]inventory.AgentNode, error) {
	rows, err := s.pool.Query(ctx, "SELECT hostname, token, last_report, devices, warnings FROM agent_nodes ORDER BY hostname")
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.AgentNode, error) {
		var (
			n    inventory.AgentNode
			warn []byte
		)
		if err := r.Scan(&n.Hostname, &n.Token, &n.LastReport, &n.Devices, &warn); err != nil {
			return n, err
		}
		n.LastReport = n.LastReport.UTC()
		if err := json.Unmarshal(warn, &n.Warnings); err != nil {
			return n, err
		}
		if len(n.Warnings) == 0 {
			n.Warnings = nil
		}
		return n, nil
	})
	if out == nil && err == nil {
		out = []inventory.AgentNode{}
	}
	return out, err
}

// Conflicts implements inventory.AgentStore.
func (s *Store) Conflicts(ctx context.Context) ([]inventory.Conflict, error) {
	rows, err := s.pool.Query(ctx, "SELECT serial, node, ledger_node, first_at, last_at FROM agent_conflicts ORDER BY serial, node")
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.Conflict, error) {
		var c inventory.Conflict
		err := r.Scan(&c.Serial, &c.Node, &c.LedgerNode, &c.FirstAt, &c.LastAt)
		c.FirstAt, c.LastAt = c.FirstAt.UTC(), c.LastAt.UTC()
		return c, err
	})
	if out == nil && err == nil {
		out = []inventory.Conflict{}
	}
	return out, err
}
