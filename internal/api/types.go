package api

import (
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// dateLayout is how the API spells calendar days (acquired, warranty_until).
const dateLayout = "2006-01-02"

// Device is a device as the API returns it. Dates are calendar days
// (YYYY-MM-DD); empty means unknown.
type Device struct {
	Serial        string            `json:"serial" doc:"Unique serial number" example:"SN-0001"`
	Model         string            `json:"model" doc:"Catalog chip id" example:"a800-sxm4-80gb"`
	State         fleet.DeviceState `json:"state" enum:"in-service,reserve,maintenance,failed,retired"`
	Node          string            `json:"node,omitempty" doc:"Hostname of the node the device sits in"`
	Site          string            `json:"site,omitempty"`
	Pool          string            `json:"pool,omitempty"`
	Acquired      string            `json:"acquired,omitempty" format:"date" doc:"Day of purchase or delivery"`
	CostUSD       *float64          `json:"cost_usd,omitempty" doc:"Unit cost paid, USD"`
	WarrantyUntil string            `json:"warranty_until,omitempty" format:"date" doc:"Last day of warranty"`
	Labels        map[string]string `json:"labels,omitempty"`
	UpdatedAt     *time.Time        `json:"updated_at,omitempty" doc:"Time of the device's last event"`
}

// NewDevice is the body of POST /api/v1/devices.
type NewDevice struct {
	Serial        string            `json:"serial" minLength:"1" maxLength:"128" doc:"Unique serial number; printable, no spaces" example:"SN-0001"`
	Model         string            `json:"model" minLength:"1" maxLength:"128" doc:"Any name the chip catalog resolves (id, name or alias), stored as the catalog id" example:"A800"`
	State         fleet.DeviceState `json:"state" enum:"in-service,reserve,maintenance,failed,retired"`
	Node          string            `json:"node,omitempty" maxLength:"256"`
	Site          string            `json:"site,omitempty" maxLength:"256"`
	Pool          string            `json:"pool,omitempty" maxLength:"256"`
	Acquired      string            `json:"acquired,omitempty" format:"date" doc:"YYYY-MM-DD"`
	CostUSD       *float64          `json:"cost_usd,omitempty" minimum:"0" doc:"Unit cost paid, USD"`
	WarrantyUntil string            `json:"warranty_until,omitempty" format:"date" doc:"YYYY-MM-DD"`
	Labels        map[string]string `json:"labels,omitempty" maxProperties:"64"`
	Reason        string            `json:"reason,omitempty" maxLength:"1024" doc:"Reason recorded on the creation event (default \"created\")"`
}

// StateChange is the body of POST /api/v1/devices/{serial}/state.
type StateChange struct {
	State  fleet.DeviceState `json:"state" enum:"in-service,reserve,maintenance,failed,retired" doc:"The state to move to"`
	Reason string            `json:"reason" minLength:"1" maxLength:"1024" doc:"Why; recorded on the event" example:"ECC errors"`
}

// DeviceList is one page of devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
	Next    string   `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// History is a device's events, oldest first.
type History struct {
	Serial string            `json:"serial"`
	Events []inventory.Event `json:"events"`
	Next   string            `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// NodeList is every node.
type NodeList struct {
	Nodes []inventory.Node `json:"nodes"`
	Next  string           `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

// NewToken is the body of POST /api/v1/tokens.
type NewToken struct {
	Role inventory.Role `json:"role" enum:"viewer,operator,admin,agent"`
	Name string         `json:"name,omitempty" maxLength:"128" doc:"A note saying who or what uses the token"`
	Node string         `json:"node,omitempty" maxLength:"253" doc:"Agent tokens only: the hostname of the one node the token may report for"`
	// ExpiresAt, if set, is when the token stops authenticating.
	ExpiresAt time.Time `json:"expires_at,omitzero" required:"false" doc:"When the token stops authenticating (RFC 3339, in the future); absent: never"`
}

// CreatedToken is a new token with its secret, which is shown only once.
type CreatedToken struct {
	inventory.Token
	Secret string `json:"secret" doc:"The bearer token; store it now, it is never shown again"`
}

// TokenList is every token, without secrets.
type TokenList struct {
	Tokens []inventory.Token `json:"tokens"`
	Next   string            `json:"next,omitempty" doc:"Cursor for the next page; absent on the last page"`
}

func fromDevice(d inventory.Device) Device {
	out := Device{
		Serial: d.Serial, Model: d.Model, State: d.State, Node: d.Node, Site: d.Site, Pool: d.Pool,
		CostUSD: d.CostUSD, Labels: d.Labels,
		Acquired: formatDay(d.Acquired), WarrantyUntil: formatDay(d.WarrantyUntil),
	}
	if !d.UpdatedAt.IsZero() {
		t := d.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	return out
}

func formatDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateLayout)
}

// toDevice converts a create body. Dates were validated by the schema
// (format: date), so a parse error here is a bug in validation; it is
// reported as invalid input all the same.
func (n NewDevice) toDevice() (inventory.Device, error) {
	d := inventory.Device{
		Serial: n.Serial, Model: n.Model, State: n.State, Node: n.Node, Site: n.Site, Pool: n.Pool,
		CostUSD: n.CostUSD, Labels: n.Labels,
	}
	var errs fleet.InputErrors
	for _, f := range []struct {
		name, v string
		dst     *time.Time
	}{{"acquired", n.Acquired, &d.Acquired}, {"warranty_until", n.WarrantyUntil, &d.WarrantyUntil}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(dateLayout, f.v)
		if err != nil {
			errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: f.name}, Msg: "want a date YYYY-MM-DD"})
			continue
		}
		*f.dst = t
	}
	return d, errs.Err()
}

// Pages of the lists the Go client follows to the end.
func (l NodeList) Items() []inventory.Node           { return l.Nodes }
func (l NodeList) NextCursor() string                { return l.Next }
func (l TokenList) Items() []inventory.Token         { return l.Tokens }
func (l TokenList) NextCursor() string               { return l.Next }
func (l History) Items() []inventory.Event           { return l.Events }
func (l History) NextCursor() string                 { return l.Next }
func (l AgentNodeList) Items() []inventory.AgentNode { return l.Nodes }
func (l AgentNodeList) NextCursor() string           { return l.Next }
func (l ConflictList) Items() []inventory.Conflict   { return l.Conflicts }
func (l ConflictList) NextCursor() string            { return l.Next }
func (l HealthList) Items() []inventory.DeviceHealth { return l.Devices }
func (l HealthList) NextCursor() string              { return l.Next }
