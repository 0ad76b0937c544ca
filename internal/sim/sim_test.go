package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

func table(t testing.TB, entries ...sched.ThroughputEntry) *sched.Throughputs {
	t.Helper()
	tp, err := sched.NewThroughputs(entries)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func policy(t testing.TB, name string) sched.Policy {
	t.Helper()
	p, err := sched.PolicyByName(name, sched.Options{Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A job alone on one device runs ⌊T·360⌋ steps a round, each round lasting
// steps/T seconds, so its JCT is exactly steps/T: the oracle.
func TestAloneJCTIsWorkOverThroughput(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "a", Gang: 2, Model: v100, StepsPerSecond: 3.7})
	jobs := []Job{{ID: 0, Arrival: 100, Class: "a", Gang: 2, Steps: 100000}}
	for _, name := range []string{sched.FIFOHetero, sched.LASHetero, sched.FTFHetero, sched.MakespanHetero} {
		res, err := Run(policy(t, name), tp, jobs, Config{Fleet: map[string]int{v100: 2}})
		if err != nil {
			t.Fatal(err)
		}
		want := 100000 / 3.7
		if got := res.Jobs[0].JCT; math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: JCT %v, want %v", name, got, want)
		}
		if res.Jobs[0].Start != 100 || res.Summary.Makespan != 100+want {
			t.Errorf("%s: start %v makespan %v", name, res.Jobs[0].Start, res.Summary.Makespan)
		}
		// Busy the whole time from 100 s: utilization = want / (100 + want).
		if u := res.Summary.Utilization; math.Abs(u-want/(100+want)) > 1e-9 {
			t.Errorf("%s: utilization %v", name, u)
		}
	}
}

// Two equal jobs, one device, las: they take turns round by round, so the
// first finishes after about twice its work, and both pay a restart each
// time they come back when RestartCost is set.
func TestTwoJobsShareOneDevice(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "a", Gang: 1, Model: v100, StepsPerSecond: 1})
	jobs := []Job{{ID: 0, Class: "a", Gang: 1, Steps: 3600}, {ID: 1, Class: "a", Gang: 1, Steps: 3600}}
	res, err := Run(policy(t, sched.LASHetero), tp, jobs, Config{Fleet: map[string]int{v100: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// 20 rounds of 360 s in all; the last job ends at 7200 s.
	if res.Summary.Makespan != 7200 {
		t.Errorf("makespan %v, want 7200", res.Summary.Makespan)
	}
	first := math.Min(res.Jobs[0].JCT, res.Jobs[1].JCT)
	if first < 3600 || first > 7200-360 {
		t.Errorf("first completion %v, want in [3600, 6840]", first)
	}
	withCost, err := Run(policy(t, sched.LASHetero), tp, jobs, Config{Fleet: map[string]int{v100: 1}, RestartCost: 30})
	if err != nil {
		t.Fatal(err)
	}
	restarts := withCost.Jobs[0].Restarts + withCost.Jobs[1].Restarts
	if restarts == 0 {
		t.Fatal("no restarts counted while the jobs alternate")
	}
	// Every restart wastes 30 s of the device; the work is the same.
	if got, want := withCost.Summary.Makespan, 7200+30*float64(restarts); math.Abs(got-want) > 1e-6 {
		t.Errorf("makespan with restart cost %v, want %v (%d restarts)", got, want, restarts)
	}
}

func TestUnrunnableAndMissing(t *testing.T) {
	tp := table(t,
		sched.ThroughputEntry{Class: "a", Gang: 1, Model: v100, StepsPerSecond: 1},
		sched.ThroughputEntry{Class: "zero", Gang: 1, Model: v100, StepsPerSecond: 0},
		sched.ThroughputEntry{Class: "a", Gang: 8, Model: v100, StepsPerSecond: 5},
	)
	jobs := []Job{
		{ID: 0, Class: "a", Gang: 1, Steps: 10},
		{ID: 1, Class: "zero", Gang: 1, Steps: 10},
		{ID: 2, Class: "a", Gang: 8, Steps: 10},
	}
	res, err := Run(policy(t, sched.LASHetero), tp, jobs, Config{Fleet: map[string]int{v100: 4}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Unrunnable{{ID: 1, Reason: sched.ReasonNoThroughput}, {ID: 2, Reason: sched.ReasonGangTooLarge}}
	if len(res.Unrunnable) != 2 || res.Unrunnable[0] != want[0] || res.Unrunnable[1] != want[1] {
		t.Errorf("unrunnable %+v, want %+v", res.Unrunnable, want)
	}
	if len(res.Jobs) != 1 {
		t.Errorf("%d jobs finished, want 1", len(res.Jobs))
	}
	_, err = Run(policy(t, sched.LASHetero), tp, []Job{{ID: 7, Class: "b", Gang: 1, Steps: 1}}, Config{Fleet: map[string]int{v100: 4}})
	var je *JobError
	if !errors.As(err, &je) || je.Job != 7 || je.Field != "class" || !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("missing entry: error %v", err)
	}
	for _, bad := range [][]Job{
		{{ID: 0, Class: "a", Gang: 1, Steps: 1, Arrival: 5}, {ID: 1, Class: "a", Gang: 1, Steps: 1, Arrival: 4}},
		{{ID: 0, Class: "a", Gang: 0, Steps: 1}},
		{{ID: 0, Class: "a", Gang: 1, Steps: 0}},
		{{ID: 0, Class: "a", Gang: 1, Steps: 1}, {ID: 0, Class: "a", Gang: 1, Steps: 1}},
	} {
		if _, err := Run(policy(t, sched.LASHetero), tp, bad, Config{Fleet: map[string]int{v100: 4}}); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%+v: error %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := Run(policy(t, sched.LASHetero), tp, jobs[:1], Config{Fleet: map[string]int{}}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("empty fleet: %v", err)
	}
}

// Random small traces on a random heterogeneous fleet, every policy: every
// runnable job finishes (or, with GavelCompat, is dropped), no job beats running alone on its fastest model,
// no round uses more devices than exist, and utilization ≤ 1.
func TestRandomTracesInvariants(t *testing.T) {
	models := []string{v100, p100, k80}
	rng := rand.New(rand.NewPCG(42, 42))
	for trial := 0; trial < 30; trial++ {
		var entries []sched.ThroughputEntry
		for c := 0; c < 4; c++ {
			for _, g := range []int{1, 2} {
				for _, m := range models {
					v := 0.0
					if rng.Float64() > 0.15 {
						v = 0.1 + 10*rng.Float64()
					}
					entries = append(entries, sched.ThroughputEntry{Class: strconv.Itoa(c), Gang: g, Model: m, StepsPerSecond: v})
				}
			}
		}
		tp := withRandomPairs(t, table(t, entries...), entries, rand.New(rand.NewPCG(7, uint64(trial))))
		fl := map[string]int{v100: 1 + rng.IntN(3), p100: rng.IntN(3), k80: 1 + rng.IntN(3)}
		var jobs []Job
		at := 0.0
		for i := 0; i < 12; i++ {
			at += rng.ExpFloat64() * 1500
			jobs = append(jobs, Job{ID: i, Arrival: math.Floor(at), Class: strconv.Itoa(rng.IntN(4)), Gang: 1 + rng.IntN(2), Steps: 1000 + float64(rng.IntN(40000))})
		}
		for _, name := range sched.PolicyNames() {
			opt := sched.Options{Rand: rand.New(rand.NewPCG(1, uint64(trial))), Cost: map[string]float64{v100: 3, p100: 1.5, k80: 0.5}}
			p, err := sched.PolicyByName(name, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, compat := range []bool{false, true} {
				res, err := Run(p, tp, jobs, Config{Fleet: fl, GavelCompat: compat, Rand: rand.New(rand.NewPCG(2, 2)), RestartCost: float64(trial % 3 * 10)})
				if err != nil {
					t.Fatalf("trial %d %s: %v", trial, name, err)
				}
				// GavelCompat may drop a job after 5 failed rounds, as
				// Gavel does; the default never does.
				if got := len(res.Jobs) + len(res.Unrunnable) + len(res.Dropped); got != len(jobs) || (!compat && len(res.Dropped) > 0) {
					t.Fatalf("trial %d %s compat=%v: %d finished + %d unrunnable + %d dropped of %d", trial, name, compat, len(res.Jobs), len(res.Unrunnable), len(res.Dropped), len(jobs))
				}
				for _, r := range res.Jobs {
					j := jobs[r.ID]
					best := 0.0
					for _, m := range models {
						if v, _ := tp.Lookup(j.Class, j.Gang, m); v > 0 && j.Gang <= fl[m] {
							best = math.Max(best, v)
						}
					}
					if r.JCT < j.Steps/best-1e-6 || r.Start < j.Arrival {
						t.Fatalf("trial %d %s: job %d JCT %v < alone on fastest %v (start %v arrival %v)", trial, name, r.ID, r.JCT, j.Steps/best, r.Start, j.Arrival)
					}
				}
				total := 0
				for _, n := range fl {
					total += n
				}
				for _, u := range res.Util {
					sum := 0.0
					for k, b := range u.Busy {
						if b > float64(fl[res.Models[k]])*(u.End-u.Start)+1e-6 {
							t.Fatalf("trial %d %s: round [%v, %v] model %s busy %v device-s", trial, name, u.Start, u.End, res.Models[k], b)
						}
						sum += b
					}
					if sum > float64(total)*(u.End-u.Start)+1e-6 {
						t.Fatalf("over capacity")
					}
				}
				if res.Summary.Utilization > 1+1e-9 {
					t.Fatalf("utilization %v", res.Summary.Utilization)
				}
			}
		}
	}
}

// With GavelCompat, fifo-hetero reproduces Gavel's per-job completion times
// (reference_per_job_jct.csv, reference_load_per_job_jct.csv) on the small
// trace and the three multi-GPU traces under load, every job of them: the
// policy is deterministic and has no LP ties, so it pins the simulator's
// loop semantics and the round mechanism for gangs.
func TestFIFOHeteroMatchesGavelPerJob(t *testing.T) {
	tt := gavelThroughputs(t)
	for _, c := range []struct{ trace, cluster string }{
		{"small_60jobs_lam1800_seed0", "4:4:4"},
		{"mid_200jobs_lam600_seed0_multigpu", "8:8:8"},
		{"mid_200jobs_lam600_seed2_multigpu", "8:8:8"},
		{"mid_400jobs_lam400_seed0_multigpu", "8:8:8"},
	} {
		jobs := gavelTrace(t, tracePath(c.trace))
		want := readPerJob(t, c.trace, c.cluster, "fifo_perf")
		if len(want) != len(jobs) {
			t.Fatalf("%s: %d reference jobs for %d in the trace", c.trace, len(want), len(jobs))
		}
		res, err := Run(policy(t, sched.FIFOHetero), tt.Table, jobs, Config{
			Fleet: clusterFleet(t, c.cluster), GavelCompat: true, ModelOrder: []string{v100, p100, k80},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != len(jobs) {
			t.Errorf("%s: %d of %d jobs finished (dropped %v, unrunnable %d)", c.trace, len(res.Jobs), len(jobs), res.Dropped, len(res.Unrunnable))
		}
		bad := 0
		for _, r := range res.Jobs {
			if math.Abs(r.JCT-want[r.ID]) > 0.01 {
				if bad++; bad <= 5 {
					t.Errorf("%s job %d: JCT %.3f s, Gavel %.3f s", c.trace, r.ID, r.JCT, want[r.ID])
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d jobs differ in all", c.trace, bad)
		}
	}
}

func TestWindowStopsEarly(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "a", Gang: 1, Model: v100, StepsPerSecond: 1})
	var jobs []Job
	for i := 0; i < 20; i++ {
		jobs = append(jobs, Job{ID: i, Arrival: float64(i * 1000), Class: "a", Gang: 1, Steps: 3000})
	}
	res, err := Run(policy(t, sched.LASHetero), tp, jobs, Config{Fleet: map[string]int{v100: 4}, Window: &Window{First: 5, Last: 9}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Jobs != 5 {
		t.Errorf("summary over %d jobs, want the 5 in the window", res.Summary.Jobs)
	}
	if res.Unfinished == 0 || res.End >= 19*1000 {
		t.Errorf("unfinished %d, end %v: the run should stop when the window is done", res.Unfinished, res.End)
	}
	for _, r := range res.Jobs {
		if r.ID >= 5 && r.ID <= 9 && r.Completion > res.End {
			t.Errorf("job %d completes after the end", r.ID)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {50, 2.5}, {100, 4}, {90, 3.7}} {
		if got := Percentile(v, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("P%v = %v, want %v", c.p, got, c.want)
		}
	}
}

// GavelCompat drops a job after MaxFailedRounds rounds whose steps, split
// over its gang, give a device none; the default runs it to the end. By
// hand: gang 2 at 1 step/s on 2 devices, 1081 steps = 3 rounds of 360 +
// 1 step. Compat: three 360 s rounds, then 1 step < 2 workers fails five
// times (each failed round lasts 1 step / 1 step/s = 1 s) → dropped, nothing
// finished. Default: the last step runs, JCT 1081 s. A single-device job at
// 0.002 steps/s (⌊0.72⌋ = 0 steps a round) fails five rounds in compat and
// runs 0.72 steps a round in default: 1.44 steps take two rounds, 720 s.
func TestGavelCompatDropsJobsThatCannotSplitTheirSteps(t *testing.T) {
	tp := table(t,
		sched.ThroughputEntry{Class: "gang", Gang: 2, Model: v100, StepsPerSecond: 1},
		sched.ThroughputEntry{Class: "slow", Gang: 1, Model: v100, StepsPerSecond: 0.002})
	for _, c := range []struct {
		job                Job
		defaultJCT, endCmp float64
	}{
		{Job{ID: 0, Class: "gang", Gang: 2, Steps: 1081}, 1081, 3*360 + 5},
		{Job{ID: 0, Class: "slow", Gang: 1, Steps: 1.44}, 720, 0},
	} {
		for _, compat := range []bool{true, false} {
			res, err := Run(policy(t, sched.LASHetero), tp, []Job{c.job}, Config{Fleet: map[string]int{v100: 2}, GavelCompat: compat})
			if err != nil {
				t.Fatal(err)
			}
			if compat {
				if len(res.Dropped) != 1 || res.Dropped[0] != 0 || len(res.Jobs) != 0 || res.Summary.Jobs != 0 {
					t.Errorf("%s compat: dropped %v, finished %d, want job 0 dropped", c.job.Class, res.Dropped, len(res.Jobs))
				}
				if math.Abs(res.End-c.endCmp) > 1e-9 {
					t.Errorf("%s compat: ended at %v s, want %v", c.job.Class, res.End, c.endCmp)
				}
				continue
			}
			if len(res.Dropped) != 0 || len(res.Jobs) != 1 || math.Abs(res.Jobs[0].JCT-c.defaultJCT) > 1e-6 {
				t.Errorf("%s default: dropped %v, jobs %+v, want JCT %v", c.job.Class, res.Dropped, res.Jobs, c.defaultJCT)
			}
		}
	}
}
