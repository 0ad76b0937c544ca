package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// FleetCSV writes a deterministic device CSV of n rows with every column
// filled: eight models, three sites, eight devices per node, weighted states.
func FleetCSV(n int) []byte {
	r := rand.New(rand.NewPCG(42, 42))
	models := []string{"H800", "A800", "H20", "L20", "Ascend 910B3", "Ascend 910C", "P800", "hygon-k100-ai"}
	sites := []string{"bj1", "sh2", "gz3"}
	pools := []string{"train", "infer", "research"}
	states := []struct {
		s fleet.DeviceState
		w int
	}{{fleet.InService, 70}, {fleet.Reserve, 15}, {fleet.Maintenance, 5}, {fleet.Failed, 5}, {fleet.Retired, 5}}
	var b bytes.Buffer
	b.Grow(n * 120)
	b.WriteString("serial,model,state,node,site,pool,acquired,cost_usd,warranty_until,labels\n")
	for i := range n {
		node := i / 8
		site := sites[node%len(sites)]
		w := r.IntN(100)
		st := states[0].s
		for _, s := range states {
			if w < s.w {
				st = s.s
				break
			}
			w -= s.w
		}
		acq := time.Date(2023+r.IntN(3), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		fmt.Fprintf(&b, "SN%07d,%s,%s,%s-n%05d,%s,%s,%s,%d,%s,rack=r%d;po=PO-%d\n",
			i, models[(node/4)%len(models)], st, site, node, site, pools[(node/2)%len(pools)],
			acq.Format("2006-01-02"), 8000+r.IntN(30000), acq.AddDate(3, 0, 0).Format("2006-01-02"), node%40, i/1000)
	}
	return b.Bytes()
}

// BenchSize is the fleet size of the benchmarks (the figure).
const BenchSize = 100_000

// Bench runs the ledger benchmarks against stores from open:
//
//   - ImportCSV: parse and import BenchSize devices (with nodes and events)
//     into an empty store, in one transaction;
//   - Summary: the fleet summary over BenchSize devices;
//   - Page500: one filtered page of 500 devices (cycling filters and cursors).
//
// Summary and Page500 also report the median latency as median-ms.
func Bench(b *testing.B, open func(b *testing.B) inventory.Store) {
	csv := FleetCSV(BenchSize)
	b.Run("ImportCSV", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			svc := NewService(b, open(b))
			b.StartTimer()
			c0 := processCPU()
			res, err := svc.ImportCSV(ctx, "bench.csv", bytes.NewReader(csv), "bench")
			cpu += processCPU() - c0
			if err != nil {
				b.Fatal(err)
			}
			if res.Devices != BenchSize {
				b.Fatalf("imported %d", res.Devices)
			}
		}
		// Wall time on a shared machine mostly measures the neighbours;
		// this process's CPU time (user+sys, all threads) does not. A
		// database server's own CPU is not included.
		b.ReportMetric(cpu.Seconds()/float64(b.N), "client-cpu-s/op")
	})
	var svc *inventory.Service
	parent := b
	loaded := func(b *testing.B) *inventory.Service {
		if svc == nil {
			svc = NewService(b, open(parent)) // closed when the whole benchmark ends
			if _, err := svc.ImportCSV(ctx, "bench.csv", bytes.NewReader(csv), "bench"); err != nil {
				b.Fatal(err)
			}
		}
		return svc
	}
	b.Run("Summary", func(b *testing.B) {
		s := loaded(b)
		var lat []time.Duration
		for b.Loop() {
			t0 := time.Now()
			sum, err := s.Summary(ctx)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if sum.Totals.Devices != BenchSize {
				b.Fatalf("summary counts %d devices", sum.Totals.Devices)
			}
		}
		reportMedian(b, lat)
	})
	b.Run("Page500", func(b *testing.B) {
		s := loaded(b)
		filters := []inventory.Filter{
			{State: fleet.InService},
			{Model: "h800-sxm5-80gb"},
			{Model: "ascend-910c", State: fleet.Reserve},
			{Site: "sh2", Pool: "train"},
			{Pool: "infer", State: fleet.InService},
		}
		cursors := make([][]string, len(filters))
		for i, f := range filters { // a few cursors deep into each filter
			f.Limit = 500
			cursors[i] = []string{""}
			for range 4 {
				f.After = cursors[i][len(cursors[i])-1]
				p, err := s.List(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				if p.Next == "" {
					break
				}
				cursors[i] = append(cursors[i], p.Next)
			}
		}
		var lat []time.Duration
		i := 0
		for b.Loop() {
			fi := i % len(filters)
			f := filters[fi]
			f.Limit = 500
			f.After = cursors[fi][(i/len(filters))%len(cursors[fi])]
			i++
			t0 := time.Now()
			p, err := s.List(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if len(p.Devices) == 0 {
				b.Fatalf("empty page for %+v", f)
			}
		}
		reportMedian(b, lat)
	})
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportMedian(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
}
