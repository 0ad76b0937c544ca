package control_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/control/simbackend"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

const crashEnv = "GRANARY_CRASH_HELPER_DB"

// crashLoop opens the database and runs rounds back to back (a clock that
// jumps 360 s per round, failures injected, jobs cancelled now and then)
// until killed.
func crashLoop(path string) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	w := workloads(nil)
	be, err := simbackend.New(simbackend.Config{AFR: 20, Rand: rand.New(rand.NewPCG(uint64(os.Getpid()), 1)), RestartCost: time.Minute})
	if err != nil {
		return err
	}
	led, err := inventory.New(inventory.Config{Store: st, Catalog: accel.Default()})
	if err != nil {
		return err
	}
	clock := control.NewManualClock(time.Now().UTC())
	loop, err := control.New(control.Config{}, w, st, &control.InventoryLedger{Devices: st, Service: led, Actor: "scheduler"}, be, clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: st, Workloads: w, Now: clock.Now})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 2))
	for i := 0; ; i++ {
		if _, err := loop.Round(ctx); err != nil {
			return err
		}
		if r.IntN(3) == 0 {
			if _, err := svc.Cancel(ctx, jobs.FormatID(int64(1+r.IntN(2000))), "crash-test"); err != nil {
				_ = err // completed or cancelled already: fine
			}
		}
		clock.Advance(360 * time.Second)
	}
}

func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashEnv) == "" {
		t.Skip("helper process for TestCrashSafetySIGKILL")
	}
	path := os.Getenv(crashEnv)
	if err := crashLoop(path); err != nil {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(3)
	}
}

// TestCrashSafetySIGKILL kills a scheduler process with SIGKILL in the
// middle of its rounds, several times, and checks after each kill that the
// store is consistent — every job in exactly one state, a running job holds
// exactly its placement's devices, no device is held twice, no finished or
// waiting job holds a device — and that a new scheduler starts on it, keeps
// it so and makes progress: every restart saves at least two more rounds
// (within two minutes) and completes more jobs than were complete at its
// start.
func TestCrashSafetySIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var b inventory.Batch
	for i, d := range fleetOf(512, 512) {
		b.Devices = append(b.Devices, inventory.Device{Serial: d.Serial, Model: d.Model, Node: d.Node, State: fleet.InService, UpdatedAt: time.Now()})
		b.Events = append(b.Events, inventory.Event{Serial: d.Serial, To: fleet.InService, Reason: "created", Actor: "test", At: time.Now()})
		_ = i
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 2000; i++ {
		g := []int{1, 2, 4, 8}[r.IntN(4)]
		j := jobs.Job{Spec: jobs.Spec{Name: fmt.Sprint(i), Team: []string{"a", "b", "c"}[i%3], Class: []string{"resnet", "bert"}[i%2], Gang: g, Weight: 1, TotalSteps: float64(g) * 3600 * 10 * r.Float64()},
			State: jobs.Pending, SubmittedAt: time.Now(), Why: jobs.Explanation{Code: jobs.CodeSubmitted, Message: "submitted"}}
		if _, err := st.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	for kill := 0; kill < 3; kill++ {
		before := rounds(t, path)
		doneBefore := completed(t, path)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Process.Wait(); close(exited) }()
		// Let it save a few rounds, then kill it at a random moment.
		deadline := time.Now().Add(2 * time.Minute)
		for rounds(t, path) < before+2+kill || completed(t, path) <= doneBefore {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("restart %d: in 2 minutes the scheduler saved %d rounds (want ≥ %d) and completed %d jobs (had %d): rounds did not resume or made no progress",
					kill, rounds(t, path)-before, 2+kill, completed(t, path), doneBefore)
			}
			select {
			case <-exited:
				t.Fatal("helper exited before the kill")
			case <-time.After(20 * time.Millisecond):
			}
		}
		time.Sleep(time.Duration(r.IntN(200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
		after := rounds(t, path)
		n := checkConsistent(t, path)
		doneAfter := completed(t, path)
		if after < before+2+kill || doneAfter <= doneBefore {
			t.Errorf("kill %d: rounds %d → %d, completed jobs %d → %d: no progress survived the kill", kill+1, before, after, doneBefore, doneAfter)
		}
		t.Logf("kill %d: rounds %d → %d; completed jobs %d → %d; %d devices held", kill+1, before, after, doneBefore, doneAfter, n)
	}
}

func rounds(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sched_rounds").Scan(&n); err != nil {
		return 0
	}
	return n
}

// completed counts the jobs in state completed.
func completed(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM jobs WHERE state = ?", string(jobs.Completed)).Scan(&n); err != nil {
		t.Fatalf("count completed jobs: %v", err)
	}
	return n
}

// checkConsistent opens the store (recovering the WAL as a restarting
// server would) and checks the invariants; it returns the number of held
// devices.
func checkConsistent(t *testing.T, path string) int {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held := map[string]string{} // serial → job
	rows, err := db.Query("SELECT serial, job FROM job_devices")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		var j int64
		rows.Scan(&s, &j)
		if _, dup := held[s]; dup {
			t.Errorf("device %s held twice", s)
		}
		held[s] = jobs.FormatID(j)
	}
	rows.Close()
	inService := map[string]bool{}
	devs, _ := st.InService(ctx)
	for _, d := range devs {
		inService[d.Serial] = true
	}
	all, err := st.Jobs(ctx, jobs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byJob := map[string][]string{}
	for s, j := range held {
		byJob[j] = append(byJob[j], s)
	}
	valid := map[jobs.State]bool{}
	for _, s := range jobs.States {
		valid[s] = true
	}
	for _, j := range all {
		if !valid[j.State] {
			t.Errorf("job %s in unknown state %q", j.ID, j.State)
		}
		if (j.State == jobs.Running) != (j.Placement != nil) {
			pl, _ := json.Marshal(j.Placement)
			t.Errorf("job %s: state %s with placement %s", j.ID, j.State, pl)
			continue
		}
		if j.Placement == nil {
			if len(byJob[j.ID]) > 0 {
				t.Errorf("job %s (%s) holds devices %v", j.ID, j.State, byJob[j.ID])
			}
			continue
		}
		if len(byJob[j.ID]) != len(j.Placement.Devices) || len(j.Placement.Devices) != j.Gang {
			t.Errorf("job %s: placement %v, held %v, gang %d", j.ID, j.Placement.Devices, byJob[j.ID], j.Gang)
		}
		for _, s := range j.Placement.Devices {
			if held[s] != j.ID {
				t.Errorf("job %s placed on %s, which is held by %q", j.ID, s, held[s])
			}
		}
		if j.StepsDone > j.TotalSteps || j.CheckpointSteps > j.StepsDone {
			t.Errorf("job %s: steps %v checkpoint %v total %v", j.ID, j.StepsDone, j.CheckpointSteps, j.TotalSteps)
		}
	}
	return len(held)
}
