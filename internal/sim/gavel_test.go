package sim

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

// gavelPolicy maps Gavel's policy names to ours ("" = not ours: gandiva,
// space-sharing "_packed").
func gavelPolicy(name string) string {
	return map[string]string{
		"fifo":                      sched.FIFO,
		"fifo_perf":                 sched.FIFOHetero,
		"max_min_fairness":          sched.LAS,
		"max_min_fairness_perf":     sched.LASHetero,
		"finish_time_fairness":      sched.FTF,
		"finish_time_fairness_perf": sched.FTFHetero,
		"min_total_duration":        sched.Makespan,
		"min_total_duration_perf":   sched.MakespanHetero,
	}[name]
}

type refRow struct {
	trace, cluster, gavel, policy string
	jobs                          int
	avgJCT, makespan, util        float64
}

func readReference(t testing.TB) []refRow {
	t.Helper()
	f, err := os.Open(gavelAnchor(t, "results/reference_summary.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []refRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		c := strings.Split(sc.Text(), "\t")
		if line == 1 {
			continue
		}
		if len(c) != 11 {
			t.Fatalf("reference_summary.tsv:%d: %d columns", line, len(c))
		}
		r := refRow{trace: c[0], cluster: c[1], gavel: c[2], policy: gavelPolicy(c[2])}
		r.jobs, _ = strconv.Atoi(c[6])
		r.avgJCT, _ = strconv.ParseFloat(c[7], 64)
		r.makespan, _ = strconv.ParseFloat(c[8], 64)
		r.util, _ = strconv.ParseFloat(c[9], 64)
		rows = append(rows, r)
	}
	return rows
}

func clusterFleet(t testing.TB, spec string) map[string]int {
	t.Helper()
	var v, p, k int
	if _, err := fmt.Sscanf(spec, "%d:%d:%d", &v, &p, &k); err != nil {
		t.Fatalf("cluster %q: %v", spec, err)
	}
	return map[string]int{v100: v, p100: p, k80: k}
}

func tracePath(name string) string {
	if strings.HasPrefix(name, "physical_cluster/") {
		return "traces/" + name + ".trace"
	}
	return "traces/generated/" + name + ".trace"
}

type sideBySide struct {
	refRow
	ours, compat *Result
}

func runReference(t *testing.T) []sideBySide {
	tt := gavelThroughputs(t)
	var out []sideBySide
	for _, r := range readReference(t) {
		if r.policy == "" {
			continue
		}
		jobs := gavelTrace(t, tracePath(r.trace))
		sb := sideBySide{refRow: r}
		for _, compat := range []bool{false, true} {
			p, err := sched.PolicyByName(r.policy, sched.Options{Rand: rand.New(rand.NewPCG(0, 1))})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(p, tt.Table, jobs, Config{
				Fleet: clusterFleet(t, r.cluster), GavelCompat: compat,
				Rand:       rand.New(rand.NewPCG(0, 5)),
				ModelOrder: []string{v100, p100, k80}, // Gavel's worker_types order
			})
			if err != nil {
				t.Fatalf("%s %s %s: %v", r.trace, r.cluster, r.policy, err)
			}
			if compat {
				sb.compat = res
			} else {
				sb.ours = res
			}
		}
		out = append(out, sb)
	}
	return out
}

func pct(ours, ref float64) float64 { return 100 * (ours - ref) / ref }

// TestSideBySideGavel runs every (trace, cluster, policy) of Gavel's
// reference_summary.tsv that we implement and prints the comparison, with
// GavelCompat (Gavel's loop quirks reproduced) and without. It asserts, with
// GavelCompat and Gavel's model order (v100, p100, k80): avg JCT within 3%
// for las, las-hetero, ftf-hetero and fifo-hetero, makespan within 3% for
// makespan-hetero, and the same ranking of policies by avg JCT within each
// (trace, cluster) for every pair Gavel separates by more than 3%.
//
// The agnostic fifo is left out of the ranking: Gavel's random FIFO places
// jobs on models where their throughput is 0 (it drops 2 jobs of the
// multi-GPU trace after 5 failed rounds, and strands others), which sched
// deliberately does not do; compare it in distribution only.
func TestSideBySideGavel(t *testing.T) {
	rows := runReference(t)
	var b strings.Builder
	fmt.Fprintf(&b, "%-38s %-7s %-15s %5s | %10s %10s %6s %10s %6s | %10s %10s %6s %10s %6s\n",
		"trace", "cluster", "policy", "jobs", "gavel_jct", "compat", "Δ%", "default", "Δ%", "gavel_mk", "compat", "Δ%", "default", "Δ%")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-38s %-7s %-15s %2d/%-2d | %10.0f %10.0f %+6.1f %10.0f %+6.1f | %10.0f %10.0f %+6.1f %10.0f %+6.1f\n",
			r.trace, r.cluster, r.policy, r.compat.Summary.Jobs, r.jobs,
			r.avgJCT, r.compat.Summary.AvgJCT, pct(r.compat.Summary.AvgJCT, r.avgJCT),
			r.ours.Summary.AvgJCT, pct(r.ours.Summary.AvgJCT, r.avgJCT),
			r.makespan, r.compat.Summary.Makespan, pct(r.compat.Summary.Makespan, r.makespan),
			r.ours.Summary.Makespan, pct(r.ours.Summary.Makespan, r.makespan))
	}
	t.Logf("side by side with Gavel c4fa400 (Δ%% = ours vs Gavel):\n%s", b.String())

	for _, r := range rows {
		s := r.compat.Summary
		switch r.policy {
		case sched.LAS, sched.LASHetero, sched.FTFHetero, sched.FIFOHetero:
			if d := pct(s.AvgJCT, r.avgJCT); math.Abs(d) > 3 {
				t.Errorf("%s %s %s: avg JCT %.0f s vs Gavel %.0f s (%+.1f%%), want within 3%%", r.trace, r.cluster, r.policy, s.AvgJCT, r.avgJCT, d)
			}
		case sched.MakespanHetero:
			if d := pct(s.Makespan, r.makespan); math.Abs(d) > 3 {
				t.Errorf("%s %s %s: makespan %.0f s vs Gavel %.0f s (%+.1f%%), want within 3%%", r.trace, r.cluster, r.policy, s.Makespan, r.makespan, d)
			}
		}
	}
	// Ranking: any pair Gavel orders by more than 3% we must order the same way.
	groups := map[string][]sideBySide{}
	var keys []string
	for _, r := range rows {
		k := r.trace + " " + r.cluster
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		for _, a := range g {
			for _, c := range g {
				if a.policy == sched.FIFO || c.policy == sched.FIFO {
					continue
				}
				if a.avgJCT < c.avgJCT*0.97 && !(a.compat.Summary.AvgJCT < c.compat.Summary.AvgJCT) {
					t.Errorf("%s: Gavel ranks %s (%.0f) before %s (%.0f); we do not (%.0f vs %.0f)",
						k, a.policy, a.avgJCT, c.policy, c.avgJCT, a.compat.Summary.AvgJCT, c.compat.Summary.AvgJCT)
				}
			}
		}
	}
}
