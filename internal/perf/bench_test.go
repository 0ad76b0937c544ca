package perf

import (
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
)

// BenchmarkServeAll is the model behind `fit serve --all`: the plan search
// for DeepSeek-V3 at fp8 over every chip of the catalog.
func BenchmarkServeAll(b *testing.B) {
	chips := accel.Default().All()
	m, _ := models.Default().Resolve("DeepSeek-V3")
	r := ServeRequest{Model: m, Precision: fleet.FP8, Input: 2048, Output: 512}
	for b.Loop() {
		ServeAll(r, chips)
	}
}

// BenchmarkServeAllModels runs the search for every catalog model.
func BenchmarkServeAllModels(b *testing.B) {
	chips := accel.Default().All()
	ms := models.Default().All()
	for b.Loop() {
		for _, m := range ms {
			ServeAll(ServeRequest{Model: m, Precision: fleet.BF16, Input: 1024, Output: 256}, chips)
		}
	}
}

// TestServeAllIsFast bounds the plan search of `fit serve --all` (50 ms in
// the issue; typically a few ms).
func TestServeAllIsFast(t *testing.T) {
	r := testing.Benchmark(BenchmarkServeAll)
	if per := r.NsPerOp(); per > 50e6 {
		t.Errorf("ServeAll over the catalog takes %.1f ms (bound 50 ms)", float64(per)/1e6)
	}
}
