// Package servecmd is `granary serve`: it opens the ledger store (SQLite by
// default, PostgreSQL with --db postgres://…), makes the first admin token
// on an empty store, optionally seeds the demo stockpile, and serves the API,
// the first page, /healthz, /readyz and /metrics until the command's context
// ends (SIGINT or SIGTERM), then shuts down gracefully.
package servecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/servecmd/live"
	"github.com/granaryhq/granary/internal/demo"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/kubeserve"
	"github.com/granaryhq/granary/internal/store"
	"github.com/granaryhq/granary/internal/web"
)

// Config is what `granary serve` runs with.
type Config struct {
	Addr        string        // listen address; loopback unless told otherwise
	DB          string        // PATH, sqlite:PATH or postgres://…
	Demo        bool          // seed the demo stockpile on an empty store
	DemoSeed    uint64        // seed of the demo's randomness
	DemoScale   float64       // 1 ≈ 20,000 devices
	LogLevel    string        // debug, info, warn, error
	LogFormat   string        // text or json
	Shutdown    time.Duration // grace period for in-flight requests
	Policy      string        // live scheduling policy (internal/sched name)
	SharePacker string        // packer of shares of a device (internal/share name)
	Round       time.Duration // live scheduling round
	// Throughputs is the live scheduler's throughput file (Gavel JSON with
	// its pair throughputs, CSV or YAML; docs/traces.md); "" means the
	// estimated table of every catalog model.
	Throughputs string
	// HealthRules is a YAML file of agent health rules (docs/agent.md);
	// "" means the defaults.
	HealthRules string
	// AgentGrace is how long an agent may be silent before its node is
	// shown unreachable.
	AgentGrace time.Duration
	// Kube schedules pods of a Kubernetes cluster (kubeserve): the ledger
	// follows its nodes, pods with schedulerName granary are bound.
	Kube       bool
	Kubeconfig string        // "" = $KUBECONFIG, in-cluster, ~/.kube/config
	Lease      time.Duration // leader Lease duration

	// Sources names where each value came from (flag, environment, config
	// file line) for Validate's errors; nil names the flags.
	Sources console.Sources
}

// Default returns the defaults of the flags.
func Default() Config {
	return Config{Addr: "127.0.0.1:8080", DB: "granary.db", DemoSeed: 1, DemoScale: 1, LogLevel: "info", LogFormat: "text", Shutdown: 10 * time.Second,
		Policy: "las-hetero", SharePacker: "granary", Round: 360 * time.Second, AgentGrace: inventory.DefaultAgentGrace, Lease: 15 * time.Second}
}

// Validate checks the configuration. Errors name each value's source.
func (c Config) Validate() error {
	src := c.Sources.Of
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return console.Usagef("%s %q: %v", src("addr"), c.Addr, err)
	}
	if strings.TrimSpace(c.DB) == "" {
		return console.Usagef("%s is empty", src("db"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return console.Usagef("%s %q: want debug, info, warn or error", src("log-level"), c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return console.Usagef("%s %q: want text or json", src("log-format"), c.LogFormat)
	}
	if c.AgentGrace <= 0 {
		return console.Usagef("%s %v: want a positive duration", src("agent-grace"), c.AgentGrace)
	}
	if c.Kubeconfig != "" && !c.Kube {
		return console.Usagef("%s needs --kube", src("kubeconfig"))
	}
	if c.Kube && c.Demo {
		return console.Usagef("%s and %s exclude each other: the fleet comes from the cluster", src("kube"), src("demo"))
	}
	if c.Lease < time.Second {
		return console.Usagef("%s %v: want at least 1s", src("lease"), c.Lease)
	}
	if c.DemoScale <= 0 || c.DemoScale > 10 {
		return console.Usagef("%s %v: want a number in (0, 10]", src("demo-scale"), c.DemoScale)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, console.Usagef("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// New builds the serve command.
func New(env *console.Env) *cobra.Command {
	cfg := Default()
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: HTTP API, first page, metrics",
		Long: `Serve the stockpile ledger over HTTP until interrupted (SIGINT/SIGTERM).

  /api/v1/…               the JSON API (bearer tokens); OpenAPI 3.1 at /api/v1/openapi.json
  /, /jobs                the dashboard: fleet summary, jobs and teams
  /healthz, /readyz       liveness and readiness
  /metrics                Prometheus metrics

The store is SQLite (./granary.db unless --db says otherwise, created on first
start) or PostgreSQL (--db postgres://user@host/db). On first start with an
empty store the server creates an admin token and prints it once; set
GRANARY_BOOTSTRAP_TOKEN to choose that token instead (for automation).

Every flag can also come from the environment, GRANARY_ and the flag's name
(GRANARY_ADDR, GRANARY_DB, GRANARY_LOG_LEVEL, …), or from a YAML file given
with --config (addr: 127.0.0.1:9090); a flag beats its variable, which beats
the file.`,
		Example: `  granary serve --demo
  granary serve --addr 127.0.0.1:9090 --db /var/lib/granary/ledger.db
  GRANARY_BOOTSTRAP_TOKEN=… granary serve --db postgres://granary@127.0.0.1:5432/granary`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := console.Layer(cmd.Flags(), env, configFile, "config")
			if err != nil {
				return err
			}
			cfg.Sources = src
			if err := cfg.Validate(); err != nil {
				return err
			}
			return Run(cmd.Context(), env, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file of serve settings, keyed by flag name (docs/serve.md); flags and GRANARY_* variables win over it")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (host:port); loopback by default")
	f.StringVar(&cfg.DB, "db", cfg.DB, "store: a SQLite file PATH or sqlite:PATH, or a postgres:// URL")
	f.BoolVar(&cfg.Demo, "demo", false, "seed a demo stockpile (~20,000 devices) on an empty store and print the URL and a token")
	f.Uint64Var(&cfg.DemoSeed, "demo-seed", cfg.DemoSeed, "seed of the demo's randomness")
	f.Float64Var(&cfg.DemoScale, "demo-scale", cfg.DemoScale, "size of the demo fleet (1 ≈ 20,000 devices)")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn, error")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format on stderr: text or json")
	f.DurationVar(&cfg.Shutdown, "shutdown-timeout", cfg.Shutdown, "how long to wait for in-flight requests on shutdown")
	f.StringVar(&cfg.Policy, "policy", cfg.Policy, "scheduling policy of the live scheduler (as granary sim --policy)")
	f.StringVar(&cfg.Throughputs, "throughputs", "", "throughput file of the live scheduler: Gavel JSON (with pair throughputs, which the *-packed policies need), CSV or YAML (docs/traces.md); default: the estimated table of every catalog model")
	f.StringVar(&cfg.SharePacker, "share-packer", cfg.SharePacker, "packer of the jobs that ask for a share of a device (device_milli): granary, fgd, best-fit, gpu-packing, gpu-clustering, dot-product or random (docs/sharing.md)")
	f.StringVar(&cfg.HealthRules, "health-rules", "", "YAML file of the agents' health rules (docs/agent.md); default: the documented defaults")
	f.DurationVar(&cfg.AgentGrace, "agent-grace", cfg.AgentGrace, "how long a node agent may be silent before its node is shown unreachable")
	f.DurationVar(&cfg.Round, "round", cfg.Round, "scheduling round (with --demo the scheduler's clock runs 60× faster)")
	f.BoolVar(&cfg.Kube, "kube", false, "schedule a Kubernetes cluster: sync the ledger from its nodes, bind pods with schedulerName granary (docs/kubernetes.md)")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig file for --kube (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	f.DurationVar(&cfg.Lease, "lease", cfg.Lease, "leader Lease duration for --kube replicas (only the leader binds)")
	return cmd
}

// Run serves until ctx ends. Logs go to env.Stderr; the URL and, once, the
// admin token go to env.Stdout.
func Run(ctx context.Context, env *console.Env, cfg Config) error {
	log, h, err := newLogger(env, cfg)
	if err != nil {
		return err
	}
	// A policy the live loop cannot run is refused before anything is
	// opened or written (no store file, no bootstrap token).
	if err := jobs.CheckLivePolicy(cfg.Policy); err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	if _, err := live.SharePacker(cfg.SharePacker, 0); err != nil {
		return console.Usagef("%v", err)
	}
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	if err := live.CheckPolicy(cfg.Policy, cfg.Throughputs, cat); err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	if cfg.Kube {
		// Space sharing on the cluster: GranaryJobs of one device, on
		// vendors with sharing names (kubeserve.CanPair).
		out, err := live.CheckKubePairs(cfg.Policy, cfg.Throughputs, cat, kubeserve.CanPair(cat))
		if err != nil {
			return console.Usagef("--policy %s --kube: %v", cfg.Policy, err)
		}
		if len(out) > 0 {
			log.Warn("space sharing: the pairs of these models run alone on Kubernetes, their vendor has no sharing names Granary writes", "models", out)
		}
	}
	rules, err := loadHealthRules(cfg.HealthRules)
	if err != nil {
		return err
	}
	// Bind first: a start that cannot listen must fail before it mints the
	// bootstrap admin token, whose secret nobody would ever see.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	st, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return fmt.Errorf("opening --db: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	log.Info("store open", "store", st.String())

	ledger, err := inventory.New(inventory.Config{Store: st, Catalog: cat, Classify: Classify, Rules: rules, AgentGrace: cfg.AgentGrace})
	if err != nil {
		return err
	}
	admin, err := adminToken(ctx, env, log, ledger, st, cfg)
	if err != nil {
		return err
	}
	handler, schedule, err := assemble(ctx, env, cfg, st, ledger, cat, log)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(h, slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	printBanner(env.Stdout, url, admin, cfg.Demo)
	log.Info("serving", "url", url)
	return serve(ctx, log, srv, ln, schedule, cfg.Shutdown)
}

func newLogger(env *console.Env, cfg Config) (*slog.Logger, slog.Handler, error) {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	var h slog.Handler = slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level})
	}
	return slog.New(h), h, nil
}

// loadHealthRules reads --health-rules; nil means the defaults.
func loadHealthRules(file string) (*inventory.HealthRules, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, console.UsageError{Err: err}
	}
	r, err := inventory.ParseHealthRules(file, data)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// admin is the admin token a start prints, if any.
type admin struct {
	tok       inventory.Token
	secret    string
	created   bool   // minted by this start
	bootstrap string // GRANARY_BOOTSTRAP_TOKEN
	kept      string // the demo's token file
}

// adminToken makes the first admin token on an empty store and, with
// --demo, seeds the stockpile and reuses the demo's token.
func adminToken(ctx context.Context, env *console.Env, log *slog.Logger, ledger *inventory.Service, st inventory.Store, cfg Config) (admin, error) {
	a := admin{bootstrap: env.Env("GRANARY_BOOTSTRAP_TOKEN")}
	var err error
	if a.tok, a.secret, a.created, err = ledger.Bootstrap(ctx, a.bootstrap); err != nil {
		return a, fmt.Errorf("creating the first admin token: %w", err)
	}
	if !cfg.Demo {
		return a, nil
	}
	if err := seedDemo(ctx, log, ledger, st, cfg); err != nil {
		return a, err
	}
	if a.bootstrap == "" {
		a.tok, a.secret, a.kept, err = demoToken(ctx, ledger, cfg.DB, a.tok, a.secret, a.created)
	}
	return a, err
}

// assemble wires the live scheduler (on the simulated backend, or on a
// Kubernetes cluster with --kube), the pages and the API; schedule runs the
// scheduler until its context ends.
func assemble(ctx context.Context, env *console.Env, cfg Config, st store.Store, ledger *inventory.Service, cat *accel.Catalog, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lcfg := live.Config{Store: st, Ledger: ledger, Catalog: cat, Log: log, Registry: reg,
		Demo: cfg.Demo, Policy: cfg.Policy, SharePacker: cfg.SharePacker, Throughputs: cfg.Throughputs, Round: cfg.Round, Seed: cfg.DemoSeed}
	var kube *kubeserve.Kube
	if cfg.Kube {
		var err error
		kube, err = kubeserve.Connect(kubeserve.Config{Kubeconfig: cfg.Kubeconfig, Getenv: env.Env, LeaseDuration: cfg.Lease,
			Ledger: ledger, Catalog: cat, Log: log, Registry: reg})
		if err != nil {
			return nil, nil, console.Usagef("--kube: %v", err)
		}
		lcfg.Backend, lcfg.Pairable = kube.Backend, kube.Pairable()
	}
	lv, err := live.New(ctx, lcfg)
	if err != nil {
		return nil, nil, err
	}
	page, err := web.New(ledger, log, nil, web.WithJobs(lv, lv.Service), web.WithFailures(ledger))
	if err != nil {
		return nil, nil, err
	}
	handler, err := api.New(api.Options{Ledger: ledger, Logger: log, Registry: reg, Ready: ready(st.Ping, lv.Loop.Healthy), Page: page, Register: []func(*api.Registrar){lv.Register}})
	if err != nil {
		return nil, nil, err
	}
	schedule := lv.Run
	if kube != nil {
		schedule = func(ctx context.Context) error { return kube.Run(ctx, lv.Run) }
	}
	return handler, schedule, nil
}

// printBanner tells the user where Granary serves and how to reach it.
func printBanner(out io.Writer, url string, a admin, demo bool) {
	fmt.Fprintf(out, "Granary is serving on %s\n", url)
	fmt.Fprintf(out, "  export GRANARY_SERVER=%s\n", url)
	switch {
	case a.created && a.bootstrap != "" && a.secret == a.bootstrap:
		fmt.Fprintf(out, "Admin token %s is the value of GRANARY_BOOTSTRAP_TOKEN.\n", a.tok.ID)
		fmt.Fprintf(out, "  export GRANARY_TOKEN=\"$GRANARY_BOOTSTRAP_TOKEN\"\n")
	case a.kept != "":
		fmt.Fprintf(out, "Admin token of the demo (kept in %s): %s\n", a.kept, a.secret)
		fmt.Fprintf(out, "  export GRANARY_TOKEN=%s\n", a.secret)
	case a.created:
		fmt.Fprintf(out, "Admin token (shown once, store it now): %s\n", a.secret)
		fmt.Fprintf(out, "  export GRANARY_TOKEN=%s\n", a.secret)
	}
	if demo {
		fmt.Fprintf(out, "Open %s/ for the fleet summary, or try:\n  curl -H \"Authorization: Bearer $GRANARY_TOKEN\" %s/api/v1/fleet/summary\n", url, url)
		fmt.Fprintf(out, "Jobs of the demo teams arrive continuously: %s/jobs, or granary jobs list / granary teams list.\n", url)
	}
	if f, ok := out.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
}

// serve answers on ln and runs schedule until ctx ends, then shuts down
// gracefully; a scheduler that stops for good stops the process too.
func serve(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener, schedule func(context.Context) error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	schedErr := make(chan error, 1)
	go func() {
		defer close(schedDone)
		if err := schedule(schedCtx); err != nil && schedCtx.Err() == nil {
			// Scheduling stopped for good while the API would go on
			// answering: fail the process so its supervisor restarts it.
			schedErr <- err
		}
	}()
	defer func() { stopSched(); <-schedDone }() // before the store closes
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case err := <-schedErr:
		log.Error("scheduling stopped", "err", err)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		_ = srv.Shutdown(sctx) // the scheduling error is the one to report
		return fmt.Errorf("scheduling: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// Classify is the summary's export class: the band under the latest rule set.
func Classify(c accel.Chip) string {
	return string(exportctl.Classify(c, exportctl.Latest()).Classification)
}

// seedDemo writes the demo stockpile in one transaction if the store has no
// devices.
func seedDemo(ctx context.Context, log *slog.Logger, ledger *inventory.Service, st inventory.Store, cfg Config) error {
	sum, err := ledger.Summary(ctx)
	if err != nil {
		return err
	}
	if sum.Totals.Devices > 0 {
		log.Info("demo: the store already has devices; not seeding", "devices", sum.Totals.Devices)
		return nil
	}
	start := time.Now()
	b, err := demo.Generate(demo.Config{Rand: rand.New(rand.NewPCG(cfg.DemoSeed, 0x9e3779b97f4a7c15)), Now: start, Scale: cfg.DemoScale})
	if err != nil {
		return err
	}
	if err := st.Insert(ctx, b); err != nil {
		return fmt.Errorf("demo: seeding: %w", err)
	}
	log.Info("demo: seeded", "devices", len(b.Devices), "nodes", len(b.Nodes), "events", len(b.Events), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// ready is /readyz: the store answers and the scheduling loop's recent
// rounds did not all fail.
func ready(ping func(context.Context) error, healthy func() error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return healthy()
	}
}
