package jobs

import (
	"testing"

	"github.com/granaryhq/granary/internal/sched"
)

// Every reason the pipeline can give maps to a code and a sentence; an
// unknown one is an error, never "outranked".
func TestEverySchedReasonExplained(t *testing.T) {
	j := &Job{ID: "j", Spec: Spec{Class: "c", Gang: 16}}
	codes := map[Code]bool{}
	for _, r := range sched.Reasons {
		e, err := explainWait(sched.Wait{Job: "j", Reason: r, Model: "m"}, j, "las", nil)
		if err != nil || e.Code == "" || e.Message == "" {
			t.Errorf("reason %s: %+v, %v", r, e, err)
		}
		codes[e.Code] = true
	}
	if len(codes) < 7 {
		t.Errorf("%d distinct codes for %d reasons: %v", len(codes), len(sched.Reasons), codes)
	}
	if _, err := explainWait(sched.Wait{Job: "j", Reason: "made-up"}, j, "las", nil); err == nil {
		t.Error("an unknown reason was explained")
	}
}
