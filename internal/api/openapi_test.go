package api_test

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/hwprobe"
	"github.com/granaryhq/granary/internal/inventory"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Summary     string `json:"summary"`
		Parameters  []struct {
			Name        string `json:"name"`
			In          string `json:"in"`
			Description string `json:"description"`
		} `json:"parameters"`
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
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

// fullServer is a server with every route (jobs and teams too) and the
// options it was built with.
func fullServer(t *testing.T) (*apitest.Server, api.Options, openAPIDoc) {
	t.Helper()
	var opts api.Options
	srv, _ := jobsServerRawWith(t, func(o *api.Options) { opts = *o })
	status, body := call(t, srv, "GET", "/api/v1/openapi.json", "", "", nil)
	if status != 200 {
		t.Fatalf("openapi.json: %d", status)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return srv, opts, doc
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestEveryRouteIsDescribed: every pattern the server registers on its mux
// is an operation of the OpenAPI document, except the document itself,
// its schemas, the catch-alls and the dashboard.
func TestEveryRouteIsDescribed(t *testing.T) {
	_, opts, doc := fullServer(t)
	opts.Registry = prometheus.NewRegistry()
	pats, err := api.RoutePatterns(opts)
	if err != nil {
		t.Fatal(err)
	}
	undocumented := []string{"/api/v1/openapi.json", "/api/v1/openapi.yaml", "/api/v1/openapi-3.0.json", "/api/v1/openapi-3.0.yaml", "/api/v1/schemas/", "/api/v1/", "/"}
	n := 0
	for _, p := range pats {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p
		}
		if slices.Contains(undocumented, path) || strings.HasPrefix(path, "/api/v1/schemas/") {
			continue
		}
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %q is not in the OpenAPI document", p)
		}
		n++
	}
	if n < 30 {
		t.Errorf("only %d routes checked: %v", n, pats)
	}
	for _, want := range []string{"/api/v1/jobs", "/api/v1/teams", "/api/v1/runway", "/api/v1/tokens", "/api/v1/failures", "/healthz", "/readyz", "/metrics"} {
		if doc.Paths[want] == nil {
			t.Errorf("the document lacks %s", want)
		}
	}
}

// TestEveryParameterIsDescribed: each operation has a summary and each of
// its parameters a description.
func TestEveryParameterIsDescribed(t *testing.T) {
	_, _, doc := fullServer(t)
	for path, ops := range doc.Paths {
		for m, op := range ops {
			if op.Summary == "" {
				t.Errorf("%s %s has no summary", m, path)
			}
			for _, p := range op.Parameters {
				if p.Description == "" {
					t.Errorf("%s %s: parameter %s (%s) has no description", m, path, p.Name, p.In)
				}
			}
		}
	}
}

// TestEveryListPages: every GET whose answer has a next field takes cursor
// and limit, and walking it with limit=1 finds what one big page holds.
func TestEveryListPages(t *testing.T) {
	srv, _, doc := fullServer(t)
	seedLists(t, srv)
	lists := 0
	for path, ops := range doc.Paths {
		op, ok := ops["get"]
		if !ok {
			continue
		}
		ref := op.Responses["200"].Content["application/json"].Schema.Ref
		schema := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		if _, paged := schema.Properties["next"]; !paged {
			continue
		}
		lists++
		var names []string
		for _, p := range op.Parameters {
			names = append(names, p.Name)
		}
		if !slices.Contains(names, "cursor") || !slices.Contains(names, "limit") {
			t.Errorf("GET %s pages but takes %v", path, names)
			continue
		}
		concrete := pathParam.ReplaceAllString(path, "H800-000")
		if strings.Contains(path, "/jobs") {
			concrete += "?state=all&"
		} else {
			concrete += "?"
		}
		checkPaging(t, srv, concrete)
	}
	// devices, history, nodes, tokens, agents, conflicts, health, jobs, teams
	if lists < 9 {
		t.Errorf("%d paged lists; want every list (9)", lists)
	}
}

// checkPaging walks url with limit=1 and compares with one page of 1000.
func checkPaging(t *testing.T, srv *apitest.Server, url string) {
	t.Helper()
	all := items(t, srv, url+"limit=1000")
	var walked []json.RawMessage
	cursor := ""
	for range 100 {
		u := url + "limit=1"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		status, body := call(t, srv, "GET", u, apitest.AdminSecret, "", nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", u, status, body)
		}
		page, next := decodePage(t, string(body))
		if len(page) > 1 {
			t.Fatalf("GET %s: %d items", u, len(page))
		}
		walked = append(walked, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(all) == 0 || len(walked) != len(all) {
		t.Errorf("%s: walked %d items one at a time, one page holds %d", url, len(walked), len(all))
	}
	for i := range min(len(all), len(walked)) {
		if string(all[i]) != string(walked[i]) {
			t.Errorf("%s: item %d differs: %s vs %s", url, i, all[i], walked[i])
		}
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=-1", "cursor=bm9wZTp4&limit=5", "cursor=%21%21&limit=5"} {
		if status, body := call(t, srv, "GET", url+bad, apitest.AdminSecret, "", nil); status != 422 {
			t.Errorf("GET %s%s: %d %s; want 422", url, bad, status, body)
		}
	}
}

func items(t *testing.T, srv *apitest.Server, url string) []json.RawMessage {
	t.Helper()
	status, body := call(t, srv, "GET", url, apitest.AdminSecret, "", nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	page, next := decodePage(t, string(body))
	if next != "" {
		t.Fatalf("GET %s: more than one page", url)
	}
	return page
}

// decodePage returns the one array field of a list body and its next.
func decodePage(t *testing.T, body string) ([]json.RawMessage, string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	var next string
	_ = json.Unmarshal(m["next"], &next)
	for k, v := range m {
		var arr []json.RawMessage
		if k != "next" && json.Unmarshal(v, &arr) == nil && v[0] == '[' {
			return arr, next
		}
	}
	t.Fatalf("no list in %s", body)
	return nil, ""
}

// seedLists puts at least three items in every list.
func seedLists(t *testing.T, srv *apitest.Server) {
	t.Helper()
	ctx := context.Background()
	c := srv.Client(t, apitest.AdminSecret)
	for i := range 3 {
		if _, err := c.CreateToken(ctx, "viewer", "t"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		name := "team-" + strconv.Itoa(i)
		if _, err := c.PutTeam(ctx, name, api.TeamConfig{Weight: ptr(1.0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SubmitJob(ctx, api.NewJob{Name: "j", Team: name, Class: "llm-7b", Gang: 1, TotalSteps: 10}); err != nil {
			t.Fatal(err)
		}
		for _, st := range []fleet.DeviceState{fleet.Reserve, fleet.InService} {
			if _, err := c.SetState(ctx, "H800-000", st, "paging"); err != nil {
				t.Fatal(err)
			}
		}
	}
	seedAgents(t, srv)
}

// TestOptionsAnswersAllow: OPTIONS on a described path is a 204 whose Allow
// lists its methods; a method it lacks is a 405 with the same Allow.
func TestOptionsAnswersAllow(t *testing.T) {
	srv, _, _ := fullServer(t)
	for _, c := range []struct{ path, allow string }{
		{"/api/v1/jobs", "GET, HEAD, POST, OPTIONS"},
		{"/api/v1/jobs/job-1", "DELETE, GET, HEAD, OPTIONS"},
		{"/api/v1/devices/SN%2F1/state", "POST, OPTIONS"},
		{"/api/v1/teams/x", "DELETE, PUT, OPTIONS"},
	} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+c.path, nil)
		resp, err := srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Allow") != c.allow {
			t.Errorf("OPTIONS %s: %d Allow %q; want 204 %q", c.path, resp.StatusCode, resp.Header.Get("Allow"), c.allow)
		}
		req, _ = http.NewRequest(http.MethodPatch, srv.URL+c.path, nil)
		resp, err = srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != c.allow {
			t.Errorf("PATCH %s: %d Allow %q; want 405 %q", c.path, resp.StatusCode, resp.Header.Get("Allow"), c.allow)
		}
	}
	if status, _ := call(t, srv, "OPTIONS", "/api/v1/nope", "", "", nil); status != 404 {
		t.Errorf("OPTIONS on an unknown path: %d; want 404", status)
	}
}

// TestClientPathsAreInTheDocument reads internal/client's source: every
// request it makes (c.do, c.doJSON, allPages) names a method and path the
// OpenAPI document describes, so the client cannot drift from the server.
func TestClientPathsAreInTheDocument(t *testing.T) {
	_, _, doc := fullServer(t)
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			described[strings.ToUpper(m)+" "+pathParam.ReplaceAllString(path, "{}")] = true
		}
	}
	calls := clientCalls(t, filepath.Join("..", "client"))
	if len(calls) < 25 {
		t.Fatalf("found only %d client requests: %v", len(calls), calls)
	}
	for _, c := range calls {
		if !described[c] {
			t.Errorf("the client sends %s, which the OpenAPI document does not describe", c)
		}
	}
}

// clientCalls finds "METHOD /path/{}" for each request in dir's Go files.
func clientCalls(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			method, path := "", ast.Expr(nil)
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr: // c.do(ctx, method, path, …), c.doJSON(ctx, method, path, …)
				if (fn.Sel.Name == "do" || fn.Sel.Name == "doJSON") && len(call.Args) >= 3 {
					if sel, ok := call.Args[1].(*ast.SelectorExpr); ok {
						method = strings.ToUpper(strings.TrimPrefix(sel.Sel.Name, "Method"))
					}
					path = call.Args[2]
				}
			case *ast.IndexListExpr: // allPages[T, P](ctx, c, path, q)
				if id, ok := fn.X.(*ast.Ident); ok && id.Name == "allPages" && len(call.Args) >= 3 {
					method, path = "GET", call.Args[2]
				}
			}
			if method == "" || path == nil {
				return true
			}
			p, lit := pathOf(path)
			if !lit || !strings.HasPrefix(p, "/") {
				return true // the generic helpers pass their path through
			}
			out = append(out, method+" "+p)
			return true
		})
	}
	return out
}

// pathOf renders a path expression: string literals as they are, anything
// else (url.PathEscape(id)) as {}.
func pathOf(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		a, ok1 := pathOf(e.X)
		b, ok2 := pathOf(e.Y)
		return a + b, ok1 || ok2
	default:
		return "{}", false
	}
}

// seedAgents has three agents report: each a new device and one the
// ledger holds on another node (a conflict).
func seedAgents(t *testing.T, srv *apitest.Server) {
	t.Helper()
	ctx := context.Background()
	admin := srv.Client(t, apitest.AdminSecret)
	for i := range 3 {
		node := "agent-" + strconv.Itoa(i)
		tok, err := admin.CreateAgentToken(ctx, node, "paging")
		if err != nil {
			t.Fatal(err)
		}
		r := inventory.AgentReport{Node: node, Site: "sh9", Devices: []hwprobe.Accelerator{
			{Vendor: "nvidia", Tool: "nvidia-smi", Serial: "AG-" + strconv.Itoa(i), Product: "NVIDIA H800", PCIBus: "0000:18:00.0"},
			{Vendor: "nvidia", Tool: "nvidia-smi", Serial: "H800-01" + strconv.Itoa(i), Product: "NVIDIA H800", PCIBus: "0000:19:00.0"},
		}}
		if _, err := srv.Client(t, tok.Secret).Report(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenAPIJobShareFields: the submission (NewJob) and the job (Job)
// schemas show a share of a device and node resources, and the job list
// takes shared.
func TestOpenAPIJobShareFields(t *testing.T) {
	_, _, doc := fullServer(t)
	for _, schema := range []string{"NewJob", "Job"} {
		props := doc.Components.Schemas[schema].Properties
		for _, f := range []string{"device_milli", "device_memory_mib", "cpu_milli", "memory_mib", "allowed"} {
			if _, ok := props[f]; !ok {
				t.Errorf("schema %s has no %s", schema, f)
			}
		}
	}
	if d := string(doc.Components.Schemas["NewJob"].Properties["device_milli"]); !strings.Contains(d, "1–999") {
		t.Errorf("NewJob.device_milli does not state its range: %s", d)
	}
	var names []string
	for _, p := range doc.Paths["/api/v1/jobs"]["get"].Parameters {
		names = append(names, p.Name)
	}
	if !slices.Contains(names, "shared") {
		t.Errorf("GET /api/v1/jobs takes %v, want shared", names)
	}
}
