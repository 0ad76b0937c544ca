package demo

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func generate(t *testing.T, seed uint64, scale float64) inventory.Batch {
	t.Helper()
	b, err := Generate(Config{Rand: rand.New(rand.NewPCG(seed, 1)), Now: now, Scale: scale})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDemoFleetIsBelievable(t *testing.T) {
	b := generate(t, 1, 1)
	if n := len(b.Devices); n < 19000 || n > 21000 {
		t.Errorf("%d devices, want about 20,000", n)
	}
	cat := accel.Default()
	byModel := map[string]int{}
	byState := map[fleet.DeviceState]int{}
	sites := map[string]bool{}
	pools := map[string]bool{}
	serials := map[string]bool{}
	for _, d := range b.Devices {
		if _, ok := cat.Get(d.Model); !ok {
			t.Fatalf("model %q is not in the catalog", d.Model)
		}
		if serials[d.Serial] {
			t.Fatalf("duplicate serial %s", d.Serial)
		}
		serials[d.Serial] = true
		byModel[d.Model]++
		byState[d.State]++
		sites[d.Site] = true
		pools[d.Pool] = true
		if d.Acquired.After(now) || d.WarrantyUntil.Before(d.Acquired) {
			t.Fatalf("%s: acquired %v warranty %v", d.Serial, d.Acquired, d.WarrantyUntil)
		}
	}
	for _, name := range []string{"A800", "H800", "H20", "L20", "910B3", "910C", "P800", "MLU590", "K100-AI"} {
		c, err := cat.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		if byModel[c.ID] == 0 {
			t.Errorf("no %s devices", name)
		}
	}
	if len(sites) != 3 {
		t.Errorf("sites %v, want 3", sites)
	}
	for _, p := range []string{"cambricon", "hygon"} {
		if !pools[p] {
			t.Errorf("no %s pool", p)
		}
	}
	for _, st := range fleet.DeviceStates {
		if byState[st] == 0 {
			t.Errorf("no device %s", st)
		}
	}
	// Most of the fleet serves; a real share sits in reserve; failures are few.
	n := float64(len(b.Devices))
	if f := float64(byState[fleet.InService]) / n; f < 0.7 || f > 0.9 {
		t.Errorf("in-service share %.2f", f)
	}
	if f := float64(byState[fleet.Reserve]) / n; f < 0.05 || f > 0.2 {
		t.Errorf("reserve share %.2f", f)
	}
	if f := float64(byState[fleet.Failed]) / n; f < 0.005 || f > 0.05 {
		t.Errorf("failed share %.3f", f)
	}
	t.Logf("devices %d, by state %v, events %d, nodes %d", len(b.Devices), byState, len(b.Events), len(b.Nodes))
}

// TestHistoriesReplayToState replays each device's events through the
// ledger's transition rules: the first creates it, each next one is allowed
// from the previous state, and the last ends in the device's state.
func TestHistoriesReplayToState(t *testing.T) {
	b := generate(t, 7, 0.1)
	if !slices.IsSortedFunc(b.Events, func(x, y inventory.Event) int { return x.At.Compare(y.At) }) {
		t.Error("events are not in time order")
	}
	state := map[string]fleet.DeviceState{}
	last := map[string]time.Time{}
	for _, e := range b.Events {
		prev, seen := state[e.Serial]
		switch {
		case !seen && e.From != "":
			t.Fatalf("%s: first event from %q", e.Serial, e.From)
		case seen && e.From != prev:
			t.Fatalf("%s: event from %s but device is %s", e.Serial, e.From, prev)
		case seen:
			if err := inventory.CheckTransition(e.Serial, e.From, e.To); err != nil {
				t.Fatal(err)
			}
		}
		if e.At.After(now) || e.Reason == "" || e.Actor != Actor {
			t.Fatalf("bad event %+v", e)
		}
		state[e.Serial] = e.To
		last[e.Serial] = e.At
	}
	nodes := map[string]bool{}
	for _, n := range b.Nodes {
		if nodes[n.Hostname] || n.InterconnectDomain == "" {
			t.Fatalf("node %+v duplicate or without domain", n)
		}
		if n.CPUMilli < 64_000 || n.MemoryMiB < 1<<20 {
			t.Errorf("node %+v: want at least 64 cores and 1 TiB recorded (demo.Hosts)", n)
		}
		nodes[n.Hostname] = true
	}
	for _, d := range b.Devices {
		if state[d.Serial] != d.State || !last[d.Serial].Equal(d.UpdatedAt) {
			t.Errorf("%s: state %s updated %v, history ends %s at %v", d.Serial, d.State, d.UpdatedAt, state[d.Serial], last[d.Serial])
		}
		if d.Node != "" && !nodes[d.Node] {
			t.Errorf("%s: node %s not in the batch", d.Serial, d.Node)
		}
	}
}

func TestSameSeedSameFleet(t *testing.T) {
	a, b := generate(t, 42, 0.05), generate(t, 42, 0.05)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different fleets:\n%.2000s", diff)
	}
	c := generate(t, 43, 0.05)
	if cmp.Equal(a.Events, c.Events) {
		t.Error("different seeds gave the same events")
	}
}

func TestGenerateNeedsRand(t *testing.T) {
	if _, err := Generate(Config{Now: now}); err == nil {
		t.Error("no error without Rand")
	}
}
