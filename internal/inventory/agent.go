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
	rp := &reportPass{s: s, tok: tok, r: r, now: s.clock(), res: ReportResult{Node: r.Node}}
	rp.save = AgentSave{Node: AgentNode{Hostname: r.Node, Token: tok.ID, LastReport: rp.now, Warnings: r.Warnings}}
	rp.file()
	for _, step := range []func(context.Context) error{rp.compare, rp.health, rp.disappeared} {
		if err := step(ctx); err != nil {
			return ReportResult{}, err
		}
	}
	if err := s.store.SaveAgentReport(ctx, rp.save); err != nil {
		return ReportResult{}, err
	}
	return rp.res, nil
}

// reportPass is the state of one Report: the devices reported, the ledger's
// view of the node, and what is to be saved.
type reportPass struct {
	s   *Service
	tok Token
	r   AgentReport
	now time.Time
	res ReportResult

	reported map[string]hwprobe.Accelerator // by key
	keys     []string                       // of reported, sorted
	onNode   []Device                       // the ledger's devices on the node
	ledger   map[string]Device              // onNode plus adopted and created
	prev     map[string]*DeviceHealth       // each device's previous report
	save     AgentSave
}

// file files each reported device under its key and resolves its model;
// devices that cannot be filed are listed as ignored.
func (rp *reportPass) file() {
	rp.reported = map[string]hwprobe.Accelerator{}
	for _, d := range rp.r.Devices {
		ign := func(why string) {
			rp.res.Ignored = append(rp.res.Ignored, IgnoredDevice{Index: d.Index, Tool: d.Tool, Serial: d.Key(), Reason: why})
		}
		k := d.Key()
		if msg := checkSerial(k); msg != "" {
			ign(msg)
			continue
		}
		if _, dup := rp.reported[k]; dup {
			ign("serial reported twice in one report")
			continue
		}
		name := d.Model
		if name == "" {
			name = d.Product
		}
		c, err := rp.s.cat.Resolve(name)
		if err != nil {
			ign("model: " + modelMsg(err))
			continue
		}
		d.Model = c.ID
		rp.reported[k] = d
		rp.keys = append(rp.keys, k)
	}
	slices.Sort(rp.keys)
	rp.res.Seen = len(rp.keys)
}

// compare sets each reported device against the ledger: on this node, on
// no node (adopted), on another node (a conflict), or new (created).
func (rp *reportPass) compare(ctx context.Context) error {
	s, r := rp.s, rp.r
	var err error
	if rp.onNode, err = s.store.Devices(ctx, Filter{Node: r.Node}); err != nil {
		return err
	}
	rp.ledger = map[string]Device{}
	for _, d := range rp.onNode {
		rp.ledger[d.Serial] = d
	}
	existing, err := s.store.ExistingSerials(ctx, rp.keys)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, k := range existing {
		known[k] = true
	}
	var batch Batch
	for _, k := range rp.keys {
		if _, ok := rp.ledger[k]; ok {
			continue
		}
		if known[k] {
			if err := rp.elsewhere(ctx, k); err != nil {
				return err
			}
			continue
		}
		p := rp.reported[k]
		d := Device{Serial: k, Model: p.Model, Node: r.Node, Site: r.Site, State: fleet.InService, UpdatedAt: rp.now, Labels: probeLabels(p)}
		batch.Devices = append(batch.Devices, d)
		batch.Events = append(batch.Events, Event{Serial: k, To: fleet.InService,
			Reason: fmt.Sprintf("discovered by agent on %s (%s: %s at %s)", r.Node, p.Tool, p.Product, orUnknown(p.PCIBus)), Actor: rp.tok.ID, At: rp.now})
		rp.res.Created = append(rp.res.Created, k)
		rp.ledger[k] = d
	}
	if len(batch.Devices) == 0 {
		return nil
	}
	batch.Nodes = []Node{{Hostname: r.Node, Site: r.Site}}
	return s.store.Insert(ctx, batch)
}

// elsewhere handles a reported serial the ledger holds off this node: a
// device on no node is adopted, one on another node is a conflict.
func (rp *reportPass) elsewhere(ctx context.Context, k string) error {
	d, err := rp.s.store.Device(ctx, k)
	if err != nil {
		return err
	}
	if d.Node == "" {
		rp.save.Adopt = append(rp.save.Adopt, k)
		rp.res.Adopted = append(rp.res.Adopted, k)
		rp.ledger[k] = d
		return nil
	}
	c := Conflict{Serial: k, Node: rp.r.Node, LedgerNode: d.Node, FirstAt: rp.now, LastAt: rp.now}
	rp.save.Conflicts = append(rp.save.Conflicts, c)
	rp.res.Conflicts = append(rp.res.Conflicts, c)
	return nil
}

// health applies the health rules to each device against its previous
// report.
func (rp *reportPass) health(ctx context.Context) error {
	s, r := rp.s, rp.r
	prevs, err := s.store.DeviceHealth(ctx, r.Node)
	if err != nil {
		return err
	}
	rp.prev = map[string]*DeviceHealth{}
	for i := range prevs {
		rp.prev[prevs[i].Serial] = &prevs[i]
	}
	for _, k := range rp.keys {
		d, ok := rp.ledger[k]
		if !ok {
			continue // a conflict
		}
		p := rp.reported[k]
		v := s.rules.Evaluate(rp.prev[k], p)
		rp.save.Health = append(rp.save.Health, DeviceHealth{Serial: k, Node: r.Node, Model: d.Model, At: rp.now, Probe: p, ThermalStreak: ThermalStreak(rp.prev[k], p.Health)})
		if v.To != "" {
			if err := s.agentMove(ctx, &rp.res, k, v.To, "agent "+r.Node+": "+v.Reason, rp.tok.ID); err != nil {
				return err
			}
		}
	}
	rp.save.Node.Devices = len(rp.save.Health)
	return nil
}

// disappeared moves to maintenance the devices this node had that a clean
// run of their tool no longer lists.
func (rp *reportPass) disappeared(ctx context.Context) error {
	if !rp.s.rules.Disappeared {
		return nil
	}
	clean := map[string]bool{}
	for _, t := range rp.r.Tools {
		if t.Clean {
			clean[strings.ToLower(t.Vendor)] = true
		}
	}
	for _, d := range rp.onNode {
		last := rp.prev[d.Serial]
		if _, ok := rp.reported[d.Serial]; ok || last == nil {
			continue // still here, or never reported by an agent
		}
		if !clean[last.Probe.Vendor] {
			continue
		}
		reason := fmt.Sprintf("agent %s: disappeared: %s no longer lists it (last seen %s at %s)", rp.r.Node,
			last.Probe.Tool, last.At.Format(time.RFC3339), orUnknown(last.Probe.PCIBus))
		if err := rp.s.agentMove(ctx, &rp.res, d.Serial, fleet.Maintenance, reason, rp.tok.ID); err != nil {
			return err
		}
	}
	return nil
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
