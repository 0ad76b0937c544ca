package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// call sends one raw request and returns the status and body.
func call(t *testing.T, srv *apitest.Server, method, path, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func problem(t *testing.T, b []byte) api.Problem {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not a problem body: %v\n%s", err, b)
	}
	return p
}

func TestAuthMatrix(t *testing.T) { forEachStore(t, testAuthMatrix) }

func testAuthMatrix(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	if _, err := srv.Ledger.Create(ctx, inventory.Device{Serial: "D1", Model: "A800", State: fleet.InService}, "", "test"); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"none":     "",
		"bogus":    "gry_not_a_token",
		"viewer":   srv.Token(t, inventory.RoleViewer),
		"operator": srv.Token(t, inventory.RoleOperator),
		"admin":    apitest.AdminSecret,
	}
	type req struct {
		method, path, body string
		need               inventory.Role
		okStatus           int
	}
	n := 0
	reqs := func() []req {
		n++
		return []req{
			{"GET", "/api/v1/devices", "", inventory.RoleViewer, 200},
			{"GET", "/api/v1/devices/D1", "", inventory.RoleViewer, 200},
			{"GET", "/api/v1/devices/D1/history", "", inventory.RoleViewer, 200},
			{"GET", "/api/v1/nodes", "", inventory.RoleViewer, 200},
			{"GET", "/api/v1/fleet/summary", "", inventory.RoleViewer, 200},
			{"POST", "/api/v1/devices", fmt.Sprintf(`{"serial":"N%d","model":"H20","state":"reserve"}`, n), inventory.RoleOperator, 201},
			{"POST", "/api/v1/devices/import", fmt.Sprintf("serial,model,state\nI%d,L20,reserve\n", n), inventory.RoleOperator, 201},
			{"GET", "/api/v1/tokens", "", inventory.RoleAdmin, 200},
			{"POST", "/api/v1/tokens", `{"role":"viewer","name":"x"}`, inventory.RoleAdmin, 201},
			{"POST", "/api/v1/tokens/tok_none/revoke", "", inventory.RoleAdmin, 404},
			{"DELETE", "/api/v1/tokens/tok_none", "", inventory.RoleAdmin, 404},
		}
	}
	for _, who := range []string{"none", "bogus", "viewer", "operator", "admin"} {
		for _, r := range reqs() {
			ct := "application/json"
			if strings.HasSuffix(r.path, "/import") {
				ct = "text/csv"
			}
			status, body := call(t, srv, r.method, r.path, tokens[who], ct, []byte(r.body))
			want := r.okStatus
			switch {
			case who == "none" || who == "bogus":
				want = http.StatusUnauthorized
			case !inventory.Role(who).Allows(r.need):
				want = http.StatusForbidden
			}
			if status != want {
				t.Errorf("%s %s as %s: status %d, want %d\n%s", r.method, r.path, who, status, want, body)
				continue
			}
			if want >= 400 {
				if p := problem(t, body); p.Status != want || p.Detail == "" {
					t.Errorf("%s %s as %s: problem %+v", r.method, r.path, who, p)
				}
			}
		}
	}
	// A state change as operator records the operator's token id as actor.
	c := srv.Client(t, tokens["operator"])
	ev, err := c.SetState(ctx, "D1", fleet.Maintenance, "fan noise")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := srv.Ledger.Authenticate(ctx, tokens["operator"])
	if err != nil {
		t.Fatal(err)
	}
	if ev.Actor != tok.ID {
		t.Errorf("actor %q, want operator token id %q", ev.Actor, tok.ID)
	}
	// Public endpoints need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"} {
		if status, body := call(t, srv, "GET", p, "", "", nil); status != 200 {
			t.Errorf("GET %s: %d\n%s", p, status, body)
		}
	}
}

func TestBodyLimit(t *testing.T) { forEachStore(t, testBodyLimit) }

func testBodyLimit(t *testing.T, o apitest.Options) {
	o.API = func(o *api.Options) { o.MaxImportBytes = 1 << 20 }
	srv := apitest.Start(t, o)
	big := `{"serial":"X","model":"A800","state":"reserve","reason":"` + strings.Repeat("a", api.DefaultMaxBodyBytes) + `"}`
	status, body := call(t, srv, "POST", "/api/v1/devices", apitest.AdminSecret, "application/json", []byte(big))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("create with %d bytes: status %d, want 413\n%s", len(big), status, body)
	}
	var csv bytes.Buffer
	csv.WriteString("serial,model,state\n")
	for i := 0; csv.Len() <= 1<<20; i++ {
		fmt.Fprintf(&csv, "SER-%08d,A800,reserve\n", i)
	}
	status, body = call(t, srv, "POST", "/api/v1/devices/import", apitest.AdminSecret, "text/csv", csv.Bytes())
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("import of %d bytes over a 1 MiB limit: status %d, want 413\n%.300s", csv.Len(), status, body)
	}
	if n := countDevices(t, srv); n != 0 {
		t.Errorf("%d devices after refused bodies, want 0", n)
	}
}

func countDevices(t *testing.T, srv *apitest.Server) int {
	t.Helper()
	sum, err := srv.Ledger.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum.Totals.Devices
}

func TestValidationNamesTheField(t *testing.T) { forEachStore(t, testValidationNamesTheField) }

func testValidationNamesTheField(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	cases := []struct {
		name, method, path, body string
		wantLoc, wantMsg         string
	}{
		{"unknown field", "POST", "/api/v1/devices", `{"serial":"A","model":"A800","state":"reserve","colour":"red"}`, "body.colour", "unexpected property"},
		{"wrong type", "POST", "/api/v1/devices", `{"serial":5,"model":"A800","state":"reserve"}`, "body.serial", "expected string"},
		{"bad state", "POST", "/api/v1/devices", `{"serial":"A","model":"A800","state":"lost"}`, "body.state", "expected value to be one of"},
		{"bad date", "POST", "/api/v1/devices", `{"serial":"A","model":"A800","state":"reserve","acquired":"2024-13-01"}`, "body.acquired", "date"},
		{"missing field", "POST", "/api/v1/devices", `{"serial":"A","model":"A800"}`, "body", "required property state"},
		{"unknown model", "POST", "/api/v1/devices", `{"serial":"A","model":"Z9000","state":"reserve"}`, "body.model", "Z9000"},
		{"negative cost", "POST", "/api/v1/devices", `{"serial":"A","model":"A800","state":"reserve","cost_usd":-1}`, "body.cost_usd", "expected number >= 0"},
		{"state change without reason", "POST", "/api/v1/devices/A/state", `{"state":"failed"}`, "body", "required property reason"},
		{"unknown token field", "POST", "/api/v1/tokens", `{"role":"viewer","scope":"all"}`, "body.scope", "unexpected property"},
		{"bad role", "POST", "/api/v1/tokens", `{"role":"root"}`, "body.role", "expected value to be one of"},
		{"unknown query parameter", "GET", "/api/v1/devices?colour=red", "", "query.colour", "unknown"},
		{"limit too big", "GET", "/api/v1/devices?limit=5000", "", "query.limit", "expected number <= 1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(t, srv, c.method, c.path, apitest.AdminSecret, "application/json", []byte(c.body))
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422\n%s", status, body)
			}
			p := problem(t, body)
			for _, e := range p.Errors {
				if e.Location == c.wantLoc && strings.Contains(strings.ToLower(e.Message), strings.ToLower(c.wantMsg)) {
					return
				}
			}
			t.Errorf("no error at %s containing %q: %s", c.wantLoc, c.wantMsg, body)
		})
	}
	if n := countDevices(t, srv); n != 0 {
		t.Errorf("%d devices after refused requests, want 0", n)
	}
	// Malformed JSON is a 400 from the parser.
	if status, body := call(t, srv, "POST", "/api/v1/devices", apitest.AdminSecret, "application/json", []byte(`{"serial":`)); status != http.StatusBadRequest {
		t.Errorf("malformed JSON: %d\n%s", status, body)
	}
}

func TestStateConflictListsAllowed(t *testing.T) { forEachStore(t, testStateConflictListsAllowed) }

func testStateConflictListsAllowed(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	c := srv.Client(t, srv.Token(t, inventory.RoleOperator))
	for _, s := range []string{"R1", "F1"} {
		if _, err := c.CreateDevice(ctx, api.NewDevice{Serial: s, Model: "910B3", State: fleet.InService}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetState(ctx, "R1", fleet.Retired, "end of life"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetState(ctx, "F1", fleet.Failed, "HBM errors"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		serial  string
		to      fleet.DeviceState
		allowed []string
	}{
		{"R1", fleet.InService, []string{}},
		{"F1", fleet.InService, []string{"maintenance", "retired"}},
		{"F1", fleet.Failed, []string{"maintenance", "retired"}},
	} {
		status, body := call(t, srv, "POST", "/api/v1/devices/"+tc.serial+"/state", apitest.AdminSecret, "application/json",
			[]byte(fmt.Sprintf(`{"state":%q,"reason":"try"}`, tc.to)))
		if status != http.StatusConflict {
			t.Errorf("%s → %s: status %d, want 409\n%s", tc.serial, tc.to, status, body)
			continue
		}
		p := problem(t, body)
		if !strings.Contains(string(body), `"allowed":[`) || !cmp.Equal(p.Allowed, tc.allowed) {
			t.Errorf("%s → %s: allowed %q, want %q\n%s", tc.serial, tc.to, p.Allowed, tc.allowed, body)
		}
	}
	// The client error says the same and wraps fleet.ErrConflict.
	_, err := c.SetState(ctx, "F1", fleet.Reserve, "try")
	var ce *client.Error
	if !errors.Is(err, fleet.ErrConflict) || !errors.As(err, &ce) || !strings.Contains(err.Error(), "allowed transitions: maintenance, retired") {
		t.Errorf("client error %v", err)
	}
	// Refused changes left no events: creation + one change each.
	for _, s := range []string{"R1", "F1"} {
		h, err := c.History(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) != 2 {
			t.Errorf("%s has %d events, want 2: %+v", s, len(h.Events), h.Events)
		}
	}
	if _, err := c.SetState(ctx, "NOPE", fleet.Reserve, "x"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("missing device: %v, want not found", err)
	}
	if _, err := c.History(ctx, "NOPE"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("history of missing device: %v, want not found", err)
	}
	if _, err := c.CreateDevice(ctx, api.NewDevice{Serial: "R1", Model: "A800", State: fleet.Reserve}); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("duplicate create: %v, want conflict", err)
	}
}

func TestImportAllOrNothing(t *testing.T) { forEachStore(t, testImportAllOrNothing) }

func testImportAllOrNothing(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	c := srv.Client(t, srv.Token(t, inventory.RoleOperator))
	bad := strings.Join([]string{
		"serial,model,state,node,site,acquired",
		"S1,A800,in-service,n1,bj,2023-04-01",
		"S2,Z9000,reserve,n1,bj,2023-04-01", // unknown model: line 3 column 4
		"S3,H800,lost,n2,sh,2023-04-01",     // unknown state: line 4 column 9
		"S1,H20,reserve,n2,sh,2023-04-01",   // duplicate serial: line 5 column 1
		"S5,H20,reserve,n2,sh,2023-02-30",   // bad date: line 6 column 22
		"S6,H20,reserve,n2",                 // wrong column count: line 7
		"S7,910C,failed,n3,gz,2024-01-01",
	}, "\n") + "\n"
	_, err := c.Import(ctx, client.CSV, "bad.csv", strings.NewReader(bad))
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !errors.Is(err, fleet.ErrInvalid) {
		t.Fatalf("bad import: %v, want 422", err)
	}
	msgs := ce.Messages()
	wantPrefixes := []string{"3:4: unknown model", "4:9: unknown state", "5:1: duplicate serial", "6:22: bad date", "7:1: record has 4 fields"}
	if len(msgs) != len(wantPrefixes) {
		t.Errorf("got %d messages, want %d:\n%s", len(msgs), len(wantPrefixes), strings.Join(msgs, "\n"))
	}
	for _, w := range wantPrefixes {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, w) }) {
			t.Errorf("no message starting %q in:\n%s", w, strings.Join(msgs, "\n"))
		}
	}
	if n := countDevices(t, srv); n != 0 {
		t.Fatalf("%d devices after a rejected import, want 0", n)
	}
	// The good rows alone import, with one creation event each.
	good := "serial,model,state,node,site,pool,cost_usd,labels\n" +
		"S1,A800,in-service,n1,bj,train,12000,rack=r1;row=2\n" +
		"S2,H800,reserve,n1,bj,,,\n" +
		"S3,Ascend 910C,failed,n3,gz,,,\n"
	res, err := c.Import(ctx, client.CSV, "good.csv", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices != 3 || res.Nodes != 2 {
		t.Errorf("import result %+v, want 3 devices 2 nodes", res)
	}
	d, err := c.Device(ctx, "S1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Model != "a800-sxm4-80gb" || d.Node != "n1" || d.Site != "bj" || d.Pool != "train" || d.CostUSD == nil || *d.CostUSD != 12000 || d.Labels["rack"] != "r1" {
		t.Errorf("S1 = %+v", d)
	}
	// Re-importing an existing serial rejects the whole file.
	again := "serial,model,state\nS9,A800,reserve\nS2,A800,reserve\n"
	if _, err := c.Import(ctx, client.CSV, "again.csv", strings.NewReader(again)); !errors.Is(err, fleet.ErrInvalid) && !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("import of an existing serial: %v", err)
	}
	if _, err := c.Device(ctx, "S9"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("S9 after rejected import: %v, want not found", err)
	}
	// JSON import: same rules; unknown keys named.
	if _, err := c.Import(ctx, client.JSON, "x.json", strings.NewReader(`[{"serial":"J1","model":"A800","state":"reserve","colour":"red"}]`)); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "colour") {
		t.Errorf("JSON import with unknown key: %v", err)
	}
	res, err = c.Import(ctx, client.JSON, "x.json", strings.NewReader(`{"nodes":[{"hostname":"n9","site":"sh","interconnect_domain":"ib-1"}],"devices":[{"serial":"J1","model":"P800","state":"reserve","node":"n9","acquired":"2025-01-02"}]}`))
	if err != nil || res.Devices != 1 {
		t.Fatalf("JSON import: %+v %v", res, err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(nodes, func(n inventory.Node) bool { return n.Hostname == "n9" }); i < 0 || nodes[i].InterconnectDomain != "ib-1" {
		t.Errorf("nodes %+v: want n9 with interconnect ib-1", nodes)
	}
	// Other content types are refused.
	if status, body := call(t, srv, "POST", "/api/v1/devices/import", apitest.AdminSecret, "application/xml", []byte("<x/>")); status != http.StatusUnsupportedMediaType {
		t.Errorf("xml import: %d %s", status, body)
	}
	h, err := c.History(ctx, "S1")
	if err != nil || len(h.Events) != 1 || h.Events[0].Reason != "imported" || h.Events[0].To != fleet.InService {
		t.Errorf("S1 history %+v %v", h, err)
	}
}

func TestListFiltersAndCursor(t *testing.T) { forEachStore(t, testListFiltersAndCursor) }

func testListFiltersAndCursor(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	c := srv.Client(t, srv.Token(t, inventory.RoleViewer))
	var b strings.Builder
	b.WriteString("serial,model,state,site,pool,node\n")
	models := []string{"A800", "H20", "910B3"}
	states := []string{"in-service", "reserve", "failed"}
	type key struct{ model, state, site string }
	want := map[key]int{}
	ids := map[string]string{"A800": "a800-sxm4-80gb", "H20": "h20-96gb", "910B3": "ascend-910b3"}
	for i := range 250 {
		m, s, site := models[i%3], states[(i/3)%3], []string{"bj", "sh"}[i%2]
		fmt.Fprintf(&b, "D%04d,%s,%s,%s,p%d,node-%d\n", i, m, s, site, i%4, i%10)
		want[key{ids[m], s, site}]++
	}
	if _, err := srv.Ledger.ImportCSV(ctx, "t.csv", strings.NewReader(b.String()), "test"); err != nil {
		t.Fatal(err)
	}
	// Every device exactly once across pages, in serial order.
	var serials []string
	pages := 0
	err := c.AllDevices(ctx, client.ListOptions{Limit: 100}, func(ds []api.Device) error {
		pages++
		for _, d := range ds {
			serials = append(serials, d.Serial)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(serials) != 250 || pages != 3 || !slices.IsSorted(serials) || len(slices.Compact(slices.Clone(serials))) != 250 {
		t.Errorf("paging: %d serials in %d pages (sorted %v)", len(serials), pages, slices.IsSorted(serials))
	}
	// held: every state but retired; with a state it is refused.
	if _, err := srv.Ledger.SetState(ctx, "D0001", fleet.Retired, "gone", "test"); err != nil {
		t.Fatal(err)
	}
	held := 0
	if err := c.AllDevices(ctx, client.ListOptions{Held: true, Limit: 100}, func(ds []api.Device) error {
		for _, d := range ds {
			if d.State == fleet.Retired {
				t.Errorf("held lists retired %s", d.Serial)
			}
		}
		held += len(ds)
		return nil
	}); err != nil || held != 249 {
		t.Errorf("held: %d devices, %v; want 249", held, err)
	}
	if _, err := c.ListDevices(ctx, client.ListOptions{Held: true, State: fleet.Reserve}); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("held with a state: %v, want refused", err)
	}
	want = map[key]int{} // D0001 is retired now
	for i := range 250 {
		if i == 1 {
			continue
		}
		m, st, site := models[i%3], states[(i/3)%3], []string{"bj", "sh"}[i%2]
		want[key{ids[m], st, site}]++
	}
	// Filters agree with a count done here.
	for k, n := range want {
		got := 0
		err := c.AllDevices(ctx, client.ListOptions{Model: k.model, State: fleet.DeviceState(k.state), Site: k.site, Limit: 7}, func(ds []api.Device) error {
			for _, d := range ds {
				if d.Model != k.model || string(d.State) != k.state || d.Site != k.site {
					t.Errorf("filter %+v returned %+v", k, d)
				}
			}
			got += len(ds)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("filter %+v: %d devices, want %d", k, got, n)
		}
	}
	p, err := c.ListDevices(ctx, client.ListOptions{Node: "node-3", Pool: "p3", Model: "H20"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Devices {
		if d.Node != "node-3" || d.Pool != "p3" || d.Model != "h20-96gb" {
			t.Errorf("node/pool filter returned %+v", d)
		}
	}
	if _, err := c.ListDevices(ctx, client.ListOptions{Cursor: "!!!"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("bad cursor: %v, want invalid", err)
	}
	if _, err := c.ListDevices(ctx, client.ListOptions{Model: "Z9000"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("unknown model filter: %v, want invalid", err)
	}
	// Export class, free text and a descending order, walked page by page,
	// against the devices filtered and ordered here.
	classOf := map[string]string{"a800-sxm4-80gb": "3A090.a", "ascend-910b3": "3A090.a", "h20-96gb": "not-3A090"} // under 2023-10: TPP 4992, 5008, 2368 (granary chips classify)
	for _, o := range []client.ListOptions{{Class: "3A090.a", Sort: "-model"}, {Class: "not-3a090", Rules: "2023-10", Q: "NODE-1", Sort: "-serial"}, {Q: "d01", Sort: "-node"}} {
		var want []string
		for i := range 250 {
			d := api.Device{Serial: fmt.Sprintf("D%04d", i), Model: ids[models[i%3]], Node: fmt.Sprintf("node-%d", i%10)}
			if (o.Class == "" || strings.EqualFold(classOf[d.Model], o.Class)) && strings.Contains(strings.ToLower(d.Serial+"\n"+d.Node+"\n"+d.Model+"\n"+[]string{"bj", "sh"}[i%2]), strings.ToLower(o.Q)) {
				want = append(want, d.Serial)
			}
		}
		key := map[string]string{}
		var got []string
		o.Limit = 9
		if err := c.AllDevices(ctx, o, func(ds []api.Device) error {
			for _, d := range ds {
				got = append(got, d.Serial)
				key[d.Serial] = map[string]string{"-model": d.Model, "-node": d.Node}[o.Sort]
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(want, func(a, b string) int {
			if c := strings.Compare(key[a], key[b]); c != 0 {
				return -c
			}
			return -strings.Compare(a, b)
		})
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%+v: %d devices %v…, want %d", o, len(got), got[:min(5, len(got))], len(want))
		}
	}
	for _, o := range []client.ListOptions{{Class: "3A090.z"}, {Class: "3A090.a", Rules: "1999"}, {Rules: "2023-10"}, {Sort: "-cost"}} {
		if _, err := c.ListDevices(ctx, o); err == nil || !strings.Contains(err.Error(), "class") && !strings.Contains(err.Error(), "rule") && !strings.Contains(err.Error(), "sort") {
			t.Errorf("%+v: %v, want a refusal naming the field", o, err)
		}
	}
}

func TestOpenAPIDocument(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	status, body := call(t, srv, "GET", "/api/v1/openapi.json", "", "", nil)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	for path, methods := range map[string][]string{
		"/api/v1/devices":                  {"get", "post"},
		"/api/v1/devices/{serial}":         {"get"},
		"/api/v1/devices/{serial}/state":   {"post"},
		"/api/v1/devices/{serial}/history": {"get"},
		"/api/v1/devices/import":           {"post"},
		"/api/v1/nodes":                    {"get"},
		"/api/v1/fleet/summary":            {"get"},
		"/api/v1/tokens":                   {"get", "post"},
		"/api/v1/tokens/{id}":              {"delete"},
		"/api/v1/tokens/{id}/revoke":       {"post"},
	} {
		for _, m := range methods {
			op, ok := doc.Paths[path][m]
			if !ok {
				t.Errorf("no %s %s in the document", m, path)
				continue
			}
			if _, ok := op["security"]; !ok {
				t.Errorf("%s %s has no security requirement", m, path)
			}
		}
	}
	var raw struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	ref := raw.Paths["/api/v1/devices/{serial}/state"]["post"].Responses["409"].Content["application/problem+json"].Schema.Ref
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	if _, ok := raw.Components.Schemas[name].Properties["allowed"]; !ok {
		t.Errorf("the 409 of a state change is documented as %q, without allowed", ref)
	}
	if !bytes.Contains(body, []byte(`"text/csv"`)) {
		t.Error("import does not document text/csv")
	}
}

func TestMetrics(t *testing.T) { forEachStore(t, testMetrics) }

func testMetrics(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	if _, err := srv.Ledger.ImportCSV(ctx, "m.csv", strings.NewReader("serial,model,state,site\na,A800,reserve,bj1\nb,A800,reserve,bj1\nd,A800,reserve,sh2\nc,H20,failed,\n"), "t"); err != nil {
		t.Fatal(err)
	}
	call(t, srv, "GET", "/api/v1/devices/a", apitest.AdminSecret, "", nil)
	_, body := call(t, srv, "GET", "/metrics", "", "", nil)
	a800 := apitest.Classify(mustChip(t, "a800-sxm4-80gb"))
	h20 := apitest.Classify(mustChip(t, "h20-96gb"))
	for _, want := range []string{
		`granary_devices{export_class="` + a800 + `",model="a800-sxm4-80gb",site="bj1",state="reserve"} 2`,
		`granary_devices{export_class="` + a800 + `",model="a800-sxm4-80gb",site="sh2",state="reserve"} 1`,
		`granary_devices{export_class="` + a800 + `",model="a800-sxm4-80gb",site="sh2",state="failed"} 0`,
		`granary_devices{export_class="` + h20 + `",model="h20-96gb",site="",state="failed"} 1`,
		`granary_devices{export_class="` + h20 + `",model="h20-96gb",site="",state="in-service"} 0`,
		`granary_http_request_duration_seconds_count{code="200",method="GET",route="/api/v1/devices/{serial}"} 1`,
		`granary_http_request_duration_seconds_bucket{code="200",method="GET",route="/api/v1/devices/{serial}",le="+Inf"} 1`,
		`# TYPE granary_http_request_duration_seconds histogram`,
		`granary_ready 1`,
		`granary_build_info{goversion="` + runtime.Version() + `",revision=`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if bytes.Contains(body, []byte(`route="GET `)) {
		t.Error("a route label carries the method")
	}
}

func mustChip(t *testing.T, id string) accel.Chip {
	t.Helper()
	c, ok := accel.Default().Get(id)
	if !ok {
		t.Fatalf("no chip %s", id)
	}
	return c
}

// granary_ready follows Options.Ready at scrape time.
func TestReadyMetric(t *testing.T) {
	var notReady atomic.Bool
	srv := apitest.Start(t, apitest.Options{API: func(o *api.Options) {
		o.Ready = func(context.Context) error {
			if notReady.Load() {
				return errors.New("rounds failing")
			}
			return nil
		}
	}})
	for _, tc := range []struct {
		down bool
		want string
	}{{false, "granary_ready 1\n"}, {true, "granary_ready 0\n"}, {false, "granary_ready 1\n"}} {
		notReady.Store(tc.down)
		_, body := call(t, srv, "GET", "/metrics", "", "", nil)
		if !bytes.Contains(body, []byte(tc.want)) {
			t.Errorf("not ready %v: /metrics lacks %q", tc.down, tc.want)
		}
	}
}

func TestUnknownAPIPathIsJSON404(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	status, body := call(t, srv, "GET", "/api/v1/nothing", apitest.AdminSecret, "", nil)
	if status != 404 || problem(t, body).Status != 404 {
		t.Errorf("%d %s", status, body)
	}
}

func TestRunwayUsesTheLiveLedger(t *testing.T) { forEachStore(t, testRunwayUsesTheLiveLedger) }

func testRunwayUsesTheLiveLedger(t *testing.T, o apitest.Options) {
	srv := apitest.Start(t, o)
	ctx := context.Background()
	if _, err := srv.Ledger.ImportCSV(ctx, "r.csv", strings.NewReader("serial,model,state\na,H800,in-service\nb,H800,reserve\nc,H20,in-service\nd,H20,failed\n"), "t"); err != nil {
		t.Fatal(err)
	}
	plan := "start: 2027-01\nhorizon_months: 24\npaths: 200\ndemand:\n  inference: {pflops: 0.5, growth_per_year: 2}\n"
	viewer := srv.Token(t, inventory.RoleViewer)
	status, body := call(t, srv, "POST", "/api/v1/runway", viewer, "application/yaml", []byte(plan))
	if status != 200 {
		t.Fatalf("runway: %d\n%s", status, body)
	}
	var res struct {
		Paths        int `json:"paths"`
		RunwayMonths struct {
			P50 *int `json:"p50"`
		} `json:"runway_months"`
		Series []json.RawMessage `json:"series"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Paths != 200 || len(res.Series) != 24 {
		t.Errorf("runway result: %d paths, %d months", res.Paths, len(res.Series))
	}
	// Bad plans name the line; too many paths are refused; no token is 401.
	status, body = call(t, srv, "POST", "/api/v1/runway", viewer, "application/yaml", []byte("start: 2027-01\ndemand:\n  inference: {pflops: 1}\ncolour: red\n"))
	if status != 422 || !strings.Contains(string(body), "colour") {
		t.Errorf("bad plan: %d %s", status, body)
	}
	status, body = call(t, srv, "POST", "/api/v1/runway?paths=20001", viewer, "application/yaml", []byte(plan))
	if status != 422 {
		t.Errorf("too many paths: %d %s", status, body)
	}
	if status, _ := call(t, srv, "POST", "/api/v1/runway", "", "application/yaml", []byte(plan)); status != 401 {
		t.Errorf("runway without a token: %d", status)
	}
}

// TestRunwayAliasBomb: a 375-byte "billion laughs" plan (9^8 scalars once
// expanded) is refused with 422 naming the limit, and the request
// allocates a bounded amount (it reached gigabytes before the decode
// limits).
func TestRunwayAliasBomb(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	bomb, err := os.ReadFile("../forecast/testdata/bad/alias-bomb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	viewer := srv.Token(t, inventory.RoleViewer)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	status, body := call(t, srv, "POST", "/api/v1/runway", viewer, "application/yaml", bomb)
	runtime.ReadMemStats(&after)
	if status != 422 || !strings.Contains(string(body), "more than 100000 nodes once aliases are expanded") {
		t.Errorf("bomb: %d %s", status, body)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the refused bomb allocated %d MiB", alloc>>20)
	}
}

// Issue 16: the dashboard's responses carry CSP, frame and sniffing
// headers and are not cached; /static/ lists no directory; a failed
// authentication is logged at warn without the secret.
func TestPageHeadersAndFailedAuthLog(t *testing.T) {
	page := http.NewServeMux()
	page.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(fstest.MapFS{"css/site.css": {Data: []byte("body{}")}})))
	page.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html></html>") })
	logs := &lockedBuffer{}
	srv := apitest.Start(t, apitest.Options{Log: logs, API: func(o *api.Options) { o.Page = page }})
	get := func(path string) *http.Response {
		resp, err := srv.Server.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	r := get("/")
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if r := get("/static/css/site.css"); r.StatusCode != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("asset: %d %v", r.StatusCode, r.Header)
	}
	for _, dir := range []string{"/static/", "/static/css/"} {
		if r := get(dir); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404 (no listing)", dir, r.StatusCode)
		}
	}
	const secret = "gry_notarealsecretatall0123456789"
	if status, _ := call(t, srv, "GET", "/api/v1/devices", secret, "", nil); status != 401 {
		t.Fatalf("bad token: %d", status)
	}
	l := logs.String()
	if !strings.Contains(l, `level=WARN msg="authentication failed" token=gry_…`) || strings.Contains(l, "notarealsecret") {
		t.Errorf("failed auth log:\n%s", l)
	}
}

// A JSON body with a key twice in one object is refused with 422 naming
// the key, and nothing is written.
func TestDuplicateJSONKeysRefused(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	status, body := call(t, srv, "POST", "/api/v1/devices", apitest.AdminSecret, "application/json",
		[]byte(`{"serial":"x1","model":"h20","state":"reserve","serial":"x2"}`))
	if status != 422 || !bytes.Contains(body, []byte(`duplicate key \"serial\"`)) {
		t.Errorf("%d %s", status, body)
	}
	for _, s := range []string{"x1", "x2"} {
		if st, _ := call(t, srv, "GET", "/api/v1/devices/"+s, apitest.AdminSecret, "", nil); st != 404 {
			t.Errorf("device %s: %d after a refused body", s, st)
		}
	}
	if st, b := call(t, srv, "POST", "/api/v1/devices", apitest.AdminSecret, "application/json",
		[]byte(`{"serial":"x3","model":"h20","state":"reserve","labels":{"a":"1"}}`)); st != 201 && st != 200 {
		t.Errorf("a body without duplicates: %d %s", st, b)
	}
}

// A read deadline set after the body was read to its end (as huma did on a
// body the duplicate-key check had already read) must not cancel the
// request while the handler still works. Before the fix, every small POST
// slower than that deadline ended with "context canceled" (a 500 under
// load, TestAgentIngestLoad). The check now streams the body to the
// operation, which sets its deadline before reading, and a deadline set
// after the end is ignored.
func TestSmallBodyReadDeadlineKeepsContext(t *testing.T) {
	handlerErr := make(chan error, 1)
	h := api.UniqueKeys(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			handlerErr <- err
			return
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		time.Sleep(200 * time.Millisecond)
		handlerErr <- r.Context().Err()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/v1/x", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-handlerErr; err != nil {
		t.Errorf("request context after a late read deadline: %v", err)
	}
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// Bodies above the 64 KiB the check used to buffer, and bodies without a
// Content-Length (chunked), are checked too: a JSON import of 20,000
// devices (≈ 1.9 MiB) with a key twice in its last device, or in its
// first, is a 422 naming the key and its path, and nothing is imported;
// the same import without the duplicate is accepted.
func TestDuplicateJSONKeysLargeBodies(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	const n = 20000
	doc := func(dupAt int) []byte {
		var b bytes.Buffer
		b.WriteString(`{"devices":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"serial":"L%06d","model":"h20","state":"reserve","node":"n%d","labels":{"rack":"r%d"}`, i, i/8, i%40)
			if i == dupAt {
				b.WriteString(`,"state":"in_service"`)
			}
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
		return b.Bytes()
	}
	send := func(body []byte, chunked bool) (int, []byte) {
		t.Helper()
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // no length: sent chunked
		}
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/devices/import", r)
		req.Header.Set("Authorization", "Bearer "+apitest.AdminSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, tc := range []struct {
		dupAt   int
		chunked bool
	}{{n - 1, false}, {n - 1, true}, {0, false}, {0, true}} {
		body := doc(tc.dupAt)
		if len(body) <= 64<<10 {
			t.Fatalf("body of %d bytes: want more than 64 KiB", len(body))
		}
		status, b := send(body, tc.chunked)
		if status != 422 || !bytes.Contains(b, []byte(`duplicate key \"state\" in the JSON body (at $.devices.[].state)`)) {
			t.Errorf("duplicate in device %d, chunked %v (%d bytes): %d %.300s", tc.dupAt, tc.chunked, len(body), status, b)
		}
	}
	if st, b := call(t, srv, "GET", "/api/v1/devices/L000000", apitest.AdminSecret, "", nil); st != 404 {
		t.Errorf("a refused import wrote devices: %d %s", st, b)
	}
	if status, b := send(doc(-1), true); status >= 300 {
		t.Errorf("the import without a duplicate: %d %.300s", status, b)
	}
	if st, b := call(t, srv, "GET", "/api/v1/devices/L019999", apitest.AdminSecret, "", nil); st != 200 {
		t.Errorf("the accepted import: L019999 %d %s", st, b)
	}
}
