package binder_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

// Replica A leads and runs a gang, B leads for a while (on the same store
// and cluster), then A leads again. A's first round of its new term must
// not charge the gang the time B already charged: after NewTerm it reports
// no progress, as a fresh process does. Without it, A charges everything
// since its own last round (the job's attained service jumps by B's term).
func TestRegainedLeadDoesNotChargeTwice(t *testing.T) {
	env := k8stest.Start(t)
	nodes(t, env)
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "g.db")
	a := startClusterOn(t, env, db)
	gang := func(name string) podSpec {
		return podSpec{name: name, group: "g", min: 2, resource: "nvidia.com/gpu", n: 4, annotations: map[string]string{binder.ClassAnnotation: "vision-train"}}
	}
	a.create(t, gang("g-0"), gang("g-1"))
	a.until(t, "gang bound", func() error {
		for _, n := range []string{"g-0", "g-1"} {
			if a.pod(t, "default", n).Spec.NodeName == "" {
				return fmt.Errorf("%s unbound", n)
			}
		}
		return nil
	})
	a.round(t)
	b := startClusterOn(t, env, db) // the other replica takes the lead
	for i := 0; i < 3; i++ {
		time.Sleep(time.Second)
		b.round(t)
	}
	attained := func() float64 {
		js, err := b.store.Jobs(ctx, jobs.Filter{States: []jobs.State{jobs.Running}})
		if err != nil || len(js) != 1 {
			t.Fatalf("running jobs %+v, %v: want the gang's", js, err)
		}
		return js[0].AttainedSeconds
	}
	before := attained()
	a.b.NewTerm() // A leads again
	a.round(t)
	if d := attained() - before; d > 0.5 {
		t.Errorf("A's first round of its new term charged the gang %.1f s more (B had charged its term already)", d)
	}
}
