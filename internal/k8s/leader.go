package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Election configures leader election on a coordination.k8s.io Lease:
// replicas of `granary serve --kube` share one Lease and only its holder
// binds pods.
type Election struct {
	Client    kubernetes.Interface
	Namespace string // of the Lease
	Name      string // of the Lease; default "granary-scheduler"
	Identity  string // this replica, e.g. the pod name
	// LeaseDuration (default 15 s), RenewDeadline (10 s), RetryPeriod (2 s)
	// as in client-go's leaderelection.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       *slog.Logger
}

// Run campaigns for the Lease until ctx ends; while this replica leads it
// runs lead with a context that ends when the lead is lost. It returns when
// ctx ends.
func (e Election) Run(ctx context.Context, lead func(context.Context)) error {
	if e.Name == "" {
		e.Name = "granary-scheduler"
	}
	if e.LeaseDuration == 0 {
		e.LeaseDuration = 15 * time.Second
	}
	if e.RenewDeadline == 0 {
		e.RenewDeadline = 10 * time.Second
	}
	if e.RetryPeriod == 0 {
		e.RetryPeriod = 2 * time.Second
	}
	if e.Identity == "" || e.Namespace == "" {
		return fmt.Errorf("k8s: leader election needs an identity and a namespace")
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.Namespace, Name: e.Name},
		Client:     e.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}
	// A lost lead ends lead's context; the next campaign waits for lead to
	// return, so two leads never overlap in this process.
	var leading sync.WaitGroup
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: e.LeaseDuration, RenewDeadline: e.RenewDeadline, RetryPeriod: e.RetryPeriod,
			ReleaseOnCancel: true, Name: e.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(c context.Context) {
					e.Log.Info("leading: this replica binds pods", "lease", e.Namespace+"/"+e.Name, "identity", e.Identity)
					leading.Add(1)
					defer leading.Done()
					lead(c)
				},
				OnStoppedLeading: func() { e.Log.Info("not leading", "lease", e.Namespace+"/"+e.Name, "identity", e.Identity) },
				OnNewLeader: func(id string) {
					if id != e.Identity {
						e.Log.Info("another replica leads", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx) // returns when the lead is lost or ctx ends
		leading.Wait()
	}
	return nil
}
