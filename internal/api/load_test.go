package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// loadShape is how many clients for how long. The figure is 64
// clients for 30 s; the suite runs a short version unless GRANARY_LOAD says
// otherwise (e.g. GRANARY_LOAD=64x30s).
func loadShape(t *testing.T) (clients int, d time.Duration) {
	clients, d = 16, 3*time.Second
	if s := os.Getenv("GRANARY_LOAD"); s != "" {
		m := regexp.MustCompile(`^(\d+)x(\S+)$`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("GRANARY_LOAD=%q: want CLIENTSxDURATION, e.g. 64x30s", s)
		}
		clients, _ = strconv.Atoi(m[1])
		var err error
		if d, err = time.ParseDuration(m[2]); err != nil || clients < 1 || d > 10*time.Minute {
			t.Fatalf("GRANARY_LOAD=%q: bad shape", s)
		}
	}
	return clients, d
}

// accepted is a state change the server accepted.
type accepted struct {
	serial string
	ev     inventory.Event
}

// TestLoadMixedReadsAndStateChanges runs concurrent clients over loopback
// for a bounded time: mixed list pages, gets, summaries and state changes.
// It fails on any 5xx or transport error, reports p50/p99 latency, and then
// checks the ledger against what the clients were told: every accepted
// change is in its device's history, and the history holds exactly one
// event per accepted change (plus the creation event), with the device
// ending in the state of its last accepted change.
func TestLoadMixedReadsAndStateChanges(t *testing.T) {
	clients, dur := loadShape(t)
	forEachStore(t, func(t *testing.T, o apitest.Options) {
		runLoad(t, o, clients, dur)
	})
}

func runLoad(t *testing.T, o apitest.Options, clients int, dur time.Duration) {
	logs := &lockedBuffer{}
	o.Log = logs
	defer func() {
		if t.Failed() {
			var errs []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=ERROR") && !strings.Contains(l, `msg="http request"`) && len(errs) < 20 {
					errs = append(errs, l)
				}
			}
			t.Logf("server errors:\n%s", strings.Join(errs, "\n"))
		}
	}()
	srv := apitest.Start(t, o)
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("serial,model,state,site,pool\n")
	for i := range loadDevices {
		fmt.Fprintf(&b, "L%05d,%s,in-service,site-%d,pool-%d\n", i, loadModels[i%len(loadModels)], i%3, i%4)
	}
	if _, err := srv.Ledger.ImportCSV(ctx, "load.csv", strings.NewReader(b.String()), "seed"); err != nil {
		t.Fatal(err)
	}
	secret := srv.Token(t, inventory.RoleOperator)
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	cl, err := client.New(srv.URL, secret, &http.Client{Transport: tr, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	results := make([]loadClientResult, clients)
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() { results[c] = loadClient(cl, c, deadline) })
	}
	wg.Wait()

	var lat []time.Duration
	var acc []accepted
	conflicts := 0
	for _, r := range results {
		lat = append(lat, r.lat...)
		acc = append(acc, r.accepted...)
		conflicts += r.conflict
		for _, e := range r.errs {
			t.Errorf("request failed: %s", e)
		}
	}
	if len(lat) == 0 {
		t.Fatal("no request completed")
	}
	t.Logf("load: %d clients × %v: %d requests (%.0f/s), %d accepted state changes, %d refused (409); latency p50 %v p99 %v max %v",
		clients, dur, len(lat), float64(len(lat))/dur.Seconds(), len(acc), conflicts,
		quantile(lat, 0.50), quantile(lat, 0.99), slices.Max(lat).Round(time.Microsecond))
	if len(acc) == 0 {
		t.Fatal("no state change was accepted")
	}

	checkAccepted(t, srv, acc)
}

// loadClientResult is what one client of runLoad saw.
type loadClientResult struct {
	lat      []time.Duration
	accepted []accepted
	conflict int
	errs     []string
}

// loadTargets are the states clients ask for, weighted so that few
// devices end up retired.
var loadTargets = []fleet.DeviceState{fleet.InService, fleet.InService, fleet.Reserve, fleet.Reserve, fleet.Maintenance, fleet.Maintenance, fleet.Failed, fleet.Failed, fleet.InService, fleet.Retired}

// loadClient c sends reads (70 %) and state changes (30 %) until deadline
// (or its 21st error); a 409 is a refused change, not an error.
func loadClient(cl *client.Client, c int, deadline time.Time) loadClientResult {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(c), 99))
	var res loadClientResult
	for n := 0; time.Now().Before(deadline) && n < 1_000_000; n++ {
		serial := fmt.Sprintf("L%05d", r.IntN(loadDevices))
		start := time.Now()
		var err error
		switch u := r.IntN(100); {
		case u < 35:
			_, err = cl.ListDevices(ctx, client.ListOptions{Model: loadModels[r.IntN(len(loadModels))], Site: fmt.Sprintf("site-%d", r.IntN(3)), Limit: 100})
		case u < 60:
			_, err = cl.Device(ctx, serial)
		case u < 65:
			_, err = cl.Summary(ctx)
		case u < 70:
			_, err = cl.History(ctx, serial)
		default:
			var ev inventory.Event
			ev, err = cl.SetState(ctx, serial, loadTargets[r.IntN(len(loadTargets))], fmt.Sprintf("load client %d op %d", c, n))
			if err == nil {
				res.accepted = append(res.accepted, accepted{serial, ev})
			} else if ce, ok := err.(*client.Error); ok && ce.Status == http.StatusConflict {
				res.conflict++
				err = nil
			}
		}
		res.lat = append(res.lat, time.Since(start))
		if err != nil {
			res.errs = append(res.errs, err.Error())
			if len(res.errs) > 20 {
				break
			}
		}
	}
	return res
}

// checkAccepted checks that every accepted change is in the ledger exactly
// once, in the order the clients were told, and that each device ends in
// its last accepted state.
func checkAccepted(t *testing.T, srv *apitest.Server, acc []accepted) {
	ctx := context.Background()
	bySerial := map[string][]inventory.Event{}
	seqs := map[int64]bool{}
	for _, a := range acc {
		if seqs[a.ev.Seq] {
			t.Fatalf("two accepted changes got seq %d", a.ev.Seq)
		}
		seqs[a.ev.Seq] = true
		bySerial[a.serial] = append(bySerial[a.serial], a.ev)
	}
	all, err := srv.Ledger.Events(ctx, inventory.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	changes := 0
	for _, e := range all {
		if e.From == "" {
			continue // creation
		}
		changes++
		if !seqs[e.Seq] {
			t.Errorf("event %+v was never acknowledged to a client", e)
		}
	}
	if changes != len(acc) {
		t.Errorf("%d change events in the ledger, %d accepted changes", changes, len(acc))
	}
	for serial, evs := range bySerial {
		slices.SortFunc(evs, func(a, b inventory.Event) int { return int(a.Seq - b.Seq) })
		h, err := srv.Ledger.History(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != len(evs)+1 {
			t.Errorf("%s: %d events, want 1 + %d accepted", serial, len(h), len(evs))
			continue
		}
		for i, e := range evs {
			if got := h[i+1]; got.Seq != e.Seq || got.From != e.From || got.To != e.To || got.Reason != e.Reason {
				t.Errorf("%s: event %d is %+v, client was told %+v", serial, i+1, got, e)
			}
			if i > 0 && e.From != evs[i-1].To {
				t.Errorf("%s: accepted change from %s after a change to %s", serial, e.From, evs[i-1].To)
			}
		}
		d, err := srv.Ledger.Get(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if last := evs[len(evs)-1]; d.State != last.To {
			t.Errorf("%s is %s, last accepted change went to %s", serial, d.State, last.To)
		}
	}
}

// forEachStore runs f against SQLite, and against PostgreSQL when
// GRANARY_TEST_POSTGRES is set.
func forEachStore(t *testing.T, f func(t *testing.T, o apitest.Options)) {
	t.Run("sqlite", func(t *testing.T) { f(t, apitest.Options{}) })
	t.Run("postgres", func(t *testing.T) {
		o, _ := apitest.Postgres(t)
		f(t, o)
	})
}

// lockedBuffer collects the server's log from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
