package forecast

import (
	"math"
	"math/bits"

	"gonum.org/v1/gonum/mathext"
)

// maxUnitsTable bounds the outcomes an alias table may hold; wider
// delivery distributions draw Gamma variates instead.
const maxUnitsTable = 8192

// unitsTail is the probability left out at each end of a table: the
// outcomes beyond it are never drawn (far below anything 10⁶ paths could
// show).
const unitsTail = 1e-15

// unitsTable draws round(G) for G ~ Gamma(shape k, scale θ) — a quarter's
// delivered units — in O(1) by Walker's alias method (Walker, ACM TOMS
// 3(3), 1977; Vose, IEEE TSE 17(9), 1991): one 64-bit uniform picks a
// column and decides between the column's own outcome and its alias. The
// probabilities are P(round(G) = j) = F((j+½)/θ) − F((j−½)/θ), F the
// regularized lower incomplete gamma function P(k, ·) (math.Round rounds
// halves away from zero; G is continuous, so which side a boundary goes to
// has probability 0).
type unitsTable struct {
	lo    int      // outcome of column 0
	cut   []uint64 // column i keeps its outcome when the low word < cut[i]
	alias []int32  // the outcome (minus lo) a column gives otherwise
}

// newUnitsTable builds the table, or returns nil when the distribution
// spans more than maxUnitsTable outcomes.
func newUnitsTable(k, theta float64) *unitsTable {
	F := func(j float64) float64 { // P(G < j+½)
		x := (j + 0.5) / theta
		if x <= 0 {
			return 0
		}
		return mathext.GammaIncReg(k, x)
	}
	mean := k * theta
	// Lowest and highest outcomes with more than unitsTail beyond them.
	lo := int(math.Floor(mean))
	for lo > 0 && F(float64(lo-1)) > unitsTail {
		lo--
		if int(math.Floor(mean))-lo > maxUnitsTable {
			return nil
		}
	}
	hi := int(math.Ceil(mean))
	for 1-F(float64(hi)) > unitsTail {
		hi++
		if hi-lo >= maxUnitsTable {
			return nil
		}
	}
	n := hi - lo + 1
	p := make([]float64, n)
	prev, total := 0.0, 0.0
	if lo > 0 {
		prev = F(float64(lo - 1))
	}
	for i := range p {
		c := F(float64(lo + i))
		p[i] = max(c-prev, 0)
		prev = c
		total += p[i]
	}
	return newAlias(lo, p, total)
}

// newAlias builds Vose's alias table for outcomes lo, lo+1, … with weights
// p (summing to total).
func newAlias(lo int, p []float64, total float64) *unitsTable {
	n := len(p)
	t := &unitsTable{lo: lo, cut: make([]uint64, n), alias: make([]int32, n)}
	scaled := make([]float64, n)
	var small, large []int
	for i, w := range p {
		scaled[i] = w / total * float64(n)
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t.cut[s] = cutOf(scaled[s])
		t.alias[s] = int32(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left has weight 1 up to rounding: always its own outcome.
	for _, i := range append(small, large...) {
		t.cut[i] = math.MaxUint64
		t.alias[i] = int32(i)
	}
	return t
}

// cutOf is the threshold on a uniform 64-bit word for probability q in
// [0, 1).
func cutOf(q float64) uint64 {
	if q <= 0 {
		return 0
	}
	return uint64(math.Ldexp(q, 64))
}

// draw returns one quarter's units.
func (t *unitsTable) draw(src *pcg) int {
	// x·n = column·2⁶⁴ + frac: the high word is a uniform column, the low
	// word a uniform fraction within it.
	col, frac := bits.Mul64(src.Uint64(), uint64(len(t.cut)))
	if frac < t.cut[col] {
		return t.lo + int(col)
	}
	return t.lo + int(t.alias[col])
}
