package sched

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/granaryhq/granary/internal/sharedtest"
)

type anchorJob struct {
	ID        int       `json:"id"`
	JobType   string    `json:"job_type"`
	Scale     int       `json:"scale_factor"`
	Weight    float64   `json:"priority_weight"`
	Remaining float64   `json:"remaining_steps"`
	Tput      []float64 `json:"throughput_steps_per_s"`
}

type anchorFile struct {
	Cases []struct {
		Name        string         `json:"name"`
		ClusterSpec map[string]int `json:"cluster_spec"`
		Order       []string       `json:"worker_type_order"`
		Jobs        []anchorJob    `json:"jobs"`
		Results     map[string]struct {
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
			s, tp := anchorSnapshot(t, c.ClusterSpec, c.Order, c.Jobs)
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

// anchorSnapshot builds the snapshot and throughput table of one anchor case.
func anchorSnapshot(t *testing.T, fleetSpec map[string]int, order []string, jobs []anchorJob) (*Snapshot, *Throughputs) {
	t.Helper()
	seen := map[[2]any]bool{}
	var entries []ThroughputEntry
	s := &Snapshot{Fleet: fleetSpec}
	for _, j := range jobs {
		key := [2]any{j.JobType, j.Scale}
		if !seen[key] {
			seen[key] = true
			for k, m := range order {
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
	return s, tp
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

// TestMakespanHeteroXNearGavel compares makespan-hetero's X entry by entry
// with Gavel's (min_total_duration_perf: ECOS on "can every job finish by
// T?" at the T its bisection stops on). We replay ECOS's iterations on
// that LP (ecosFeasible), so X must match Gavel's (six decimals in the
// anchors; measured mean |ΔX| 2e-6–9e-6, asserted ≤ 1e-4). Also logged:
// the analytic centre of the same polytope (what we returned before: 0.043,
// 0.009, 0.005 — with a zero objective ECOS does not converge to the
// centre) and the exact vertex.
func TestMakespanHeteroXNearGavel(t *testing.T) {
	af := loadAnchors(t)
	for _, c := range af.Cases {
		gx := c.Results["min_total_duration_perf"].X
		if gx == nil {
			continue
		}
		s, tp := anchorSnapshot(t, c.ClusterSpec, c.Order, c.Jobs)
		p, _ := PolicyByName(MakespanHetero, Options{})
		a, err := p.Allocate(s, tp)
		if err != nil {
			t.Fatal(err)
		}
		assertFeasible(t, s, &a)
		pr, err := newProblem(s, tp)
		if err != nil {
			t.Fatal(err)
		}
		coef := zeros(len(pr.tput), len(pr.models))
		use := make([]bool, len(coef))
		for i, row := range pr.tput {
			use[i] = true
			for k, v := range row {
				coef[i][k] = v / s.Jobs[i].RemainingSteps
			}
		}
		opt, vert, err := maxMinLP(coef, pr.gang, pr.cap, use)
		if err != nil {
			t.Fatal(err)
		}
		centre := feasibleCentre(coef, pr.gang, pr.cap, use, opt, 1/gavelBisection(1/opt), vert)
		var dOurs, dCentre, dVert float64
		for i := range gx {
			for k, m := range c.Order {
				kk := slices.Index(pr.models, m)
				dOurs += math.Abs(a.Share(s.Jobs[i].ID, m) - gx[i][k])
				dCentre += math.Abs(centre[i][kk] - gx[i][k])
				dVert += math.Abs(vert[i][kk] - gx[i][k])
			}
		}
		n := float64(len(gx) * len(c.Order))
		dOurs, dCentre, dVert = dOurs/n, dCentre/n, dVert/n
		t.Logf("%s: mean |X − Gavel's X| %.1e (analytic centre: %.4f, exact vertex: %.4f)", c.Name, dOurs, dCentre, dVert)
		if dOurs > 1e-4 {
			t.Errorf("%s: mean |X − Gavel's X| = %.1e, want ≤ 1e-4 (analytic centre: %.4f)", c.Name, dOurs, dCentre)
		}
	}
}

// TestGavelBisection pins the T Gavel's bisection stops on (midpoints of
// [100, 10⁶] while 1.05·lo < hi; the last feasible midpoint is kept),
// against the sequences of midpoints written out.
func TestGavelBisection(t *testing.T) {
	for _, c := range []struct{ opt, want float64 }{
		{14400, 14746.97265625},  // …, 13770.5 no, 14747.0 yes, 14258.7 no
		{26573.2, 27441.015625},  // …, 27441.0 yes, 25488.1 no, 26464.6 no
		{50, 103.81431579589844}, // every midpoint feasible: 100 + 999900/2¹⁸
		{2e6, 2054687.5},         // nothing feasible in [100, 10⁶]: then [10⁶, 10⁷]
	} {
		got := gavelBisection(c.opt)
		if math.Abs(got-c.want) > 1e-6*c.want {
			t.Errorf("gavelBisection(%g) = %.6f, want %.6f", c.opt, got, c.want)
		}
		if got < c.opt || (c.opt > 100 && got > 1.05*c.opt) {
			t.Errorf("gavelBisection(%g) = %g outside [opt, 1.05·opt]", c.opt, got)
		}
	}
}
