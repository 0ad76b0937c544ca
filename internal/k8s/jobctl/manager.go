package jobctl

import (
	"log/slog"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// NewManager builds the controller-runtime manager the controller runs in:
// core types and GranaryJob in its scheme, a cache of GranaryJobs and of
// the pods that carry granaryjob.UIDLabel only (the binder's informers
// watch every pod), no metrics or health server of its own (granary serve
// has them) and no leader election of its own (the controller follows the
// scheduling loop's Lease through SetLeading).
func NewManager(rc *rest.Config, log *slog.Logger) (manager.Manager, error) {
	sch := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, granaryjob.AddToScheme} {
		if err := add(sch); err != nil {
			return nil, err
		}
	}
	owned, err := labels.NewRequirement(granaryjob.UIDLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	skip := true // one controller per manager, but tests run several managers
	// controller-runtime's informers log through its process-wide logger;
	// without one it prints a stack trace.
	ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
	return ctrl.NewManager(rc, manager.Options{
		Scheme:                 sch,
		Logger:                 logr.FromSlogHandler(log.Handler()),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Label: labels.NewSelector().Add(*owned)},
		}},
	})
}
