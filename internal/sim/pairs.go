package sim

import (
	"fmt"
	"math"
	"strconv"

	"github.com/granaryhq/granary/internal/sched"
)

// Space sharing: under a *-packed policy a round may run two jobs on the
// same devices (sched.Run.With). Each progresses at its pair throughput
// from the table; the devices are busy, and the pair is charged (for its
// priority), until the later of the two ends its round.

// checkPairs refuses, for a packed policy, a table without the pair
// throughputs of the admitted jobs (sched.Throughputs.CheckPairs names the
// first missing pair).
func (s *simulation) checkPairs() error {
	if !sched.IsPacked(s.p) {
		return nil
	}
	classes := make([]string, len(s.states))
	gangs := make([]int, len(s.states))
	for i, j := range s.states {
		classes[i], gangs[i] = j.Class, j.Gang
	}
	return s.tp.CheckPairs(classes, gangs, s.models)
}

// pairThroughput is j's steps/s when it shares r's devices with r.With.
func (s *simulation) pairThroughput(j *jobState, r sched.Run) (*jobState, float64, error) {
	pos, err := strconv.Atoi(r.With)
	if err != nil || pos < 0 || pos >= len(s.states) || s.states[pos].done || s.states[pos].sid != r.With {
		return nil, 0, fmt.Errorf("policy %s paired job %q with unknown job %q", s.p.Name(), r.Job, r.With)
	}
	o := s.states[pos]
	v, ok := s.tp.PairLookup(j.Class, o.Class, j.Gang, r.Model)
	if !ok || o.Gang != j.Gang {
		return nil, 0, fmt.Errorf("policy %s paired job %q with %q on %s: no pair throughput", s.p.Name(), r.Job, r.With, r.Model)
	}
	return o, v[0], nil
}

// linkPairs sets each paired run's pair end and which of the two books
// the devices.
func (s *simulation) linkPairs() {
	var at map[*jobState]int
	for i := range s.running {
		if s.running[i].with == nil {
			continue
		}
		if at == nil {
			at = make(map[*jobState]int)
			for k := range s.running {
				at[s.running[k].j] = k
			}
		}
		r := &s.running[i]
		r.pairEnd, r.lead = r.finish, true
		if k, ok := at[r.with]; ok {
			r.pairEnd = math.Max(r.finish, s.running[k].finish)
			r.lead = i < k
		}
	}
}
