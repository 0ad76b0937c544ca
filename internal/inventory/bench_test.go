package inventory_test

import (
	"bytes"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/storetest"
)

func BenchmarkParseCSV100k(b *testing.B) {
	csv := storetest.FleetCSV(storetest.BenchSize)
	cat := accel.Default()
	b.SetBytes(int64(len(csv)))
	for b.Loop() {
		im, err := inventory.ParseCSV(cat, "bench.csv", bytes.NewReader(csv))
		if err != nil || len(im.Rows) != storetest.BenchSize {
			b.Fatal(err)
		}
	}
}
