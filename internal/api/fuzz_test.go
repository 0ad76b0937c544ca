package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/jobs"
)

// FuzzRequestBodies posts arbitrary bytes to every writing endpoint: the
// server must answer with a 2xx or 4xx, never a 5xx, and never panic.
func FuzzRequestBodies(f *testing.F) {
	srv := apitest.Start(f, apitest.Options{})
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"serial":"F1","model":"A800","state":"reserve"}`},
		{0, `{"serial":"F2","model":"A800","state":"reserve","labels":{"a=b":"c"},"acquired":"2024-02-29"}`},
		{0, `{"serial":"","model":"","state":"in-service","cost_usd":1e300}`},
		{1, `{"state":"failed","reason":"x"}`},
		{2, "serial,model,state\nF3,H20,reserve\n"},
		{2, "serial,model,state,labels\n\"F4,H20,reserve,a=1\n"},
		{3, `[{"serial":"F5","model":"910C","state":"failed","cost_usd":-0}]`},
		{3, `{"nodes":[{"hostname":"n","site":"s"}],"devices":[{"serial":"F6","model":"P800","state":"reserve","node":"n","site":"t"}]}`},
		{4, `{"role":"viewer","name":"\u0000"}`},
		{5, "start: 2027-01\nhorizon_months: 3\npaths: 10\ndemand: {inference: {pflops: 1}}\n"},
	} {
		f.Add(seed.route, []byte(seed.body))
	}
	routes := []struct{ path, contentType string }{
		{"/api/v1/devices", "application/json"},
		{"/api/v1/devices/F1/state", "application/json"},
		{"/api/v1/devices/import", "text/csv"},
		{"/api/v1/devices/import", "application/json"},
		{"/api/v1/tokens", "application/json"},
		{"/api/v1/runway", "application/yaml"},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req, err := http.NewRequest("POST", srv.URL+r.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apitest.AdminSecret)
		req.Header.Set("Content-Type", r.contentType)
		resp, err := srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s %q: %d %s", r.path, body, resp.StatusCode, b)
		}
	})
}

// FuzzJobBodies posts and puts arbitrary bytes to the jobs and teams
// endpoints (the scheduler's inputs): never a 5xx, never a panic, and a
// team or job the server accepted keeps every number inside the bounds
// (a 201 for weight 1e308 is how one request halted every round).
func FuzzJobBodies(f *testing.F) {
	srv, _ := jobsServerRaw(f)
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"name":"a","team":"t","class":"llm-7b","gang":8,"total_steps":1000}`},
		{0, `{"name":"a","team":"t","class":"llm-7b","gang":1,"total_steps":1e308,"weight":1e308}`},
		{0, `{"name":"a","team":"t","class":"llm-7b","gang":1,"duration_s":1e300,"reference_model":"h800"}`},
		{0, `[{"name":"a"}]`},
		{1, `{"weight":1e308}`},
		{1, `{"weight":10,"guarantees":{"h800":8}}`},
		{1, `{"weight":-1,"guarantees":{"h800":99999999999}}`},
		{1, `{"weight":1,"weight":2}`},
	} {
		f.Add(seed.route, []byte(seed.body))
	}
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/jobs"},
		{"PUT", "/api/v1/teams/fuzz"},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req, err := http.NewRequest(r.method, srv.URL+r.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apitest.AdminSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, resp.StatusCode, b)
		}
		if resp.StatusCode < 300 {
			var got struct {
				Weight     float64 `json:"weight"`
				TotalSteps float64 `json:"total_steps"`
			}
			if json.Unmarshal(b, &got) == nil && (got.Weight > jobs.MaxWeight || got.TotalSteps > jobs.MaxSteps) {
				t.Fatalf("%s %s accepted %q: %s", r.method, r.path, body, b)
			}
		}
	})
}
