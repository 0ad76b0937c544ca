package forecast

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/accel"
)

// benchPlan is a 20-model fleet with a delivery of every model, 120 months.
func benchPlan(tb testing.TB) Plan {
	tb.Helper()
	models := []string{"A100", "A800", "H100", "H800", "H20", "H200", "B200", "L20", "L40S", "MI250X",
		"MI300X", "910B", "910B3", "910B4", "910C", "P800", "R200", "K100-AI", "S4000", "BR100"}
	var b strings.Builder
	b.WriteString("start: 2027-01\nhorizon_months: 120\npaths: 10000\nseed: 7\nfleet:\n")
	for i, m := range models {
		fmt.Fprintf(&b, "  - {model: %q, in_service: %d, reserve: %d, acquired: 2024-%02d}\n", m, 500+100*i, 50+10*i, i%12+1)
	}
	b.WriteString("afr: {default: 0.08}\ndeliveries:\n")
	for i, m := range models {
		fmt.Fprintf(&b, "  - {model: %q, units_per_quarter: %d, from: 2027-%02d, cv: 0.3}\n", m, 20+5*i, i%3+1)
	}
	b.WriteString("demand:\n  inference: {pflops: 1500, growth_per_year: 1.6}\n")
	b.WriteString("  generations: {first: g1, start: 2027-06, flop: 2e25, growth: 2.0, cadence_months: 12, months: 4, count: 8}\n")
	b.WriteString("efficiency_gain_per_year: 1.2\n")
	p, err := ParsePlan("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkRunway is the figure: 10,000 paths × 120 months, a
// 20-model fleet with deliveries (one simulation, no lever reruns).
func BenchmarkRunway(b *testing.B) {
	p := benchPlan(b)
	cat := accel.Default()
	c0 := cpuTime()
	for b.Loop() {
		if _, err := Run(context.Background(), p, cat, Options{NoLevers: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user+system CPU time. On a shared machine the
// wall time per op depends on other load; CPU seconds per op do much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRunwayWithLevers adds the three lever reruns (4 simulations).
func BenchmarkRunwayWithLevers(b *testing.B) {
	p := benchPlan(b)
	cat := accel.Default()
	c0 := cpuTime()
	for b.Loop() {
		if _, err := Run(context.Background(), p, cat, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}
