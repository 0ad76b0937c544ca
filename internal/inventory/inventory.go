// Package inventory is the stockpile ledger: devices, nodes, their append-only
// event history, API tokens, bulk import and the fleet summary. It holds the
// use-cases and their rules (validation, allowed state transitions,
// all-or-nothing import) and is pure of SQL: it declares the small Store
// interface it needs, which internal/store/sqlite and internal/store/postgres
// implement and internal/store/storetest checks.
package inventory

import (
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
)

// Device is one accelerator in the stockpile, identified by its serial.
//
// Zero values mean "unknown": an empty Node/Site/Pool, a zero Acquired or
// WarrantyUntil, a nil CostUSD. Dates are calendar days stored as UTC
// midnight.
type Device struct {
	Serial        string            `json:"serial"`                  // unique, 1–128 printable characters, no spaces
	Model         string            `json:"model"`                   // catalog chip id (accel.Chip.ID), resolved on input
	Node          string            `json:"node,omitempty"`          // hostname of the node it sits in
	Site          string            `json:"site,omitempty"`          // datacenter / site name
	Pool          string            `json:"pool,omitempty"`          // scheduling or ownership pool
	State         fleet.DeviceState `json:"state"`                   // current life-cycle state
	Acquired      time.Time         `json:"acquired,omitzero"`       // purchase / delivery day (UTC midnight)
	CostUSD       *float64          `json:"cost_usd,omitempty"`      // unit cost paid, USD; nil = unknown
	WarrantyUntil time.Time         `json:"warranty_until,omitzero"` // last day of warranty (UTC midnight)
	Labels        map[string]string `json:"labels,omitempty"`        // free-form key=value tags
	UpdatedAt     time.Time         `json:"updated_at,omitzero"`     // time of the last event (set by the service)
}

// Node is a machine that hosts devices.
//
// CPUMilli and MemoryMiB are what the node offers jobs (a job's cpu_milli
// and memory_mib are placed against them); 0 means not recorded, which the
// scheduler reads as no limit. A node's figures, once recorded, are kept:
// a later import may fill in a figure the ledger does not have, never
// change one it has. The exception is a node whose devices the Kubernetes
// node sync manages: the cluster is the authority for it, and the sync
// records its allocatable CPU and memory, replacing a recorded figure
// when the cluster's changes (Service.SyncNodeFigures).
type Node struct {
	Hostname           string `json:"hostname"`                      // unique
	Site               string `json:"site,omitempty"`                // datacenter / site
	InterconnectDomain string `json:"interconnect_domain,omitempty"` // e.g. an NVLink/HCCS/IB fabric name
	CPUMilli           int64  `json:"cpu_milli,omitempty"`           // CPU for jobs, milli-cores (1000 = one core); 0 = not recorded
	MemoryMiB          int64  `json:"memory_mib,omitempty"`          // memory for jobs, MiB; 0 = not recorded
}

// Bounds of a node's recorded CPU and memory (the same as a job's
// cpu_milli and memory_mib may ask for).
const (
	MaxNodeCPUMilli  = 1 << 30 // a million cores
	MaxNodeMemoryMiB = 1 << 34 // 16 PiB
)

// Event is one entry of the append-only history. A device's creation is an
// event with From == "" and Reason "created" (or "imported"); every accepted
// state change is exactly one event.
type Event struct {
	Seq    int64             `json:"seq"`            // global, strictly increasing; assigned by the store
	Serial string            `json:"serial"`         // the device
	From   fleet.DeviceState `json:"from,omitempty"` // "" for creation
	To     fleet.DeviceState `json:"to"`
	Reason string            `json:"reason"`
	Actor  string            `json:"actor"` // token id or name of whoever made the change
	At     time.Time         `json:"at"`    // from the service's clock, UTC
}

// Role is what a token may do. Roles are ordered: admin ⊃ operator ⊃ viewer.
type Role string

// The roles.
const (
	RoleViewer   Role = "viewer"   // read inventory, history and summary
	RoleOperator Role = "operator" // viewer + create, import, change state
	RoleAdmin    Role = "admin"    // operator + manage tokens
	// RoleAgent is a node agent's token: it may only report the hardware of
	// the one node named in Token.Node, and nothing else (not even read).
	RoleAgent Role = "agent"
)

// Roles lists every role: the ordered ones from weakest to strongest, then
// the agent role, which is outside the order.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin, RoleAgent}

// Token is an API bearer token. Only a hash of the secret is stored; the
// secret is shown once, when the token is created.
type Token struct {
	ID        string    `json:"id"`   // public, short, unique; used as the event Actor
	Name      string    `json:"name"` // free-form note, e.g. "ci" or "bootstrap"
	Role      Role      `json:"role"`
	Node      string    `json:"node,omitempty"` // agent tokens: the only node it may report for
	Hash      []byte    `json:"-"`              // SHA-256 of the secret
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, if set, is when the token stops authenticating.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt, if set, is when an admin revoked the token; it no longer
	// authenticates but stays listed (granary token delete removes it).
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastUsedAt is the last authentication, recorded at most once a
	// minute (TouchEvery), so it may be up to that much behind.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Token states, as State reports them.
const (
	TokenActive  = "active"
	TokenRevoked = "revoked"
	TokenExpired = "expired"
)

// State is active, revoked or expired at now.
func (t Token) State(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return TokenRevoked
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return TokenExpired
	}
	return TokenActive
}

// Filter selects devices for List and Count. Empty fields match everything.
// Results are ordered by Sort, then serial; After is an opaque cursor from
// a previous Page.Next (of the same Sort).
type Filter struct {
	Model string // catalog id or any name accel.Resolve accepts
	// Models, when non-empty, keeps devices of any of these models (catalog
	// ids or names, as Model): the devices of one export class, say.
	Models []string
	// Class keeps devices whose model the export-control classifier puts in
	// this band (exportctl.Bands: "3A090.a", "3A090.b", "not-3A090",
	// "insufficient-data", case-insensitive) under the rule set Rules
	// (exportctl.LookupRuleSet; "" is the latest). The service turns it into
	// Models; stores never see it.
	Class string
	Rules string
	State fleet.DeviceState // exact state
	// Held keeps the devices still in the stockpile: every state but
	// retired (the summary's Held, PFLOPS and HBM count these). It cannot
	// be combined with State.
	Held bool
	Site string
	Pool string
	Node string
	Q    string // free text: a case-insensitive substring of serial, node, site or model id
	// Sort is one of SortKeys ("" is serial), descending with a leading
	// "-" ("-model": model Z to A, then serial Z to A).
	Sort  string
	After string // cursor: return devices after this one
	// AfterKey is the Sort column's value of the device After names; the
	// service fills it from the cursor for the store.
	AfterKey string
	Limit    int // page size; 0 means DefaultPageSize, capped at MaxPageSize
}

// SortKeys are the orders of the devices list; each sorts by serial within,
// and each is descending with a leading "-".
var SortKeys = []string{"serial", "model", "state", "site", "node"}

// SplitSort splits a Filter.Sort into its column ("" for serial) and
// whether it is descending. It does not check the column.
func SplitSort(sort string) (col string, desc bool) {
	col, desc = strings.CutPrefix(sort, "-")
	if col == "serial" {
		col = ""
	}
	return col, desc
}

// SortKey is d's value of the column sort orders by ("" for serial, whose
// serial is the whole key); a leading "-" is ignored.
func (d Device) SortKey(sort string) string {
	switch col, _ := SplitSort(sort); col {
	case "model":
		return d.Model
	case "state":
		return string(d.State)
	case "site":
		return d.Site
	case "node":
		return d.Node
	}
	return ""
}

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of devices. Next is empty on the last page.
type Page struct {
	Devices []Device `json:"devices"`
	Next    string   `json:"next,omitempty"`
}

// EventFilter selects history entries, ordered by Seq.
type EventFilter struct {
	Serial   string    // empty = every device
	AfterSeq int64     // return events with Seq > AfterSeq
	Since    time.Time // not zero: events with At >= Since (an index on At)
	Before   time.Time // not zero: events with At < Before
	Limit    int       // 0 = no limit
}

// StateAtFilter selects the devices that were in one state at an instant,
// as the ledger's events tell it: a device's state just before Before is
// the To of its last event (the highest Seq) whose At is before Before; a
// device with no event before Before did not exist yet. The fleet page's
// per-day chart counts the same (its day D ends at Before, 00:00 UTC of
// D+1), so each of its numbers links to this list.
type StateAtFilter struct {
	Before time.Time
	State  fleet.DeviceState
	After  string // serial cursor: list serials > After
	Limit  int    // 0 = no limit
}

// ModelStateCount is one row of the summary aggregation the store computes:
// how many devices of a model are in a state.
type ModelStateCount struct {
	Model   string
	State   fleet.DeviceState
	Devices int
}

// SiteModelStateCount is how many devices of a model at a site are in a
// state (Site is empty for devices without one).
type SiteModelStateCount struct {
	Site    string
	Model   string
	State   fleet.DeviceState
	Devices int
}
