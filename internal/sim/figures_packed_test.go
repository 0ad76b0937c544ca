package sim

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/sched"
)

// TestFigurePacked: Gavel's Fig. 8 setup (36 V100 + 36 P100 + 36 K80,
// single-GPU jobs, jobs 4000-4999, seed 0) under las-hetero-packed, against
// the published 19.64 h at 5.6 jobs/h and 18.67 h at 4.8 jobs/h
// (results/paper_fig8_fig9_avg_jct_seed0.csv, max_min_fairness_packed);
// the target is within 5 %. las-hetero is run alongside (paper:
// 28.96 h and 18.97 h). Our generator's seed 0 is not Gavel's seed 0.
func TestFigurePacked(t *testing.T) {
	figures(t)
	tt := gavelThroughputs(t)
	paper := map[float64][2]float64{5.6: {19.64, 28.96}, 4.8: {18.67, 18.97}} // packed, las-hetero (h)
	var b strings.Builder
	for _, rate := range []float64{5.6, 4.8} {
		got := map[string]float64{}
		for k, pol := range []string{sched.LASHeteroPacked, sched.LASHetero} {
			v, d := paperRun(t, tt, pol, rate, 0, true, 16000)
			got[pol] = v
			fmt.Fprintf(&b, "%.1f jobs/h  %-18s avg JCT %6.2f h  paper %6.2f h  (%+.1f %%)  wall %v\n",
				rate, pol, v, paper[rate][k], 100*(v/paper[rate][k]-1), d.Round(time.Second))
		}
		if dev := math.Abs(got[sched.LASHeteroPacked]/paper[rate][0] - 1); !(dev <= 0.05) {
			t.Errorf("at %.1f jobs/h las-hetero-packed avg JCT %.2f h is %.1f %% from the paper's %.2f h, want ≤ 5 %%",
				rate, got[sched.LASHeteroPacked], 100*dev, paper[rate][0])
		}
	}
	t.Logf("space sharing, Gavel Fig. 8 setup (seed 0):\n%s", b.String())
}
