package forecast

import "math/bits"

// pcg is the block generator: PCG with a 128-bit LCG state and the DXSM
// output function, the same generator and stream as math/rand/v2's PCG for
// the same two seeds (tested). It is a concrete type so the hot loops call
// it directly, without an interface call; it is also a rand.Source for the
// *rand.Rand that draws the normals.
//
// Constants: the 128-bit multiplier and increment of O'Neill's pcg-cpp
// (pcg_random.hpp, "cheap multiplier" for DXSM), as math/rand/v2 uses them.
type pcg struct{ hi, lo uint64 }

func newPCG(seed1, seed2 uint64) *pcg { return &pcg{hi: seed1, lo: seed2} }

// Uint64 advances the state (state·mul + inc mod 2¹²⁸) and returns the DXSM
// output of the new state.
func (p *pcg) Uint64() uint64 {
	const (
		mulHi    = 2549297995355413924
		mulLo    = 4865540595714422341
		incHi    = 6364136223846793005
		incLo    = 1442695040888963407
		cheapMul = 0xda942042e4dd58b5
	)
	hi, lo := bits.Mul64(p.lo, mulLo)
	hi += p.hi*mulLo + p.lo*mulHi
	lo, c := bits.Add64(lo, incLo, 0)
	hi, _ = bits.Add64(hi, incHi, c)
	p.lo, p.hi = lo, hi
	hi ^= hi >> 32
	hi *= cheapMul
	hi ^= hi >> 48
	hi *= lo | 1
	return hi
}

// float64 is a uniform in [0, 1), the same value rand.Rand.Float64 returns
// for the same source.
func (p *pcg) float64() float64 { return float64(p.Uint64()<<11>>11) * 0x1p-53 }
