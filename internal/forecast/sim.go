package forecast

import (
	"math"
	"math/rand/v2"
)

// relTol is the relative slack in "demand exceeds supply", so that plans
// whose supply equals demand exactly on paper are not short by rounding.
const relTol = 1e-9

// short reports demand > supply beyond rounding.
func short(demand, supply float64) bool {
	return demand-supply > relTol*max(math.Abs(demand), math.Abs(supply))
}

// pathState is one path's fleet; reused across paths of a block.
type pathState struct {
	gs    []groupState
	short []bool // per month
	boxed int    // reserve units left over all groups
}

// groupState is one group on one path, together for cache locality.
type groupState struct {
	n       int // in service
	reserve int // boxed
	head    int // first live cohort
	// nextRetire is the retirement month of the first live cohort
	// (math.MaxInt when none), so the monthly check is one comparison.
	nextRetire int
	// Constants of the group, copied here so the monthly loop reads one
	// slice.
	pf      float64
	fail    *failer
	w       float64 // total live cohort weight
	cohorts []cohort
}

func newPathState(md *model) *pathState {
	st := &pathState{gs: make([]groupState, len(md.groups)), short: make([]bool, md.horizon)}
	for i := range md.groups {
		st.gs[i].cohorts = make([]cohort, 0, len(md.groups[i].initial)+md.horizon/3+8)
	}
	return st
}

func (st *pathState) reset(md *model) {
	st.boxed = 0
	for i := range md.groups {
		g := &md.groups[i]
		st.gs[i].cohorts = append(st.gs[i].cohorts[:0], g.initial...)
		st.gs[i].head = 0
		st.gs[i].nextRetire = math.MaxInt
		if len(g.initial) > 0 {
			st.gs[i].nextRetire = g.initial[0].retire
		}
		st.gs[i].reserve = g.reserve
		st.boxed += g.reserve
		st.gs[i].pf = g.pf
		st.gs[i].fail = nil
		if g.fail.p > 0 {
			st.gs[i].fail = &g.fail
		}
		n, w := 0.0, 0.0
		for _, c := range g.initial {
			n += c.w
			w += c.w
		}
		st.gs[i].n = int(n)
		st.gs[i].w = w
	}
}

// join puts d units into service in group g as a cohort retiring at retire.
// (Small enough to inline into the monthly loop.)
func (st *pathState) join(g, d, retire int) {
	if d <= 0 {
		return
	}
	gs := &st.gs[g]
	w := float64(d)
	if gs.n > 0 && gs.w > 0 {
		w = w * gs.w / float64(gs.n)
	} else {
		// Nothing left in service: earlier cohorts are empty.
		gs.head, gs.w, gs.nextRetire = len(gs.cohorts), 0, retire
	}
	gs.cohorts = append(gs.cohorts, cohort{w: w, retire: retire})
	gs.w += w
	gs.n += d
}

// retire removes the cohorts of group g whose useful life ends by month m.
func (st *pathState) retire(g, m int) {
	gs := &st.gs[g]
	cs := gs.cohorts
	for gs.head < len(cs) && cs[gs.head].retire <= m {
		c := cs[gs.head]
		gs.head++
		var r int
		if gs.head == len(cs) || gs.w <= c.w {
			r = gs.n
			gs.w = 0
		} else {
			r = int(math.Round(float64(gs.n) * c.w / gs.w))
			if r > gs.n {
				r = gs.n
			}
			gs.w -= c.w
		}
		gs.n -= r
	}
	gs.nextRetire = math.MaxInt
	if gs.head < len(cs) {
		gs.nextRetire = cs[gs.head].retire
	}
}

// age applies month m's failures (from m = 1) and retirements to every
// group, in fleet order (the order of the random draws).
func (st *pathState) age(src *pcg, r *rand.Rand, m int) {
	gss := st.gs
	for gi := range gss {
		gs := &gss[gi]
		if n, fl := gs.n, gs.fail; m > 0 && n > 0 && fl != nil {
			var k int // failures: Binomial(n, p)
			if n < fl.tabN {
				// Inversion from the mode through the table entry, written
				// out here because a call would spill this loop's registers.
				// The thresholds ascend, so counting those passed finds the
				// outcome (written out for wUp = 6 and wDown = 3); beyond
				// the entry's window the walk goes on.
				u := src.float64()
				e := &fl.tab[n]
				if u >= e.below {
					j := b2i(u >= e.up[0]) + b2i(u >= e.up[1]) + b2i(u >= e.up[2]) +
						b2i(u >= e.up[3]) + b2i(u >= e.up[4]) + b2i(u >= e.up[5])
					k = e.mode + j
					if j == wUp {
						k = fl.walkUp(n, u, e)
					}
				} else {
					j := b2i(u < e.down[0]) + b2i(u < e.down[1]) + b2i(u < e.down[2])
					k = e.mode - 1 - j
					if j == wDown {
						k = fl.walkDown(n, u, e)
					}
				}
			} else {
				k = fl.drawBeyond(r, n)
			}
			gs.n = n - k
		}
		if gs.nextRetire <= m {
			st.retire(gi, m)
		}
	}
}

// path simulates one path, writing supply per month into supply (when not
// nil) and the shortfall flags into st.short. It returns the runway: the
// first month with a shortfall, or md.horizon when there is none. r must
// draw from src.
func (md *model) path(r *rand.Rand, src *pcg, st *pathState, supply []float64) int {
	st.reset(md)
	runway := md.horizon
	groups := md.groups
	gss := st.gs
	for m := 0; m < md.horizon; m++ {
		st.age(src, r, m)
		for ai := range md.arrivals[m] {
			a := &md.arrivals[m][ai]
			var d int
			if a.table != nil {
				d = a.table.draw(src)
			} else {
				d = a.units(src, r)
			}
			st.join(a.group, d, m+a.life)
		}
		s := 0.0
		for gi := range gss {
			s += float64(gss[gi].n) * gss[gi].pf
		}
		d := md.demand[m]
		if st.boxed > 0 && short(d, s) {
			// Bring boxed reserve into service, in fleet order, as many
			// units as needed while any remain.
			for gi := range groups {
				if gss[gi].reserve == 0 {
					continue
				}
				pf := groups[gi].pf
				need := gss[gi].reserve
				if f := math.Ceil((d - s) / pf * (1 - relTol)); f < float64(need) {
					need = int(f)
				}
				if need <= 0 {
					continue
				}
				gss[gi].reserve -= need
				st.boxed -= need
				st.join(gi, need, m+groups[gi].life)
				s += float64(need) * pf
				if !short(d, s) {
					break
				}
			}
		}
		sh := short(d, s)
		st.short[m] = sh
		if sh && runway == md.horizon {
			runway = m
		}
		if supply != nil {
			supply[m] = s
		}
	}
	return runway
}

// units draws one quarter's delivery: exactly mean when cv is 0, else a
// gamma variate with that mean and coefficient of variation, rounded.
func (a *arrival) units(src *pcg, r *rand.Rand) int {
	if a.cv == 0 || a.mean == 0 {
		return int(math.Round(a.mean))
	}
	if a.table != nil {
		return a.table.draw(src)
	}
	return int(math.Round(a.gamma.draw(src, r) * a.scale))
}

// gammaGen draws Gamma(k, 1) by Marsaglia and Tsang (ACM TOMS 26(3), 2000),
// with the constants computed once; k < 1 is boosted by U^(1/k).
type gammaGen struct {
	k, d, c float64
}

func newGamma(k float64) gammaGen {
	kk := k
	if kk < 1 {
		kk++
	}
	d := kk - 1.0/3
	return gammaGen{k: k, d: d, c: 1 / math.Sqrt(9*d)}
}

// draw returns a variate; r must draw from src (normals come through r,
// uniforms straight from src).
func (g *gammaGen) draw(src *pcg, r *rand.Rand) float64 {
	for {
		x := r.NormFloat64()
		v := 1 + g.c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := src.float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+g.d*(1-v+math.Log(v)) {
			if g.k < 1 {
				return g.d * v * math.Pow(src.float64(), 1/g.k)
			}
			return g.d * v
		}
	}
}

// binomialNormalAbove is the mean n·p above which draw uses the normal
// approximation (rounded, clamped to [0, n]); below it, and for every n in
// the table, the draw is exact. Above the table n·p ≥ 30 also uses the
// normal approximation, whose error there is far below the Monte Carlo noise
// of a fleet forecast.
const binomialNormalAbove = 2000

// maxTable bounds a failer's table (n above it draws without the table).
const maxTable = 1 << 16

// failer draws a group's monthly failures, Binomial(n, p). For every count
// n the group can reach it caches the mode of Binomial(n, p), the pmf there
// and the CDF just below it, so a draw is an inversion that starts at the
// mode and walks up or down: exact, no exp or lgamma, about 0.8·sd steps.
type failer struct {
	p, logq, ratio, invRatio float64
	tab                      []modeEntry // indexed by n
	// tabN is the least n that draws without the table: n ≥ len(tab) or
	// n·p ≥ binomialNormalAbove (n·p grows with n).
	tabN int
}

// wUp and wDown are how many outcomes at and above, and below, the mode a
// table entry resolves without walking.
const (
	wUp   = 6
	wDown = 3
)

// modeEntry is what a draw needs for one n: the mode, and the CDF values
// the walk from the mode compares the uniform against for the outcomes
// mode−wDown … mode+wUp−1, computed once exactly as the walk computes them
// (same operations, same order), so a table draw gives the same k for the
// same uniform as walking from the mode. Most draws end in the entry; the
// rest walk on from its edges. The walk starts from the pmf at the mode and
// P(X < mode) rounded to float32 (by at most 6e-8, far below anything a
// forecast can resolve).
type modeEntry struct {
	mode  int     // ⌊(n+1)p⌋ ∧ n
	below float64 // P(X < mode)
	// up[j] is P(X ≤ mode+j); +Inf from where mode+j = n (the walk stops).
	up [wUp]float64
	// down[j] is P(X < mode−1−j); −Inf from where mode−1−j = 0.
	down [wDown]float64
	// fUp and fDown are the pmf at mode+wUp−1 and at mode−wDown, to walk on.
	fUp, fDown float64
}

// inv[k] = 1/k, so the walk multiplies instead of dividing.
var inv = func() []float64 {
	t := make([]float64, 4096)
	for k := 1; k < len(t); k++ {
		t[k] = 1 / float64(k)
	}
	return t
}()

// stepUp is the walk's pmf update from k to k+1 (ratio = p/(1 − p)).
func stepUp(f, fn, fk, ratio float64, k int) float64 {
	if k+1 < len(inv) {
		return f * ((fn - fk) * ratio * inv[k+1])
	}
	return f * ((fn - fk) * ratio / (fk + 1))
}

// stepDown is the walk's pmf update from k to k−1 (invRatio = (1 − p)/p).
func stepDown(f, fn, fk, invRatio float64) float64 {
	return f * (fk * invRatio / (fn - fk + 1))
}

// newWindow fills the walk's thresholds around the mode m of
// Binomial(n, ·), from the pmf at the mode and P(X < m) as float32.
func newWindow(n, m int, pm, below float32, ratio, invRatio float64) modeEntry {
	e := modeEntry{mode: m, below: float64(below)}
	inf := math.Inf(1)
	fn := float64(n)
	f, cdf := float64(pm), e.below+float64(pm)
	for j := range e.up {
		k := m + j // the outcome this threshold decides
		if k >= n {
			e.up[j] = inf // the walk stops at n
			continue
		}
		if j > 0 {
			f = stepUp(f, fn, float64(k-1), ratio, k-1)
			cdf += f
		}
		e.up[j] = cdf
		e.fUp = f
	}
	f, b := float64(pm), e.below
	for j := range e.down {
		k := m - 1 - j // the outcome this threshold decides
		if k <= 0 {
			e.down[j] = -inf
			continue
		}
		f = stepDown(f, fn, float64(k+1), invRatio)
		b -= f
		e.down[j] = b
		e.fDown = f
	}
	return e
}

// tables caches what the groups of a plan and its lever reruns share:
// failure tables by p (entry n depends only on n and p) and delivery
// tables by shape and scale.
type tables struct {
	fail  map[float64][]modeEntry
	units map[[2]float64]*unitsTable
}

func newTables() *tables {
	return &tables{fail: map[float64][]modeEntry{}, units: map[[2]float64]*unitsTable{}}
}

// unitsTable returns newUnitsTable(k, theta), built once.
func (ts *tables) unitsTable(k, theta float64) *unitsTable {
	key := [2]float64{k, theta}
	t, ok := ts.units[key]
	if !ok {
		t = newUnitsTable(k, theta)
		ts.units[key] = t
	}
	return t
}

// failTable returns entries 0…maxN for p, computing only those not cached.
func (ts *tables) failTable(p float64, maxN int) []modeEntry {
	ft := ts.fail
	tab := ft[p]
	if len(tab) <= maxN {
		lp, logq, ratio, invRatio := math.Log(p), math.Log1p(-p), p/(1-p), (1-p)/p
		for n := len(tab); n <= maxN; n++ {
			m, pm, below := modeProbs(n, p, lp, logq, ratio)
			tab = append(tab, newWindow(n, m, pm, below, ratio, invRatio))
		}
		ft[p] = tab
	}
	return tab[: maxN+1 : maxN+1]
}

// modeProbs returns the mode m of Binomial(n, p), the pmf there and
// P(X < m) (lp = log p, logq = log(1 − p), ratio = p/(1 − p)).
func modeProbs(n int, p, lp, logq, ratio float64) (m int, pm, below float32) {
	m = int(float64(n+1) * p)
	if m > n {
		m = n
	}
	fn, fm := float64(n), float64(m)
	ln, _ := math.Lgamma(fn + 1)
	lm, _ := math.Lgamma(fm + 1)
	lnm, _ := math.Lgamma(fn - fm + 1)
	pmf := math.Exp(ln - lm - lnm + fm*lp + (fn-fm)*logq)
	// P(X < m): sum the pmf down from the mode until terms vanish.
	sum, t := 0.0, pmf
	for k := m; k > 0; k-- {
		t *= float64(k) / (fn - float64(k) + 1) / ratio
		sum += t
		if t < sum*1e-17 {
			break
		}
	}
	return m, float32(pmf), float32(sum)
}

// newFailer builds the failer of monthly probability p with a table for
// n ≤ maxN (capped at maxTable), taken from ts when it holds one.
func newFailer(p float64, maxN int, ts *tables) failer {
	f := failer{p: p, logq: math.Log1p(-p)}
	if p == 0 {
		return f
	}
	f.ratio = p / (1 - p)
	f.invRatio = (1 - p) / p
	maxN = max(0, min(maxN, maxTable))
	f.tab = ts.failTable(p, maxN)
	f.tabN = len(f.tab)
	for f.tabN > 0 && !(float64(f.tabN-1)*p < binomialNormalAbove) {
		f.tabN--
	}
	return f
}

// drawBeyond returns Binomial(n, p) for n ≥ tabN (age draws below tabN
// from the table): exact inversion from 0 while n·p < 30 and n is beyond
// the table, else the rounded normal approximation.
func (fl *failer) drawBeyond(r *rand.Rand, n int) int {
	p := fl.p
	mean := float64(n) * p
	if mean < 30 {
		// Beyond the table with a small mean: exact inversion from 0.
		u := r.Float64()
		f := math.Exp(float64(n) * fl.logq)
		cdf, k, fn := f, 0, float64(n)
		for u > cdf && k < n && f > 0 {
			f *= (fn - float64(k)) * fl.ratio / float64(k+1)
			k++
			cdf += f
		}
		return k
	}
	x := math.Round(mean + math.Sqrt(mean*(1-p))*r.NormFloat64())
	if x < 0 {
		return 0
	}
	if x > float64(n) {
		return n
	}
	return int(x)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// walkUp continues the walk above the entry's window (u ≥ e.up[wUp−1]).
func (fl *failer) walkUp(n int, u float64, e *modeEntry) int {
	k := e.mode + wUp - 1
	f, cdf, fn, fk := e.fUp, e.up[wUp-1], float64(n), float64(k)
	ratio := fl.ratio
	for lim := min(n, len(inv)-1); u >= cdf && k < lim; {
		f *= (fn - fk) * ratio * inv[k+1]
		k++
		fk++
		cdf += f
	}
	for u >= cdf && k < n {
		f *= (fn - fk) * ratio / (fk + 1)
		k++
		fk++
		cdf += f
	}
	return k
}

// walkDown continues the walk below the entry's window
// (u < e.down[wDown−1]); below is P(X < k).
func (fl *failer) walkDown(n int, u float64, e *modeEntry) int {
	k := e.mode - wDown
	f, below, fn, fk := e.fDown, e.down[wDown-1], float64(n), float64(k)
	invRatio := fl.invRatio
	for k > 0 {
		f *= fk * invRatio / (fn - fk + 1)
		k--
		fk--
		below -= f
		if u >= below {
			return k
		}
	}
	return 0
}
