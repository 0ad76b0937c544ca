package sim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/trace"

	"github.com/granaryhq/granary/internal/sharedtest"
)

// TestFigureUnseenTraces runs Gavel's Philly-derived MSR traces — no Gavel
// reference result exists for them, so nothing here could have been tuned to
// them — and checks that the heterogeneity-aware policies beat their agnostic
// counterparts on each. Jobs whose gang has no throughput entry (Philly gangs
// 12-64) are left out and counted.
func TestFigureUnseenTraces(t *testing.T) {
	figures(t)
	tt := gavelThroughputs(t)
	dir := filepath.Join(sharedtest.Dir(t), "traces", "microsoft-philly-2017", "gavel_msr_seed0")
	// Four of the 15 virtual clusters (each spans 1,800-2,300 h of arrivals;
	// all 15 take too long for a shared machine).
	var files []string
	for _, vc := range []string{"2869ce", "e13805", "ed69ec", "103959"} {
		f := filepath.Join(dir, vc+".trace")
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		sharedtest.Missing(t, "no MSR traces in %s", dir)
	}
	fl := map[string]int{v100: 16, p100: 16, k80: 16}
	pols := []string{sched.LAS, sched.LASHetero}
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %5s %5s", "trace", "jobs", "left")
	for _, p := range pols {
		fmt.Fprintf(&b, " %12s", p)
	}
	fmt.Fprintf(&b, "  (avg JCT, h; 16 V100 + 16 P100 + 16 K80)\n")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tj, err := trace.ReadGavel(bytes.NewReader(data), f)
		if err != nil {
			t.Fatal(err)
		}
		var jobs []Job
		for _, j := range fromTrace(tj) {
			if _, ok := tt.Table.Lookup(j.Class, j.Gang, v100); ok {
				jobs = append(jobs, j)
			}
		}
		fmt.Fprintf(&b, "%-12s %5d %5d", strings.TrimSuffix(filepath.Base(f), ".trace"), len(jobs), len(tj)-len(jobs))
		avg := map[string]float64{}
		start := time.Now()
		for _, name := range pols {
			p, _ := sched.PolicyByName(name, sched.Options{})
			res, err := Run(p, tt.Table, jobs, Config{Fleet: fl, Rand: rand.New(rand.NewPCG(0, 5))})
			if err != nil {
				t.Fatalf("%s %s: %v", f, name, err)
			}
			avg[name] = res.Summary.AvgJCT / 3600
			fmt.Fprintf(&b, " %12.2f", avg[name])
		}
		fmt.Fprintf(&b, "  %v\n", time.Since(start).Round(time.Second))
		t.Logf("%s: %v", filepath.Base(f), avg)
		for _, pair := range [][2]string{{sched.LASHetero, sched.LAS}} {
			if avg[pair[0]] > avg[pair[1]]*1.01 {
				t.Errorf("%s: %s avg JCT %.2f h > %s %.2f h", filepath.Base(f), pair[0], avg[pair[0]], pair[1], avg[pair[1]])
			}
		}
	}
	t.Logf("unseen traces (Gavel MSR, Philly arrivals and gangs):\n%s", b.String())
}
