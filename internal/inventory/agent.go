package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/hwprobe"
)

// AgentReport is what a node agent sends: the node it runs on, the
// devices its vendor tools found, which tools ran cleanly, and the
// warnings they produced.
type AgentReport struct {
	Node     string                `json:"node"`
	Site     string                `json:"site,omitempty"` // for nodes and devices first seen
	Devices  []hwprobe.Accelerator `json:"devices"`
	Tools    []hwprobe.ToolRun     `json:"tools,omitempty"`
	Warnings []string              `json:"warnings,omitempty"`
}

// MaxReportDevices bounds one report.
const MaxReportDevices = 1024

// ReportResult is what the server did with a report.
type ReportResult struct {
	Node      string          `json:"node"`
	Seen      int             `json:"seen"`                // devices in the report that were filed
	Created   []string        `json:"created,omitempty"`   // serials entered into the ledger
	Adopted   []string        `json:"adopted,omitempty"`   // imported serials without a node, now on this node
	Changed   []Event         `json:"changed,omitempty"`   // state changes the health rules made
	Conflicts []Conflict      `json:"conflicts,omitempty"` // serials the ledger holds on another node (not applied)
	Ignored   []IgnoredDevice `json:"ignored,omitempty"`   // devices not filed, with why
}

// IgnoredDevice is a reported device the server did not file.
type IgnoredDevice struct {
	Index  int    `json:"index"`
	Tool   string `json:"tool"`
	Serial string `json:"serial,omitempty"`
	Reason string `json:"reason"`
}

// Conflict is a serial reported by one node's agent that the ledger holds
// on another node: it waits for an operator and is never applied.
type Conflict struct {
	Serial     string    `json:"serial"`
	Node       string    `json:"node"`        // the node whose agent reported it
	LedgerNode string    `json:"ledger_node"` // where the ledger has it
	FirstAt    time.Time `json:"first_at"`
	LastAt     time.Time `json:"last_at"`
}

// DeviceHealth is the latest report of one device, kept to compare the
// next one with and to serve health metrics.
type DeviceHealth struct {
	Serial        string              `json:"serial"`
	Node          string              `json:"node"`
	Model         string              `json:"model"`
	At            time.Time           `json:"at"`
	Probe         hwprobe.Accelerator `json:"probe"`
	ThermalStreak int                 `json:"thermal_streak"` // consecutive reports with a thermal slowdown
}

// AgentNode is a node whose agent has reported.
type AgentNode struct {
	Hostname   string    `json:"hostname"`
	Token      string    `json:"token"` // id of the token that last reported
	LastReport time.Time `json:"last_report"`
	Devices    int       `json:"devices"`
	Warnings   []string  `json:"warnings,omitempty"`
	// Reachable is false once the agent has been silent longer than the
	// grace period (computed when read, never stored).
	Reachable bool `json:"reachable"`
}

// AgentSave is what one report writes besides devices and events, in one
// transaction.
type AgentSave struct {
	Node      AgentNode
	Health    []DeviceHealth // replace each device's previous snapshot
	Adopt     []string       // serials whose empty node becomes Node.Hostname
	Conflicts []Conflict     // upserted by (serial, node): FirstAt kept, LastAt updated
}

// AgentStore keeps what agents report. internal/store/storetest checks it.
type AgentStore interface {
	// SaveAgentReport writes s in one transaction.
	SaveAgentReport(ctx context.Context, s AgentSave) error
	// DeviceHealth returns the latest snapshot of every device last
	// reported by node's agent ("" = every node), ordered by serial.
	DeviceHealth(ctx context.Context, node string) ([]DeviceHealth, error)
	// AgentNodes returns every node whose agent has reported, by hostname.
	AgentNodes(ctx context.Context) ([]AgentNode, error)
	// Conflicts returns every open conflict, by serial then node.
	Conflicts(ctx context.Context) ([]Conflict, error)
}

// DefaultAgentGrace is how long an agent may stay silent before its node
// is shown unreachable (ten missed 30-second reports).
const DefaultAgentGrace = 5 * time.Minute

// checkHostname returns why s is not a usable node name, or "".
func checkHostname(s string) string {
	switch {
	case s == "":
		return "missing node hostname"
	case fleet.CheckText(s, 253) != "":
		return "node hostname " + fleet.CheckText(s, 253)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return fmt.Sprintf("node hostname %q has spaces or control characters", s)
	}
	return ""
}

// Report files an agent's report: devices first seen enter the ledger in
// service (or, when an imported serial without a node matches, are adopted
// by the node), the health rules move devices in service or reserve to
// maintenance or failed with the evidence as the event's reason and the
// token as its actor, and devices that vanished while their tool ran
// cleanly go to maintenance. A serial the ledger holds on another node is
// a Conflict, never applied. Only an agent token whose Node is r.Node may
// report (fleet.ErrForbidden otherwise); a malformed report wraps
// fleet.ErrInvalid and changes nothing.
func (s *Service) Report(ctx context.Context, tok Token, r AgentReport) (ReportResult, error) {
	if tok.Role != RoleAgent {
		return ReportResult{}, fmt.Errorf("%w: only agent tokens report hardware; token %s has role %s", fleet.ErrForbidden, tok.ID, tok.Role)
	}
	r.Node = strings.TrimSpace(r.Node)
	if r.Node != tok.Node {
		return ReportResult{}, fmt.Errorf("%w: token %s may only report for node %q, not %q", fleet.ErrForbidden, tok.ID, tok.Node, r.Node)
	}
	if err := checkReport(r); err != nil {
		return ReportResult{}, err
	}
	now := s.clock()
	res := ReportResult{Node: r.Node}

	// 1. File each reported device under its key and resolve its model.
	var (
		reported = map[string]hwprobe.Accelerator{}
		keys     []string
	)
	for _, d := range r.Devices {
		ign := func(why string) {
			res.Ignored = append(res.Ignored, IgnoredDevice{Index: d.Index, Tool: d.Tool, Serial: d.Key(), Reason: why})
		}
		k := d.Key()
		if msg := checkSerial(k); msg != "" {
			ign(msg)
			continue
		}
		if _, dup := reported[k]; dup {
			ign("serial reported twice in one report")
			continue
		}
		name := d.Model
		if name == "" {
			name = d.Product
		}
		c, err := s.cat.Resolve(name)
		if err != nil {
			ign("model: " + modelMsg(err))
			continue
		}
		d.Model = c.ID
		reported[k] = d
		keys = append(keys, k)
	}
	slices.Sort(keys)
	res.Seen = len(keys)

	// 2. Compare with the ledger: on this node, elsewhere, or new.
	onNode, err := s.store.Devices(ctx, Filter{Node: r.Node})
	if err != nil {
		return ReportResult{}, err
	}
	ledger := map[string]Device{}
	for _, d := range onNode {
		ledger[d.Serial] = d
	}
	existing, err := s.store.ExistingSerials(ctx, keys)
	if err != nil {
		return ReportResult{}, err
	}
	known := map[string]bool{}
	for _, k := range existing {
		known[k] = true
	}
	save := AgentSave{Node: AgentNode{Hostname: r.Node, Token: tok.ID, LastReport: now, Warnings: r.Warnings}}
	var batch Batch
	for _, k := range keys {
		if _, ok := ledger[k]; ok {
			continue
		}
		if known[k] {
			d, err := s.store.Device(ctx, k)
			if err != nil {
				return ReportResult{}, err
			}
			if d.Node == "" {
				save.Adopt = append(save.Adopt, k)
				res.Adopted = append(res.Adopted, k)
				ledger[k] = d
				continue
			}
			c := Conflict{Serial: k, Node: r.Node, LedgerNode: d.Node, FirstAt: now, LastAt: now}
			save.Conflicts = append(save.Conflicts, c)
			res.Conflicts = append(res.Conflicts, c)
			continue
		}
		p := reported[k]
		d := Device{Serial: k, Model: p.Model, Node: r.Node, Site: r.Site, State: fleet.InService, UpdatedAt: now, Labels: probeLabels(p)}
		batch.Devices = append(batch.Devices, d)
		batch.Events = append(batch.Events, Event{Serial: k, To: fleet.InService,
			Reason: fmt.Sprintf("discovered by agent on %s (%s: %s at %s)", r.Node, p.Tool, p.Product, orUnknown(p.PCIBus)), Actor: tok.ID, At: now})
		res.Created = append(res.Created, k)
		ledger[k] = d
	}
	if len(batch.Devices) > 0 {
		batch.Nodes = []Node{{Hostname: r.Node, Site: r.Site}}
		if err := s.store.Insert(ctx, batch); err != nil {
			return ReportResult{}, err
		}
	}

	// 3. Health rules, against each device's previous report.
	prevs, err := s.store.DeviceHealth(ctx, r.Node)
	if err != nil {
		return ReportResult{}, err
	}
	prev := map[string]*DeviceHealth{}
	for i := range prevs {
		prev[prevs[i].Serial] = &prevs[i]
	}
	for _, k := range keys {
		d, ok := ledger[k]
		if !ok {
			continue // a conflict
		}
		p := reported[k]
		v := s.rules.Evaluate(prev[k], p)
		save.Health = append(save.Health, DeviceHealth{Serial: k, Node: r.Node, Model: d.Model, At: now, Probe: p, ThermalStreak: ThermalStreak(prev[k], p.Health)})
		if v.To != "" {
			if err := s.agentMove(ctx, &res, k, v.To, "agent "+r.Node+": "+v.Reason, tok.ID); err != nil {
				return ReportResult{}, err
			}
		}
	}
	save.Node.Devices = len(save.Health)

	// 4. Devices this node had that a clean tool run no longer lists.
	if s.rules.Disappeared {
		clean := map[string]bool{}
		for _, t := range r.Tools {
			if t.Clean {
				clean[strings.ToLower(t.Vendor)] = true
			}
		}
		for _, d := range onNode {
			if _, ok := reported[d.Serial]; ok || prev[d.Serial] == nil {
				continue // still here, or never reported by an agent
			}
			if !clean[prev[d.Serial].Probe.Vendor] {
				continue
			}
			reason := fmt.Sprintf("agent %s: disappeared: %s no longer lists it (last seen %s at %s)", r.Node,
				prev[d.Serial].Probe.Tool, prev[d.Serial].At.Format(time.RFC3339), orUnknown(prev[d.Serial].Probe.PCIBus))
			if err := s.agentMove(ctx, &res, d.Serial, fleet.Maintenance, reason, tok.ID); err != nil {
				return ReportResult{}, err
			}
		}
	}
	if err := s.store.SaveAgentReport(ctx, save); err != nil {
		return ReportResult{}, err
	}
	return res, nil
}

// agentMove changes a device's state if it is in service or in reserve.
func (s *Service) agentMove(ctx context.Context, res *ReportResult, serial string, to fleet.DeviceState, reason, actor string) error {
	errSkip := errors.New("not the agent's to move")
	ev, err := s.store.UpdateState(ctx, serial, func(d Device) (Event, error) {
		if d.State != fleet.InService && d.State != fleet.Reserve {
			return Event{}, errSkip
		}
		return Event{Serial: serial, From: d.State, To: to, Reason: reason, Actor: actor, At: s.clock()}, nil
	})
	if errors.Is(err, errSkip) {
		return nil
	}
	if err != nil {
		return err
	}
	res.Changed = append(res.Changed, ev)
	return nil
}

func checkReport(r AgentReport) error {
	var errs fleet.InputErrors
	if msg := checkHostname(r.Node); msg != "" {
		errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: "node"}, Msg: msg})
	}
	if msg := fleet.CheckText(r.Site, MaxPlaceBytes); msg != "" {
		errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: "site"}, Msg: msg})
	}
	if len(r.Devices) > MaxReportDevices {
		errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: "devices"}, Msg: fmt.Sprintf("%d devices; at most %d per report", len(r.Devices), MaxReportDevices)})
	}
	return errs.Err()
}

// probeLabels are the labels a device first seen by an agent gets.
func probeLabels(p hwprobe.Accelerator) map[string]string {
	l := map[string]string{"vendor": p.Vendor}
	if p.UUID != "" && p.UUID != p.Serial {
		l["uuid"] = p.UUID
	}
	if p.PCIBus != "" {
		l["pci_bus"] = p.PCIBus
	}
	return l
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown bus"
	}
	return s
}

// AgentNodes lists the nodes whose agents have reported, each marked
// unreachable once silent for longer than the grace period.
func (s *Service) AgentNodes(ctx context.Context) ([]AgentNode, error) {
	ns, err := s.store.AgentNodes(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	for i := range ns {
		ns[i].Reachable = now.Sub(ns[i].LastReport) <= s.grace
	}
	return ns, nil
}

// DeviceHealth returns the latest agent report of every device on node
// ("" = all nodes).
func (s *Service) DeviceHealth(ctx context.Context, node string) ([]DeviceHealth, error) {
	return s.store.DeviceHealth(ctx, node)
}

// Conflicts lists serials reported on one node that the ledger holds on
// another.
func (s *Service) Conflicts(ctx context.Context) ([]Conflict, error) { return s.store.Conflicts(ctx) }
