package control_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/sched"
	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/sqlite"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// durable is a store the server can be restarted on: a real database,
// closed and opened again at the restart.
type durable interface {
	jobs.Store
	Close() error
}

// dropPolicyMemory is a store that loses the policy's own memory from the
// saved scheduler state (what a restart lost before it was saved), keeping
// the round mechanism's: the control case of the test below.
type dropPolicyMemory struct{ durable }

func (d dropPolicyMemory) LastRound(ctx context.Context) (jobs.Round, error) {
	r, err := d.durable.LastRound(ctx)
	if err != nil || r.State == nil {
		return r, err
	}
	var s, sch map[string]json.RawMessage
	if err := json.Unmarshal(r.State, &s); err != nil {
		return r, err
	}
	if err := json.Unmarshal(s["sched"], &sch); err != nil {
		return r, err
	}
	delete(sch, "policy")
	if s["sched"], err = json.Marshal(sch); err != nil {
		return r, err
	}
	r.State, err = json.Marshal(s)
	return r, err
}

// The restart test on both stores for the policies with memory of their
// own: ftf-hetero (cumulative isolated time) and the agnostic fifo (each
// job's model and the random stream), with las-hetero as the case without.
// Jobs arrive every round, before and after the restart; the server runs 5
// rounds, is stopped (its store closed and opened again, a new Loop), and
// runs 6 more. Every placement and round number after the restart equals
// an uninterrupted server's. A store that drops the policy's memory from
// the saved state changes them for ftf-hetero and fifo, so the test can
// tell.
func TestRestartKeepsPolicyMemory(t *testing.T) {
	ctx := context.Background()
	stores := []struct {
		name string
		open func(t *testing.T) func() durable // returns the opener of one database
	}{
		{"sqlite", func(t *testing.T) func() durable {
			path := filepath.Join(t.TempDir(), "granary.db")
			return func() durable {
				st, err := sqlite.Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		}},
		{"postgres", func(t *testing.T) func() durable {
			url := storetest.PostgresURL(t)
			return func() durable {
				st, err := postgres.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		}},
	}
	type outcome struct {
		Seq  int64
		Runs map[string]jobs.Placement
	}
	for _, sk := range stores {
		for _, policy := range []string{sched.FTFHetero, sched.FIFO, sched.LASHetero} {
			t.Run(sk.name+"/"+policy, func(t *testing.T) {
				// trace runs 11 rounds on a fresh database; mode "" never
				// restarts, "restart" restarts after round 5, "forget"
				// restarts on a store that drops the policy's memory.
				trace := func(mode string) []outcome {
					open := sk.open(t)
					st := open()
					defer func() { st.Close() }()
					ledger := control.NewMemLedger(fleetOf(24, 24))
					backend := mustSim(t)
					clock := control.NewManualClock(t0)
					var loop *control.Loop
					var svc *jobs.Service
					start := func(store control.Store, js jobs.Store) {
						w := workloads(t)
						loop = newLoop(t, control.Config{Planner: jobs.PlannerConfig{Policy: policy, Seed: 7}}, w, store, ledger, backend, clock)
						var err error
						if svc, err = jobs.NewService(jobs.ServiceConfig{Store: js, Fleet: ledger, Workloads: w, Now: clock.Now}); err != nil {
							t.Fatal(err)
						}
					}
					start(st, st)
					classes := []string{"resnet", "bert"}
					gangs := []int{1, 2, 1, 4, 2, 1, 8}
					var out []outcome
					for round := 0; round < 11; round++ {
						if round == 5 && mode != "" {
							if err := st.Close(); err != nil {
								t.Fatal(err)
							}
							st = open()
							if mode == "forget" {
								start(dropPolicyMemory{st}, st)
							} else {
								start(st, st)
							}
						}
						// Two jobs arrive every round; lengths from 20 min
						// to 3 h on the slower model.
						for j := 0; j < 2; j++ {
							n := 2*round + j
							spec := jobs.Spec{Name: "j", Team: []string{"a", "b", "c"}[n%3], Class: classes[n%2], Gang: gangs[n%len(gangs)],
								TotalSteps: float64(gangs[n%len(gangs)]) * float64(1200+(n*2311)%9600)}
							if _, err := svc.Submit(ctx, spec, ""); err != nil {
								t.Fatal(err)
							}
						}
						rep, err := loop.Round(ctx)
						if err != nil {
							t.Fatal(err)
						}
						if round >= 5 {
							out = append(out, outcome{rep.Round.Seq, rep.Plan.Runs})
						}
						clock.Advance(360 * 1e9)
					}
					return out
				}
				want := trace("")
				if want[0].Seq != 6 {
					t.Errorf("round after 5 is %d", want[0].Seq)
				}
				if got := trace("restart"); !reflect.DeepEqual(got, want) {
					t.Errorf("after a restart:\n got %+v\nwant %+v", got, want)
				}
				forgot := trace("forget")
				switch same := reflect.DeepEqual(forgot, want); {
				case policy == sched.LASHetero && !same:
					t.Errorf("las-hetero keeps no policy memory, yet dropping it changed the placements:\n got %+v\nwant %+v", forgot, want)
				case policy != sched.LASHetero && same:
					t.Error("a restart that drops the policy's memory made the same placements: the test cannot tell")
				}
			})
		}
	}
}
