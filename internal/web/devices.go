package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// devicesQuery is the devices list's filter, from the URL: the ledger's
// filter fields, the export class under a rule set (class, rules), free
// text (q), the order (sort, descending with a leading "-"), the cursor
// (after) and the page size (limit).
type devicesQuery struct {
	Model, State, Site, Node, Pool, Class, Rules, After, Q, Sort string
	Limit                                                        int
}

func parseDevicesQuery(v url.Values) (devicesQuery, error) {
	q := devicesQuery{Model: v.Get("model"), State: v.Get("state"), Site: v.Get("site"), Node: v.Get("node"), Pool: v.Get("pool"),
		After: v.Get("after"), Q: strings.TrimSpace(v.Get("q")), Sort: v.Get("sort"), Limit: inventory.DefaultPageSize}
	switch q.Sort {
	case "serial":
		q.Sort = ""
	case "-serial", "":
	default:
		if !slices.Contains(inventory.SortKeys, strings.TrimPrefix(q.Sort, "-")) {
			return q, fmt.Errorf("sort %q is not a device order (valid: %s, each descending with a leading '-')", q.Sort, strings.Join(inventory.SortKeys, ", "))
		}
	}
	if q.State != "" && q.State != heldState {
		st, err := fleet.ParseDeviceState(q.State)
		if err != nil {
			return q, fmt.Errorf("%w (or %s: every state but retired)", err, heldState)
		}
		q.State = string(st)
	}
	if c := v.Get("class"); c != "" {
		b, err := exportctl.ParseBand(c)
		if err != nil {
			return q, err
		}
		q.Class = string(b)
	}
	if r := v.Get("rules"); r != "" {
		rs, err := exportctl.LookupRuleSet(r)
		if err != nil {
			return q, err
		}
		q.Rules = rs.ID
	}
	if err := parseLimit(v, &q.Limit); err != nil {
		return q, err
	}
	return q, nil
}

// heldState is the devices list's state filter for the devices still in
// the stockpile, every state but retired (inventory.Filter.Held): the
// fleet page's held, PFLOPS and HBM tiles total these.
const heldState = "held"

// filter is the ledger's filter for q (the rule set only with a class).
func (q devicesQuery) filter() inventory.Filter {
	f := inventory.Filter{Model: q.Model, State: fleet.DeviceState(q.State), Site: q.Site, Node: q.Node, Pool: q.Pool, Class: q.Class, Q: q.Q, Sort: q.Sort, After: q.After, Limit: q.Limit}
	if q.State == heldState {
		f.State, f.Held = "", true
	}
	if q.Class != "" {
		f.Rules = q.Rules
	}
	return f
}

func (q devicesQuery) url(after string) string {
	v := url.Values{}
	for k, s := range map[string]string{"model": q.Model, "state": q.State, "site": q.Site, "node": q.Node, "pool": q.Pool, "class": q.Class, "rules": q.Rules, "q": q.Q, "sort": q.Sort, "after": after} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit != inventory.DefaultPageSize {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return "/devices"
	}
	return "/devices?" + v.Encode()
}

// SortURL is the first page of the list with the same filters, ordered by
// key (one of inventory.SortKeys, or "-" and one for descending).
func (q devicesQuery) SortURL(key string) string {
	if key == "serial" {
		key = ""
	}
	q.Sort = key
	return q.url("")
}

// sortHeader is a column header of the devices list that orders by it:
// ascending, or descending when it is the current ascending order.
type sortHeader struct {
	Label, URL string
	Sort       string // "ascending", "descending" or "" (aria-sort)
}

type devicesPage struct {
	Headers     []sortHeader // serial, model, state, node, site: the table's first columns
	Query       devicesQuery
	States      []fleet.DeviceState
	Models      []inventory.ModelSummary
	Bands       []exportctl.Band
	RuleSets    []exportctl.RuleSet
	RuleSet     string // the rule set the class column and the class filter use
	Devices     []inventory.Device
	Total       int // devices matching the filter, counted by the store
	First, Next string
	Classes     map[string]string // model → export class under RuleSet
}

func (h *Handler) devicesPage(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	q, err := parseDevicesQuery(r.URL.Query())
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ctx := r.Context()
	page, err := h.led.List(ctx, q.filter())
	if errors.Is(err, fleet.ErrInvalid) {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	// The first page without a next one is the whole list: its length is
	// the count (a search that matches few devices then scans once, not
	// twice). Otherwise the store counts.
	total := len(page.Devices)
	if err == nil && (q.After != "" || page.Next != "") {
		total, err = h.led.Count(ctx, q.filter())
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The devices are not available right now.", err)
		return
	}
	sum, err := h.led.Summary(ctx)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The fleet summary is not available right now.", err)
		return
	}
	rs := exportctl.Latest()
	if q.Rules != "" {
		rs, _ = exportctl.LookupRuleSet(q.Rules) // checked by parseDevicesQuery
	}
	pg := devicesPage{Query: q, States: fleet.DeviceStates, Models: sum.Models, Bands: exportctl.Bands, RuleSets: exportctl.RuleSets(), RuleSet: rs.ID,
		Devices: page.Devices, Total: total, Classes: map[string]string{}}
	col, desc := inventory.SplitSort(q.Sort)
	for _, k := range []string{"serial", "model", "state", "node", "site"} {
		hd := sortHeader{Label: strings.ToUpper(k[:1]) + k[1:], URL: q.SortURL(k)}
		if k == cmp.Or(col, "serial") {
			hd.Sort = "ascending"
			if desc {
				hd.Sort = "descending"
			} else {
				hd.URL = q.SortURL("-" + k)
			}
		}
		pg.Headers = append(pg.Headers, hd)
	}
	for _, c := range h.classes(sum, rs) {
		for _, m := range c.Models {
			pg.Classes[m] = c.Class
		}
	}
	if q.After != "" {
		pg.First = q.url("")
	}
	if page.Next != "" {
		pg.Next = q.url(page.Next)
	}
	order := "serial"
	if col != "" {
		order = col + " then serial"
	}
	if desc {
		order += ", descending"
	}
	h.render(w, r, http.StatusOK, "devices.html", view{Title: "Devices", Nav: "devices", Sub: "Stockpile ledger, ordered by " + order, Body: pg})
}

type devicePage struct {
	Device  inventory.Device
	Name    string // the model's display name
	Events  []inventory.Event
	Allowed []fleet.DeviceState
	Message string // the outcome of a state change just made
	Session *session
}

func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	h.showDevice(w, r, http.StatusOK, r.PathValue("serial"), r.URL.Query().Get("changed"))
}

func (h *Handler) showDevice(w http.ResponseWriter, r *http.Request, status int, serial, msg string) {
	ctx := r.Context()
	d, err := h.led.Get(ctx, serial)
	if errors.Is(err, fleet.ErrNotFound) {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("No device has serial %q.", serial), nil)
		return
	}
	var evs []inventory.Event
	if err == nil {
		evs, err = h.led.History(ctx, serial)
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The device is not available right now.", err)
		return
	}
	pg := devicePage{Device: d, Name: d.Model, Events: evs, Allowed: inventory.AllowedTransitions(d.State), Message: msg, Session: sessionFrom(ctx)}
	if c, ok := h.led.Catalog().Get(d.Model); ok {
		pg.Name = c.Name
	}
	h.render(w, r, status, "device.html", view{Title: "Device " + d.Serial, Nav: "devices", Sub: pg.Name + " · " + string(d.State), Body: pg})
}

// setState is the device page's form: POST /devices/{serial}/state with
// to, reason and csrf; operators and admins only.
func (h *Handler) setState(w http.ResponseWriter, r *http.Request) {
	s := h.checkForm(w, r, inventory.RoleOperator)
	if s == nil {
		return
	}
	serial := r.PathValue("serial")
	to, reason := r.PostForm.Get("to"), r.PostForm.Get("reason")
	ev, err := h.led.SetState(r.Context(), serial, fleet.DeviceState(to), reason, s.Token.ID)
	var te *inventory.TransitionError
	var ie *fleet.InputError
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("No device has serial %q.", serial), nil)
	case errors.As(err, &te), errors.As(err, &ie), errors.Is(err, fleet.ErrInvalid), errors.Is(err, fleet.ErrConflict):
		h.showDevice(w, r, http.StatusConflict, serial, "Not changed: "+err.Error())
	case err != nil:
		h.problem(w, r, http.StatusInternalServerError, "The state could not be changed right now; nothing was changed.", err)
	default:
		msg := fmt.Sprintf("Moved from %s to %s (event %d).", ev.From, ev.To, ev.Seq)
		http.Redirect(w, r, "/devices/"+url.PathEscape(serial)+"?changed="+url.QueryEscape(msg), http.StatusSeeOther)
	}
}

type nodePage struct {
	Node    inventory.Node
	Devices []inventory.Device
	Events  []inventory.Event // every device's history, newest first
	More    string            // link to the rest of the node's devices
}

func (h *Handler) nodePage(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	ctx := r.Context()
	host := r.PathValue("host")
	nodes, err := h.led.Nodes(ctx)
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The nodes are not available right now.", err)
		return
	}
	pg := nodePage{}
	found := false
	for _, n := range nodes {
		if n.Hostname == host {
			pg.Node, found = n, true
		}
	}
	if !found {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("No node has hostname %q.", host), nil)
		return
	}
	const most = 64
	page, err := h.led.List(ctx, inventory.Filter{Node: host, Limit: most})
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The node's devices are not available right now.", err)
		return
	}
	pg.Devices = page.Devices
	if page.Next != "" {
		pg.More = devicesQuery{Node: host, Limit: inventory.DefaultPageSize}.url("")
	}
	for _, d := range pg.Devices {
		evs, err := h.led.History(ctx, d.Serial)
		if err != nil {
			h.problem(w, r, http.StatusInternalServerError, "The node's history is not available right now.", err)
			return
		}
		pg.Events = append(pg.Events, evs...)
	}
	sortEventsNewestFirst(pg.Events)
	h.render(w, r, http.StatusOK, "node.html", view{Title: "Node " + host, Nav: "devices", Sub: "Site " + pg.Node.Site, Body: pg})
}
