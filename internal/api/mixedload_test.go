package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// schedStore is what a store must give live scheduling.
type schedStore interface {
	inventory.Store
	jobs.Store
	jobs.Fleet
}

// TestLoadMixedWithScheduler (issue 16's figure): clients doing reads,
// state changes, job submits, runway forecasts and imports on one server
// while the scheduling loop runs rounds back to back. It fails on any 5xx
// or transport error and on any failed round, and reports p50/p99 per
// kind of request. The suite runs a short version; GRANARY_LOAD=32x60s is
// the shape.
func TestLoadMixedWithScheduler(t *testing.T) {
	clients, dur := loadShape(t)
	forEachStore(t, func(t *testing.T, o apitest.Options) {
		runMixedLoad(t, o, clients, dur)
	})
}

func runMixedLoad(t *testing.T, o apitest.Options, clients int, dur time.Duration) {
	ml := startMixedLoad(t, o, clients)
	deadline := time.Now().Add(dur)
	rounds := ml.roundsUntil(deadline)
	results := make([]loadResult, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() { results[c] = ml.client(c, deadline) })
	}
	wg.Wait()
	<-rounds.done
	all := reportMixedLoad(t, results, clients, dur)
	t.Logf("%d rounds (%d failed), round p50 %v p99 %v", rounds.n, rounds.failed,
		quantile(rounds.lat, 0.5), quantile(rounds.lat, 0.99))
	if all == 0 {
		t.Error("no request completed")
	}
	if rounds.failed > 0 {
		t.Errorf("%d rounds failed: %v", rounds.failed, rounds.errs)
	}
	if rounds.n == 0 {
		t.Error("no round ran")
	}
	for _, l := range strings.Split(ml.logs.String(), "\n") {
		if strings.Contains(l, "status=5") {
			t.Errorf("5xx in the server log: %s", l)
			break
		}
	}
}

// mixedLoad is one server with 2,000 devices, its scheduling loop on a
// manual clock, and an operator's client.
type mixedLoad struct {
	srv      *apitest.Server
	loop     *control.Loop
	clock    *control.ManualClock
	cl       *client.Client
	hc       *http.Client
	secret   string
	logs     *lockedBuffer
	imported atomic.Int64
}

var loadModels = []string{"A800", "H800", "H20", "910B3", "P800"}

const loadDevices = 2000

func startMixedLoad(t *testing.T, o apitest.Options, clients int) *mixedLoad {
	ctx := context.Background()
	if o.Store == nil {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "granary.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		o.Store = db
	}
	st, ok := o.Store.(schedStore)
	if !ok {
		t.Fatalf("%T does not keep jobs", o.Store)
	}
	ml := &mixedLoad{logs: &lockedBuffer{}}
	o.Log = ml.logs
	w, resolve := loadWorkloads(t)
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	o.API = func(ao *api.Options) { ao.Register = append(ao.Register, api.JobRoutes(svc)) }
	ml.srv = apitest.Start(t, o)
	var b strings.Builder
	b.WriteString("serial,model,state,node,site,pool\n")
	for i := range loadDevices {
		m := loadModels[i%len(loadModels)]
		fmt.Fprintf(&b, "L%05d,%s,in-service,n-%s-%d,site-%d,pool-%d\n", i, m, m, i/40, (i/40)%3, i%4)
	}
	if _, err := ml.srv.Ledger.ImportCSV(ctx, "load.csv", strings.NewReader(b.String()), "seed"); err != nil {
		t.Fatal(err)
	}
	be, err := simbackend.New(simbackend.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ml.clock = control.NewManualClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	ml.loop, err = control.New(control.Config{}, w, st, &control.InventoryLedger{Devices: st, Service: ml.srv.Ledger, Actor: "scheduler"}, be, ml.clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ml.secret = ml.srv.Token(t, inventory.RoleOperator)
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	ml.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	if ml.cl, err = client.New(ml.srv.URL, ml.secret, ml.hc); err != nil {
		t.Fatal(err)
	}
	return ml
}

// loadWorkloads is one class, "load", on every load model at gangs 1, 4
// and 8, faster on later models.
func loadWorkloads(t *testing.T) (*jobs.Workloads, func(string) (string, error)) {
	cat := accel.Default()
	var es []sched.ThroughputEntry
	for k, m := range loadModels {
		c, err := cat.Resolve(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []int{1, 4, 8} {
			es = append(es, sched.ThroughputEntry{Class: "load", Gang: g, Model: c.ID, StepsPerSecond: float64(g * (k + 1))})
		}
	}
	w, err := jobs.NewWorkloads(es)
	if err != nil {
		t.Fatal(err)
	}
	return w, func(n string) (string, error) { c, err := cat.Resolve(n); return c.ID, err }
}

// loadRounds is what the scheduler did; read its fields after done closes.
type loadRounds struct {
	done      chan struct{}
	n, failed int
	lat       []time.Duration
	errs      []string
}

// roundsUntil runs rounds back to back until deadline, each on a clock 6
// minutes later.
func (ml *mixedLoad) roundsUntil(deadline time.Time) *loadRounds {
	r := &loadRounds{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for time.Now().Before(deadline) {
			start := time.Now()
			if _, err := ml.loop.Round(context.Background()); err != nil {
				r.failed++
				if len(r.errs) < 5 {
					r.errs = append(r.errs, err.Error())
				}
			}
			r.lat = append(r.lat, time.Since(start))
			r.n++
			ml.clock.Advance(6 * time.Minute)
		}
	}()
	return r
}

type loadSample struct {
	kind string
	d    time.Duration
}

type loadResult struct {
	lat  []loadSample
	errs []string
}

// client c sends a random mix of requests until deadline (or its 21st
// error).
func (ml *mixedLoad) client(c int, deadline time.Time) loadResult {
	r := rand.New(rand.NewPCG(uint64(c), 7))
	var res loadResult
	for n := 0; time.Now().Before(deadline); n++ {
		start := time.Now()
		kind, err := ml.request(r, c, n)
		var ce *client.Error
		if err != nil && (kind == "state" || kind == "submit") && asClientError(err, &ce) && ce.Status < 500 {
			err = nil // a refused transition or a job that cannot run now is an answer
		}
		res.lat = append(res.lat, loadSample{kind, time.Since(start)})
		if err != nil {
			res.errs = append(res.errs, kind+": "+err.Error())
			if len(res.errs) > 20 {
				break
			}
		}
	}
	return res
}

var loadPlan = []byte("start: 2027-01\nhorizon_months: 12\npaths: 100\ndemand:\n  inference: {pflops: 0.5, growth_per_year: 2}\n")

// request sends the n-th request of client c, drawn from the mix: 30 %
// lists, 20 % device reads, 5 % summaries, 7 % job lists, 13 % state
// changes, 17 % job submits, 4 % runway forecasts, 4 % imports.
func (ml *mixedLoad) request(r *rand.Rand, c, n int) (kind string, err error) {
	ctx := context.Background()
	serial := fmt.Sprintf("L%05d", r.IntN(loadDevices))
	switch u := r.IntN(100); {
	case u < 30:
		_, err = ml.cl.ListDevices(ctx, client.ListOptions{Model: loadModels[r.IntN(len(loadModels))], Limit: 100})
		return "list", err
	case u < 50:
		_, err = ml.cl.Device(ctx, serial)
		return "get", err
	case u < 55:
		_, err = ml.cl.Summary(ctx)
		return "summary", err
	case u < 62:
		_, err = ml.cl.Jobs(ctx, client.JobListOptions{State: "active", Limit: 100})
		return "jobs-list", err
	case u < 75:
		_, err = ml.cl.SetState(ctx, serial, []fleet.DeviceState{fleet.InService, fleet.Reserve, fleet.Maintenance}[r.IntN(3)], fmt.Sprintf("load %d/%d", c, n))
		return "state", err
	case u < 92:
		_, err = ml.cl.SubmitJob(ctx, api.NewJob{Name: fmt.Sprintf("j-%d-%d", c, n), Team: fmt.Sprintf("team-%d", c%4), Class: "load",
			Gang: []int{1, 4, 8}[r.IntN(3)], TotalSteps: float64(1000 + r.IntN(100000))})
		return "submit", err
	case u < 96:
		return "runway", post(ml.hc, ml.srv.URL+"/api/v1/runway", ml.secret, "application/yaml", loadPlan)
	default:
		k := ml.imported.Add(1)
		csv := fmt.Sprintf("serial,model,state,node,site\nI%d-a,H20,reserve,imp-%d,site-9\nI%d-b,H20,in-service,imp-%d,site-9\n", k, k, k, k)
		_, err = ml.cl.Import(ctx, "text/csv", "load.csv", strings.NewReader(csv))
		return "import", err
	}
}

// reportMixedLoad fails on every client error, logs p50/p99 overall and
// per kind, and returns the number of requests.
func reportMixedLoad(t *testing.T, results []loadResult, clients int, dur time.Duration) int {
	byKind := map[string][]time.Duration{}
	var all []time.Duration
	for _, r := range results {
		for _, s := range r.lat {
			byKind[s.kind] = append(byKind[s.kind], s.d)
			all = append(all, s.d)
		}
		for _, e := range r.errs {
			t.Errorf("request failed: %s", e)
		}
	}
	var kinds []string
	for k, l := range byKind {
		kinds = append(kinds, fmt.Sprintf("%s %d p50 %v p99 %v", k, len(l), quantile(l, 0.5), quantile(l, 0.99)))
	}
	slices.Sort(kinds)
	t.Logf("mixed load: %d clients × %v: %d requests (%.0f/s), p50 %v p99 %v\n  %s",
		clients, dur, len(all), float64(len(all))/dur.Seconds(), quantile(all, 0.5), quantile(all, 0.99), strings.Join(kinds, "\n  "))
	return len(all)
}

// quantile is the p-quantile of l (sorted in place); 0 for none.
func quantile(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	return l[min(len(l)-1, int(p*float64(len(l))))].Round(time.Microsecond)
}

func asClientError(err error, target **client.Error) bool {
	ce, ok := err.(*client.Error)
	if ok {
		*target = ce
	}
	return ok
}

func post(hc *http.Client, url, secret, contentType string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}
