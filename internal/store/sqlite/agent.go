package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/granaryhq/granary/internal/inventory"
)

// SaveAgentReport implements inventory.AgentStore.
func (s *Store) SaveAgentReport(ctx context.Context, a inventory.AgentSave) error {
	warn, err := json.Marshal(nonNil(a.Node.Warnings))
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	n := a.Node
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_nodes (hostname, token, last_report, devices, warnings) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hostname) DO UPDATE SET token = excluded.token, last_report = excluded.last_report, devices = excluded.devices, warnings = excluded.warnings`,
		n.Hostname, n.Token, n.LastReport.UnixMicro(), n.Devices, string(warn)); err != nil {
		return err
	}
	for _, h := range a.Health {
		probe, err := json.Marshal(h.Probe)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_health (serial, node, model, at, probe, thermal_streak) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (serial) DO UPDATE SET node = excluded.node, model = excluded.model, at = excluded.at, probe = excluded.probe, thermal_streak = excluded.thermal_streak`,
			h.Serial, h.Node, h.Model, h.At.UnixMicro(), string(probe), h.ThermalStreak); err != nil {
			return fmt.Errorf("device %s: %w", h.Serial, err)
		}
	}
	for _, serial := range a.Adopt {
		if _, err := tx.ExecContext(ctx, "UPDATE devices SET node = ? WHERE serial = ? AND node = ''", n.Hostname, serial); err != nil {
			return err
		}
	}
	if len(a.Adopt) > 0 {
		if _, err := tx.ExecContext(ctx, "INSERT INTO nodes (hostname) VALUES (?) ON CONFLICT (hostname) DO NOTHING", n.Hostname); err != nil {
			return err
		}
	}
	for _, c := range a.Conflicts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_conflicts (serial, node, ledger_node, first_at, last_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (serial, node) DO UPDATE SET ledger_node = excluded.ledger_node, last_at = excluded.last_at`,
			c.Serial, c.Node, c.LedgerNode, c.FirstAt.UnixMicro(), c.LastAt.UnixMicro()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DeviceHealth implements inventory.AgentStore.
func (s *Store) DeviceHealth(ctx context.Context, node string) ([]inventory.DeviceHealth, error) {
	q := "SELECT serial, node, model, at, probe, thermal_streak FROM device_health"
	var args []any
	if node != "" {
		q += " WHERE node = ?"
		args = append(args, node)
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY serial", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []inventory.DeviceHealth{}
	for rows.Next() {
		var (
			h     inventory.DeviceHealth
			at    int64
			probe string
		)
		if err := rows.Scan(&h.Serial, &h.Node, &h.Model, &at, &probe, &h.ThermalStreak); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(probe), &h.Probe); err != nil {
			return nil, fmt.Errorf("device_health %s: %w", h.Serial, err)
		}
		h.At = time.UnixMicro(at).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// AgentNodes implements inventory.AgentStore.
func (s *Store) AgentNodes(ctx context.Context) ([]inventory.AgentNode, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT hostname, token, last_report, devices, warnings FROM agent_nodes ORDER BY hostname")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []inventory.AgentNode{}
	for rows.Next() {
		var (
			n    inventory.AgentNode
			at   int64
			warn string
		)
		if err := rows.Scan(&n.Hostname, &n.Token, &at, &n.Devices, &warn); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(warn), &n.Warnings); err != nil {
			return nil, fmt.Errorf("agent_nodes %s: %w", n.Hostname, err)
		}
		if len(n.Warnings) == 0 {
			n.Warnings = nil
		}
		n.LastReport = time.UnixMicro(at).UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

// Conflicts implements inventory.AgentStore.
func (s *Store) Conflicts(ctx context.Context) ([]inventory.Conflict, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT serial, node, ledger_node, first_at, last_at FROM agent_conflicts ORDER BY serial, node")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []inventory.Conflict{}
	for rows.Next() {
		var (
			c           inventory.Conflict
			first, last int64
		)
		if err := rows.Scan(&c.Serial, &c.Node, &c.LedgerNode, &first, &last); err != nil {
			return nil, err
		}
		c.FirstAt, c.LastAt = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
