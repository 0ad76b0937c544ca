// Package kubeserve attaches Kubernetes to `granary serve --kube`: it
// connects to the API server, keeps the ledger in step with the nodes
// (nodesync, on every replica), supplies the binder as the live loop's
// backend, runs the GranaryJob controller (jobctl; it acts only on the
// leader, and starts when the CRD appears), and runs the loop only while
// this replica holds the leader Lease. servecmd calls Connect, passes Backend to servecmd/live, and runs Run
// beside the HTTP server.
package kubeserve

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/binder"
	"github.com/granaryhq/granary/internal/k8s/jobctl"
	"github.com/granaryhq/granary/internal/k8s/nodesync"
)

// Config configures the Kubernetes side of a server.
type Config struct {
	Kubeconfig string              // --kubeconfig; "" = $KUBECONFIG, in-cluster, ~/.kube/config
	Getenv     func(string) string // environment (KUBECONFIG, POD_NAMESPACE, POD_NAME)
	// Namespace of the leader Lease: default $POD_NAMESPACE, else "granary".
	Namespace string
	// Identity of this replica: default $POD_NAME, else the hostname.
	Identity      string
	LeaseDuration time.Duration // default 15 s
	Ledger        *inventory.Service
	Catalog       *accel.Catalog
	Log           *slog.Logger
	Registry      prometheus.Registerer
	// CRDPoll is how often a server without the GranaryJob CRD looks for
	// it again (default 10 s).
	CRDPoll time.Duration
}

// Kube is a connected cluster.
type Kube struct {
	cfg     Config
	client  kubernetes.Interface
	inf     informers.SharedInformerFactory
	syncer  *nodesync.Syncer
	mapping k8s.Mapping
	backend *binder.Backend
	rc      *rest.Config
	jobs    *jobs.Service
	devices jobctl.Devices
	loop    *loopBackend // what the loop calls: the binder, wrapped by the GranaryJob controller once it runs

	mu      sync.Mutex
	leading bool
	ctl     *jobctl.Controller
}

// Connect reaches the API server (a *k8s.ConnectError naming its URL when
// it cannot) and prepares the node sync.
func Connect(cfg Config) (*Kube, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Namespace == "" {
		cfg.Namespace = cfg.Getenv("POD_NAMESPACE")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "granary"
	}
	if cfg.Identity == "" {
		cfg.Identity = cfg.Getenv("POD_NAME")
	}
	if cfg.Identity == "" {
		cfg.Identity, _ = os.Hostname()
	}
	rc, err := k8s.Connect(cfg.Kubeconfig, cfg.Getenv, 10*time.Second)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	if cfg.CRDPoll <= 0 {
		cfg.CRDPoll = 10 * time.Second
	}
	k := &Kube{cfg: cfg, client: cs, rc: rc, inf: informers.NewSharedInformerFactory(cs, 0), mapping: k8s.Mapping{Catalog: cfg.Catalog}}
	k.syncer, err = nodesync.New(nodesync.Config{Informers: k.inf, Ledger: cfg.Ledger, Mapping: k.mapping,
		Log: cfg.Log.With("component", "nodesync"), Registry: cfg.Registry})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Backend is servecmd/live's Config.Backend: the binder, and the fleet without
// the devices other schedulers' pods hold.
func (k *Kube) Backend(svc *jobs.Service, l control.Ledger) (control.Backend, control.Ledger, error) {
	b, err := binder.New(binder.Config{Client: k.client, Informers: k.inf, Jobs: svc, Mapping: k.mapping, Names: svc.Names(),
		Log: k.cfg.Log.With("component", "binder")})
	if err != nil {
		return nil, nil, err
	}
	k.backend, k.jobs, k.devices = b, svc, l
	k.loop = &loopBackend{cur: b}
	return k.loop, binder.Ledger{Ledger: l, Backend: b}, nil
}

// Pairable is what space sharing may pair on the cluster (jobctl.Pairable):
// servecmd/live puts it in the planner's configuration.
func (k *Kube) Pairable() *jobs.PairLimit { return jobctl.Pairable(k.mapping) }

// CanPair says on which models of cat a pair may share a device on
// Kubernetes (jobctl.Pairable: the vendor has sharing names).
func CanPair(cat *accel.Catalog) func(model string) bool {
	return jobctl.Pairable(k8s.Mapping{Catalog: cat}).Model
}

// Run starts the informers and the node sync, and runs lead (the
// scheduling loop) while this replica leads, until ctx ends.
func (k *Kube) Run(ctx context.Context, lead func(context.Context) error) error {
	if k.backend == nil {
		return errors.New("kubeserve: Backend was not given to the scheduler")
	}
	k.inf.Start(ctx.Done())
	defer k.inf.Shutdown()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := k.syncer.Run(ctx); err != nil && ctx.Err() == nil {
			k.cfg.Log.Error("node sync stopped; the ledger no longer follows the cluster", "err", err)
		}
	}()
	defer func() { <-done }()
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); k.runController(ctx) }()
	defer func() { <-ctlDone }()
	select {
	case <-k.syncer.Ready():
	case <-ctx.Done():
		return nil
	}
	if !k.backend.WaitForSync(ctx) {
		return nil
	}
	el := k8s.Election{Client: k.client, Namespace: k.cfg.Namespace, Identity: k.cfg.Identity, LeaseDuration: k.cfg.LeaseDuration,
		Log: k.cfg.Log.With("component", "leader")}
	if k.cfg.LeaseDuration > 0 {
		el.RenewDeadline = k.cfg.LeaseDuration * 2 / 3
		el.RetryPeriod = max(k.cfg.LeaseDuration/8, 100*time.Millisecond)
	}
	return el.Run(ctx, func(c context.Context) {
		k.backend.NewTerm() // another replica may have led since this one's last term
		k.setLeading(true)
		defer k.setLeading(false)
		if err := lead(c); err != nil && c.Err() == nil {
			k.cfg.Log.Error("scheduling loop stopped", "err", err)
		}
	})
}
