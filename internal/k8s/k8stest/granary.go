package k8stest

import (
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/control/workload"
	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
)

// GranaryJobClient returns an uncached controller-runtime client of the
// control plane that knows the core types, CRDs and GranaryJobs.
func (e *Env) GranaryJobClient(t testing.TB) client.Client {
	t.Helper()
	sch := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, granaryjob.AddToScheme} {
		if err := add(sch); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(e.Config, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// GranaryJobCRD returns the GranaryJob CRD as deploy/ ships it (found by
// walking up from the working directory to go.mod), decoded strictly.
func GranaryJobCRD(t testing.TB) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("module root (go.mod) not found")
		}
		dir = filepath.Dir(dir)
	}
	data, err := os.ReadFile(filepath.Join(dir, "deploy", "kubernetes", "crd-granaryjobs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// Jobs returns the jobs service the tests run Granary's loop with, over st
// and fleet: the workload table of every model of cat, names resolved by
// cat, models shown by their short names. It also returns the workloads and
// names, which the loop is configured with.
func Jobs(t testing.TB, cat *accel.Catalog, st jobs.Store, fleet jobs.Fleet) (*jobs.Service, *jobs.Workloads, jobs.Names) {
	t.Helper()
	var models []string
	for _, ch := range cat.All() {
		models = append(models, ch.ID)
	}
	es, err := workload.Table(cat, models)
	if err != nil {
		t.Fatal(err)
	}
	w, err := jobs.NewWorkloads(es)
	if err != nil {
		t.Fatal(err)
	}
	return JobsOn(t, cat, st, fleet, w)
}

// JobsOn is Jobs with the workload table w (e.g. one with pair
// throughputs, for a *-packed policy).
func JobsOn(t testing.TB, cat *accel.Catalog, st jobs.Store, fleet jobs.Fleet, w *jobs.Workloads) (*jobs.Service, *jobs.Workloads, jobs.Names) {
	t.Helper()
	resolve := func(n string) (string, error) {
		ch, err := cat.Resolve(n)
		return ch.ID, err
	}
	names := workload.ShortName(cat)
	svc, err := jobs.NewService(jobs.ServiceConfig{Store: st, Fleet: fleet, Workloads: w, Resolve: resolve, Names: names})
	if err != nil {
		t.Fatal(err)
	}
	return svc, w, names
}
