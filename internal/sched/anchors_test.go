package sched

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/granaryhq/granary/internal/sharedtest"
)

type anchorFile struct {
	Cases []struct {
		Name        string         `json:"name"`
		ClusterSpec map[string]int `json:"cluster_spec"`
		Order       []string       `json:"worker_type_order"`
		Jobs        []struct {
			ID        int       `json:"id"`
			JobType   string    `json:"job_type"`
			Scale     int       `json:"scale_factor"`
			Weight    float64   `json:"priority_weight"`
			Remaining float64   `json:"remaining_steps"`
			Tput      []float64 `json:"throughput_steps_per_s"`
		} `json:"jobs"`
		Results map[string]struct {
			X             [][]float64 `json:"X"`
			MinTimeShare  *float64    `json:"objective_min_time_share_x_scale"`
			MinNormalized *float64    `json:"objective_min_normalized"`
			MakespanBound *float64    `json:"makespan_bound_s"`
			SumThroughput *float64    `json:"objective_sum_throughput"`
		} `json:"results"`
	} `json:"cases"`
}

func loadAnchors(t *testing.T) anchorFile {
	path := filepath.Join(sharedtest.Dir(t), "anchors", "gavel", "results", "policy_allocations.json")
	b, err := os.ReadFile(path)
	if err != nil {
		sharedtest.Missing(t, "cannot read %s: %v", path, err)
	}
	var af anchorFile
	if err := json.Unmarshal(b, &af); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(af.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return af
}

// TestGavelAnchors checks every LP policy against the objective values Gavel
// (cvxpy + ECOS) computed on the same inputs.
func TestGavelAnchors(t *testing.T) {
	af := loadAnchors(t)
	for _, c := range af.Cases {
		t.Run(c.Name, func(t *testing.T) {
			seen := map[[2]any]bool{}
			var entries []ThroughputEntry
			s := &Snapshot{Fleet: c.ClusterSpec}
			for _, j := range c.Jobs {
				key := [2]any{j.JobType, j.Scale}
				if !seen[key] {
					seen[key] = true
					for k, m := range c.Order {
						entries = append(entries, ThroughputEntry{j.JobType, j.Scale, m, j.Tput[k]})
					}
				}
				s.Jobs = append(s.Jobs, Job{ID: itoa(j.ID), Class: j.JobType, Gang: j.Scale, Weight: j.Weight,
					RemainingSteps: j.Remaining, TotalSteps: j.Remaining})
			}
			tp, err := NewThroughputs(entries)
			if err != nil {
				t.Fatal(err)
			}
			check := func(policy string, want float64, tol func(got float64) bool) {
				t.Helper()
				p, err := PolicyByName(policy, Options{})
				if err != nil {
					t.Fatal(err)
				}
				a, err := p.Allocate(s, tp)
				if err != nil {
					t.Fatalf("%s: %v", policy, err)
				}
				assertFeasible(t, s, &a)
				if !tol(a.Objective) {
					t.Errorf("%s: objective %.9g, Gavel %.9g", policy, a.Objective, want)
				} else {
					t.Logf("%s: objective %.9g, Gavel %.9g", policy, a.Objective, want)
				}
			}
			within := func(want float64) func(float64) bool {
				return func(got float64) bool { return math.Abs(got-want) <= 1e-6*math.Max(1, math.Abs(want)) }
			}
			r := c.Results
			if v := r["max_min_fairness"].MinTimeShare; v != nil {
				check(LAS, *v, within(*v))
				// Agnostic LAS: X itself is Gavel's (the centre of the
				// optimal face), not only the objective, in every case
				// (agnostic las, like Gavel, ignores throughputs
				// entirely, zeros included).
				p, _ := PolicyByName(LAS, Options{})
				a, _ := p.Allocate(s, tp)
				gx := r["max_min_fairness"].X
				for i := 0; i < len(gx); i++ {
					for k, m := range c.Order {
						if got := a.Share(s.Jobs[i].ID, m); math.Abs(got-gx[i][k]) > 2e-6 {
							t.Errorf("las: X[%s][%s] = %.7f, Gavel %.6f", s.Jobs[i].ID, m, got, gx[i][k])
						}
					}
				}
			}
			if v := r["max_min_fairness_perf"].MinNormalized; v != nil {
				check(LASHetero, *v, within(*v))
			}
			if v := r["max_sum_throughput_perf"].SumThroughput; v != nil {
				check(MaxThroughput, *v, within(*v))
			}
			if v := r["min_total_duration_perf"].MakespanBound; v != nil {
				// Gavel bisects with a 5% gap: its bound T_G satisfies
				// T* ≤ T_G < 1.05·T*. Ours is the exact T*.
				check(MakespanHetero, *v, func(got float64) bool { return got <= *v*(1+1e-9) && got > *v/1.05 })
			}
		})
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// assertFeasible checks Gavel's base constraints on an allocation.
func assertFeasible(t testing.TB, s *Snapshot, a *Allocation) {
	t.Helper()
	const eps = 1e-7
	if len(a.X) != len(s.Jobs) || len(a.Jobs) != len(s.Jobs) {
		t.Fatalf("allocation has %d rows, %d ids; snapshot has %d jobs", len(a.X), len(a.Jobs), len(s.Jobs))
	}
	use := make([]float64, len(a.Models))
	for i, row := range a.X {
		if a.Jobs[i] != s.Jobs[i].ID {
			t.Fatalf("row %d is job %s, want %s", i, a.Jobs[i], s.Jobs[i].ID)
		}
		sum := 0.0
		for k, v := range row {
			if v < -eps || math.IsNaN(v) {
				t.Fatalf("X[%s][%s] = %v", a.Jobs[i], a.Models[k], v)
			}
			sum += v
			use[k] += v * float64(s.Jobs[i].Gang)
		}
		if sum > 1+eps {
			t.Fatalf("job %s: Σ_k X = %v > 1", a.Jobs[i], sum)
		}
	}
	for k, m := range a.Models {
		if use[k] > float64(s.Fleet[m])*(1+eps)+eps {
			t.Fatalf("model %s: Σ gang·X = %v > %d devices", m, use[k], s.Fleet[m])
		}
	}
}
