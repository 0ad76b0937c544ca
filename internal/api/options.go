package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// allowed returns the methods the OpenAPI document describes for the
// concrete path p (a template segment {x} matches any one segment), with
// OPTIONS; nil when no path of the document matches.
func allowed(doc *huma.OpenAPI, p string) []string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	var out []string
	for tmpl, item := range doc.Paths {
		if !templateMatches(strings.Split(strings.Trim(tmpl, "/"), "/"), segs) {
			continue
		}
		for m, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete,
		} {
			if op != nil && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	if out == nil {
		return nil
	}
	if slices.Contains(out, http.MethodGet) {
		out = append(out, http.MethodHead)
	}
	slices.Sort(out)
	return append(out, http.MethodOptions)
}

func templateMatches(tmpl, segs []string) bool {
	if len(tmpl) != len(segs) {
		return false
	}
	for i, t := range tmpl {
		if !(strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") && segs[i] != "") && t != segs[i] {
			return false
		}
	}
	return true
}

// unrouted answers what no operation matched under /api/v1: OPTIONS on a
// described path is a 204 with Allow (and the CORS-less preflight answer
// a client expects), another method there a 405 with Allow, anything else
// a JSON 404.
func unrouted(doc *huma.OpenAPI) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		methods := allowed(doc, req.URL.EscapedPath())
		if methods == nil {
			writeProblem(w, newProblem(http.StatusNotFound, "no such endpoint: "+req.Method+" "+req.URL.Path))
			return
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		if req.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeProblem(w, newProblem(http.StatusMethodNotAllowed,
			req.Method+" "+req.URL.Path+": not allowed; allowed: "+strings.Join(methods, ", ")))
	}
}

// describePlainRoutes adds the routes served outside huma (health, metrics)
// to the OpenAPI document, so it describes everything the server answers.
func describePlainRoutes(doc *huma.OpenAPI) {
	text := func(desc string) *huma.Response {
		return &huma.Response{Description: desc, Content: map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string"}}}}
	}
	for _, op := range []*huma.Operation{
		{OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"operations"},
			Summary: "Liveness: the process answers", Responses: map[string]*huma.Response{"200": text("ok")}},
		{OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"operations"},
			Summary:   "Readiness: the store answers and the scheduling loop's rounds succeed",
			Responses: map[string]*huma.Response{"200": text("ready"), "503": text("not ready: the reason")}},
		{OperationID: "metrics", Method: http.MethodGet, Path: "/metrics", Tags: []string{"operations"},
			Summary:   "Prometheus metrics (text exposition format); docs/api.md lists them",
			Responses: map[string]*huma.Response{"200": text("metrics")}},
	} {
		doc.AddOperation(op)
	}
}
