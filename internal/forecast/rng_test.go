package forecast

import (
	"math/rand/v2"
	"testing"
)

// The block generator is math/rand/v2's PCG (the oracle): same seeds, same
// stream, through Uint64, Float64 and the normals a rand.Rand draws from it.
func TestPCGMatchesStdlib(t *testing.T) {
	for _, s := range [][2]uint64{{0, 0}, {1, 2}, {0x9e3779b97f4a7c15, 1<<63 + 5}} {
		mine, std := newPCG(s[0], s[1]), rand.NewPCG(s[0], s[1])
		rm, rs := rand.New(mine), rand.New(std)
		for i := 0; i < 2000; i++ {
			switch i % 3 {
			case 0:
				if a, b := mine.Uint64(), std.Uint64(); a != b {
					t.Fatalf("seeds %v draw %d: %#x, stdlib %#x", s, i, a, b)
				}
			case 1:
				if a, b := mine.float64(), rs.Float64(); a != b {
					t.Fatalf("seeds %v draw %d: %v, stdlib %v", s, i, a, b)
				}
			default:
				if a, b := rm.NormFloat64(), rs.NormFloat64(); a != b {
					t.Fatalf("seeds %v draw %d: %v, stdlib %v", s, i, a, b)
				}
			}
		}
	}
}
