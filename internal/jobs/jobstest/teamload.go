package jobstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/jobs"
)

// loadOracle is how jobs.Service.Teams counted before stores had
// TeamLoad: every active job read, then counted in Go. TeamLoad must agree
// with it.
func loadOracle(js []jobs.Job) []jobs.TeamLoad {
	by := map[string]*jobs.TeamLoad{}
	for i := range js {
		j := &js[i]
		l := by[j.Team]
		if l == nil {
			l = &jobs.TeamLoad{Team: j.Team}
			by[j.Team] = l
		}
		if j.State == jobs.Running && j.Placement != nil {
			l.Running++
			if l.Use == nil {
				l.Use = map[string]int{}
			}
			l.Use[j.Placement.Model] += len(j.Placement.Devices)
		} else {
			l.Waiting++
		}
	}
	var out []jobs.TeamLoad
	for _, l := range by {
		out = append(out, *l)
	}
	return sortLoad(out)
}

func sortLoad(ls []jobs.TeamLoad) []jobs.TeamLoad {
	slices.SortFunc(ls, func(a, b jobs.TeamLoad) int { return strings.Compare(a.Team, b.Team) })
	return ls
}

// teamLoad writes a random mix of jobs (every state, with and without a
// placement, placements with no model, no devices or a null device list,
// teams differing only in case) and compares TeamLoad with the oracle over
// the active jobs the store lists, after creation and after updates.
func teamLoad(t *testing.T, s jobs.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	teams := []string{"llm", "vision", "Vision", "speech", "search"}
	states := []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted, jobs.Completed, jobs.Failed, jobs.Cancelled}
	models := []string{"h800", "910b3", ""}
	serial := 0
	placement := func() *jobs.Placement {
		if r.IntN(5) == 0 {
			return nil
		}
		p := &jobs.Placement{Model: models[r.IntN(len(models))], Since: t0}
		n := r.IntN(5) // 0: an empty list, or null when nil below
		if n > 0 || r.IntN(2) == 0 {
			p.Devices = []string{}
		}
		for range n {
			serial++
			p.Devices = append(p.Devices, fmt.Sprintf("dev-%04d", serial))
		}
		return p
	}
	check := func(when string) {
		t.Helper()
		got, err := s.TeamLoad(ctx)
		if err != nil {
			t.Fatal(err)
		}
		js, err := s.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Pending, jobs.Running, jobs.Preempted}})
		if err != nil {
			t.Fatal(err)
		}
		want := loadOracle(js)
		if d := cmp.Diff(want, sortLoad(got)); d != "" {
			t.Errorf("%s: TeamLoad (-oracle +got):\n%s", when, d)
		}
		// The mix must exercise both counts and a use map.
		run, wait, use := 0, 0, 0
		for _, l := range want {
			run += l.Running
			wait += l.Waiting
			use += len(l.Use)
		}
		if run == 0 || wait == 0 || use < 2 {
			t.Fatalf("%s: the random mix is too thin: %d running, %d waiting, %d use entries", when, run, wait, use)
		}
	}

	if got, err := s.TeamLoad(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: TeamLoad %+v, %v; want none", got, err)
	}
	var ids []string
	for i := range 120 {
		j := job(fmt.Sprintf("j%d", i), teams[r.IntN(len(teams))], 1)
		j.State = states[r.IntN(len(states))]
		j.Placement = placement()
		c, err := s.CreateJob(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	check("after create")

	for _, id := range ids[:40] {
		_, err := s.UpdateJob(ctx, id, func(j jobs.Job) (jobs.Job, []jobs.Event, error) {
			j.State = states[r.IntN(len(states))]
			j.Placement = placement()
			return j, []jobs.Event{{At: t0, Kind: "test", Message: "moved"}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("after updates")
}
