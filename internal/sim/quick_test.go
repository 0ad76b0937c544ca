package sim

import (
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

func TestQuickFIFO(t *testing.T) {
	tt := gavelThroughputs(t)
	jobs := gavelTrace(t, "traces/generated/small_60jobs_lam1800_seed0.trace")
	p, _ := sched.PolicyByName("fifo-hetero", sched.Options{})
	res, err := Run(p, tt.Table, jobs, Config{Fleet: map[string]int{v100: 4, p100: 4, k80: 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v rounds=%d alloc=%d end=%v", res.Summary, res.Rounds, res.Allocations, res.End)
}

func TestQuickPerJob(t *testing.T) {
	tt := gavelThroughputs(t)
	jobs := gavelTrace(t, "traces/generated/small_60jobs_lam1800_seed0.trace")
	p, _ := sched.PolicyByName("fifo-hetero", sched.Options{})
	res, err := Run(p, tt.Table, jobs, Config{Fleet: map[string]int{v100: 4, p100: 4, k80: 4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Jobs {
		t.Logf("%d %s g%d arr=%.0f start=%.0f jct=%.1f", j.ID, jobs[j.ID].Class, jobs[j.ID].Gang, j.Arrival, j.Start, j.JCT)
	}
}
