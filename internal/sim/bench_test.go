package sim

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/trace"
)

// BenchmarkRun simulates Gavel's 60-job anchor trace on 4:4:4 and a
// generated 2,000-job trace on 36:36:36 under las-hetero.
func BenchmarkRun(b *testing.B) {
	tt := gavelThroughputs(b)
	small := gavelTrace(b, "traces/generated/small_60jobs_lam1800_seed0.trace")
	gen, err := trace.Generate(rand.New(rand.NewPCG(1, 1)), tt, trace.GenerateOptions{Jobs: 2000, RatePerHour: 3, Reference: v100, MultiGPU: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		jobs  []Job
		fleet map[string]int
	}{
		{"gavel-60jobs-4:4:4", small, map[string]int{v100: 4, p100: 4, k80: 4}},
		{"generated-2000jobs-36:36:36", fromTrace(gen), map[string]int{v100: 36, p100: 36, k80: 36}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
				if _, err := Run(p, tt.Table, c.jobs, Config{Fleet: c.fleet}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRunTeamsNodes is the CLI's scale run (docs/simulator.md, "With
// teams and nodes") cut to its first 5,000 jobs: Gavel's generator with
// multi-GPU jobs at 370 jobs/h on 10,000 devices as 1,250 nodes of 8 (two
// sites, 32 nodes per switch) and four teams (llm weight 2 with 1,024 V100
// guaranteed, search 512 P100, vision 512 K80, research none; jobs dealt to
// teams by id), las-hetero. GRANARY_BENCH_JOBS sets another prefix length
// (the profiles of docs/simulator.md "Scale" use 20,000). With -v it logs a
// hash of the per-job results (Result.Jobs), to show that a speed-up moved
// no placement.
func BenchmarkRunTeamsNodes(b *testing.B) {
	tt := gavelThroughputs(b)
	njobs := 5000
	if v := os.Getenv("GRANARY_BENCH_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("GRANARY_BENCH_JOBS=%q: want a job count ≥ 1", v)
		}
		njobs = n
	}
	gen, err := trace.Generate(rand.New(rand.NewPCG(9, 9)), tt, trace.GenerateOptions{Jobs: njobs, RatePerHour: 4.0 * 10000 / 108, Reference: v100, MultiGPU: true})
	if err != nil {
		b.Fatal(err)
	}
	teams := []sched.Team{
		{Name: "llm", Weight: 2, Guarantees: map[string]int{v100: 1024}},
		{Name: "search", Weight: 1, Guarantees: map[string]int{p100: 512}},
		{Name: "vision", Weight: 1, Guarantees: map[string]int{k80: 512}},
		{Name: "research", Weight: 1},
	}
	jobs := fromTrace(gen)
	for i := range jobs {
		jobs[i].Team = teams[jobs[i].ID%len(teams)].Name
	}
	cfg := Config{Fleet: map[string]int{}, Teams: teams}
	for m, n := range map[string]int{v100: 417, p100: 416, k80: 417} {
		for i := 0; i < n; i++ {
			site := []string{"bj", "sh"}[i%2]
			cfg.Nodes = append(cfg.Nodes, sched.Node{ID: fmt.Sprintf("%s-n%03d", m, i), Model: m, Devices: 8, Site: site, Switch: fmt.Sprintf("%s-sw%d", site, i/64)})
			cfg.Fleet[m] += 8
		}
	}
	sort.Slice(cfg.Nodes, func(i, j int) bool { return cfg.Nodes[i].ID < cfg.Nodes[j].ID })
	b.ReportAllocs()
	cpu0 := cpuSeconds(b)
	n := 0
	for b.Loop() {
		p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
		res, err := Run(p, tt.Table, jobs, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Logf("%d jobs: hash of Result.Jobs %s, avg JCT %.4f h", njobs, jobsHash(res.Jobs), res.Summary.AvgJCT/3600)
		}
		n++
		b.ReportMetric(float64(res.Allocations), "allocations")
		b.ReportMetric(res.Summary.AvgJCT/3600, "avgJCT_h")
	}
	// The machine is shared: CPU time per run (the process's, GC
	// included) is the figure that does not depend on the load; ns/op is
	// wall time.
	b.ReportMetric((cpuSeconds(b)-cpu0)/float64(n), "cpu_s/op")
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// jobsHash is a SHA-256 of the per-job results, every field exact.
func jobsHash(jobs []JobResult) string {
	h := sha256.New()
	for _, j := range jobs {
		fmt.Fprintf(h, "%d %q %v %v %v %v %d %v\n", j.ID, j.Name, j.Arrival, j.Start, j.Completion, j.JCT, j.Restarts, j.FTF)
	}
	return fmt.Sprintf("%x", h.Sum(nil))[:16]
}
