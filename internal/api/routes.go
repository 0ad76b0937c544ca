package api

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

type listInput struct {
	Model  string            `query:"model" doc:"Catalog model (any name the catalog resolves)" example:"H800"`
	State  fleet.DeviceState `query:"state" enum:"in-service,reserve,maintenance,failed,retired" doc:"Device state"`
	Held   bool              `query:"held" doc:"Only the devices still in the stockpile: every state but retired (what the summary's held, PFLOPS and HBM total); not with state"`
	Site   string            `query:"site" doc:"Site (datacenter)"`
	Pool   string            `query:"pool" doc:"Pool"`
	Node   string            `query:"node" doc:"Node hostname"`
	Q      string            `query:"q" maxLength:"128" doc:"Free text: a case-insensitive substring of the serial, node, site or model id"`
	Class  string            `query:"class" maxLength:"32" doc:"Export class: devices whose model the classifier puts in it (3A090.a, 3A090.b, not-3A090, insufficient-data) under rules"`
	Rules  string            `query:"rules" maxLength:"32" doc:"Rule set for class (2022-10, 2023-10; default the latest)"`
	Sort   string            `query:"sort" enum:"serial,model,state,site,node,-serial,-model,-state,-site,-node" doc:"Order (then by serial); a leading - is descending (key and serial); a cursor belongs to its order"`
	Cursor string            `query:"cursor" doc:"The next value of the previous page"`
	Limit  int               `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Page size (at most 1000)"`
}

type historyInput struct {
	Serial string `path:"serial" maxLength:"128" doc:"Device serial"`
	PageQuery
}

type serialPath struct {
	Serial string `path:"serial" maxLength:"128" doc:"Device serial"`
}

type createInput struct {
	Body NewDevice
}

type stateInput struct {
	Serial string `path:"serial" maxLength:"128" doc:"Device serial"`
	Body   StateChange
}

// importInput has no body field: huma would buffer the whole body (and
// twice its size while growing the buffer) before the handler; the import
// reads it as a stream instead (importGate).
type importInput struct {
	ContentType string `header:"Content-Type" doc:"text/csv or application/json"`
	File        string `query:"file" maxLength:"256" doc:"Name of the file being imported, used in error positions"`
}

type tokenInput struct {
	Body NewToken
}

type tokenPath struct {
	ID string `path:"id" maxLength:"64" doc:"Token id (tok_…)"`
}

type body[T any] struct {
	Body T
}

// ImportResult is what an accepted import wrote.
type ImportResult = inventory.ImportResult

// routes registers the built-in operations, one area at a time.
func (s *server) routes(r *Registrar, maxImport int64) {
	s.runwayRoute(r)
	s.agentRoutes(r)
	s.deviceReadRoutes(r)
	s.deviceWriteRoutes(r)
	s.importRoute(r, maxImport)
	s.fleetRoutes(r)
	s.tokenRoutes(r)
}

// deviceReadRoutes: list, get and history of devices.
func (s *server) deviceReadRoutes(r *Registrar) {
	read := inventory.RoleViewer
	Operation(r, huma.Operation{
		OperationID: "list-devices", Method: http.MethodGet, Path: "/api/v1/devices", Tags: []string{"devices"},
		Summary:     "List devices",
		Description: "Devices matching every given filter, ordered by serial (or by sort, then serial), one page at a time. Pass the page's next as cursor to get the following page.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, read, func(ctx context.Context, in *listInput) (*body[DeviceList], error) {
		after, err := decodeCursor("devices", in.Cursor)
		if err != nil {
			return nil, err
		}
		p, err := s.ledger.List(ctx, inventory.Filter{
			Model: in.Model, State: in.State, Held: in.Held, Site: in.Site, Pool: in.Pool, Node: in.Node, Class: in.Class, Rules: in.Rules, Q: in.Q, Sort: in.Sort, After: after, Limit: in.Limit,
		})
		if err != nil {
			return nil, err
		}
		out := &body[DeviceList]{Body: DeviceList{Devices: make([]Device, len(p.Devices))}}
		if p.Next != "" {
			out.Body.Next = encodeCursor("devices", p.Next)
		}
		for i, d := range p.Devices {
			out.Body.Devices[i] = fromDevice(d)
		}
		return out, nil
	})

	Operation(r, huma.Operation{
		OperationID: "get-device", Method: http.MethodGet, Path: "/api/v1/devices/{serial}", Tags: []string{"devices"},
		Summary: "Get a device", Errors: []int{http.StatusNotFound},
	}, read, func(ctx context.Context, in *serialPath) (*body[Device], error) {
		d, err := s.ledger.Get(ctx, in.Serial)
		if err != nil {
			return nil, err
		}
		return &body[Device]{Body: fromDevice(d)}, nil
	})

	Operation(r, huma.Operation{
		OperationID: "device-history", Method: http.MethodGet, Path: "/api/v1/devices/{serial}/history", Tags: []string{"devices"},
		Summary: "A device's event history, oldest first, one page at a time", Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, read, func(ctx context.Context, in *historyInput) (*body[History], error) {
		evs, err := s.ledger.History(ctx, in.Serial)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("history", evs, func(e inventory.Event) string { return fmt.Sprintf("%020d", e.Seq) }, in.PageQuery)
		if err != nil {
			return nil, err
		}
		return &body[History]{Body: History{Serial: in.Serial, Events: page, Next: next}}, nil
	})
}

// deviceWriteRoutes: create a device, change its state.
func (s *server) deviceWriteRoutes(r *Registrar) {
	write := inventory.RoleOperator
	Operation(r, huma.Operation{
		OperationID: "create-device", Method: http.MethodPost, Path: "/api/v1/devices", Tags: []string{"devices"},
		Summary:       "Create a device",
		Description:   "Adds one device with a creation event. A serial that exists already is a 409.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, write, func(ctx context.Context, in *createInput) (*body[Device], error) {
		d, err := in.Body.toDevice()
		if err != nil {
			return nil, err
		}
		d, err = s.ledger.Create(ctx, d, in.Body.Reason, actor(ctx))
		if err != nil {
			return nil, err
		}
		return &body[Device]{Body: fromDevice(d)}, nil
	})

	Operation(r, huma.Operation{
		OperationID: "set-device-state", Method: http.MethodPost, Path: "/api/v1/devices/{serial}/state", Tags: []string{"devices"},
		Summary: "Change a device's state",
		Description: "Moves the device to a new state and appends exactly one event with the reason and the caller's token id. " +
			"A transition the life cycle does not allow (e.g. anything from retired) is a 409 whose allowed field lists the states the device may move to.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, write, func(ctx context.Context, in *stateInput) (*body[inventory.Event], error) {
		ev, err := s.ledger.SetState(ctx, in.Serial, in.Body.State, in.Body.Reason, actor(ctx))
		if err != nil {
			return nil, err
		}
		return &body[inventory.Event]{Body: ev}, nil
	})

	// Document the 409 of a state change with the allowed transitions.
	if pi := r.API.OpenAPI().Paths["/api/v1/devices/{serial}/state"]; pi != nil && pi.Post != nil {
		schema := r.API.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[Problem](), true, "Problem")
		pi.Post.Responses["409"] = &huma.Response{
			Description: "The life cycle does not allow this transition; allowed lists the states the device may move to",
			Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: schema}},
		}
	}

}

// importRoute: bulk import.
func (s *server) importRoute(r *Registrar, maxImport int64) {
	importOp := huma.Operation{
		OperationID: "import-devices", Method: http.MethodPost, Path: "/api/v1/devices/import", Tags: []string{"devices"},
		Summary: "Bulk import devices from CSV or JSON, all or nothing",
		Description: "CSV (Content-Type: text/csv): a header row naming the columns serial,model,state (required) and " +
			"node,site,pool,acquired,cost_usd,warranty_until,labels (optional), then one device per line. " +
			"JSON (Content-Type: application/json): an array of device objects with the same keys, or {\"nodes\": [...], \"devices\": [...]}. " +
			"Any bad row rejects the whole import with 422; its errors list each problem as line:column: message. Nothing is written unless everything is.",
		DefaultStatus: http.StatusCreated,
		// The body is CSV or JSON parsed by the ledger as it arrives, which
		// reports line:column positions; huma's schema check would only see
		// "object". importGate bounds its size, its read time and the
		// import bodies in flight.
		SkipValidateBody: true,
		Middlewares:      huma.Middlewares{s.imports.admit},
		Errors:           []int{http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusConflict, http.StatusTooManyRequests},
	}
	// The request body is described after registering: huma reads and
	// buffers the body of an operation whose RequestBody has a JSON schema.
	reqBody := &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"text/csv": {Schema: &huma.Schema{Type: "string", Description: "A header row, then one device per line"}},
		"application/json": {Schema: &huma.Schema{Description: "An array of devices, or an object with nodes and devices", OneOf: []*huma.Schema{
			{Type: "array", Items: &huma.Schema{Type: "object"}},
			{Type: "object", Properties: map[string]*huma.Schema{
				"nodes":   {Type: "array", Items: &huma.Schema{Type: "object"}},
				"devices": {Type: "array", Items: &huma.Schema{Type: "object"}},
			}},
		}}},
	}}
	Operation(r, importOp, inventory.RoleOperator, func(ctx context.Context, in *importInput) (*body[ImportResult], error) {
		mt, _, err := mime.ParseMediaType(in.ContentType)
		if err != nil {
			mt = ""
		}
		file := in.File
		src := importBody(ctx)
		var res ImportResult
		switch mt {
		case "text/csv":
			res, err = s.ledger.ImportCSV(ctx, file, src, actor(ctx))
		case "application/json":
			res, err = s.ledger.ImportJSON(ctx, file, src, actor(ctx))
		default:
			return nil, newProblem(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want text/csv or application/json", in.ContentType))
		}
		if p := bodyProblem(err, maxImport); p != nil {
			return nil, p
		}
		if err != nil {
			p, internal := toProblem(err)
			if internal {
				return nil, err
			}
			p.Detail += "; nothing was imported"
			return nil, p
		}
		return &body[ImportResult]{Body: res}, nil
	})
	r.API.OpenAPI().Paths[importOp.Path].Post.RequestBody = reqBody
}

// fleetRoutes: nodes and the fleet summary.
func (s *server) fleetRoutes(r *Registrar) {
	read := inventory.RoleViewer
	Operation(r, huma.Operation{
		OperationID: "list-nodes", Method: http.MethodGet, Path: "/api/v1/nodes", Tags: []string{"nodes"},
		Summary: "List nodes by hostname, one page at a time", Errors: []int{http.StatusUnprocessableEntity},
	}, read, func(ctx context.Context, in *PageQuery) (*body[NodeList], error) {
		ns, err := s.ledger.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("nodes", ns, func(n inventory.Node) string { return n.Hostname }, *in)
		if err != nil {
			return nil, err
		}
		return &body[NodeList]{Body: NodeList{Nodes: page, Next: next}}, nil
	})

	Operation(r, huma.Operation{
		OperationID: "fleet-summary", Method: http.MethodGet, Path: "/api/v1/fleet/summary", Tags: []string{"fleet"},
		Summary: "The fleet at a glance",
		Description: "Per catalog model present and in total: device count by state, dense PFLOPS per precision and HBM TB " +
			"(both over held devices, i.e. all but retired) and the export-control class.",
	}, read, func(ctx context.Context, _ *struct{}) (*body[inventory.Summary], error) {
		sum, err := s.ledger.Summary(ctx)
		if err != nil {
			return nil, err
		}
		return &body[inventory.Summary]{Body: sum}, nil
	})

}

// tokenRoutes: the token life cycle (admins only).
func (s *server) tokenRoutes(r *Registrar) {
	admin := inventory.RoleAdmin
	Operation(r, huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: "/api/v1/tokens", Tags: []string{"tokens"},
		Summary: "Create an API token", Description: "The secret is in the response and never shown again; only its hash is stored.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusUnprocessableEntity},
	}, admin, func(ctx context.Context, in *tokenInput) (*body[CreatedToken], error) {
		t, secret, err := s.createToken(ctx, in.Body)
		if err != nil {
			return nil, err
		}
		return &body[CreatedToken]{Body: CreatedToken{Token: t, Secret: secret}}, nil
	})

	Operation(r, huma.Operation{
		OperationID: "list-tokens", Method: http.MethodGet, Path: "/api/v1/tokens", Tags: []string{"tokens"},
		Summary: "List API tokens (without secrets) by id, one page at a time", Errors: []int{http.StatusUnprocessableEntity},
	}, admin, func(ctx context.Context, in *PageQuery) (*body[TokenList], error) {
		ts, err := s.ledger.Tokens(ctx)
		if err != nil {
			return nil, err
		}
		page, next, err := pageOf("tokens", ts, func(t inventory.Token) string { return t.ID }, *in)
		if err != nil {
			return nil, err
		}
		return &body[TokenList]{Body: TokenList{Tokens: page, Next: next}}, nil
	})

	Operation(r, huma.Operation{
		OperationID: "revoke-token", Method: http.MethodPost, Path: "/api/v1/tokens/{id}/revoke", Tags: []string{"tokens"},
		Summary:       "Revoke an API token",
		Description:   "From the next request on the token is refused (401); it stays listed with its revoked_at time. Revoking a revoked token changes nothing.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, admin, func(ctx context.Context, in *tokenPath) (*struct{}, error) {
		return nil, s.ledger.RevokeToken(ctx, in.ID)
	})

	Operation(r, huma.Operation{
		OperationID: "delete-token", Method: http.MethodDelete, Path: "/api/v1/tokens/{id}", Tags: []string{"tokens"},
		Summary:       "Delete an API token",
		Description:   "From the next request on the token is refused (401), and it is no longer listed. Events keep its id as their actor.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, admin, func(ctx context.Context, in *tokenPath) (*struct{}, error) {
		return nil, s.ledger.DeleteToken(ctx, in.ID)
	})
}
