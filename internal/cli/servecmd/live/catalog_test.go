package live

import (
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

// The chips given with --catalog reach the fit derivation: an H800 with
// twice the bf16 FLOPS makes a job given by model + precision train faster
// (the live loop re-derives with the same Workloads after a restart).
func TestCatalogReachesFitDerivation(t *testing.T) {
	const h800 = "h800-sxm5-80gb"
	rate := func(cat *accel.Catalog) float64 {
		w, err := loadWorkloads(Config{Catalog: cat, Throughputs: ""})
		if err != nil {
			t.Fatal(err)
		}
		sp, err := w.ResolveFit(jobs.Spec{Name: "x", Team: "a", Model: "Llama-3-8B", Precision: "bf16", Gang: 8}, []string{h800})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := w.Lookup(sp.Class, 8, h800)
		return v
	}
	base := accel.Default()
	chip, ok := base.Get(h800)
	if !ok {
		t.Fatal("no H800 in the default catalog")
	}
	fast, err := base.WithOverrides([]accel.Chip{{ID: h800, TOPS: map[fleet.Precision]float64{fleet.BF16: 2 * chip.TOPS[fleet.BF16]}}})
	if err != nil {
		t.Fatal(err)
	}
	slow, quick := rate(base), rate(fast)
	if !(slow > 0) || !(quick > 1.5*slow) {
		t.Errorf("steps/s with the default H800 %v, with twice its bf16 FLOPS %v: the catalog did not reach the fit advisor", slow, quick)
	}
}
