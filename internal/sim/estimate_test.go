package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sched"
)

// spy records the lengths every snapshot shows a policy.
type spy struct {
	sched.Policy
	total, remaining map[string][]float64
}

func (s *spy) Allocate(snap *sched.Snapshot, tp *sched.Throughputs) (sched.Allocation, error) {
	for _, j := range snap.Jobs {
		s.total[j.ID] = append(s.total[j.ID], j.TotalSteps)
		s.remaining[j.ID] = append(s.remaining[j.ID], j.RemainingSteps)
	}
	return s.Policy.Allocate(snap, tp)
}

// Factors are log-uniform in [1/X, X]: within the bounds, seeded, symmetric
// around 1 in log (mean of ln ≈ 0, mean of |ln| ≈ ln X / 2), and X = 1 is
// exact. Bad X is refused.
func TestNoisyEstimates(t *testing.T) {
	jobs := make([]Job, 20000)
	for i := range jobs {
		jobs[i] = Job{ID: i, Steps: 1000}
	}
	if err := NoisyEstimates(jobs, 2, rand.New(rand.NewPCG(7, 3))); err != nil {
		t.Fatal(err)
	}
	var sumLn, sumAbs float64
	for _, j := range jobs {
		f := j.Estimate / j.Steps
		if f < 0.5-1e-12 || f > 2+1e-12 {
			t.Fatalf("factor %v outside [0.5, 2]", f)
		}
		sumLn += math.Log(f)
		sumAbs += math.Abs(math.Log(f))
	}
	n := float64(len(jobs))
	if math.Abs(sumLn/n) > 0.01 || math.Abs(sumAbs/n-math.Ln2/2) > 0.01 {
		t.Errorf("mean ln factor %v (want 0), mean |ln| %v (want %v)", sumLn/n, sumAbs/n, math.Ln2/2)
	}
	again := make([]Job, 3)
	copy(again, jobs[:3])
	_ = NoisyEstimates(again, 2, rand.New(rand.NewPCG(7, 3)))
	for i := range again {
		if again[i].Estimate != jobs[i].Estimate {
			t.Errorf("same seed, job %d: %v then %v", i, jobs[i].Estimate, again[i].Estimate)
		}
	}
	_ = NoisyEstimates(again, 1, rand.New(rand.NewPCG(7, 3)))
	if again[0].Estimate != again[0].Steps {
		t.Errorf("noise 1: estimate %v, want %v", again[0].Estimate, again[0].Steps)
	}
	for _, bad := range []float64{0.5, 0, math.NaN(), math.Inf(1)} {
		if err := NoisyEstimates(again, bad, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("noise %v: err %v, want ErrInvalid", bad, err)
		}
	}
}

// The policy sees the estimate, never the true length: a job of 3600 steps
// submitted as 1000 shows TotalSteps 1000 while it is within it, then the
// doubled guesses (2000, 4000), and RemainingSteps > 0 throughout; the job
// still runs to its true length.
func TestPolicySeesOnlyTheEstimate(t *testing.T) {
	tp := table(t, sched.ThroughputEntry{Class: "a", Gang: 1, Model: v100, StepsPerSecond: 1})
	jobs := []Job{{ID: 0, Class: "a", Gang: 1, Steps: 3600, Estimate: 1000}, {ID: 1, Class: "a", Gang: 1, Steps: 3600}}
	for i := 2; i < 20; i++ { // short arrivals make the policy recompute
		jobs = append(jobs, Job{ID: i, Arrival: float64(i) * 500, Class: "a", Gang: 1, Steps: 10})
	}
	sp := &spy{Policy: policy(t, sched.LASHetero), total: map[string][]float64{}, remaining: map[string][]float64{}}
	res, err := Run(sp, tp, jobs, Config{Fleet: map[string]int{v100: 1}, ResetInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != len(jobs) || res.Jobs[0].JCT < 3600 {
		t.Fatalf("jobs %+v", res.Jobs)
	}
	seen := map[float64]bool{}
	for i, v := range sp.total["0"] {
		seen[v] = true
		if v == 3600 || !(sp.remaining["0"][i] > 0) {
			t.Fatalf("snapshot %d: total %v remaining %v", i, v, sp.remaining["0"][i])
		}
	}
	for _, want := range []float64{1000, 2000, 4000} {
		if !seen[want] {
			t.Errorf("policy never saw total %v (saw %v)", want, seen)
		}
	}
	if sp.total["1"][0] != 3600 {
		t.Errorf("exact job: total %v, want 3600", sp.total["1"][0])
	}
	if _, err := Run(policy(t, sched.LASHetero), tp, []Job{{ID: 0, Class: "a", Gang: 1, Steps: 1, Estimate: -1}}, Config{Fleet: map[string]int{v100: 1}}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("negative estimate: err %v", err)
	}
}
