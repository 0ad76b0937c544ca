// Package apitest starts a real Granary API server for tests: the handler of
// internal/api over a real inventory store (SQLite in a temporary directory
// by default, PostgreSQL when asked), behind net/http/httptest, with a
// bootstrap admin token. Tests talk to it over loopback with
// internal/client or plain HTTP.
package apitest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// AdminSecret is the bootstrap admin token of every test server.
const AdminSecret = "gry_test_admin_secret"

// Server is a running test server.
type Server struct {
	*httptest.Server
	Ledger   *inventory.Service
	Store    inventory.Store
	Registry *prometheus.Registry
}

// Options tune a test server. The zero value is a SQLite store and a real
// clock.
type Options struct {
	// Store, when set, is used instead of a fresh SQLite file. The caller
	// owns it.
	Store inventory.Store
	// Now is the service clock; nil means time.Now.
	Now func() time.Time
	// Log receives the server's logs; nil discards them.
	Log io.Writer
	// API adjusts the handler options before the server starts.
	API func(*api.Options)
}

// Classify is the export-control classifier the server uses: the class of
// the latest rule set.
func Classify(c accel.Chip) string {
	return string(exportctl.Classify(c, exportctl.Latest()).Classification)
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ctx := context.Background()
	st := o.Store
	if st == nil {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "granary.db"))
		if err != nil {
			t.Fatalf("opening sqlite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		st = db
	}
	led, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default(), Now: o.Now, Classify: Classify})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := led.Bootstrap(ctx, AdminSecret); err != nil {
		t.Fatalf("bootstrap token: %v", err)
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	reg := prometheus.NewRegistry()
	opts := api.Options{Ledger: led, Logger: slog.New(slog.NewTextHandler(logw, nil)), Registry: reg}
	if o.API != nil {
		o.API(&opts)
	}
	h, err := api.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{Server: srv, Ledger: led, Store: st, Registry: reg}
}

// Client returns a client of the server with the given token secret.
func (s *Server) Client(t testing.TB, secret string) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, secret, s.Server.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Token creates a token of role and returns its secret.
func (s *Server) Token(t testing.TB, role inventory.Role) string {
	t.Helper()
	_, secret, err := s.Ledger.CreateToken(context.Background(), role, "test-"+string(role))
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// AdminDo sends a raw JSON request as the bootstrap admin (AdminSecret)
// and returns the status and body: for the cases the typed client cannot
// send (malformed or out-of-range bodies).
func (s *Server) AdminDo(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+AdminSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
