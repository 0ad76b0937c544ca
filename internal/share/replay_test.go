package share

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestReplayByHand: one node with one device; three half-device requests
// arrive at 0, 0 and 1 and run 10 s each. The first two share the device
// at 0; the third waits until 10 and leaves at 20. Utilisation over 0..20
// is (100 % for 10 s + 50 % for 10 s) / 20 s = 75 %.
func TestReplayByHand(t *testing.T) {
	c, err := NewCluster([]Node{{Name: "n", CPU: 8000, Mem: 1024, Model: "T4", Devices: 1}})
	if err != nil {
		t.Fatal(err)
	}
	half := Request{CPU: 1000, Mem: 10, Devices: 1, Milli: 500}
	p, err := New(BestFit, Options{Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	got := Replay(c, p, []Timed{{half, 0, 10}, {half, 0, 10}, {half, 1, 10}})
	if got.Placed != 3 || got.Never != 0 || got.MaxWait != 9 || math.Abs(got.MeanWait-3) > 1e-9 || math.Abs(got.UtilPct-75) > 1e-9 {
		t.Fatalf("got %+v; want 3 placed, max wait 9 s, mean wait 3 s, 75 %% utilisation", got)
	}
	if c.UsedMilli() != 0 {
		t.Fatalf("%d milli still allocated after every request left", c.UsedMilli())
	}
}

// TestReplayNeverFits: a request larger than any node never runs and does
// not block the one behind it.
func TestReplayNeverFits(t *testing.T) {
	c, _ := NewCluster([]Node{{Name: "n", CPU: 8000, Mem: 1024, Model: "T4", Devices: 1}})
	p, _ := New(FGD, Options{Rand: rand.New(rand.NewPCG(1, 2)), Target: []Shape{{Req: Request{CPU: 1000, Devices: 1, Milli: 1000}, Freq: 1}}})
	got := Replay(c, p, []Timed{{Request{CPU: 1000, Devices: 2, Milli: 1000}, 0, 5}, {Request{CPU: 1000, Devices: 1, Milli: 1000}, 0, 5}})
	if got.Placed != 1 || got.Never != 1 || got.MaxWait != 0 || math.Abs(got.UtilPct-100) > 1e-9 {
		t.Fatalf("got %+v; want 1 placed at once, 1 never, 100 %% utilisation", got)
	}
}

// TestReplayUtilMatchesNaive: on a cluster large enough that nothing
// waits, utilisation is the naive Σ milli·duration ÷ (capacity · span).
func TestReplayUtilMatchesNaive(t *testing.T) {
	nodes := make([]Node, 50)
	for i := range nodes {
		nodes[i] = Node{Name: "n", CPU: 1 << 40, Mem: 1 << 40, Model: "T4", Devices: 8}
	}
	c, _ := NewCluster(nodes)
	rng := rand.New(rand.NewPCG(7, 7))
	var reqs []Timed
	var area, end float64
	for range 100 {
		r := Timed{Req: Request{CPU: 1000, Devices: 1, Milli: int64(1 + rng.IntN(1000))}, Arrive: float64(rng.IntN(1000)), Duration: float64(1 + rng.IntN(500))}
		reqs = append(reqs, r)
		area += float64(r.Req.Milli) * r.Duration
		end = max(end, r.Arrive+r.Duration)
	}
	start := reqs[0].Arrive
	for _, r := range reqs {
		start = min(start, r.Arrive)
	}
	p, _ := New(Random, Options{Rand: rng})
	got := Replay(c, p, reqs)
	want := 100 * area / (float64(c.CapacityMilli()) * (end - start))
	if got.Placed != 100 || got.MaxWait != 0 || math.Abs(got.UtilPct-want) > 1e-9 {
		t.Fatalf("got %+v; want all placed at once and %.6f %% utilisation", got, want)
	}
}
