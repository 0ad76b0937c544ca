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
	logs := &lockedBuffer{}
	o.Log = logs
	cat := accel.Default()
	models := []string{"A800", "H800", "H20", "910B3", "P800"}
	var es []sched.ThroughputEntry
	for k, m := range models {
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
	resolve := func(n string) (string, error) { c, err := cat.Resolve(n); return c.ID, err }
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	o.API = func(ao *api.Options) { ao.Register = append(ao.Register, api.JobRoutes(svc)) }
	srv := apitest.Start(t, o)
	const devices = 2000
	var b strings.Builder
	b.WriteString("serial,model,state,node,site,pool\n")
	for i := range devices {
		fmt.Fprintf(&b, "L%05d,%s,in-service,n-%s-%d,site-%d,pool-%d\n", i, models[i%len(models)], models[i%len(models)], i/40, (i/40)%3, i%4)
	}
	if _, err := srv.Ledger.ImportCSV(ctx, "load.csv", strings.NewReader(b.String()), "seed"); err != nil {
		t.Fatal(err)
	}
	be, err := simbackend.New(simbackend.Config{})
	if err != nil {
		t.Fatal(err)
	}
	clock := control.NewManualClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	loop, err := control.New(control.Config{}, w, st, &control.InventoryLedger{Devices: st, Service: srv.Ledger, Actor: "scheduler"}, be, clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}

	secret := srv.Token(t, inventory.RoleOperator)
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	cl, err := client.New(srv.URL, secret, hc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(dur)

	// The scheduler: rounds back to back, each on a clock 6 minutes later.
	var rounds, failedRounds atomic.Int64
	var roundLat []time.Duration
	var roundErr []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Now().Before(deadline) {
			start := time.Now()
			if _, err := loop.Round(ctx); err != nil {
				failedRounds.Add(1)
				if len(roundErr) < 5 {
					roundErr = append(roundErr, err.Error())
				}
			}
			roundLat = append(roundLat, time.Since(start))
			rounds.Add(1)
			clock.Advance(6 * time.Minute)
		}
	}()

	plan := []byte("start: 2027-01\nhorizon_months: 12\npaths: 100\ndemand:\n  inference: {pflops: 0.5, growth_per_year: 2}\n")
	type sample struct {
		kind string
		d    time.Duration
	}
	type result struct {
		lat  []sample
		errs []string
	}
	results := make([]result, clients)
	var imported atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			res := &results[c]
			for n := 0; time.Now().Before(deadline); n++ {
				serial := fmt.Sprintf("L%05d", r.IntN(devices))
				start := time.Now()
				var kind string
				var err error
				switch u := r.IntN(100); {
				case u < 30:
					kind = "list"
					_, err = cl.ListDevices(ctx, client.ListOptions{Model: models[r.IntN(len(models))], Limit: 100})
				case u < 50:
					kind = "get"
					_, err = cl.Device(ctx, serial)
				case u < 55:
					kind = "summary"
					_, err = cl.Summary(ctx)
				case u < 62:
					kind = "jobs-list"
					_, err = cl.Jobs(ctx, client.JobListOptions{State: "active", Limit: 100})
				case u < 75:
					kind = "state"
					_, err = cl.SetState(ctx, serial, []fleet.DeviceState{fleet.InService, fleet.Reserve, fleet.Maintenance}[r.IntN(3)], fmt.Sprintf("load %d/%d", c, n))
				case u < 92:
					kind = "submit"
					_, err = cl.SubmitJob(ctx, api.NewJob{Name: fmt.Sprintf("j-%d-%d", c, n), Team: fmt.Sprintf("team-%d", c%4), Class: "load",
						Gang: []int{1, 4, 8}[r.IntN(3)], TotalSteps: float64(1000 + r.IntN(100000))})
				case u < 96:
					kind = "runway"
					err = post(hc, srv.URL+"/api/v1/runway", secret, "application/yaml", plan)
				default:
					kind = "import"
					k := imported.Add(1)
					csv := fmt.Sprintf("serial,model,state,node,site\nI%d-a,H20,reserve,imp-%d,site-9\nI%d-b,H20,in-service,imp-%d,site-9\n", k, k, k, k)
					_, err = cl.Import(ctx, "text/csv", "load.csv", strings.NewReader(csv))
				}
				var ce *client.Error
				if err != nil && (kind == "state" || kind == "submit") && asClientError(err, &ce) && ce.Status < 500 {
					err = nil // a refused transition or a job that cannot run now is an answer
				}
				res.lat = append(res.lat, sample{kind, time.Since(start)})
				if err != nil {
					res.errs = append(res.errs, kind+": "+err.Error())
					if len(res.errs) > 20 {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	<-done

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
	q := func(l []time.Duration, p float64) time.Duration {
		slices.Sort(l)
		return l[min(len(l)-1, int(p*float64(len(l))))].Round(time.Microsecond)
	}
	var kinds []string
	for k, l := range byKind {
		kinds = append(kinds, fmt.Sprintf("%s %d p50 %v p99 %v", k, len(l), q(l, 0.5), q(l, 0.99)))
	}
	slices.Sort(kinds)
	t.Logf("mixed load: %d clients × %v: %d requests (%.0f/s), p50 %v p99 %v; %d rounds (%d failed), round p50 %v p99 %v\n  %s",
		clients, dur, len(all), float64(len(all))/dur.Seconds(), q(all, 0.5), q(all, 0.99), rounds.Load(), failedRounds.Load(),
		q(roundLat, 0.5), q(roundLat, 0.99), strings.Join(kinds, "\n  "))
	if failedRounds.Load() > 0 {
		t.Errorf("%d rounds failed: %v", failedRounds.Load(), roundErr)
	}
	if rounds.Load() == 0 {
		t.Error("no round ran")
	}
	if strings.Contains(logs.String(), "status=5") {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "status=5") {
				t.Errorf("5xx in the server log: %s", l)
				break
			}
		}
	}
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
