// Package live attaches live scheduling to `granary serve`: it builds
// the jobs service, its API routes, the scheduling loop on the sim backend
// and, for --demo, the demo teams and a workload of jobs arriving
// continuously on a clock faster than real time. servecmd calls New, adds
// Register to the API options and runs Run beside the HTTP server.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/control/workload"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/trace"
)

// Store is what live scheduling needs from the server's store: the jobs
// store and the in-service fleet. The SQLite and PostgreSQL stores are both.
type Store interface {
	jobs.Store
	jobs.Fleet
}

// Config configures live scheduling in a server.
type Config struct {
	Store    inventory.Store // must also implement Store
	Ledger   *inventory.Service
	Catalog  *accel.Catalog
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Demo seeds demo teams (when there are none) and submits the demo
	// workload continuously.
	Demo bool
	// Policy (default las-hetero), Round (default 360 s).
	Policy string
	// SharePacker places jobs that ask for a share of a device: a packer
	// of internal/share (default granary, Granary's own; fgd, best-fit, …).
	SharePacker string
	Round       time.Duration
	// Speed is how much faster than real time the scheduler's clock runs
	// (default 1; the demo defaults to 60: a round every 6 s).
	Speed float64
	// Throughputs is a throughput file (Gavel JSON, CSV or YAML); empty:
	// the estimated table for every catalog model (control/workload).
	Throughputs string
	// AFR injects device failures at this annual failure rate (sim backend).
	AFR float64
	// RestartCost is paid by each (re)started job (default 60 s).
	RestartCost time.Duration
	Seed        uint64
	// Backend, when set, replaces the sim backend (granary serve --kube):
	// it gets the jobs service and the ledger the loop would read, and
	// returns the backend and the ledger the loop reads (e.g. without the
	// devices other schedulers' pods hold).
	Backend func(svc *jobs.Service, ledger control.Ledger) (control.Backend, control.Ledger, error)
	// Pairable limits a *-packed policy's pairs to what the backend runs
	// (--kube: kubeserve.Kube.Pairable); nil: every pair of the table.
	Pairable *jobs.PairLimit
}

// Live is live scheduling, ready to run.
type Live struct {
	cfg     Config
	Service *jobs.Service
	Loop    *control.Loop
	clock   control.Clock
	gen     *workload.Generator
	// Register adds /api/v1/jobs and /api/v1/teams to the API: put it in
	// api.Options.Register. Live also implements web.Jobs (the jobs pages).
	Register func(*api.Registrar)
}

// ShareTarget is the mix of request shapes the fgd and granary packers
// measure fragmentation against in a live fleet: the GPU requests of
// Alibaba's openb trace (openb_pod_list_default: 55.4 % one whole device,
// 20.9 % a share above 0.5, 18.3 % up to 0.5, 4.4 % up to 0.25, 1 % gangs
// of 2–8), each share rounded up to 750, 500 or 250 milli.
func ShareTarget() []share.Shape {
	one := func(milli int64, f float64) share.Shape {
		return share.Shape{Req: share.Request{Devices: 1, Milli: milli}, Freq: f}
	}
	gang := func(n int, f float64) share.Shape {
		return share.Shape{Req: share.Request{Devices: n, Milli: share.MilliPerDevice}, Freq: f}
	}
	return []share.Shape{one(1000, 0.554), one(750, 0.209), one(500, 0.183), one(250, 0.044), gang(8, 0.006), gang(2, 0.002), gang(4, 0.002)}
}

// SharePacker builds the packer called name ("": granary) against
// ShareTarget, its ties broken by a stream seeded with seed.
func SharePacker(name string, seed uint64) (share.Packer, error) {
	if name == "" {
		name = share.Granary
	}
	p, err := share.New(name, share.Options{Rand: rand.New(rand.NewPCG(seed, 0x7061636b)), Target: ShareTarget()})
	if err != nil {
		return nil, fmt.Errorf("--share-packer: %w", err)
	}
	return p, nil
}

// deviceMemory is a model's memory per device in MiB from the catalog
// (its memory_gb × 1024, as vendors count "80 GB"); 0 when not known.
func deviceMemory(cat *accel.Catalog) func(string) int64 {
	return func(model string) int64 {
		if cat == nil {
			return 0
		}
		c, ok := cat.Get(model)
		if !ok || c.MemoryGB == nil {
			return 0
		}
		return int64(*c.MemoryGB * 1024)
	}
}

// New builds it.
func New(ctx context.Context, cfg Config) (*Live, error) {
	st, ok := cfg.Store.(Store)
	if !ok {
		return nil, errors.New("live: the store does not keep jobs")
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 1
		if cfg.Demo {
			cfg.Speed = 60
		}
	}
	if cfg.RestartCost == 0 {
		cfg.RestartCost = time.Minute
	}
	w, err := loadWorkloads(cfg)
	if err != nil {
		return nil, err
	}
	names := workload.ShortName(cfg.Catalog)
	var clock control.Clock = control.WallClock{}
	if cfg.Speed > 1 {
		clock = control.NewFastClock(time.Now().UTC(), cfg.Speed)
	}
	resolve := func(n string) (string, error) {
		c, err := cfg.Catalog.Resolve(n)
		return c.ID, err
	}
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w, Resolve: resolve, Names: names, Now: clock.Now,
		DeviceMemoryMiB: deviceMemory(cfg.Catalog)})
	if err != nil {
		return nil, err
	}
	var (
		be     control.Backend
		ledger control.Ledger = &control.InventoryLedger{Devices: st, Service: cfg.Ledger, Actor: "scheduler"}
	)
	if cfg.Backend != nil {
		be, ledger, err = cfg.Backend(svc, ledger)
	} else {
		be, err = simbackend.New(simbackend.Config{RestartCost: cfg.RestartCost, AFR: cfg.AFR, Rand: rand.New(rand.NewPCG(cfg.Seed, 0xfa11))})
	}
	if err != nil {
		return nil, err
	}
	packer, err := SharePacker(cfg.SharePacker, cfg.Seed)
	if err != nil {
		return nil, err
	}
	loop, err := control.New(control.Config{Planner: jobs.PlannerConfig{Policy: cfg.Policy, Round: cfg.Round, Names: names, Seed: cfg.Seed,
		Sharer: packer, DeviceMemoryMiB: deviceMemory(cfg.Catalog), Pairable: cfg.Pairable}},
		w, st, ledger, be, clock, cfg.Log.With("component", "scheduler"), cfg.Registry)
	if err != nil {
		return nil, err
	}
	l := &Live{cfg: cfg, Service: svc, Loop: loop, clock: clock}
	l.Register = l.register
	if cfg.Demo {
		devs, err := st.InService(ctx)
		if err != nil {
			return nil, err
		}
		teams := workload.Teams(len(devs), 0.5)
		if err := seedTeams(ctx, svc, st, teams, devs); err != nil {
			return nil, err
		}
		l.gen = &workload.Generator{Teams: teams, W: w, Rand: rand.New(rand.NewPCG(cfg.Seed, 0xdead)), Reference: "h800-sxm5-80gb"}
	}
	return l, nil
}

// CheckPolicy refuses, before serve opens anything, a *-packed policy
// (space sharing) whose table — the throughputs file, or the estimated
// table, which has no pairs — lacks a pair throughput it needs; the error
// names the first missing pair (jobs.CheckPolicyTable).
func CheckPolicy(policy, throughputs string, cat *accel.Catalog) error {
	if !jobs.PackedPolicy(policy) {
		return nil
	}
	w, err := readWorkloads(Config{Throughputs: throughputs, Catalog: cat})
	if err != nil {
		return err
	}
	return jobs.CheckPolicyTable(policy, w)
}

// CheckKubePairs refuses, for serve --kube, a *-packed policy none of
// whose pairs can share a device on the cluster: a pair shares only one
// device (gang 1) on a model can accepts (jobctl.Pairable: its vendor has
// sharing names). It returns the models where the table has such pairs
// that the cluster keeps out (they run alone there), for the log.
func CheckKubePairs(policy, throughputs string, cat *accel.Catalog, can func(model string) bool) ([]string, error) {
	if !jobs.PackedPolicy(policy) || throughputs == "" {
		return nil, nil // refused or not packed: CheckPolicy
	}
	data, err := os.ReadFile(throughputs)
	if err != nil {
		return nil, err
	}
	t, err := trace.ReadThroughputs(data, throughputs, cat)
	if err != nil {
		return nil, err
	}
	runs, out := false, map[string]bool{}
	for _, p := range t.Pairs {
		if p.Gang != 1 || p.Steps[0] <= 0 || p.Steps[1] <= 0 {
			continue
		}
		if can(p.Model) {
			runs = true
		} else {
			out[p.Model] = true
		}
	}
	kept := slices.Sorted(maps.Keys(out))
	if !runs {
		return kept, fmt.Errorf("no pair of %s can share a device on Kubernetes: Granary pairs GranaryJobs of one device, on models whose vendor has sharing names (docs/kubernetes.md, \"Space sharing\"); the table's one-device pairs are on: %s",
			throughputs, orNone(kept))
	}
	return kept, nil
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

// loadWorkloads builds the throughput table, and makes the fit advisor
// (jobs given by model + precision, derived at submission and again in the
// live loop after a restart) use the --catalog chips.
func loadWorkloads(cfg Config) (*jobs.Workloads, error) {
	w, err := readWorkloads(cfg)
	if err != nil {
		return nil, err
	}
	w.SetCatalogs(nil, cfg.Catalog)
	return w, nil
}

func readWorkloads(cfg Config) (*jobs.Workloads, error) {
	if cfg.Throughputs != "" {
		data, err := os.ReadFile(cfg.Throughputs)
		if err != nil {
			return nil, err
		}
		t, err := trace.ReadThroughputs(data, cfg.Throughputs, cfg.Catalog)
		if err != nil {
			return nil, err
		}
		return jobs.NewWorkloadsWithPairs(t.Entries, t.Pairs)
	}
	var models []string
	for _, c := range cfg.Catalog.All() {
		models = append(models, c.ID)
	}
	es, err := workload.Table(cfg.Catalog, models)
	if err != nil {
		return nil, err
	}
	return jobs.NewWorkloads(es)
}

// seedTeams records the demo teams with guarantees (a quarter of the H800s
// for llm, a fifth of the A800s for search) when no team exists yet.
func seedTeams(ctx context.Context, svc *jobs.Service, st Store, teams []workload.Team, devs []jobs.Device) error {
	have, err := st.Teams(ctx)
	if err != nil || len(have) > 0 {
		return err
	}
	capa := jobs.CapacityOf(devs)
	guar := map[string]map[string]int{
		"llm":    {"h800-sxm5-80gb": int(math.Floor(float64(capa.Devices["h800-sxm5-80gb"]) / 4 / 8 * 8))},
		"search": {"a800-sxm4-80gb": int(math.Floor(float64(capa.Devices["a800-sxm4-80gb"]) / 5 / 8 * 8))},
	}
	for _, t := range teams {
		tm := t.Team
		if g := guar[tm.Name]; g != nil {
			tm.Guarantees = map[string]int{}
			for m, n := range g {
				if n > 0 {
					tm.Guarantees[m] = n
				}
			}
		}
		if _, err := svc.PutTeam(ctx, tm); err != nil {
			return fmt.Errorf("demo team %s: %w", tm.Name, err)
		}
	}
	return nil
}

// Run runs the scheduling loop (and the demo workload) until ctx ends.
func (l *Live) Run(ctx context.Context) error {
	if l.gen != nil {
		go l.submitDemo(ctx)
	}
	l.cfg.Log.Info("scheduler running", "policy", l.Loop.Policy(), "speed", l.cfg.Speed, "demo", l.cfg.Demo)
	return l.Loop.Run(ctx)
}

// submitDemo submits the demo arrivals as virtual time passes, checking once
// a real second.
func (l *Live) submitDemo(ctx context.Context) {
	last := l.clock.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := l.clock.Now()
		for _, a := range l.gen.Between(last, now) {
			if _, err := l.Service.Submit(ctx, a.Spec, "demo"); err != nil && ctx.Err() == nil {
				l.cfg.Log.Debug("demo job rejected", "job", a.Spec.Name, "err", err)
			}
		}
		last = now
	}
}
