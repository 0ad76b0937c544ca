package api_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
)

// fleetCSV is a CSV of n devices over the demo's models, three sites and
// four pools, with every optional column filled.
func fleetCSV(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("serial,model,state,node,site,pool,acquired,cost_usd,warranty_until,labels\n")
	models := []string{"A800", "H800", "H20", "L20", "910B3", "910C", "P800", "MLU590", "K100-AI"}
	states := []string{"in-service", "in-service", "in-service", "in-service", "reserve", "reserve", "maintenance", "failed", "in-service", "retired"}
	for i := range n {
		site := i % 3
		fmt.Fprintf(&b, "%s%07d,%s,%s,s%d-n%05d,site-%d,pool-%d,2024-%02d-%02d,%d,2027-01-01,rack=r%d;po=PO-%d\n",
			prefix, i, models[i%len(models)], states[i%len(states)], site, i/8, site, i%4, 1+i%12, 1+i%28, 10000+i%5000, i%40, i%17)
	}
	return b.Bytes()
}

// benchSize is the fleet size of the benchmarks: 100,000 unless
// GRANARY_BENCH_DEVICES says otherwise.
func benchSize(b *testing.B) int {
	if s := os.Getenv("GRANARY_BENCH_DEVICES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 100_000
}

// BenchmarkImportCSV imports a 100,000-device CSV over HTTP into an empty
// store (the figure: ≤ 10 s on SQLite and on PostgreSQL).
func BenchmarkImportCSV(b *testing.B) {
	n := benchSize(b)
	forEachStoreB(b, func(b *testing.B, o apitest.Options) {
		srv := apitest.Start(b, o)
		c := srv.Client(b, apitest.AdminSecret)
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			data := fleetCSV(fmt.Sprintf("B%d-", i), n)
			b.SetBytes(int64(len(data)))
			res, err := c.Import(ctx, client.CSV, "bench.csv", bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if res.Devices != n {
				b.Fatalf("imported %d", res.Devices)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/import")
	})
}

// BenchmarkSummary is GET /api/v1/fleet/summary over 100,000 devices
// (figure: ≤ 50 ms median).
func BenchmarkSummary(b *testing.B) {
	forEachStoreB(b, func(b *testing.B, o apitest.Options) {
		c := seeded(b, o)
		ctx := context.Background()
		var m medianTimer
		b.ResetTimer()
		for range b.N {
			m.start()
			if _, err := c.Summary(ctx); err != nil {
				b.Fatal(err)
			}
			m.stop()
		}
		m.report(b)
	})
}

// BenchmarkListPage500 is a filtered page of 500 devices over 100,000
// (figure: ≤ 20 ms median), walking the pages of one model at one site.
func BenchmarkListPage500(b *testing.B) {
	forEachStoreB(b, func(b *testing.B, o apitest.Options) {
		c := seeded(b, o)
		ctx := context.Background()
		opts := client.ListOptions{Model: "H20", Site: "site-2", Limit: 500} // 1 in 9 devices
		var m medianTimer
		defer m.report(b)
		b.ResetTimer()
		for range b.N {
			m.start()
			p, err := c.ListDevices(ctx, opts)
			m.stop()
			if err != nil {
				b.Fatal(err)
			}
			if len(p.Devices) == 0 {
				b.Fatal("empty page")
			}
			opts.Cursor = p.Next // "" after the last page starts over
		}
	})
}

// medianTimer records each operation's duration and reports the median,
// which is what the figures are stated in.
type medianTimer struct {
	t0 time.Time
	d  []time.Duration
}

func (m *medianTimer) start() { m.t0 = time.Now() }
func (m *medianTimer) stop()  { m.d = append(m.d, time.Since(m.t0)) }
func (m *medianTimer) report(b *testing.B) {
	if len(m.d) == 0 {
		return
	}
	slices.Sort(m.d)
	b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(m.d[len(m.d)*99/100].Microseconds())/1000, "ms-p99")
}

func seeded(b *testing.B, o apitest.Options) *client.Client {
	b.Helper()
	srv := apitest.Start(b, o)
	c := srv.Client(b, apitest.AdminSecret)
	if _, err := c.Import(context.Background(), client.CSV, "seed.csv", bytes.NewReader(fleetCSV("S", benchSize(b)))); err != nil {
		b.Fatal(err)
	}
	return c
}

func forEachStoreB(b *testing.B, f func(b *testing.B, o apitest.Options)) {
	b.Run("sqlite", func(b *testing.B) { f(b, apitest.Options{}) })
	b.Run("postgres", func(b *testing.B) {
		o, _ := apitest.Postgres(b)
		f(b, o)
	})
}
