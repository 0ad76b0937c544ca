// Package client is the typed Go client of Granary's HTTP API (/api/v1). The
// CLI and the end-to-end tests use it. Failed requests return an *Error that
// wraps the fleet error kind of its status (422 → fleet.ErrInvalid, 404 →
// fleet.ErrNotFound, 409 → fleet.ErrConflict, 401 → fleet.ErrUnauthorized,
// 403 → fleet.ErrForbidden), so callers branch with errors.Is.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// DefaultServer is where the CLI looks for a server unless told otherwise.
const DefaultServer = "http://127.0.0.1:8080"

// Client talks to one Granary server with one token. It is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for the server at baseURL (scheme and host, e.g.
// http://127.0.0.1:8080) using token as the bearer token. hc nil means
// http.DefaultClient.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: server URL %q: want http://host:port", fleet.ErrInvalid, baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// Error is a request the server refused.
type Error struct {
	Method, Path string
	Status       int
	Problem      api.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	detail := e.Problem.Detail
	if detail == "" {
		detail = http.StatusText(e.Status)
	}
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, detail)
	for _, d := range e.Problem.Errors {
		b.WriteString("\n  ")
		msg := d.Message
		if d.Location != "" && !strings.Contains(msg, d.Location) && !startsWithPos(msg) {
			msg = d.Location + ": " + msg
		}
		b.WriteString(msg)
	}
	if e.Status == http.StatusConflict && e.Problem.Allowed != nil {
		if len(e.Problem.Allowed) == 0 {
			b.WriteString("\n  allowed transitions: none")
		} else {
			b.WriteString("\n  allowed transitions: " + strings.Join(e.Problem.Allowed, ", "))
		}
	}
	return b.String()
}

// startsWithPos reports whether msg starts with "line:column:".
func startsWithPos(msg string) bool {
	a, rest, ok := strings.Cut(msg, ":")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(a)
	return err == nil && rest != ""
}

// Unwrap returns the fleet error kind of the status.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return fleet.ErrInvalid
	case http.StatusNotFound:
		return fleet.ErrNotFound
	case http.StatusConflict:
		return fleet.ErrConflict
	case http.StatusUnauthorized:
		return fleet.ErrUnauthorized
	case http.StatusForbidden:
		return fleet.ErrForbidden
	}
	return nil
}

// Messages returns the individual problems ("line:column: message" for
// imports).
func (e *Error) Messages() []string {
	out := make([]string, len(e.Problem.Errors))
	for i, d := range e.Problem.Errors {
		out[i] = d.Message
	}
	return out
}

// do sends a request and decodes a 2xx JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader, out any) error {
	// path is already escaped (callers url.PathEscape each parameter): set
	// it as the raw path, so a serial with '/', '?', '#', '%' or non-ASCII
	// letters is escaped exactly once.
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	u.Path = p
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Method: method, Path: path, Status: resp.StatusCode}
		if json.Unmarshal(data, &e.Problem) != nil || e.Problem.Status == 0 {
			e.Problem.Detail = strings.TrimSpace(string(data))
			if len(e.Problem.Detail) > 200 {
				e.Problem.Detail = e.Problem.Detail[:200] + "…"
			}
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding response: %w", method, path, err)
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, nil, "application/json", bytes.NewReader(b), out)
}

// ListOptions filter a device listing; empty fields match everything.
type ListOptions struct {
	Model, Site, Pool, Node string
	State                   fleet.DeviceState
	Held                    bool   // every state but retired; not with State
	Class, Rules            string // export class under a rule set ("" = the latest)
	Q                       string // free text: serial, node, site or model id
	Sort                    string // serial, model, state, site or node; "-" first for descending
	Cursor                  string
	Limit                   int // 0: the server's default page size
}

// ListDevices returns one page of devices.
func (c *Client) ListDevices(ctx context.Context, o ListOptions) (api.DeviceList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"model": o.Model, "state": string(o.State), "site": o.Site, "pool": o.Pool, "node": o.Node, "class": o.Class, "rules": o.Rules, "q": o.Q, "sort": o.Sort, "cursor": o.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Held {
		q.Set("held", "true")
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out api.DeviceList
	err := c.do(ctx, http.MethodGet, "/api/v1/devices", q, "", nil, &out)
	return out, err
}

// AllDevices follows the cursor through every page (pageSize per request,
// 0 = the server's default) and calls fn for each page.
func (c *Client) AllDevices(ctx context.Context, o ListOptions, fn func([]api.Device) error) error {
	for {
		p, err := c.ListDevices(ctx, o)
		if err != nil {
			return err
		}
		if err := fn(p.Devices); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		o.Cursor = p.Next
	}
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, serial string) (api.Device, error) {
	var out api.Device
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(serial), nil, "", nil, &out)
	return out, err
}

// CreateDevice adds one device.
func (c *Client) CreateDevice(ctx context.Context, d api.NewDevice) (api.Device, error) {
	var out api.Device
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/devices", d, &out)
	return out, err
}

// SetState moves a device to state with a reason and returns its event.
func (c *Client) SetState(ctx context.Context, serial string, state fleet.DeviceState, reason string) (inventory.Event, error) {
	var out inventory.Event
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(serial)+"/state", api.StateChange{State: state, Reason: reason}, &out)
	return out, err
}

// History returns a device's events, oldest first (every page).
func (c *Client) History(ctx context.Context, serial string) (api.History, error) {
	evs, err := allPages[inventory.Event, api.History](ctx, c, "/api/v1/devices/"+url.PathEscape(serial)+"/history", nil)
	if evs == nil {
		evs = []inventory.Event{}
	}
	return api.History{Serial: serial, Events: evs}, err
}

// Import format names for Import.
const (
	CSV  = "text/csv"
	JSON = "application/json"
)

// Import sends a bulk import (contentType CSV or JSON); file names it in
// error positions. It is all or nothing: a rejected import is an *Error
// wrapping fleet.ErrInvalid whose Messages are "line:column: message".
func (c *Client) Import(ctx context.Context, contentType, file string, body io.Reader) (api.ImportResult, error) {
	var out api.ImportResult
	q := url.Values{}
	if file != "" {
		q.Set("file", file)
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/devices/import", q, contentType, body, &out)
	return out, err
}

// Nodes lists every node.
func (c *Client) Nodes(ctx context.Context) ([]inventory.Node, error) {
	return allPages[inventory.Node, api.NodeList](ctx, c, "/api/v1/nodes", nil)
}

// Summary returns the fleet summary.
func (c *Client) Summary(ctx context.Context) (inventory.Summary, error) {
	var out inventory.Summary
	err := c.do(ctx, http.MethodGet, "/api/v1/fleet/summary", nil, "", nil, &out)
	return out, err
}

// CreateToken makes a token; the secret in the answer is shown only once.
func (c *Client) CreateToken(ctx context.Context, role inventory.Role, name string) (api.CreatedToken, error) {
	return c.IssueToken(ctx, api.NewToken{Role: role, Name: name})
}

// IssueToken makes the token in asks for (role, name, node of an agent
// token, expiry); the secret in the answer is shown only once.
func (c *Client) IssueToken(ctx context.Context, in api.NewToken) (api.CreatedToken, error) {
	var out api.CreatedToken
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/tokens", in, &out)
	return out, err
}

// RevokeToken makes a token stop authenticating; it stays listed.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/tokens/"+url.PathEscape(id)+"/revoke", nil, "", nil, nil)
}

// DeleteToken removes a token.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, "", nil, nil)
}

// Tokens lists every token (without secrets).
func (c *Client) Tokens(ctx context.Context) ([]inventory.Token, error) {
	return allPages[inventory.Token, api.TokenList](ctx, c, "/api/v1/tokens", nil)
}

// Ready reports whether the server answers /readyz with 200.
func (c *Client) Ready(ctx context.Context) error {
	err := c.do(ctx, http.MethodGet, "/readyz", nil, "", nil, nil)
	var e *Error
	if errors.As(err, &e) {
		return fmt.Errorf("server not ready: %d", e.Status)
	}
	return err
}
