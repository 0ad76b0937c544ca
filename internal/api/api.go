// Package api is Granary's HTTP control plane: the JSON API under /api/v1
// (built with huma, which generates the OpenAPI 3.1 document at
// /api/v1/openapi.json from the Go types and validates requests against it),
// bearer-token auth by role, /healthz and /readyz, Prometheus /metrics, and
// the mapping of error kinds to HTTP statuses. It holds no state of its own:
// everything goes through the inventory service.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/inventory"
)

// Version is the API version in the OpenAPI document.
const Version = "1.0.0"

// Body limits. A request body longer than its limit is refused with 413
// before it is parsed.
const (
	DefaultMaxBodyBytes   = 64 << 10 // JSON bodies: one device, one state change, one token
	DefaultMaxImportBytes = 64 << 20 // bulk imports: ~100,000 CSV rows take ~8 MiB
	// DefaultImportBudget is how many bodies of the import limit may be
	// read at once (ImportBudgetBytes).
	DefaultImportBudget = 2
)

// Options configure the handler. Ledger, Logger and Registry are required.
type Options struct {
	Ledger *inventory.Service
	Logger *slog.Logger
	// Registry receives the API's collectors and is what /metrics serves.
	Registry *prometheus.Registry
	// Ready reports whether the service can serve (for /readyz: the store
	// answers, the scheduling loop's rounds succeed); its error is the body
	// of the 503. Nil means always ready.
	Ready func(context.Context) error
	// Page is the dashboard (internal/web): it gets every request no other
	// route matches (/, /jobs, /static/…); nil serves nothing there. It
	// does its own authentication.
	Page http.Handler
	// Now is the clock for request latency; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes and MaxImportBytes override the body limits (0 = default).
	MaxBodyBytes, MaxImportBytes int64
	// ImportBudgetBytes bounds the bytes of import bodies read at once
	// (each counted at its Content-Length, or at MaxImportBytes without
	// one); an import past it is a 429 before it is read. 0 means
	// DefaultImportBudget × MaxImportBytes.
	ImportBudgetBytes int64
	// Register adds more operations (e.g. JobRoutes: jobs and teams) to the API
	// before it is sealed. Use Operation to get auth and error mapping.
	Register []func(r *Registrar)
}

// server holds what the handlers share.
type server struct {
	ledger  *inventory.Service
	log     *slog.Logger
	imports *importGate
}

// Registrar lets other packages add operations to the API with the same
// auth and error mapping as the built-in ones.
type Registrar struct {
	API    huma.API
	s      *server
	maxReq int64
}

// New builds the whole HTTP handler.
func New(o Options) (http.Handler, error) {
	h, _, err := build(o)
	return h, err
}

// routeMux is the server's mux, remembering every pattern registered on
// it (huma's operations and the plain routes), so a test can check that
// each is described in the OpenAPI document.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// build is New, also returning the mux with its patterns.
func build(o Options) (http.Handler, *routeMux, error) {
	if o.Ledger == nil || o.Logger == nil || o.Registry == nil {
		return nil, nil, errors.New("api: Options need a Ledger, a Logger and a Registry")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = DefaultMaxImportBytes
	}
	if o.ImportBudgetBytes <= 0 {
		o.ImportBudgetBytes = DefaultImportBudget * o.MaxImportBytes
	}
	s := &server{ledger: o.Ledger, log: o.Logger, imports: newImportGate(o.MaxImportBytes, o.ImportBudgetBytes)}

	m, err := newMetrics(o.Registry, o.Ledger.CountBySite, o.Ready, o.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("api: registering metrics: %w", err)
	}
	if err := registerHealthMetrics(o.Registry, s); err != nil {
		return nil, nil, fmt.Errorf("api: registering metrics: %w", err)
	}

	mux := &routeMux{ServeMux: http.NewServeMux()}
	cfg := huma.DefaultConfig("Granary API", Version)
	cfg.Info.Description = "The stockpile ledger of an AI accelerator fleet: devices, nodes, their history, the fleet summary, and API tokens. " +
		"Every operation needs a bearer token (Authorization: Bearer gry_…); viewers read, operators also write inventory, admins also manage tokens."
	cfg.OpenAPIPath = "/api/v1/openapi"
	cfg.DocsPath = "" // the docs renderer loads scripts from a CDN; the document is enough
	cfg.SchemasPath = "/api/v1/schemas"
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.RejectUnknownQueryParameters = true
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "A token made by `granary token create` or printed at first start"},
	}
	hapi := humago.New(mux, cfg)
	hapi.UseMiddleware(s.authenticate(hapi))

	r := &Registrar{API: hapi, s: s, maxReq: o.MaxBodyBytes}
	s.routes(r, o.MaxImportBytes)
	for _, f := range o.Register {
		f(r)
	}
	describePlainRoutes(hapi.OpenAPI())

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				o.Logger.Warn("not ready", "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready:", err)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelError)}))
	if o.Page != nil {
		mux.Handle("/", noListing(pageHeaders(o.Page)))
	}
	// Anything else under /api/v1 is OPTIONS (204 with Allow), a 405 with
	// Allow, or a JSON 404 — not the mux's plain text.
	mux.HandleFunc("/api/v1/", unrouted(hapi.OpenAPI()))
	return m.instrument(uniqueKeys(mux), o.Logger, o.Now), mux, nil
}

// uniqueKeys refuses, with 422 naming the key and its path, every JSON
// request body under /api/v1 in which one object has a key twice
// (encoding/json would keep the last silently), whatever its size and
// whether or not it gives a Content-Length. The body is not buffered here:
// keyCheck checks the bytes as the operation reads them (a token walk in a
// goroutine fed through a pipe, holding only the keys of the open objects),
// and turns the end of a body with a duplicate into a read error, so the
// operation never acts on it; the response the operation then
// writes (huma's 500 "cannot read request body") is replaced by the 422.
func uniqueKeys(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if r.Body == nil || r.Body == http.NoBody || !strings.HasPrefix(r.URL.Path, "/api/v1/") || !strings.Contains(ct, "json") {
			next.ServeHTTP(w, r)
			return
		}
		kc := newKeyCheck(r.Body)
		defer kc.stop()
		r.Body = kc
		next.ServeHTTP(&dupWriter{ResponseWriter: w, kc: kc}, r)
	})
}

// errDuplicateKey is the read error of a body with a duplicate key.
var errDuplicateKey = errors.New("duplicate key in the JSON body")

// keyCheck is a request body that feeds what is read from it to
// decode.DuplicateJSONKeyIn.
type keyCheck struct {
	body io.ReadCloser
	pw   *io.PipeWriter
	done chan struct{} // closed when the walk has ended
	key  string        // set before done is closed
	path string
	dup  atomic.Bool // a duplicate was returned as a read error
	eof  atomic.Bool // the body was read to its end
}

func newKeyCheck(body io.ReadCloser) *keyCheck {
	pr, pw := io.Pipe()
	kc := &keyCheck{body: body, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(kc.done)
		kc.key, kc.path = decode.DuplicateJSONKeyIn(pr)
		// Unblock writes of the rest of a body the walk no longer needs.
		pr.CloseWithError(io.ErrClosedPipe)
	}()
	return kc
}

func (kc *keyCheck) Read(p []byte) (int, error) {
	n, err := kc.body.Read(p)
	if n > 0 {
		// Returns once the walk took every byte, or at once when it ended.
		// A duplicate found early still lets the operation read on to the
		// end (within its own limit): a body abandoned half-read made the
		// server answer a chunked upload with 431 instead of the 422.
		kc.pw.Write(p[:n])
	}
	if err == io.EOF {
		kc.eof.Store(true)
		kc.pw.Close()
		<-kc.done
		if kc.found() {
			return n, errDuplicateKey
		}
	}
	return n, err
}

// found reports whether the walk has ended on a duplicate (marking it as
// returned, so dupWriter answers 422).
func (kc *keyCheck) found() bool {
	select {
	case <-kc.done:
		if kc.path != "" {
			kc.dup.Store(true)
			return true
		}
	default:
	}
	return false
}

func (kc *keyCheck) Close() error { return kc.body.Close() }

// stop ends the walk of a body the operation did not read to its end.
func (kc *keyCheck) stop() {
	kc.pw.CloseWithError(io.ErrUnexpectedEOF)
	<-kc.done
}

// dupWriter answers 422 naming the key instead of what the operation
// writes after its body read failed on a duplicate.
type dupWriter struct {
	http.ResponseWriter
	kc       *keyCheck
	replaced bool
}

func (w *dupWriter) replace() bool {
	if !w.kc.dup.Load() {
		return false
	}
	if !w.replaced {
		w.replaced = true
		writeProblem(w.ResponseWriter, newProblem(http.StatusUnprocessableEntity,
			fmt.Sprintf("duplicate key %q in the JSON body (at %s)", w.kc.key, w.kc.path)))
	}
	return true
}

func (w *dupWriter) WriteHeader(code int) {
	if !w.replace() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *dupWriter) Write(b []byte) (int, error) {
	if w.replace() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *dupWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SetReadDeadline bounds the read of the body, and does nothing once the
// body was read to its end: net/http then runs a background read that
// notices a client going away, and a deadline firing there cancels the
// request's context mid-handler (every small POST slower than huma's 5 s
// was a 500 "context canceled" when the body was read before huma set its
// deadline: TestSmallBodyReadDeadlineKeepsContext).
func (w *dupWriter) SetReadDeadline(t time.Time) error {
	if w.kc.eof.Load() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(t)
}

// pageHeaders sets the security headers of the dashboard's responses:
// scripts only from this origin (styles also inline: the charts are inline
// SVG with style attributes), no framing (CSP frame-ancestors, and
// X-Frame-Options for older browsers), no MIME sniffing, no referrer
// leaving the site. Pages are not cached (Cache-Control: no-store unless
// the page set its own, as /static/ assets may).
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// noListing answers 404 for a directory under /static/ instead of the
// file server's listing.
func noListing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") && strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Operation registers one operation that needs role (empty: public) with
// the API's auth and error mapping. Handlers return errors of the fleet
// kinds; Fail turns them into problems.
func Operation[I, O any](r *Registrar, op huma.Operation, role inventory.Role, h func(context.Context, *I) (*O, error)) {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	if role != "" {
		op.Metadata[roleKey] = role
		op.Security = []map[string][]string{{"bearer": {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
		op.Description = strings.TrimSpace(op.Description + "\n\nNeeds role: " + string(role) + ".")
	}
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = r.maxReq
	}
	huma.Register(r.API, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := h(ctx, in)
		if err != nil {
			return nil, r.s.fail(ctx, op.OperationID, err)
		}
		return out, nil
	})
}

// fail maps err to a problem, logging infrastructure failures.
func (s *server) fail(ctx context.Context, op string, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	p, internal := toProblem(err)
	if internal {
		s.log.ErrorContext(ctx, "request failed", "op", op, "err", err)
	}
	return p
}

const roleKey = "granary.role"

type tokenKey struct{}

// Caller returns the token that authenticated the request, if any.
func Caller(ctx context.Context) (inventory.Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(inventory.Token)
	return t, ok
}

func actor(ctx context.Context) string {
	if t, ok := Caller(ctx); ok {
		return t.ID
	}
	return ""
}

// authenticate checks the bearer token of operations that need a role:
// no or an unknown token → 401, too weak a role → 403.
func (s *server) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		need, ok := ctx.Operation().Metadata[roleKey].(inventory.Role)
		if !ok {
			next(ctx)
			return
		}
		scheme, secret, _ := strings.Cut(ctx.Header("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="granary"`)
			writeProblemCtx(ctx, newProblem(http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <token>)"))
			return
		}
		tok, err := s.ledger.Authenticate(ctx.Context(), secret)
		if err != nil {
			p, internal := toProblem(err)
			if internal {
				s.log.ErrorContext(ctx.Context(), "authenticating", "err", err)
			} else {
				s.log.WarnContext(ctx.Context(), "authentication failed", "token", tokenPrefix(secret), "hash", fmt.Sprintf("%x", inventory.HashSecret(secret)[:6]),
					"method", ctx.Method(), "path", ctx.URL().Path, "remote", ctx.RemoteAddr(), "status", p.Status)
			}
			if p.Status == http.StatusUnauthorized {
				ctx.SetHeader("WWW-Authenticate", `Bearer realm="granary", error="invalid_token"`)
			}
			writeProblemCtx(ctx, p)
			return
		}
		if !tok.Role.Allows(need) {
			writeProblemCtx(ctx, newProblem(http.StatusForbidden,
				fmt.Sprintf("%s %s needs role %s; this token (%s) has role %s", ctx.Method(), ctx.Operation().Path, need, tok.ID, tok.Role)))
			return
		}
		next(huma.WithValue(ctx, tokenKey{}, tok))
	}
}

// tokenPrefix is what a log may say of a presented secret: its prefix up
// to and including the first '_' (gry_), never any of its random part;
// with the first bytes of its hash (which is what the store keeps) an
// operator can tell which token was tried.
func tokenPrefix(secret string) string {
	if i := strings.IndexByte(secret, '_'); i >= 0 && i < 8 {
		return secret[:i+1] + "…"
	}
	return "…"
}

func writeProblemCtx(ctx huma.Context, p *Problem) {
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	enc := json.NewEncoder(ctx.BodyWriter())
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}
