package inventory

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
)

// Classifier names a chip's export-control class for the summary, e.g.
// "3A090.a" or "not controlled". internal/exportctl provides the real one.
type Classifier func(accel.Chip) string

// ExportClassifier classifies chips under an export-control rule set: the
// band ("3A090.a", "3A090.b", "not-3A090" or "insufficient-data").
func ExportClassifier(rs exportctl.RuleSet) Classifier {
	return func(c accel.Chip) string { return string(exportctl.Classify(c, rs).Classification) }
}

// Config is what a Service is built from. Store and Catalog are required.
type Config struct {
	Store   Store
	Catalog *accel.Catalog
	// Now is the clock for event times and token creation. Nil means time.Now.
	Now func() time.Time
	// Classify labels models in the summary. Nil means ExportClassifier
	// under the latest export-control rule set.
	Classify Classifier
	// Random is the entropy for token secrets and ids. Nil means crypto/rand.
	Random io.Reader
	// Rules turn agent reports into states. Nil means DefaultHealthRules.
	Rules *HealthRules
	// AgentGrace is how long an agent may be silent before its node is
	// unreachable. 0 means DefaultAgentGrace.
	AgentGrace time.Duration
}

// Service is the ledger's use-cases. It is safe for concurrent use; all
// state lives in the Store.
type Service struct {
	store    Store
	cat      *accel.Catalog
	now      func() time.Time
	classify Classifier
	random   io.Reader
	rules    HealthRules
	grace    time.Duration
	fails    failureCache
}

// New builds a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Catalog == nil {
		return nil, errors.New("inventory: Config needs a Store and a Catalog")
	}
	s := &Service{store: c.Store, cat: c.Catalog, now: c.Now, classify: c.Classify, random: c.Random}
	if s.now == nil {
		s.now = time.Now
	}
	if s.classify == nil {
		s.classify = ExportClassifier(exportctl.Latest())
	}
	if s.random == nil {
		s.random = cryptoRand
	}
	s.rules, s.grace = DefaultHealthRules(), c.AgentGrace
	if c.Rules != nil {
		if err := c.Rules.Validate(); err != nil {
			return nil, fmt.Errorf("inventory: health rules: %w", err)
		}
		s.rules = *c.Rules
	}
	if s.grace <= 0 {
		s.grace = DefaultAgentGrace
	}
	return s, nil
}

// Catalog returns the catalog the service resolves models with.
func (s *Service) Catalog() *accel.Catalog { return s.cat }

// clock is the service time, in UTC and truncated to the microsecond (what
// every store keeps), so an event reads back exactly as it was written.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Create validates d, resolves its model to a catalog id, and stores it with
// a creation event (From "", To d.State, Reason "created" unless reason is
// given). A duplicate serial wraps fleet.ErrConflict; invalid fields are a
// fleet.InputErrors naming each field (wraps fleet.ErrInvalid).
func (s *Service) Create(ctx context.Context, d Device, reason, actor string) (Device, error) {
	var errs fleet.InputErrors
	d, errs = s.normalize(d, fleet.Position{Entry: d.Serial}, errs)
	if err := errs.Err(); err != nil {
		return Device{}, err
	}
	if reason == "" {
		reason = "created"
	}
	now := s.clock()
	d.UpdatedAt = now
	b := Batch{Devices: []Device{d}, Events: []Event{{Serial: d.Serial, To: d.State, Reason: reason, Actor: actor, At: now}}}
	if d.Node != "" {
		b.Nodes = []Node{{Hostname: d.Node, Site: d.Site}}
	}
	if err := s.store.Insert(ctx, b); err != nil {
		return Device{}, err
	}
	return d, nil
}

// normalize checks one device's fields, resolving Model to a catalog id and
// truncating dates to the day. Problems are appended to errs at pos (Field
// is filled in).
func (s *Service) normalize(d Device, pos fleet.Position, errs fleet.InputErrors) (Device, fleet.InputErrors) {
	add := func(field, msg string) {
		p := pos
		p.Field = field
		errs = append(errs, &fleet.InputError{Pos: p, Msg: msg})
	}
	if msg := checkSerial(d.Serial); msg != "" {
		add("serial", msg)
	}
	if d.Model == "" {
		add("model", "missing model")
	} else if c, err := s.cat.Resolve(d.Model); err != nil {
		add("model", modelMsg(err))
	} else {
		d.Model = c.ID
	}
	if st, err := fleet.ParseDeviceState(string(d.State)); err != nil {
		add("state", err.Error())
	} else {
		d.State = st
	}
	if d.CostUSD != nil && !(*d.CostUSD >= 0 && *d.CostUSD < MaxCostUSD) {
		add("cost_usd", fmt.Sprintf("cost %v is outside 0 to %g USD", *d.CostUSD, MaxCostUSD))
	}
	for _, k := range sortedLabelKeys(d.Labels) {
		if msg := checkLabel(k, d.Labels[k]); msg != "" {
			add("labels", msg)
		}
	}
	for _, f := range []struct{ name, v string }{{"node", d.Node}, {"site", d.Site}, {"pool", d.Pool}} {
		if msg := fleet.CheckText(f.v, MaxPlaceBytes); msg != "" {
			add(f.name, msg)
		}
	}
	d.Acquired = day(d.Acquired)
	d.WarrantyUntil = day(d.WarrantyUntil)
	if msg := warrantyMsg(&d); msg != "" {
		add("warranty_until", msg)
	}
	return d, errs
}

// warrantyMsg is the problem with d's warranty, if it ends before d was
// acquired.
func warrantyMsg(d *Device) string {
	if !d.Acquired.IsZero() && !d.WarrantyUntil.IsZero() && d.WarrantyUntil.Before(d.Acquired) {
		return fmt.Sprintf("warranty ends %s, before the device was acquired (%s)", d.WarrantyUntil.Format(time.DateOnly), d.Acquired.Format(time.DateOnly))
	}
	return ""
}

func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, dd := t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
}

// Text bounds of the ledger (docs/limits.md). Every string is also
// checked by fleet.CheckText: valid UTF-8, no NUL or control characters.
const (
	MaxSerialBytes     = 128
	MaxPlaceBytes      = 256 // node, site, pool
	MaxLabelKeyBytes   = 128
	MaxLabelValueBytes = 1024
	MaxReasonBytes     = 1024
	MaxTokenNameBytes  = 200
	// MaxCostUSD bounds a device's cost (exclusive): sums over a fleet
	// stay exact to the cent.
	MaxCostUSD = 1e12
)

// checkSerial returns why s is not a valid serial, or "". A serial is a
// path segment of the API (/api/v1/devices/{serial}), so "." and ".."
// are refused: clients and proxies rewrite them.
func checkSerial(s string) string {
	switch {
	case s == "":
		return "missing serial"
	case s == "." || s == "..":
		return fmt.Sprintf("serial %q is not allowed (it is a relative path segment)", s)
	}
	if msg := fleet.CheckText(s, MaxSerialBytes); msg != "" {
		return "serial " + msg
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fmt.Sprintf("serial %q has spaces or control characters", s)
	}
	return ""
}

// checkLabel returns why a label cannot be stored, or "". Keys may not
// contain '=' or ';' (the CSV labels cell is k=v;k=v) or surrounding
// spaces.
func checkLabel(k, v string) string {
	switch {
	case k == "" || strings.ContainsAny(k, "=;") || strings.TrimSpace(k) != k:
		return fmt.Sprintf("bad label key %q (not empty, no '=', ';' or surrounding spaces)", k)
	}
	if msg := fleet.CheckText(k, MaxLabelKeyBytes); msg != "" {
		return "label key " + msg
	}
	if msg := fleet.CheckText(v, MaxLabelValueBytes); msg != "" {
		return fmt.Sprintf("label %s: value %s", k, msg)
	}
	return ""
}

func sortedLabelKeys(l map[string]string) []string {
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Get returns one device or an error wrapping fleet.ErrNotFound.
func (s *Service) Get(ctx context.Context, serial string) (Device, error) {
	return s.store.Device(ctx, serial)
}

// List returns one page of devices matching f, ordered by f.Sort then
// serial. f.Model may be any name the catalog resolves; f.After is a cursor
// from a previous Page.Next. A bad model, class, rule set, state, sort or
// cursor wraps fleet.ErrInvalid.
func (s *Service) List(ctx context.Context, f Filter) (Page, error) {
	f, none, err := s.resolve(f)
	if err != nil {
		return Page{}, err
	}
	if f.After != "" {
		after, err := decodeCursor(f.After)
		if err != nil {
			return Page{}, err
		}
		f.After = after
		if col, _ := SplitSort(f.Sort); col != "" {
			// A sorted cursor is "key NUL serial".
			key, serial, ok := strings.Cut(after, "\x00")
			if !ok || serial == "" {
				return Page{}, fmt.Errorf("%w: bad cursor %q for sort %s", fleet.ErrInvalid, f.After, f.Sort)
			}
			f.AfterKey, f.After = key, serial
		}
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultPageSize
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	if none {
		return Page{Devices: []Device{}}, nil
	}
	f.Limit = limit + 1
	ds, err := s.store.Devices(ctx, f)
	if err != nil {
		return Page{}, err
	}
	p := Page{Devices: ds}
	if len(ds) > limit {
		p.Devices = ds[:limit]
		last := ds[limit-1]
		if col, _ := SplitSort(f.Sort); col == "" {
			p.Next = encodeCursor(last.Serial)
		} else {
			p.Next = encodeCursor(last.SortKey(f.Sort) + "\x00" + last.Serial)
		}
	}
	if p.Devices == nil {
		p.Devices = []Device{}
	}
	return p, nil
}

// Count returns how many devices match f's filters (model, models, class,
// state, site, pool, node, free text); Sort, After and Limit are ignored.
// The store counts them with the same conditions List uses. Bad input wraps
// fleet.ErrInvalid, as for List.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	f, none, err := s.resolve(f)
	if err != nil || none {
		return 0, err
	}
	f.After, f.AfterKey, f.Sort, f.Limit = "", "", "", 0
	return s.store.CountDevices(ctx, f)
}

// resolve checks f and puts it in the store's terms: catalog ids for
// models, the class as the set of models in it (intersected with
// f.Models), a parsed state and sort, and lower-case free text. none is
// true when no device can match (a class no model of the catalog is in).
func (s *Service) resolve(f Filter) (_ Filter, none bool, _ error) {
	if f.Model != "" {
		c, err := s.cat.Resolve(f.Model)
		if err != nil {
			return f, false, fmt.Errorf("%w: model: %w", fleet.ErrInvalid, err)
		}
		f.Model = c.ID
	}
	if len(f.Models) > 0 {
		ids := make([]string, len(f.Models))
		for i, m := range f.Models {
			c, err := s.cat.Resolve(m)
			if err != nil {
				return f, false, fmt.Errorf("%w: models[%d]: %w", fleet.ErrInvalid, i, err)
			}
			ids[i] = c.ID
		}
		f.Models = ids
	}
	if f.Class != "" || f.Rules != "" {
		if f.Class == "" {
			return f, false, fmt.Errorf("%w: rules %q needs a class", fleet.ErrInvalid, f.Rules)
		}
		band, err := exportctl.ParseBand(f.Class)
		if err != nil {
			return f, false, err
		}
		rs, err := exportctl.LookupRuleSet(f.Rules)
		if err != nil {
			return f, false, fmt.Errorf("%w: rules: %w", fleet.ErrInvalid, err)
		}
		in := s.ClassModels(band, rs)
		if len(f.Models) > 0 {
			in = slices.DeleteFunc(in, func(id string) bool { return !slices.Contains(f.Models, id) })
		}
		if len(in) == 0 {
			return f, true, nil
		}
		f.Models, f.Class, f.Rules = in, "", ""
	}
	if f.State != "" {
		st, err := fleet.ParseDeviceState(string(f.State))
		if err != nil {
			return f, false, err
		}
		f.State = st
		if f.Held {
			return f, false, fmt.Errorf("%w: held (every state but retired) and a state (%s) cannot be combined", fleet.ErrInvalid, st)
		}
	}
	if name := strings.TrimPrefix(f.Sort, "-"); f.Sort != "" && !slices.Contains(SortKeys, name) {
		return f, false, fmt.Errorf("%w: sort %q is not a device order (valid: %s, each descending with a leading '-')", fleet.ErrInvalid, f.Sort, strings.Join(SortKeys, ", "))
	}
	switch col, desc := SplitSort(f.Sort); {
	case col == "" && desc:
		f.Sort = "-serial"
	case col == "":
		f.Sort = ""
	}
	f.Q = strings.ToLower(strings.TrimSpace(f.Q))
	return f, false, nil
}

// ClassModels returns the catalog ids of the models rs puts in band, in
// catalog order: the models behind an export class.
func (s *Service) ClassModels(band exportctl.Band, rs exportctl.RuleSet) []string {
	var ids []string
	for _, c := range s.cat.All() {
		if exportctl.Classify(c, rs).Classification == band {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func encodeCursor(serial string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(serial))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("%w: bad cursor %q", fleet.ErrInvalid, c)
	}
	return string(b), nil
}

// SetState moves one device to state to, recording exactly one event with
// reason and actor. A refused transition is a *TransitionError (wraps
// fleet.ErrConflict) listing the allowed states; a missing device wraps
// fleet.ErrNotFound; an empty reason or unknown state wraps fleet.ErrInvalid.
// Concurrent changes to one device are serialized by the store: each sees
// the state the previous one left.
func (s *Service) SetState(ctx context.Context, serial string, to fleet.DeviceState, reason, actor string) (Event, error) {
	st, err := fleet.ParseDeviceState(string(to))
	if err != nil {
		return Event{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Event{}, &fleet.InputError{Pos: fleet.Position{Field: "reason"}, Msg: "a state change needs a reason"}
	}
	if msg := fleet.CheckText(reason, MaxReasonBytes); msg != "" {
		return Event{}, &fleet.InputError{Pos: fleet.Position{Field: "reason"}, Msg: "reason " + msg}
	}
	return s.store.UpdateState(ctx, serial, func(d Device) (Event, error) {
		if err := CheckTransition(d.Serial, d.State, st); err != nil {
			return Event{}, err
		}
		return Event{Serial: d.Serial, From: d.State, To: st, Reason: reason, Actor: actor, At: s.clock()}, nil
	})
}

// History returns a device's events, oldest first; a device that does not
// exist wraps fleet.ErrNotFound.
func (s *Service) History(ctx context.Context, serial string) ([]Event, error) {
	evs, err := s.store.Events(ctx, EventFilter{Serial: serial})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		if _, err := s.store.Device(ctx, serial); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// Events returns history entries across devices, ordered by Seq.
func (s *Service) Events(ctx context.Context, q EventFilter) ([]Event, error) {
	return s.store.Events(ctx, q)
}

// StateAt returns one page of the devices in q.State just before q.Before
// (StateAtFilter), each with its last event before then, ordered by
// serial; q.Limit 0 is DefaultPageSize, capped at MaxPageSize. A state
// that is not a device state wraps fleet.ErrInvalid.
func (s *Service) StateAt(ctx context.Context, q StateAtFilter) ([]Event, error) {
	st, err := fleet.ParseDeviceState(string(q.State))
	if err != nil {
		return nil, err
	}
	q.State = st
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultPageSize
	case q.Limit > MaxPageSize:
		q.Limit = MaxPageSize
	}
	return s.store.StateAt(ctx, q)
}

// CountStateAt counts the devices in q.State just before q.Before.
func (s *Service) CountStateAt(ctx context.Context, q StateAtFilter) (int, error) {
	st, err := fleet.ParseDeviceState(string(q.State))
	if err != nil {
		return 0, err
	}
	q.State = st
	return s.store.CountStateAt(ctx, q)
}

// Nodes returns every node.
func (s *Service) Nodes(ctx context.Context) ([]Node, error) { return s.store.Nodes(ctx) }

// SyncNodeFigures records the CPU and memory a cluster reports for nodes
// whose devices a cluster sync manages (the Kubernetes node sync: each
// node's allocatable): unlike an import, it replaces a figure the ledger
// has. A figure of 0 leaves the recorded one; a node the ledger does not
// have is skipped. It returns how many nodes changed. A hostname that is
// empty or twice, or a figure outside 0 to MaxNodeCPUMilli or
// MaxNodeMemoryMiB, wraps fleet.ErrInvalid and nothing is written.
func (s *Service) SyncNodeFigures(ctx context.Context, nodes []Node) (int, error) {
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		switch {
		case n.Hostname == "" || seen[n.Hostname]:
			return 0, fmt.Errorf("%w: node figures: hostname %q empty or given twice", fleet.ErrInvalid, n.Hostname)
		case n.CPUMilli < 0 || n.CPUMilli > MaxNodeCPUMilli || n.MemoryMiB < 0 || n.MemoryMiB > MaxNodeMemoryMiB:
			return 0, fmt.Errorf("%w: node %q: cpu_milli %d or memory_mib %d is outside 0 to %d milli-cores or %d MiB",
				fleet.ErrInvalid, n.Hostname, n.CPUMilli, n.MemoryMiB, MaxNodeCPUMilli, MaxNodeMemoryMiB)
		}
		seen[n.Hostname] = true
	}
	if len(nodes) == 0 {
		return 0, nil
	}
	return s.store.ReplaceNodeFigures(ctx, nodes)
}
