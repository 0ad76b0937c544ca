package kubeserve

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
)

// loopBackend is the backend the scheduling loop calls: the binder until
// the GranaryJob controller runs, then the controller's wrapper of it.
type loopBackend struct {
	mu  sync.Mutex
	cur control.Backend
}

func (l *loopBackend) get() control.Backend {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

func (l *loopBackend) set(b control.Backend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = b
}

// Enact implements control.Backend.
func (l *loopBackend) Enact(ctx context.Context, in control.Enactment) error {
	return l.get().Enact(ctx, in)
}

// Observe implements control.Backend.
func (l *loopBackend) Observe(ctx context.Context, now time.Time) (control.Observation, error) {
	return l.get().Observe(ctx, now)
}

// crdServed reports whether the API server serves GranaryJobs.
func (k *Kube) crdServed() (bool, error) {
	rl, err := k.client.Discovery().ServerResourcesForGroupVersion(granaryjob.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, r := range rl.APIResources {
		if r.Name == "granaryjobs" {
			return true, nil
		}
	}
	return false, nil
}

// runController runs the GranaryJob controller's manager on every replica
// (its caches stay warm for a failover); the controller acts only while
// this replica holds the scheduling Lease. Without the CRD it warns once
// and looks again every CRDPoll, so installing the CRD needs no restart.
func (k *Kube) runController(ctx context.Context) {
	log := k.cfg.Log.With("component", "granaryjob")
	warned := false
	for {
		ok, err := k.crdServed()
		if ok {
			break
		}
		if !warned {
			log.Warn("the GranaryJob CRD is not installed: GranaryJobs are not run until it is (kubectl apply -f deploy/kubernetes/crd-granaryjobs.yaml); pod gangs are scheduled meanwhile",
				"err", err, "retry", k.cfg.CRDPoll)
			warned = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.cfg.CRDPoll):
		}
	}
	mgr, err := jobctl.NewManager(k.rc, log)
	if err != nil {
		log.Error("GranaryJob controller not started", "err", err)
		return
	}
	ctl, err := jobctl.New(ctx, mgr, jobctl.Config{Jobs: k.jobs, Fit: k.backend, Devices: k.devices, Mapping: k.mapping,
		Names: k.jobs.Names(), Log: log})
	if err != nil {
		log.Error("GranaryJob controller not started", "err", err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil && ctx.Err() == nil {
			log.Error("GranaryJob controller stopped", "err", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		<-done
		return
	}
	k.loop.set(ctl.Backend(k.backend))
	k.mu.Lock()
	k.ctl = ctl
	ctl.SetLeading(k.leading)
	k.mu.Unlock()
	log.Info("GranaryJob controller running")
	<-done
}

// setLeading records whether this replica leads, and tells the controller.
func (k *Kube) setLeading(on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.leading = on
	if k.ctl != nil {
		k.ctl.SetLeading(on)
	}
}
