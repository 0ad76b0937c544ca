package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
)

// Store is what the ledger needs from persistence. internal/store/sqlite and
// internal/store/postgres implement it; internal/store/storetest is the
// contract both pass. Every method is safe for concurrent use.
//
// Errors: a missing device or token wraps fleet.ErrNotFound; a duplicate
// serial or token wraps fleet.ErrConflict.
// Anything else is an infrastructure failure.
type Store interface {
	DeviceStore
	EventStore
	TokenStore
	AgentStore
}

// DeviceStore keeps devices and nodes.
type DeviceStore interface {
	// Insert writes a batch in ONE transaction: every node (b.Node(i) for
	// i < b.NodeCount()) that does not exist yet (existing nodes are left as they are), every
	// device (b.Device(i) with its labels from b.LabelsJSON(i) for i <
	// b.DeviceCount()), and every event
	// (b.Event(i) for i < b.EventCount()). Either all of it is committed
	// or none of it.
	// A serial that already exists fails the whole batch with an error
	// wrapping fleet.ErrConflict and a *DuplicateError naming the serials.
	// The store assigns the events' Seq in that order.
	Insert(ctx context.Context, b Batch) error

	// Device returns one device, or an error wrapping fleet.ErrNotFound.
	Device(ctx context.Context, serial string) (Device, error)

	// Devices returns up to q.Limit devices matching q, ordered by serial
	// (byte order), or by q.Sort's column then serial, after the cursor:
	// serial > q.After, or (key, serial) > (q.AfterKey, q.After) when
	// sorted. q.Model is an exact catalog id here, q.After a plain serial,
	// q.Sort one of SortKeys other than serial (or "-serial") or empty, and q.Q a lower-case
	// substring of serial, node, site or model (the service resolves and
	// checks these).
	// q.Limit <= 0 means no limit. A q.Sort with a leading "-" orders both
	// the column and the serial descending, and the cursor is then
	// serial < q.After, or (key, serial) < (q.AfterKey, q.After). q.Models,
	// when not empty, is a set of catalog ids a device's model must be in;
	// q.Held keeps every state but retired.
	Devices(ctx context.Context, q Filter) ([]Device, error)

	// CountDevices returns how many devices match q's filter fields (Model,
	// Models, State, Held, Site, Pool, Node, Q, as for Devices); Sort, After,
	// AfterKey and Limit are ignored.
	CountDevices(ctx context.Context, q Filter) (int, error)

	// ExistingSerials returns those of serials that are already stored, in
	// any order.
	ExistingSerials(ctx context.Context, serials []string) ([]string, error)

	// UpdateState changes one device's state atomically with appending its
	// event: inside one transaction it reads the device (locking it against
	// concurrent changes), calls decide with it, and, if decide returns an
	// event without error, sets the device's state to ev.To, its UpdatedAt to
	// ev.At, and appends ev. It returns the stored event (with Seq). decide's
	// error is returned unchanged and nothing is written. decide must be
	// fast and must not call the store. A missing device wraps
	// fleet.ErrNotFound.
	UpdateState(ctx context.Context, serial string, decide func(Device) (Event, error)) (Event, error)

	// CountByModelState counts all devices by (model, state), exactly as
	// Tally over every stored device would, without reading every device
	// (stores aggregate in SQL or keep the counts in the transactions that
	// change them). Rows with zero devices are omitted; order is by model
	// then state.
	CountByModelState(ctx context.Context) ([]ModelStateCount, error)

	// CountBySiteModelState counts all devices by (site, model, state) in
	// the store (an aggregate query, not a read of every device). Rows
	// with zero devices are omitted; order is by site, model, then state.
	CountBySiteModelState(ctx context.Context) ([]SiteModelStateCount, error)

	// Nodes returns every node ordered by hostname.
	Nodes(ctx context.Context) ([]Node, error)

	// ReplaceNodeFigures sets the CPU and memory figures of the existing
	// nodes named in nodes (Hostname, CPUMilli, MemoryMiB; hostnames
	// distinct) in ONE transaction, replacing figures they have — unlike
	// Insert, which only fills in a missing one. A figure of 0 leaves the
	// stored one as it is; a hostname the store does not have is skipped
	// (no node is created). When a figure changed, the version that
	// LedgerVersion adds moves, so the live loop reads the fleet again. It
	// returns how many nodes changed. Only the Kubernetes node sync writes
	// through it (Service.SyncNodeFigures), for the nodes it manages.
	ReplaceNodeFigures(ctx context.Context, nodes []Node) (int, error)
}

// EventStore reads the append-only history. Events are written only by
// DeviceStore.Insert and DeviceStore.UpdateState.
type EventStore interface {
	// Events returns events matching q ordered by Seq.
	Events(ctx context.Context, q EventFilter) ([]Event, error)
	// CountEvents returns how many events the ledger holds: with the
	// events after a Seq it tells whether an event of a lower Seq
	// committed late (Service.Failures folds only the events after the
	// last one it saw).
	CountEvents(ctx context.Context) (int, error)

	// StateAt returns, for every device that was in q.State just before
	// q.Before (see StateAtFilter), its last event before q.Before, ordered
	// by serial (byte order), serial > q.After, at most q.Limit (<= 0: no
	// limit). It reads an index of the events by serial, not every event
	// per device.
	StateAt(ctx context.Context, q StateAtFilter) ([]Event, error)

	// CountStateAt counts the devices StateAt lists for q without its
	// cursor and limit.
	CountStateAt(ctx context.Context, q StateAtFilter) (int, error)
}

// TokenStore keeps API tokens (hashed).
type TokenStore interface {
	// CreateToken stores t; a duplicate ID or hash wraps fleet.ErrConflict.
	CreateToken(ctx context.Context, t Token) error
	// CreateFirstToken stores t only if there are no tokens at all, in one
	// transaction, and reports whether it did. It is how a server bootstraps
	// its first admin token without racing another starting server.
	CreateFirstToken(ctx context.Context, t Token) (bool, error)
	// TokenByHash finds the token whose Hash equals hash, or wraps
	// fleet.ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Tokens lists every token ordered by creation time, then ID.
	Tokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes a token by ID, or wraps fleet.ErrNotFound.
	DeleteToken(ctx context.Context, id string) error
	// RevokeToken marks a token revoked at at (a token already revoked
	// keeps its first time), or wraps fleet.ErrNotFound.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records that a token was used at at, unless its recorded
	// last use is after at-every: at most one write per token per every.
	TouchToken(ctx context.Context, id string, at time.Time, every time.Duration) error
}

// Batch is what one Insert writes. Stores read its devices through
// DeviceCount, Device and LabelsJSON (a bulk import's are not in Devices),
// its events through EventCount and Event.
type Batch struct {
	Nodes   []Node
	Devices []Device
	Events  []Event

	// Rows, when not nil, are the devices instead of Devices: a bulk
	// import's, in the compact form it parsed them into (PackedBatch
	// makes one).
	Rows *DeviceRows

	// Created, when its Reason is set, is the creation event of every
	// device: each gets a copy with Serial and To taken from the device,
	// appended after Events in device order. A bulk import uses it
	// instead of materialising one Event per device (~22 MB at 200,000
	// devices).
	Created Event
}

// GivesNodeFigures reports whether a node of b has a CPU or memory figure
// (Insert may then change an existing node's).
func GivesNodeFigures(b *Batch) bool {
	for i := range b.NodeCount() {
		if n := b.Node(i); n.CPUMilli != 0 || n.MemoryMiB != 0 {
			return true
		}
	}
	return false
}

// NodeCount is how many nodes Insert writes for b (unless they exist):
// Nodes, then those of Rows.
func (b *Batch) NodeCount() int {
	if b.Rows != nil {
		return len(b.Nodes) + b.Rows.NodeCount()
	}
	return len(b.Nodes)
}

// Node returns the i-th node of b (i < NodeCount).
func (b *Batch) Node(i int) Node {
	if i < len(b.Nodes) {
		return b.Nodes[i]
	}
	return b.Rows.Node(i - len(b.Nodes))
}

// DeviceCount is how many devices Insert writes for b.
func (b *Batch) DeviceCount() int {
	if b.Rows != nil {
		return b.Rows.Len()
	}
	return len(b.Devices)
}

// Device returns the i-th device Insert writes for b (i < DeviceCount).
// Its Labels may be nil when it has labels: write LabelsJSON(i).
func (b *Batch) Device(i int) Device {
	if b.Rows != nil {
		return b.Rows.Device(i)
	}
	return b.Devices[i]
}

// LabelsJSON returns device i's labels as the store writes them: a JSON
// object with sorted keys, or "" for none.
func (b *Batch) LabelsJSON(i int) (string, error) {
	if b.Rows != nil {
		return b.Rows.Labels(i), nil
	}
	return EncodeLabels(b.Devices[i].Labels)
}

// Serials lists the devices' serials in order.
func (b *Batch) Serials() []string {
	out := make([]string, b.DeviceCount())
	for i := range out {
		out[i] = b.serial(i)
	}
	return out
}

func (b *Batch) serial(i int) string {
	if b.Rows != nil {
		return b.Rows.Serial(i)
	}
	return b.Devices[i].Serial
}

// Sites lists the distinct sites of the devices ("" included when a
// device has none), in first-seen order.
func (b *Batch) Sites() []string {
	if b.Rows != nil {
		return b.Rows.sites()
	}
	seen := map[string]bool{}
	var out []string
	for i := range b.Devices {
		if s := b.Devices[i].Site; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Tally is Tally of the devices.
func (b *Batch) Tally() []ModelStateCount {
	if b.Rows != nil {
		return b.Rows.tally()
	}
	return Tally(b.Devices)
}

// EncodeLabels encodes labels as a JSON object with sorted keys, or ""
// when there are none.
func EncodeLabels(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// EventCount is how many events Insert writes for b: Events, and one per
// device when Created is set.
func (b *Batch) EventCount() int {
	if b.Created.Reason == "" {
		return len(b.Events)
	}
	return len(b.Events) + b.DeviceCount()
}

// Event returns the i-th event Insert writes for b (see EventCount).
func (b *Batch) Event(i int) Event {
	if i < len(b.Events) {
		return b.Events[i]
	}
	j := i - len(b.Events)
	e := b.Created
	if b.Rows != nil {
		e.Serial, e.To = b.Rows.Serial(j), b.Rows.State(j)
	} else {
		e.Serial, e.To = b.Devices[j].Serial, b.Devices[j].State
	}
	return e
}

// DuplicateError names serials that already exist. It wraps
// fleet.ErrConflict (via Unwrap) so callers can branch on the kind.
type DuplicateError struct {
	Serials []string
}

func (e *DuplicateError) Error() string {
	const show = 5
	if len(e.Serials) <= show {
		return "serial already exists: " + strings.Join(e.Serials, ", ")
	}
	return fmt.Sprintf("serials already exist: %s and %d more", strings.Join(e.Serials[:show], ", "), len(e.Serials)-show)
}

// Unwrap returns fleet.ErrConflict.
func (e *DuplicateError) Unwrap() error { return fleet.ErrConflict }
