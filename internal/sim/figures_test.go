package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/trace"
)

// figures gates the heavy figure runs: GRANARY_FIGURES=1 go test -run Figure ./internal/sim
func figures(t *testing.T) {
	t.Helper()
	if os.Getenv("GRANARY_FIGURES") != "1" {
		t.Skip("heavy figure run: set GRANARY_FIGURES=1")
	}
}

// paperRun simulates the paper's continuous-load setup (Gavel Fig. 8):
// single-GPU jobs from the generator at rate jobs/h on 36 V100 + 36 P100 +
// 36 K80, measuring jobs 4000-4999, and returns their average JCT in hours.
func paperRun(t *testing.T, tt *trace.ThroughputTable, policy string, rate float64, seed uint64, compat bool, n int) (float64, time.Duration) {
	t.Helper()

	gen, err := trace.Generate(rand.New(rand.NewPCG(seed, 0x6a6f6273)), tt, trace.GenerateOptions{Jobs: n, RatePerHour: rate, Reference: v100})
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]Job, len(gen))
	for i, j := range gen {
		jobs[i] = Job{ID: j.ID, Arrival: j.Arrival, Class: j.Class, Gang: j.Gang, Steps: j.Steps, Weight: j.Weight}
	}
	p, err := sched.PolicyByName(policy, sched.Options{Rand: rand.New(rand.NewPCG(seed, 1))})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := Run(p, tt.Table, jobs, Config{
		Fleet:       map[string]int{v100: 36, p100: 36, k80: 36},
		Window:      &Window{First: 4000, Last: 4999},
		Rand:        rand.New(rand.NewPCG(seed, 2)),
		ModelOrder:  []string{v100, p100, k80},
		GavelCompat: compat,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.End >= jobs[n-1].Arrival {
		t.Fatalf("%s at %.1f jobs/h: arrivals ran out (%.0f h) before the window finished (%.0f h): generate more jobs", policy, rate, jobs[n-1].Arrival/3600, res.End/3600)
	}
	return res.Summary.AvgJCT / 3600, time.Since(start)
}

// TestFigurePaperCurve: las-hetero vs las at 2.8 and 5.2 jobs/h, mean of 3
// seeds; the issue asks for ≥ 1.4× and ≥ 2.5× (the paper: 1.47× and 2.9×,
// results/paper_fig8_fig9_avg_jct_seed0.csv).
func TestFigurePaperCurve(t *testing.T) {
	figures(t)
	tt := gavelThroughputs(t)
	seeds := []uint64{1, 2, 3}
	paper := map[float64][2]float64{2.8: {23.59, 16.04}, 5.2: {63.78, 22.02}} // las, las-hetero (h), seed 0
	want := map[float64]float64{2.8: 1.4, 5.2: 2.5}
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %-11s %s %9s %9s %8s\n", "rate", "policy", strings.Repeat(" seed avg JCT (h)", 0), "mean (h)", "paper(h)", "wall")
	for _, rate := range []float64{2.8, 5.2} {
		means := map[string]float64{}
		for k, pol := range []string{sched.LAS, sched.LASHetero} {
			sum := 0.0
			var wall time.Duration
			var per []string
			for _, s := range seeds {
				v, d := paperRun(t, tt, pol, rate, s, true, 16000)
				sum += v
				wall += d
				per = append(per, fmt.Sprintf("%.2f", v))
			}
			means[pol] = sum / float64(len(seeds))
			fmt.Fprintf(&b, "%-6.1f %-11s seeds %v: %v  mean %6.2f h  paper(seed 0) %6.2f h  wall %v\n", rate, pol, seeds, per, means[pol], paper[rate][k], wall.Round(time.Second))
		}
		ratio := means[sched.LAS] / means[sched.LASHetero]
		fmt.Fprintf(&b, "%-6.1f las / las-hetero = %.2f× (want ≥ %.1f×; paper %.2f×)\n", rate, ratio, want[rate], paper[rate][0]/paper[rate][1])
		if !(ratio >= want[rate]) {
			t.Errorf("at %.1f jobs/h las-hetero is %.2f× better than las, want ≥ %.1f×", rate, ratio, want[rate])
		}
	}
	t.Logf("paper curve (36 V100 + 36 P100 + 36 K80, jobs 4000-4999, generator style simulator):\n%s", b.String())
}

// TestFigureScale: 100,000 jobs on 10,000 accelerators under las-hetero in
// ≤ 60 s and ≤ 2 GiB peak memory (the simulator-scale figure).
func TestFigureScale(t *testing.T) {
	figures(t)
	tt := gavelThroughputs(t)
	const n = 100000
	rate := 4.0 * 10000 / 108 // the paper's 4 jobs/h on 108 GPUs, scaled to 10,000
	gen, err := trace.Generate(rand.New(rand.NewPCG(9, 9)), tt, trace.GenerateOptions{Jobs: n, RatePerHour: rate, Reference: v100, MultiGPU: true})
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]Job, len(gen))
	for i, j := range gen {
		jobs[i] = Job{ID: j.ID, Arrival: j.Arrival, Class: j.Class, Gang: j.Gang, Steps: j.Steps, Weight: j.Weight}
	}
	gen = nil
	runtime.GC()
	p, _ := sched.PolicyByName(sched.LASHetero, sched.Options{})
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start, cpu0 := time.Now(), cpu()
	res, err := Run(p, tt.Table, jobs, Config{Fleet: map[string]int{v100: 3334, p100: 3333, k80: 3333}})
	if err != nil {
		t.Fatal(err)
	}
	wall, used := time.Since(start), cpu()-cpu0
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	peak := float64(ru.Maxrss) / (1 << 20) // KiB → GiB
	t.Logf("scale: %d jobs (%d finished) on 10,000 devices, las-hetero: %d rounds, %d allocations, simulated %.0f h, avg JCT %.2f h, utilization %.3f; wall %v, CPU %v, peak RSS %.2f GiB",
		n, len(res.Jobs), res.Rounds, res.Allocations, res.End/3600, res.Summary.AvgJCT/3600, res.Summary.Utilization, wall.Round(time.Millisecond), used.Round(time.Millisecond), peak)
	// The simulator is single-threaded: on a shared machine the CPU time it
	// used is the fair measure of "≤ 60 s" (the wall time is also printed).
	if used > 60*time.Second {
		t.Errorf("CPU time %v > 60 s", used)
	}
	if peak > 2 || math.IsNaN(peak) {
		t.Errorf("peak RSS %.2f GiB > 2 GiB", peak)
	}
}
