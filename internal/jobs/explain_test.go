package jobs

import (
	"strings"
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

// A job left out by the teams' weights on a model (sched's fairShares)
// names the team that goes before it, and its own.
func TestOutrankedByTeamWeights(t *testing.T) {
	for _, tc := range []struct{ team, want string }{
		{"a", "team b goes before team a on m this round"},
		{"", "team b goes before jobs without a team on m this round"},
	} {
		j := &Job{ID: "j", Spec: Spec{Team: tc.team, Class: "c", Gang: 1, DeviceMilli: 250}}
		e, err := explainWait(sched.Wait{Job: "j", Reason: sched.ReasonOutranked, Model: "m", By: "b"}, j, "las", nil)
		if err != nil || e.Code != CodeOutranked || !strings.HasPrefix(e.Message, tc.want) {
			t.Errorf("team %q: %+v, %v; want %q…", tc.team, e, err, tc.want)
		}
	}
}

// A gang waiting for its nodes' CPU or memory (sched's no-node-room) says
// what it asks for, and where.
func TestNoNodeRoomNamesCPUAndMemory(t *testing.T) {
	for _, tc := range []struct {
		cpu, mem int64
		multi    bool
		want     string
	}{
		{64000, 0, false, "needs 8 × m on one node with 64000 milli-cores in all"},
		{0, 2048, false, "needs 8 × m on one node with 2048 MiB of memory in all"},
		{4000, 2048, true, "needs 8 × m on whole nodes of one site with 4000 milli-cores and 2048 MiB of memory in all"},
	} {
		j := &Job{ID: "j", Spec: Spec{Class: "c", Gang: 8, CPUMilli: tc.cpu, MemoryMiB: tc.mem}}
		e, err := explainWait(sched.Wait{Job: "j", Reason: sched.ReasonNoNodeRoom, Model: "m", Free: 8, Multi: tc.multi}, j, "las", nil)
		if err != nil || e.Code != CodeNoNodeRoom || !strings.HasPrefix(e.Message, tc.want) {
			t.Errorf("%+v: %+v, %v; want %q…", tc, e, err, tc.want)
		}
	}
}
