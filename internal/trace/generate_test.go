package trace

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/accel"
)

func gavelTable(t testing.TB) *ThroughputTable {
	t.Helper()
	path := gavelAnchor(t, "throughputs/simulation_throughputs.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := ReadThroughputs(data, path, accel.Default())
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func ownTable(t testing.TB) *ThroughputTable {
	t.Helper()
	data, err := os.ReadFile("testdata/throughputs.csv")
	if err != nil {
		t.Fatal(err)
	}
	tt, err := ReadThroughputs(data, "testdata/throughputs.csv", accel.Default())
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func TestGenerateDeterministic(t *testing.T) {
	tt := ownTable(t)
	opt := GenerateOptions{Jobs: 50, RatePerHour: 3, MultiGPU: true, Reference: v100}
	a, err := Generate(rand.New(rand.NewPCG(1, 2)), tt, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(rand.New(rand.NewPCG(1, 2)), tt, opt)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different traces:\n%s", diff)
	}
	c, _ := Generate(rand.New(rand.NewPCG(1, 3)), tt, opt)
	if cmp.Equal(a, c) {
		t.Fatal("different seeds, same trace")
	}
	// Arrivals come from their own stream: the job mix does not move them.
	opt.MultiGPU = false
	d, _ := Generate(rand.New(rand.NewPCG(1, 2)), tt, opt)
	for i := range a {
		if a[i].Arrival != d[i].Arrival {
			t.Fatalf("job %d: arrival %v with multi-GPU, %v without", i, a[i].Arrival, d[i].Arrival)
		}
	}
	// What it writes, it reads back.
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, a); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&buf, "gen.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i := range back {
		back[i].Line = 0
	}
	if diff := cmp.Diff(a, back); diff != "" {
		t.Fatalf("JSONL round trip:\n%s", diff)
	}
}

// TestGenerateDistributions checks the port against the distributions
// written in Gavel's generator (utils.py generate_job).
func TestGenerateDistributions(t *testing.T) {
	tt := gavelTable(t)
	const n = 40000
	jobs, err := Generate(rand.New(rand.NewPCG(7, 7)), tt, GenerateOptions{Jobs: n, RatePerHour: 2, MultiGPU: true, Reference: v100})
	if err != nil {
		t.Fatal(err)
	}
	// Mean inter-arrival 1800 s; exponential, so the std error of the mean
	// is 1800/sqrt(n) = 9 s.
	mean := jobs[n-1].Arrival / (n - 1)
	if math.Abs(mean-1800) > 45 {
		t.Errorf("mean inter-arrival %.1f s, want 1800 ± 45", mean)
	}
	gangs := map[int]float64{}
	long := 0.0
	classes := map[string]int{}
	for _, j := range jobs {
		gangs[j.Gang]++
		ref, _ := tt.Table.Lookup(j.Class, j.Gang, v100)
		d := j.Steps / ref
		if d < 60*math.Pow(10, 1.5)*(1-1e-9) || d > 60*1e4*(1+1e-9) {
			t.Fatalf("job %d: duration %v s outside Gavel's range", j.ID, d)
		}
		if d > 60*1e3 {
			long++
		}
		if j.Gang == 1 {
			classes[j.Class]++
		}
	}
	for g, p := range map[int]float64{1: 0.7, 2: 0.1, 4: 0.15, 8: 0.05} {
		if got := gangs[g] / n; math.Abs(got-p) > 0.01 {
			t.Errorf("gang %d: fraction %.3f, want %.2f", g, got, p)
		}
	}
	if got := long / n; math.Abs(got-0.2) > 0.01 {
		t.Errorf("long jobs (> 1000 min): %.3f, want 0.20", got)
	}
	if len(classes) != 26 {
		t.Errorf("%d classes at gang 1, want all 26", len(classes))
	}
	for c, k := range classes {
		if want := gangs[1] / 26; math.Abs(float64(k)-want) > 5*math.Sqrt(want) {
			t.Errorf("class %s: %d jobs, want about %.0f", c, k, want)
		}
	}
}

// TestTraceStyleMatchesAnchor checks the "trace" style against a trace that
// Gavel's generate_trace.py wrote: every job's steps are ⌊h·3600·v100⌋ for
// h in {1,2,3,4}, and gangs are 1, 2 or 4.
func TestTraceStyleMatchesAnchor(t *testing.T) {
	tt := gavelTable(t)
	data, err := os.ReadFile(gavelAnchor(t, "traces/generated/small_60jobs_lam1800_seed0_multigpu.trace"))
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := ReadGavel(bytes.NewReader(data), "anchor")
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Generate(rand.New(rand.NewPCG(0, 0)), tt, GenerateOptions{Jobs: 500, RatePerHour: 2, MultiGPU: true, Style: StyleTrace, Reference: v100})
	if err != nil {
		t.Fatal(err)
	}
	check := func(who string, jobs []Job) {
		for _, j := range jobs {
			ref, ok := tt.Table.Lookup(j.Class, j.Gang, v100)
			if !ok || ref <= 0 {
				t.Fatalf("%s job %d: (%s, %d) not in the table", who, j.ID, j.Class, j.Gang)
			}
			hit := false
			for h := 1.0; h <= 4; h++ {
				if j.Steps == math.Max(1, math.Floor(h*3600*ref)) {
					hit = true
				}
			}
			if !hit {
				t.Errorf("%s job %d: %v steps is not ⌊h·3600·%v⌋ for h in 1..4", who, j.ID, j.Steps, ref)
			}
			if j.Gang != 1 && j.Gang != 2 && j.Gang != 4 {
				t.Errorf("%s job %d: gang %d", who, j.ID, j.Gang)
			}
		}
	}
	check("anchor", anchor)
	check("generated", ours)
}

func TestGenerateErrors(t *testing.T) {
	tt := ownTable(t)
	r := rand.New(rand.NewPCG(1, 1))
	for _, opt := range []GenerateOptions{
		{Jobs: 0, Reference: v100},
		{Jobs: 1, RatePerHour: -1, Reference: v100},
		{Jobs: 1, Reference: "tpu9"},
		{Jobs: 1, Reference: v100, Style: "poisson"},
	} {
		if _, err := Generate(r, tt, opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
	// Static trace: everything at t = 0.
	jobs, err := Generate(r, tt, GenerateOptions{Jobs: 10, Reference: v100, FixedDuration: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		ref, _ := tt.Table.Lookup(j.Class, j.Gang, v100)
		if j.Arrival != 0 || math.Abs(j.Steps-3600*ref) > 1e-9 {
			t.Errorf("job %+v", j)
		}
	}
}
