// Package storetest is the contract every inventory.Store implementation
// passes: one suite, run by internal/store/sqlite and internal/store/postgres
// against real databases. It drives the store both directly and through
// inventory.Service, and checks results against naive in-memory oracles.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// Opener returns a new, empty store for one test and arranges its cleanup.
type Opener func(t *testing.T) inventory.Store

// Clock is a deterministic, concurrency-safe clock that advances one second
// per reading from a fixed instant.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a Clock at 2026-01-01T00:00:00Z.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the current reading and advances the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// NewService builds a service over st with the default catalog and a Clock.
func NewService(t testing.TB, st inventory.Store) *inventory.Service {
	t.Helper()
	svc, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default(), Now: NewClock().Now,
		Classify: func(c accel.Chip) string {
			if c.Domestic() {
				return "domestic"
			}
			return "foreign"
		}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// Run runs the whole contract.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st inventory.Store)
	}{
		{"CreateGet", testCreateGet},
		{"Filters", testFilters},
		{"Pagination", testPagination},
		{"ImportAllOrNothing", testImportAllOrNothing},
		{"InsertDuplicateWritesNothing", testInsertDuplicate},
		{"InsertEncodedLabelsAndCreated", testInsertCreated},
		{"InsertManyNodes", testInsertManyNodes},
		{"History", testHistory},
		{"ConcurrentStateChanges", testConcurrent},
		{"ConcurrentSameTransition", testSameTransition},
		{"Summary", testSummary},
		{"Events", testEvents},
		{"FailuresFollowLedger", testFailuresFollowLedger},
		{"StateAt", testStateAt},
		{"Tokens", testTokens},
		{"TokenLifeCycle", testTokenLifeCycle},
		{"Nodes", testNodes},
		{"NodeResources", testNodeResources},
		{"ReplaceNodeFigures", testReplaceNodeFigures},
		{"AgentTokens", testAgentTokens},
		{"AgentReports", testAgentReports},
		{"AgentSaveRoundTrip", testAgentSave},
		{"Text", testText},
		{"CountBySiteModelState", testCountBySite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			tc.fn(t, st)
			checkCounts(t, st)
		})
	}
}

// checkCounts: the store's (model, state) counts equal a count of every
// stored device — whatever the test did, including failed writes. The
// expectation counts the devices here, not through inventory.Tally, which
// the stores themselves use to maintain their counters.
func checkCounts(t *testing.T, st inventory.Store) {
	t.Helper()
	all, err := st.Devices(ctx, inventory.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.CountByModelState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, d := range all {
		want[d.Model+" / "+string(d.State)]++
	}
	have := map[string]int{}
	for i, c := range got {
		k := c.Model + " / " + string(c.State)
		if _, dup := have[k]; dup {
			t.Errorf("CountByModelState lists %s twice", k)
		}
		have[k] = c.Devices
		if i > 0 && (got[i-1].Model > c.Model || got[i-1].Model == c.Model && got[i-1].State >= c.State) {
			t.Errorf("CountByModelState is not ordered by model, then state: %s before %s", got[i-1].Model+" / "+string(got[i-1].State), k)
		}
	}
	if diff := cmp.Diff(want, have, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("CountByModelState differs from a count of the devices (-devices +store):\n%s", diff)
	}
	checkSiteCounts(t, st, all)
}

// checkSiteCounts: the store's (site, model, state) counts equal a naive
// count of all, listed once each in (site, model, state) byte order.
func checkSiteCounts(t *testing.T, st inventory.Store, all []inventory.Device) {
	t.Helper()
	got, err := st.CountBySiteModelState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[3]string]int{}
	for _, d := range all {
		want[[3]string{d.Site, d.Model, string(d.State)}]++
	}
	have := map[[3]string]int{}
	for i, c := range got {
		k := [3]string{c.Site, c.Model, string(c.State)}
		if _, dup := have[k]; dup {
			t.Errorf("CountBySiteModelState lists %q twice", k)
		}
		have[k] = c.Devices
		if i > 0 {
			p := [3]string{got[i-1].Site, got[i-1].Model, string(got[i-1].State)}
			if slices.Compare(p[:], k[:]) >= 0 {
				t.Errorf("CountBySiteModelState is not ordered by site, model, state: %q before %q", p, k)
			}
		}
	}
	if diff := cmp.Diff(want, have, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("CountBySiteModelState differs from a count of the devices (-devices +store):\n%s", diff)
	}
}

// testCountBySite: 300 devices over four sites (one empty) and every
// state, then state changes; checkCounts (run after every case) compares
// the store's (site, model, state) counts with a naive count each time.
func testCountBySite(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	ds := fixture(300, 16)
	importDevices(t, svc, ds)
	all, err := st.Devices(ctx, inventory.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkSiteCounts(t, st, all)
	got, err := st.CountBySiteModelState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sites := map[string]bool{}
	for _, c := range got {
		sites[c.Site] = true
	}
	if len(sites) != 4 {
		t.Errorf("counts cover sites %v, want the fixture's 4 (bj1, sh2, gz3 and none)", sites)
	}
	for _, d := range ds[:20] {
		to := inventory.AllowedTransitions(d.State)
		if len(to) == 0 {
			continue
		}
		if _, err := svc.SetState(ctx, d.Serial, to[0], "counted", "test"); err != nil {
			t.Fatalf("%s → %s: %v", d.Serial, to[0], err)
		}
	}
}

var ctx = context.Background()

func f64(v float64) *float64 { return &v }

func dayOf(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// fixture makes n varied devices, deterministic in seed.
func fixture(n int, seed uint64) []inventory.Device {
	r := rand.New(rand.NewPCG(seed, 1))
	models := []string{"h800-sxm5-80gb", "a800-sxm4-80gb", "h20-96gb", "ascend-910b3", "ascend-910c", "kunlunxin-p800", "mlu590", "hygon-k100-ai"}
	sites := []string{"", "bj1", "sh2", "gz3"}
	pools := []string{"", "train", "infer"}
	out := make([]inventory.Device, n)
	for i := range out {
		d := inventory.Device{
			Serial: fmt.Sprintf("SN-%05d-%c", r.IntN(100000), 'A'+rune(i%26)),
			Model:  models[r.IntN(len(models))],
			State:  fleet.DeviceStates[r.IntN(len(fleet.DeviceStates))],
			Site:   sites[r.IntN(len(sites))],
			Pool:   pools[r.IntN(len(pools))],
		}
		if d.Site != "" {
			d.Node = fmt.Sprintf("%s-node-%02d", d.Site, r.IntN(5))
		}
		if r.IntN(2) == 0 {
			d.Acquired = dayOf(2024, time.Month(1+r.IntN(12)), 1+r.IntN(28))
			d.WarrantyUntil = d.Acquired.AddDate(3, 0, 0)
			d.CostUSD = f64(float64(10000 + r.IntN(20000)))
			d.Labels = map[string]string{"rack": fmt.Sprint(r.IntN(9)), "po": fmt.Sprintf("PO-%d", r.IntN(99))}
		}
		out[i] = d
	}
	// Unique serials.
	seen := map[string]bool{}
	for i := range out {
		for seen[out[i].Serial] {
			out[i].Serial += "x"
		}
		seen[out[i].Serial] = true
	}
	return out
}

func importDevices(t *testing.T, svc *inventory.Service, ds []inventory.Device) {
	t.Helper()
	im := &inventory.Import{File: "fixture"}
	nodes := map[string]bool{}
	for i, d := range ds {
		im.Rows = append(im.Rows, inventory.Row{Device: d, Pos: fleet.Position{File: "fixture", Line: i + 2, Column: 1}})
		if d.Node != "" && !nodes[d.Node] {
			nodes[d.Node] = true
			im.Nodes = append(im.Nodes, inventory.Node{Hostname: d.Node, Site: d.Site})
		}
	}
	res, err := svc.Import(ctx, im, "test")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.Devices != len(ds) {
		t.Fatalf("imported %d devices, want %d", res.Devices, len(ds))
	}
}

// ignoreUpdated compares devices without the service-set UpdatedAt.
var ignoreUpdated = cmp.Transformer("noUpdated", func(d inventory.Device) inventory.Device {
	d.UpdatedAt = time.Time{}
	if len(d.Labels) == 0 {
		d.Labels = nil
	}
	return d
})

func testCreateGet(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	in := inventory.Device{Serial: "H800-0001", Model: "H800", State: fleet.InService, Node: "bj1-n01", Site: "bj1", Pool: "train",
		Acquired: dayOf(2024, 3, 15), CostUSD: f64(31500.5), WarrantyUntil: dayOf(2027, 3, 14), Labels: map[string]string{"rack": "r12", "po": "PO-7"}}
	got, err := svc.Create(ctx, in, "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Model = "h800-sxm5-80gb"
	if diff := cmp.Diff(want, got, ignoreUpdated); diff != "" {
		t.Errorf("Create returned (-want +got):\n%s", diff)
	}
	read, err := svc.Get(ctx, "H800-0001")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Errorf("Get differs from Create (-create +get):\n%s", diff)
	}
	if read.UpdatedAt.IsZero() {
		t.Error("UpdatedAt not set")
	}
	// Minimal device: unknowns stay unknown.
	minimal, err := svc.Create(ctx, inventory.Device{Serial: "X-1", Model: "ascend-910c", State: fleet.Reserve}, "", "bob")
	if err != nil {
		t.Fatal(err)
	}
	back, _ := svc.Get(ctx, "X-1")
	if diff := cmp.Diff(minimal, back); diff != "" {
		t.Errorf("minimal device round trip (-want +got):\n%s", diff)
	}
	if back.CostUSD != nil || !back.Acquired.IsZero() || back.Labels != nil {
		t.Errorf("unknown fields became known: %+v", back)
	}
	if _, err := svc.Create(ctx, in, "", "alice"); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("duplicate Create: got %v, want ErrConflict", err)
	}
	if _, err := svc.Get(ctx, "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Get missing: got %v, want ErrNotFound", err)
	}
	for _, bad := range []inventory.Device{
		{Serial: "", Model: "h800", State: fleet.InService},
		{Serial: "has space", Model: "h800", State: fleet.InService},
		{Serial: "B-1", Model: "no-such-chip-xyz", State: fleet.InService},
		{Serial: "B-2", Model: "h800", State: "broken"},
		{Serial: "B-3", Model: "h800", State: fleet.InService, CostUSD: f64(-1)},
	} {
		if _, err := svc.Create(ctx, bad, "", "x"); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("Create(%+v): got %v, want ErrInvalid", bad, err)
		}
	}
	evs, err := svc.History(ctx, "H800-0001")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].From != "" || evs[0].To != fleet.InService || evs[0].Actor != "alice" || evs[0].Reason != "created" {
		t.Errorf("creation history = %+v, want one created event by alice", evs)
	}
	if !evs[0].At.Equal(read.UpdatedAt) {
		t.Errorf("event at %v, device updated %v", evs[0].At, read.UpdatedAt)
	}
}

func naiveFilter(all []inventory.Device, f inventory.Filter) []inventory.Device {
	var out []inventory.Device
	for _, d := range all {
		if (f.Model == "" || d.Model == f.Model) && (len(f.Models) == 0 || slices.Contains(f.Models, d.Model)) && (f.State == "" || d.State == f.State) &&
			(!f.Held || d.State != fleet.Retired) && (f.Site == "" || d.Site == f.Site) && (f.Pool == "" || d.Pool == f.Pool) && (f.Node == "" || d.Node == f.Node) &&
			(f.Q == "" || naiveContains(d, strings.ToLower(f.Q))) && (f.Class == "" || naiveClass(d, f.Rules) == strings.ToLower(f.Class)) {
			out = append(out, d)
		}
	}
	desc := strings.HasPrefix(f.Sort, "-")
	key := func(d inventory.Device) string {
		switch strings.TrimPrefix(f.Sort, "-") {
		case "model":
			return d.Model
		case "state":
			return string(d.State)
		case "site":
			return d.Site
		case "node":
			return d.Node
		}
		return ""
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if desc {
			a, b = b, a
		}
		if ka, kb := key(a), key(b); ka != kb {
			return ka < kb
		}
		return a.Serial < b.Serial
	})
	return out
}

// naiveClass is d's model's export class under the named rule set, lower
// case, classified one device at a time.
func naiveClass(d inventory.Device, rules string) string {
	c, ok := accel.Default().Get(d.Model)
	if !ok {
		return ""
	}
	rs, err := exportctl.LookupRuleSet(rules)
	if err != nil {
		panic(err)
	}
	return strings.ToLower(string(exportctl.Classify(c, rs).Classification))
}

// naiveContains is the free-text match written out: q in any of the four
// fields, case-folded.
func naiveContains(d inventory.Device, q string) bool {
	return strings.Contains(strings.ToLower(d.Serial), q) || strings.Contains(strings.ToLower(d.Node), q) ||
		strings.Contains(strings.ToLower(d.Site), q) || strings.Contains(strings.ToLower(d.Model), q)
}

func testFilters(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	all := fixture(300, 1)
	importDevices(t, svc, all)
	filters := []inventory.Filter{
		{},
		{Model: "h800-sxm5-80gb"},
		{State: fleet.Failed},
		{Model: "ascend-910c", State: fleet.Reserve},
		{Site: "bj1"},
		{Pool: "infer", State: fleet.InService},
		{Held: true},                              // every state but retired
		{Held: true, Site: "sh2", Sort: "-state"}, // with a filter, in another order
		{Held: true, Q: "node-03", Models: []string{"h800-sxm5-80gb", "h20-96gb"}},
		{Node: all[0].Node},
		{Site: "sh2", Pool: "train", Model: "h20-96gb"},
		{Model: "k80"},
		{Models: []string{"h800-sxm5-80gb", "ascend-910c"}},
		{Models: []string{"h20-96gb", "k80"}, Sort: "model", State: fleet.InService},
		{Q: "node-03"},
		{Q: "BJ1"},                       // site and node, case-folded
		{Q: "ascend"},                    // model id
		{Q: "-a"},                        // serials ending in -A and models with "-a" (ascend, ...)
		{Q: all[7].Serial},               // one serial
		{Q: "no-such-text"},              // none
		{Q: "sh2", State: fleet.Failed},  // with a filter
		{Q: "node_03"},                   // LIKE's wildcards are text: none
		{Q: "n%3"},                       // none
		{Q: "%"},                         // none
		{Q: `\`},                         // none
		{Q: `"node`},                     // a quote (FTS5 syntax) is text: none
		{Q: "e-0"},                       // in nodes, not at a word start
		{Q: "node-03", Site: "sh2"},      // with a filter
		{Q: "h800"},                      // one model id (through its index where the store has one)
		{Q: "SXM"},                       // two model ids, case-folded
		{Q: "910", State: fleet.Reserve}, // model ids with a filter
		{Q: "k100", Site: "bj1"},         // a model id with a site filter
		{Q: "00-"},                       // a model id (h800-sxm5-…) and serials (SN-…00-A)
		{Q: "ascend", Sort: "-node"},     // a model id, in another order
		{Q: "gz3", Sort: "model"},        // a site id (and its nodes)
		{Q: "z3-"},                       // in nodes, not in the site id
		{Sort: "model"},
		{Sort: "state", Site: "gz3"},
		{Sort: "site", Q: "node"},
		{Sort: "node"},
		{Sort: "serial"},
		{Sort: "-serial"},
		{Sort: "-model", State: fleet.Reserve},
		{Sort: "-site", Q: "node"},
		{Sort: "-node"},
		{Sort: "-state", Models: []string{"mlu590", "h800-sxm5-80gb"}},
		{Class: "3A090.a"},
		{Class: "3a090.A", Rules: "2022-10", Sort: "-model"},
		{Class: "not-3A090", State: fleet.InService, Site: "bj1"},
		{Class: "insufficient-data", Q: "sh2"},
		{Class: "3A090.b", Rules: "2023"},
		{Class: "3A090.a", Model: "h20-96gb"},                                // the model is in another class: none
		{Class: "3A090.a", Models: []string{"h800-sxm5-80gb", "h20-96gb"}},   // intersected
		{Class: "not-3A090", Rules: "2022-10", Models: []string{"h20-96gb"}}, // h20 was not controlled in 2022
	}
	classes := map[string]bool{}
	for _, f := range filters {
		want := naiveFilter(all, f)
		if f.Class != "" && len(want) > 0 {
			classes[strings.ToLower(f.Class)] = true
		}
		f.Limit = inventory.MaxPageSize
		page, err := svc.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		if diff := cmp.Diff(want, page.Devices, ignoreUpdated, cmpEmpty); diff != "" {
			t.Errorf("List(%+v) (-want +got):\n%s", f, diff)
		}
		// Count uses the same conditions; paging fields do not change it.
		f.After, f.Limit = page.Next, 3
		n, err := svc.Count(ctx, f)
		if err != nil {
			t.Fatalf("Count(%+v): %v", f, err)
		}
		if n != len(want) {
			t.Errorf("Count(%+v) = %d, want %d", f, n, len(want))
		}
	}
	if held, retired := len(naiveFilter(all, inventory.Filter{Held: true})), len(naiveFilter(all, inventory.Filter{State: fleet.Retired})); held == 0 || retired == 0 || held+retired != len(all) {
		t.Errorf("the fixture has %d held and %d retired devices of %d; the held case needs both", held, retired, len(all))
	}
	if _, err := svc.List(ctx, inventory.Filter{Held: true, State: fleet.Reserve}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("held with a state: %v, want ErrInvalid", err)
	}
	if len(classes) < 2 {
		t.Errorf("the class cases matched devices in %d classes (%v); the fixture should cover at least two", len(classes), classes)
	}
	for _, f := range []inventory.Filter{{Class: "3A090.z"}, {Class: "3A090.a", Rules: "1999"}, {Rules: "2023-10"}, {Sort: "-"}, {Sort: "--model"}, {Sort: "-cost"}} {
		if _, err := svc.List(ctx, f); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("List(%+v): %v, want ErrInvalid", f, err)
		}
		if _, err := svc.Count(ctx, f); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("Count(%+v): %v, want ErrInvalid", f, err)
		}
	}
	// Names resolve through the catalog.
	p1, err := svc.List(ctx, inventory.Filter{Model: "H800", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := naiveFilter(all, inventory.Filter{Model: "h800-sxm5-80gb"}); len(p1.Devices) != len(want) || len(want) == 0 {
		t.Errorf("List(model=H800) = %d devices, want %d", len(p1.Devices), len(want))
	}
	if _, err := svc.List(ctx, inventory.Filter{Model: "zzz-not-a-chip"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("unknown model filter: %v, want ErrInvalid", err)
	}
	if _, err := svc.List(ctx, inventory.Filter{State: "gone"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("unknown state filter: %v, want ErrInvalid", err)
	}
	if _, err := svc.List(ctx, inventory.Filter{Sort: "cost"}); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "serial, model, state, site, node") {
		t.Errorf("unknown sort: %v, want ErrInvalid naming the orders", err)
	}
}

var cmpEmpty = cmp.Transformer("nilEmpty", func(ds []inventory.Device) []inventory.Device {
	if len(ds) == 0 {
		return nil
	}
	return ds
})

func testPagination(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	all := fixture(103, 2)
	importDevices(t, svc, all)
	for _, f := range []inventory.Filter{{Limit: 7}, {Limit: 10, State: fleet.InService}, {Limit: 1}, {Limit: 103}, {Limit: 200},
		{Limit: 7, Sort: "model"}, {Limit: 5, Sort: "site"}, {Limit: 3, Sort: "node", Q: "node-0"}, {Limit: 9, Sort: "state", Q: "-b"},
		{Limit: 7, Sort: "-serial"}, {Limit: 6, Sort: "-model"}, {Limit: 4, Sort: "-site", State: fleet.InService}, {Limit: 11, Sort: "-node", Q: "node-0"},
		{Limit: 8, Sort: "-state", Class: "3A090.a"}, {Limit: 9, Held: true}, {Limit: 6, Held: true, Sort: "-model"}, {Limit: 5, Sort: "-serial", Q: "h800"}, {Limit: 4, Sort: "model", Q: "00-"}} {
		var got []inventory.Device
		pages := 0
		for {
			p, err := svc.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(p.Devices) > f.Limit {
				t.Fatalf("page of %d > limit %d", len(p.Devices), f.Limit)
			}
			got = append(got, p.Devices...)
			if p.Next == "" {
				break
			}
			if len(p.Devices) != f.Limit {
				t.Fatalf("non-final page has %d devices, want %d", len(p.Devices), f.Limit)
			}
			f.After = p.Next
			if pages > 200 {
				t.Fatal("pagination does not end")
			}
		}
		want := naiveFilter(all, inventory.Filter{State: f.State, Held: f.Held, Sort: f.Sort, Q: f.Q, Class: f.Class})
		if diff := cmp.Diff(want, got, ignoreUpdated, cmpEmpty); diff != "" {
			t.Errorf("walking pages of %d (-want +got):\n%s", f.Limit, diff)
		}
		if wantPages := max(1, (len(want)+f.Limit-1)/f.Limit); pages != wantPages {
			t.Errorf("%d pages for %d devices by %d, want %d", pages, len(want), f.Limit, wantPages)
		}
	}
	if _, err := svc.List(ctx, inventory.Filter{After: "!!!not base64"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("bad cursor: %v, want ErrInvalid", err)
	}
	// A serial-order cursor is no cursor of a sorted list.
	p0, err := svc.List(ctx, inventory.Filter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.List(ctx, inventory.Filter{Sort: "model", After: p0.Next}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("serial cursor with sort=model: %v, want ErrInvalid", err)
	}
	// Default page size.
	p, err := svc.List(ctx, inventory.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Devices) != inventory.DefaultPageSize || p.Next == "" {
		t.Errorf("default page: %d devices, next %q", len(p.Devices), p.Next)
	}
}

func countAll(t *testing.T, st inventory.Store) (devices, events, nodes int) {
	t.Helper()
	ds, err := st.Devices(ctx, inventory.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, inventory.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := st.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(ds), len(evs), len(ns)
}

func testImportAllOrNothing(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	good := "serial,model,state,node,site,pool,acquired,cost_usd,warranty_until,labels\n" +
		"G-1,H800,in-service,n1,bj1,train,2024-01-02,30000,2027-01-01,rack=r1;po=7\n" +
		"G-2,910B3,reserve,n1,bj1,,,,,\n"
	res, err := svc.ImportCSV(ctx, "good.csv", strings.NewReader(good), "ops")
	if err != nil {
		t.Fatalf("good import: %v", err)
	}
	if res.Devices != 2 || res.Nodes != 1 {
		t.Errorf("result %+v", res)
	}
	d, err := svc.Get(ctx, "G-1")
	if err != nil {
		t.Fatal(err)
	}
	want := inventory.Device{Serial: "G-1", Model: "h800-sxm5-80gb", Node: "n1", Site: "bj1", Pool: "train", State: fleet.InService,
		Acquired: dayOf(2024, 1, 2), CostUSD: f64(30000), WarrantyUntil: dayOf(2027, 1, 1), Labels: map[string]string{"rack": "r1", "po": "7"}}
	if diff := cmp.Diff(want, d, ignoreUpdated); diff != "" {
		t.Errorf("imported device (-want +got):\n%s", diff)
	}
	d0, e0, n0 := countAll(t, st)

	cases := []struct {
		name, csv string
		want      []string // substrings, one per expected error, in order
	}{
		{"unknown model", "serial,model,state\nA-1,H800,in-service\nA-2,NoSuchChip9000,in-service\n", []string{"bad.csv:3:5: field \"model\": unknown model \"NoSuchChip9000\"; nearest: "}},
		{"unknown state", "serial,model,state\nA-1,H800,in-service\nA-2,H800,broken\n", []string{"bad.csv:3:10: field \"state\": unknown state"}},
		{"duplicate in file", "serial,model,state\nA-1,H800,in-service\nA-1,H800,reserve\n", []string{"bad.csv:3:1: field \"serial\": duplicate serial \"A-1\" (first on line 2)"}},
		{"duplicate in store", "serial,model,state\nA-1,H800,in-service\nG-2,H800,reserve\n", []string{"bad.csv:3:1: field \"serial\": serial \"G-2\" already exists"}},
		{"bad date", "serial,model,state,acquired\nA-1,H800,in-service,2024-13-01\n", []string{"bad.csv:2:21: field \"acquired\": bad date"}},
		{"wrong column count", "serial,model,state\nA-1,H800,in-service\nA-2,H800\n", []string{"bad.csv:3:1: record has 2 fields, the header has 3"}},
		{"two problems", "serial,model,state\nA-1,Nope,in-service\nA-2,H800,gone\n", []string{"bad.csv:2:5", "bad.csv:3:10"}},
	}
	for _, tc := range cases {
		_, err := svc.ImportCSV(ctx, "bad.csv", strings.NewReader(tc.csv), "ops")
		if !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tc.name, err)
			continue
		}
		var ies fleet.InputErrors
		if !errors.As(err, &ies) || len(ies) != len(tc.want) {
			t.Errorf("%s: errors %q, want %d", tc.name, err, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(ies[i].Error(), w) {
				t.Errorf("%s: error %d = %q, want prefix %q", tc.name, i, ies[i].Error(), w)
			}
		}
		if d, e, n := countAll(t, st); d != d0 || e != e0 || n != n0 {
			t.Errorf("%s: store changed (devices %d→%d, events %d→%d, nodes %d→%d)", tc.name, d0, d, e0, e, n0, n)
		}
	}
}

func testInsertDuplicate(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	importDevices(t, svc, fixture(10, 3))
	d0, e0, n0 := countAll(t, st)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	existing := fixture(10, 3)[4]
	b := inventory.Batch{Nodes: []inventory.Node{{Hostname: "fresh-node", Site: "x"}}}
	for i := range 500 {
		b.Devices = append(b.Devices, inventory.Device{Serial: fmt.Sprintf("NEW-%04d", i), Model: "h20-96gb", State: fleet.Reserve, UpdatedAt: at})
	}
	b.Devices = append(b.Devices, inventory.Device{Serial: existing.Serial, Model: "h20-96gb", State: fleet.Reserve, UpdatedAt: at})
	for _, d := range b.Devices {
		b.Events = append(b.Events, inventory.Event{Serial: d.Serial, To: d.State, Reason: "imported", Actor: "t", At: at})
	}
	err := st.Insert(ctx, b)
	if !errors.Is(err, fleet.ErrConflict) {
		t.Fatalf("Insert with an existing serial: %v, want ErrConflict", err)
	}
	var de *inventory.DuplicateError
	if errors.As(err, &de) && !slices.Equal(de.Serials, []string{existing.Serial}) {
		t.Errorf("DuplicateError names %v, want [%s]", de.Serials, existing.Serial)
	}
	if d, e, n := countAll(t, st); d != d0 || e != e0 || n != n0 {
		t.Errorf("failed Insert wrote something (devices %d→%d, events %d→%d, nodes %d→%d)", d0, d, e0, e, n0, n)
	}
}

// testInsertManyNodes: a batch naming more nodes than a store writes in
// one statement (PostgreSQL: 10,000) writes every one of them, the first
// and the last as given.
func testInsertManyNodes(t *testing.T, st inventory.Store) {
	const n = 25_001
	nodes := make([]inventory.Node, n)
	for i := range nodes {
		nodes[i] = inventory.Node{Hostname: fmt.Sprintf("many-%05d", i), Site: fmt.Sprintf("site-%d", i%3), InterconnectDomain: "ib0"}
	}
	if err := st.Insert(ctx, inventory.Batch{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0] != nodes[0] || got[n-1] != nodes[n-1] {
		t.Fatalf("%d nodes stored, want %d (first %v, last %v)", len(got), n, got[0], got[len(got)-1])
	}
}

// testInsertCreated: a Batch as a bulk import writes it (PackedBatch:
// compact rows with the labels already encoded, one creation event per
// device made from Batch.Created after the explicit Events) is stored as
// the devices and events it stands for.
func testInsertCreated(t *testing.T, st inventory.Store) {
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	cost := 12500.25
	devs := []inventory.Device{
		{Serial: "C-1", Model: "h20-96gb", State: fleet.Reserve, UpdatedAt: at, Labels: map[string]string{"rack": "r7", "po": "PO-1"},
			Node: "c-node", Site: "c-site", Pool: "c-pool", CostUSD: &cost,
			Acquired: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), WarrantyUntil: time.Date(2029, 2, 28, 0, 0, 0, 0, time.UTC)},
		{Serial: "C-2", Model: "h20-96gb", State: fleet.InService, UpdatedAt: at},
		{Serial: "C-3", Model: "h20-96gb", State: fleet.Failed, UpdatedAt: at, Labels: map[string]string{"a": "b"}},
	}
	b, err := inventory.PackedBatch([]inventory.Node{{Hostname: "c-node", Site: "c-site"}}, devs,
		[]inventory.Event{{Serial: "C-9", To: fleet.Retired, Reason: "explicit", Actor: "e", At: at}},
		inventory.Event{Reason: "imported", Actor: "imp", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if b.DeviceCount() != len(devs) || b.EventCount() != len(devs)+1 {
		t.Fatalf("PackedBatch: %d devices, %d events", b.DeviceCount(), b.EventCount())
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		got, err := st.Device(ctx, d.Serial)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-put +stored):\n%s", d.Serial, diff)
		}
	}
	evs, err := st.Events(ctx, inventory.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range evs {
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Errorf("event %d: seq %d after %d", i, e.Seq, evs[i-1].Seq)
		}
		got = append(got, fmt.Sprintf("%s %s>%s %s %s %s", e.Serial, e.From, e.To, e.Reason, e.Actor, e.At.UTC().Format(time.RFC3339)))
	}
	wantEvs := []string{
		`C-9 >retired explicit e 2026-02-01T00:00:00Z`,
		`C-1 >reserve imported imp 2026-02-01T00:00:00Z`,
		`C-2 >in-service imported imp 2026-02-01T00:00:00Z`,
		`C-3 >failed imported imp 2026-02-01T00:00:00Z`,
	}
	if !slices.Equal(got, wantEvs) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEvs, "\n"))
	}
}

func testHistory(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	if _, err := svc.Create(ctx, inventory.Device{Serial: "H-1", Model: "h20", State: fleet.InService}, "", "a"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		to      fleet.DeviceState
		allowed bool
	}{
		{fleet.Failed, true},
		{fleet.InService, false}, // failed must go through maintenance
		{fleet.Maintenance, true},
		{fleet.Maintenance, false}, // no-op is refused
		{fleet.InService, true},
		{fleet.Reserve, true},
		{fleet.Retired, true},
		{fleet.InService, false},
		{fleet.Maintenance, false},
	}
	want := 1
	prev := fleet.InService
	for i, s := range steps {
		ev, err := svc.SetState(ctx, "H-1", s.to, fmt.Sprintf("step %d", i), "op")
		if s.allowed {
			if err != nil {
				t.Fatalf("step %d %s→%s: %v", i, prev, s.to, err)
			}
			if ev.From != prev || ev.To != s.to || ev.Seq == 0 {
				t.Errorf("step %d event %+v", i, ev)
			}
			prev = s.to
			want++
			continue
		}
		var te *inventory.TransitionError
		if !errors.As(err, &te) || !errors.Is(err, fleet.ErrConflict) {
			t.Fatalf("step %d %s→%s: %v, want a TransitionError", i, prev, s.to, err)
		}
		if !slices.Equal(te.Allowed, inventory.AllowedTransitions(prev)) {
			t.Errorf("step %d allowed = %v", i, te.Allowed)
		}
	}
	evs, err := svc.History(ctx, "H-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != want {
		t.Fatalf("history has %d events, want %d (one per accepted change + creation)", len(evs), want)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].From != evs[i-1].To || evs[i].Seq <= evs[i-1].Seq || !evs[i].At.After(evs[i-1].At) {
			t.Errorf("history not a chain at %d: %+v after %+v", i, evs[i], evs[i-1])
		}
	}
	d, _ := svc.Get(ctx, "H-1")
	if d.State != fleet.Retired || !d.UpdatedAt.Equal(evs[len(evs)-1].At) {
		t.Errorf("device %+v after history ending %+v", d, evs[len(evs)-1])
	}
	if _, err := svc.SetState(ctx, "missing", fleet.Reserve, "r", "op"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("SetState missing: %v", err)
	}
	if _, err := svc.SetState(ctx, "H-1", fleet.Reserve, "  ", "op"); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("SetState without reason: %v", err)
	}
	if _, err := svc.History(ctx, "missing"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("History missing: %v", err)
	}
}

// testConcurrent: many goroutines change random devices to random states;
// afterwards each device's history is a chain with exactly one event per
// accepted change, and the device's state is its last event's To.
func testConcurrent(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	const devices, workers, perWorker = 12, 8, 40
	var ds []inventory.Device
	for i := range devices {
		ds = append(ds, inventory.Device{Serial: fmt.Sprintf("C-%02d", i), Model: "h800", State: fleet.InService})
	}
	importDevices(t, svc, ds)
	var mu sync.Mutex
	accepted := map[string]int{}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range perWorker {
				serial := ds[r.IntN(devices)].Serial
				to := []fleet.DeviceState{fleet.InService, fleet.Reserve, fleet.Maintenance, fleet.Failed}[r.IntN(4)]
				_, err := svc.SetState(ctx, serial, to, "load", fmt.Sprintf("w%d", w))
				switch {
				case err == nil:
					mu.Lock()
					accepted[serial]++
					mu.Unlock()
				case errors.Is(err, fleet.ErrConflict):
				default:
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("concurrent SetState: %v", err)
	}
	total := 0
	for _, d := range ds {
		evs, err := svc.History(ctx, d.Serial)
		if err != nil {
			t.Fatal(err)
		}
		total += accepted[d.Serial]
		if len(evs) != 1+accepted[d.Serial] {
			t.Errorf("%s: %d events, want 1 + %d accepted changes", d.Serial, len(evs), accepted[d.Serial])
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].From != evs[i-1].To {
				t.Errorf("%s: event %d from %s but previous went to %s (lost update)", d.Serial, i, evs[i].From, evs[i-1].To)
			}
		}
		got, _ := svc.Get(ctx, d.Serial)
		if got.State != evs[len(evs)-1].To {
			t.Errorf("%s: state %s, last event to %s", d.Serial, got.State, evs[len(evs)-1].To)
		}
	}
	if total == 0 {
		t.Error("no change was accepted; the test proves nothing")
	}
}

// testSameTransition: N goroutines try the same change on one device; exactly
// one wins, the rest get a conflict.
func testSameTransition(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	if _, err := svc.Create(ctx, inventory.Device{Serial: "S-1", Model: "h800", State: fleet.InService}, "", "a"); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.SetState(ctx, "S-1", fleet.Maintenance, "race", "r")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, fleet.ErrConflict):
				conflicts++
			default:
				t.Errorf("SetState: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Errorf("%d wins and %d conflicts, want 1 and %d", wins, conflicts, n-1)
	}
	evs, _ := svc.History(ctx, "S-1")
	if len(evs) != 2 {
		t.Errorf("%d events, want 2", len(evs))
	}
}

func testSummary(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	empty, err := svc.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Totals.Devices != 0 || len(empty.Models) != 0 || len(empty.Totals.ByState) != len(fleet.DeviceStates) {
		t.Errorf("empty summary %+v", empty)
	}
	all := fixture(400, 4)
	importDevices(t, svc, all)
	sum, err := svc.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cat := accel.Default()
	// Oracle: walk the devices.
	type agg struct {
		devices, held int
		byState       map[fleet.DeviceState]int
	}
	want := map[string]*agg{}
	for _, d := range all {
		a := want[d.Model]
		if a == nil {
			a = &agg{byState: map[fleet.DeviceState]int{}}
			want[d.Model] = a
		}
		a.devices++
		a.byState[d.State]++
		if d.State != fleet.Retired {
			a.held++
		}
	}
	if len(sum.Models) != len(want) {
		t.Fatalf("%d models, want %d", len(sum.Models), len(want))
	}
	if sum.Totals.Devices != len(all) {
		t.Errorf("total %d, want %d", sum.Totals.Devices, len(all))
	}
	totalPF := map[fleet.Precision]float64{}
	for i, m := range sum.Models {
		a := want[m.Model]
		if a == nil {
			t.Fatalf("unexpected model %s", m.Model)
		}
		if i > 0 && sum.Models[i-1].Devices < m.Devices {
			t.Errorf("models not ordered by devices")
		}
		if m.Devices != a.devices || m.Held != a.held {
			t.Errorf("%s: devices %d held %d, want %d %d", m.Model, m.Devices, m.Held, a.devices, a.held)
		}
		for _, s := range fleet.DeviceStates {
			if m.ByState[s] != a.byState[s] {
				t.Errorf("%s %s: %d, want %d", m.Model, s, m.ByState[s], a.byState[s])
			}
		}
		chip, _ := cat.Get(m.Model)
		for _, p := range fleet.Precisions {
			tf, known := chip.Dense(p)
			got, present := m.PFLOPS[p]
			if known != present {
				t.Errorf("%s %s: present %v, catalog knows %v", m.Model, p, present, known)
				continue
			}
			if known {
				if w := float64(a.held) * tf / 1000; math.Abs(got-w) > 1e-9*max(1, w) {
					t.Errorf("%s %s: %v PFLOPS, want %v", m.Model, p, got, w)
				}
				totalPF[p] += got
			}
		}
		if chip.MemoryGB == nil {
			if m.HBMTB != nil {
				t.Errorf("%s: HBM %v for unknown memory", m.Model, *m.HBMTB)
			}
		} else if m.HBMTB == nil || math.Abs(*m.HBMTB-float64(a.held)**chip.MemoryGB/1000) > 1e-9 {
			t.Errorf("%s: HBM %v, want %v", m.Model, m.HBMTB, float64(a.held)**chip.MemoryGB/1000)
		}
		wantClass := "foreign"
		if chip.Domestic() {
			wantClass = "domestic"
		}
		if m.Classification != wantClass {
			t.Errorf("%s: class %q, want %q", m.Model, m.Classification, wantClass)
		}
	}
	for p, v := range totalPF {
		if math.Abs(sum.Totals.PFLOPS[p]-v) > 1e-6 {
			t.Errorf("total %s = %v, want %v", p, sum.Totals.PFLOPS[p], v)
		}
	}
	// A state change moves one device between states.
	d := naiveFilter(all, inventory.Filter{State: fleet.InService})[0]
	if _, err := svc.SetState(ctx, d.Serial, fleet.Retired, "eol", "x"); err != nil {
		t.Fatal(err)
	}
	after, _ := svc.Summary(ctx)
	if after.Totals.ByState[fleet.Retired] != sum.Totals.ByState[fleet.Retired]+1 ||
		after.Totals.ByState[fleet.InService] != sum.Totals.ByState[fleet.InService]-1 ||
		after.Totals.Held != sum.Totals.Held-1 {
		t.Errorf("summary after retiring one: %+v, before %+v", after.Totals, sum.Totals)
	}
}

func testEvents(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	importDevices(t, svc, fixture(20, 5))
	all, err := svc.Events(ctx, inventory.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 20 {
		t.Fatalf("%d events after importing 20", len(all))
	}
	if n, err := st.CountEvents(ctx); err != nil || n != len(all) {
		t.Fatalf("CountEvents = %d, %v; want %d", n, err, len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("events not ordered by seq")
		}
	}
	page, err := svc.Events(ctx, inventory.EventFilter{AfterSeq: all[4].Seq, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all[5:8], page); diff != "" {
		t.Errorf("events after %d limit 3 (-want +got):\n%s", all[4].Seq, diff)
	}
	for _, e := range all {
		if e.Reason != "imported" || e.Actor != "test" || e.From != "" || e.At.IsZero() {
			t.Errorf("import event %+v", e)
		}
	}
}

func testTokens(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	tok, secret, created, err := svc.Bootstrap(ctx, "")
	if err != nil || !created || tok.Role != inventory.RoleAdmin || !strings.HasPrefix(secret, inventory.TokenPrefix) {
		t.Fatalf("Bootstrap on empty store: %+v %q %v %v", tok, secret, created, err)
	}
	if _, _, again, err := svc.Bootstrap(ctx, "another-secret-long-enough"); err != nil || again {
		t.Errorf("second Bootstrap created=%v err=%v", again, err)
	}
	got, err := svc.Authenticate(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Role != inventory.RoleAdmin {
		t.Errorf("Authenticate(bootstrap) = %+v, %v", got, err)
	}
	if _, err := svc.Authenticate(ctx, "another-secret"); !errors.Is(err, fleet.ErrUnauthorized) {
		t.Errorf("unknown secret: %v", err)
	}
	if _, err := svc.Authenticate(ctx, ""); !errors.Is(err, fleet.ErrUnauthorized) {
		t.Errorf("empty secret: %v", err)
	}
	v, vs, err := svc.CreateToken(ctx, inventory.RoleViewer, "dash")
	if err != nil {
		t.Fatal(err)
	}
	if vs == secret {
		t.Error("two tokens share a secret")
	}
	if got, err := svc.Authenticate(ctx, vs); err != nil || got.Role != inventory.RoleViewer || got.Name != "dash" {
		t.Errorf("Authenticate(viewer) = %+v, %v", got, err)
	}
	list, err := svc.Tokens(ctx)
	if err != nil || len(list) != 2 || list[0].ID != tok.ID || list[1].ID != v.ID {
		t.Errorf("Tokens = %+v, %v", list, err)
	}
	for _, l := range list {
		if len(l.Hash) != 32 {
			t.Errorf("token %s hash length %d", l.ID, len(l.Hash))
		}
	}
	if _, _, err := svc.CreateToken(ctx, "root", ""); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("bad role: %v", err)
	}
	if err := svc.DeleteToken(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, vs); !errors.Is(err, fleet.ErrUnauthorized) {
		t.Errorf("deleted token still authenticates: %v", err)
	}
	if err := svc.DeleteToken(ctx, v.ID); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	// Token ids are unique.
	if err := st.CreateToken(ctx, inventory.Token{ID: tok.ID, Role: inventory.RoleViewer, Hash: []byte("x"), CreatedAt: time.Now().UTC()}); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("duplicate token id: %v", err)
	}
}

// testTokenLifeCycle: expiry by the service clock, revocation that keeps
// the token listed, and the last use written at most once per TouchEvery.
func testTokenLifeCycle(t *testing.T, st inventory.Store) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	svc, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	exp, es, err := svc.IssueToken(ctx, inventory.TokenRequest{Role: inventory.RoleViewer, Name: "ci", ExpiresAt: now.Add(time.Hour)})
	if err != nil || !exp.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("IssueToken with expiry = %+v, %v", exp, err)
	}
	if _, _, err := svc.IssueToken(ctx, inventory.TokenRequest{Role: inventory.RoleViewer, ExpiresAt: now}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("expiry not in the future: %v", err)
	}
	if _, _, err := svc.IssueToken(ctx, inventory.TokenRequest{Role: inventory.RoleViewer, Node: "n1"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("viewer with a node: %v", err)
	}
	got, err := svc.Authenticate(ctx, es)
	if err != nil || !got.LastUsedAt.Equal(now) {
		t.Fatalf("first use: %+v, %v", got, err)
	}
	// Within TouchEvery the recorded use does not move, even when asked
	// directly; after it, it does.
	now = now.Add(30 * time.Second)
	if err := st.TouchToken(ctx, exp.ID, now, inventory.TouchEvery); err != nil {
		t.Fatal(err)
	}
	if got, err = svc.Authenticate(ctx, es); err != nil || !got.LastUsedAt.Equal(now.Add(-30*time.Second)) {
		t.Errorf("use 30 s later: last used %v, %v", got.LastUsedAt, err)
	}
	now = now.Add(40 * time.Second)
	if _, err = svc.Authenticate(ctx, es); err != nil {
		t.Fatal(err)
	}
	list, err := svc.Tokens(ctx)
	if err != nil || len(list) != 1 || !list[0].LastUsedAt.Equal(now) || !list[0].ExpiresAt.Equal(exp.ExpiresAt) {
		t.Errorf("after use 70 s later: %+v, %v", list, err)
	}
	// One microsecond before expiry it works; at expiry it is refused.
	now = exp.ExpiresAt.Add(-time.Microsecond)
	if _, err := svc.Authenticate(ctx, es); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	now = exp.ExpiresAt
	if _, err := svc.Authenticate(ctx, es); !errors.Is(err, fleet.ErrUnauthorized) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("at expiry: %v", err)
	}

	v, vs, err := svc.CreateToken(ctx, inventory.RoleOperator, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeToken(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	revokedAt := now
	now = now.Add(time.Hour)
	if err := svc.RevokeToken(ctx, v.ID); err != nil {
		t.Errorf("revoke twice: %v", err)
	}
	if _, err := svc.Authenticate(ctx, vs); !errors.Is(err, fleet.ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked token: %v", err)
	}
	list, _ = svc.Tokens(ctx)
	if len(list) != 2 || !list[1].RevokedAt.Equal(revokedAt) || list[1].State(now) != inventory.TokenRevoked || list[0].State(now) != inventory.TokenExpired {
		t.Errorf("listed after revoke: %+v", list)
	}
	if err := svc.RevokeToken(ctx, "tok_nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if err := svc.DeleteToken(ctx, v.ID); err != nil {
		t.Errorf("delete revoked: %v", err)
	}
}

func testNodes(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	js := `{"nodes": [{"hostname": "n2", "site": "bj1", "interconnect_domain": "nvl-a"}],
	"devices": [
	  {"serial": "J-1", "model": "H800", "state": "in-service", "node": "n2", "site": "bj1", "labels": {"k": "v"}, "cost_usd": 12.5, "acquired": "2025-01-31"},
	  {"serial": "J-2", "model": "910C", "state": "reserve", "node": "n1", "site": "sh2"}
	]}`
	res, err := svc.ImportJSON(ctx, "nodes.json", strings.NewReader(js), "ops")
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices != 2 || res.Nodes != 2 {
		t.Errorf("result %+v", res)
	}
	ns, err := svc.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []inventory.Node{{Hostname: "n1", Site: "sh2"}, {Hostname: "n2", Site: "bj1", InterconnectDomain: "nvl-a"}}
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	// Existing nodes are not overwritten by later imports.
	if _, err := svc.Create(ctx, inventory.Device{Serial: "J-3", Model: "h20", State: fleet.InService, Node: "n2", Site: "other"}, "", "x"); err != nil {
		t.Fatal(err)
	}
	ns, _ = svc.Nodes(ctx)
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("nodes after create (-want +got):\n%s", diff)
	}
	d, _ := svc.Get(ctx, "J-1")
	if d.CostUSD == nil || *d.CostUSD != 12.5 || d.Labels["k"] != "v" || !d.Acquired.Equal(dayOf(2025, 1, 31)) {
		t.Errorf("J-1 = %+v", d)
	}
}

// testStateAt: the events of a time range are those a naive filter keeps;
// the devices in a state at an instant are, for every
// instant around the events' times (including ties, times out of seq
// order and instants before any event) and every state, exactly a naive
// fold of the whole history (each device's highest-seq event before the
// instant), listed whole, counted, and walked in pages.
func testStateAt(t *testing.T, st inventory.Store) {
	r := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ds := fixture(40, 9)
	b := inventory.Batch{Devices: ds}
	for i, d := range ds {
		b.Events = append(b.Events, inventory.Event{Serial: d.Serial, To: d.State, Reason: "imported", Actor: "test", At: base.Add(time.Duration(i%10) * time.Hour)})
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	for range 150 {
		d := ds[r.IntN(len(ds))]
		to := fleet.DeviceStates[r.IntN(len(fleet.DeviceStates))]
		// Mostly later than the creation, sometimes earlier (an event
		// recorded late), sometimes at the same instant as another.
		at := base.Add(time.Duration(r.IntN(96)-6) * time.Hour)
		if _, err := st.UpdateState(ctx, d.Serial, func(cur inventory.Device) (inventory.Event, error) {
			return inventory.Event{From: cur.State, To: to, Reason: "moved", Actor: "test", At: at}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.Events(ctx, inventory.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	naive := func(before time.Time, state fleet.DeviceState) []inventory.Event {
		last := map[string]inventory.Event{}
		for _, e := range all {
			if e.At.Before(before) && e.Seq > last[e.Serial].Seq {
				last[e.Serial] = e
			}
		}
		out := []inventory.Event{}
		for _, e := range last {
			if e.To == state {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b inventory.Event) int { return strings.Compare(a.Serial, b.Serial) })
		return out
	}
	instants := []time.Time{base.Add(-24 * time.Hour), base.Add(200 * time.Hour)}
	for _, e := range all {
		if r.IntN(4) == 0 {
			instants = append(instants, e.At, e.At.Add(time.Microsecond))
		}
	}
	// The events of a time range: At in [Since, Before), with a serial too.
	for i := 0; i+1 < len(instants); i += 2 {
		since, before := instants[i], instants[i+1]
		if before.Before(since) {
			since, before = before, since
		}
		for _, f := range []inventory.EventFilter{{Since: since}, {Before: before}, {Since: since, Before: before}, {Since: since, Serial: ds[i%len(ds)].Serial}} {
			want := []inventory.Event{}
			for _, e := range all {
				if (f.Since.IsZero() || !e.At.Before(f.Since)) && (f.Before.IsZero() || e.At.Before(f.Before)) && (f.Serial == "" || e.Serial == f.Serial) {
					want = append(want, e)
				}
			}
			got, err := st.Events(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Events(%+v) (-naive +store):\n%s", f, diff)
			}
		}
	}
	checked := 0
	for _, before := range instants {
		for _, state := range fleet.DeviceStates {
			want := naive(before, state)
			q := inventory.StateAtFilter{Before: before, State: state}
			got, err := st.StateAt(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("StateAt(%s, %s) (-naive +store):\n%s", before, state, diff)
			}
			n, err := st.CountStateAt(ctx, q)
			if err != nil || n != len(want) {
				t.Fatalf("CountStateAt(%s, %s) = %d, %v; naive %d", before, state, n, err, len(want))
			}
			var walked []inventory.Event
			for q.Limit = 3; ; {
				page, err := st.StateAt(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				walked = append(walked, page...)
				if len(page) < q.Limit {
					break
				}
				q.After = page[len(page)-1].Serial
			}
			if diff := cmp.Diff(want, append([]inventory.Event{}, walked...)); diff != "" {
				t.Fatalf("StateAt(%s, %s) in pages of 3 (-naive +store):\n%s", before, state, diff)
			}
			checked += len(want)
		}
	}
	if checked == 0 {
		t.Fatal("no device in any state at any instant: the test checks nothing")
	}
}

// testFailuresFollowLedger: the ledger service's failure rates, read
// between imports and state changes (from its fold of the events since the
// last read), equal the rates computed from the whole history at the same
// instant.
func testFailuresFollowLedger(t *testing.T, st inventory.Store) {
	svc := NewService(t, st)
	r := rand.New(rand.NewPCG(5, 9))
	targets := []fleet.DeviceState{fleet.InService, fleet.InService, fleet.Failed, fleet.Maintenance, fleet.Reserve}
	for round := range 6 {
		if round%2 == 0 {
			importDevices(t, svc, fixture(10, uint64(100+round)))
		}
		devs, err := st.Devices(ctx, inventory.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for range 15 {
			d := devs[r.IntN(len(devs))]
			_, _ = svc.SetState(ctx, d.Serial, targets[r.IntN(len(targets))], "churn", "test") // a refused transition is fine
		}
		got, err := svc.Failures(ctx, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := st.Events(ctx, inventory.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if devs, err = st.Devices(ctx, inventory.Filter{}); err != nil {
			t.Fatal(err)
		}
		want := inventory.ComputeFailures(devs, evs, got.Until, 0.9, inventory.DefaultAgeBands)
		if !cmp.Equal(got.Models, want.Models, cmpopts.EquateApprox(1e-9, 0)) {
			t.Fatalf("round %d: rates from the service differ from the whole history's:\n%s", round, cmp.Diff(want.Models, got.Models))
		}
		failures := 0
		for _, m := range want.Models {
			if m.Band == "all" {
				failures += m.Failures
			}
		}
		t.Logf("round %d: %d devices, %d events, %d failures", round, len(devs), len(evs), failures)
	}
}
