package sched

import "math"

// centre returns the central optimal solution of the max-min LP that
// maxMinLP solves (same a, gang, capacity, use), given its optimum t and one
// optimal x (a simplex vertex).
//
// A max-min LP pins only its bottleneck: every job above the minimum can be
// given any share that keeps it above, so the optimal solutions form a large
// face. A simplex vertex picks an extreme point of that face, which gives
// each non-bottleneck job just enough to stay at the minimum and starves it
// for the rest; Gavel's interior-point solver (ECOS) returns the analytic
// centre of the face instead (the limit of the central path), where every
// job gets a share in the middle of what the optimum allows. Under load, with
// hundreds of active jobs and one bottleneck, the two differ by tens of
// percent in average JCT (agnostic las, ftf).
//
// We compute that centre: the maximiser of the log-barrier
//
//	Σ_ik log x_ik + Σ_i log(1 − Σ_k x_ik) + Σ_i log(Σ_k a_ik·x_ik − τ)
//	  + Σ_k log(capacity_k − Σ_i gang_i·x_ik)
//
// for τ = (1−δ)·t, δ decreasing from 1/2 by factors of 4 (each τ is a point
// of the central path), by Newton steps; the last τ the steps reach is kept
// (δ ≤ 1e-4 in practice; rounding stops them earlier where several
// constraints vanish together), then snapped onto the face where scaling
// allows (snap). If they stop before δ = CentreTolerance, the vertex is
// returned. Every
// (job, model) pair is a variable, as in Gavel's LP, including models where
// a_ik = 0; those shares are set to 0 in the result (they would be unused:
// the round mechanism never places a job where its throughput is 0).
// Identical jobs get identical rows (the centre is unique, so symmetric):
// the barrier is solved per group of identical rows, weighted by the group
// size, which keeps it small. The slacks are variables of their own, tied
// to x by equality constraints, so the Newton Hessian is diagonal and stays
// well-conditioned as slacks vanish near the optimal face; the KKT system is
// solved by eliminating the two row multipliers of each group (2×2) and then
// one multiplier per model (models × models).
func centre(a [][]float64, gang, capacity []float64, use []bool, t float64, xv [][]float64) [][]float64 {
	return centreOf(a, gang, capacity, use, t, xv, false)
}

// centreCone is centre with each row's term 2·log(a·x − τ) − log(a·x) in
// place of log(a·x − τ): the barrier ECOS puts on a job's finish-time
// ratio in Gavel's FTF, where "(tss + R·inv_pos(y))/E ≤ ρ" becomes a linear
// slack ρE − tss − R·z ≥ 0 and a second-order cone z·y ≥ 1. Maximising
// log(ρE − tss − R·z) + log(z·y − 1) over the auxiliary z leaves
// 2·log(y·ρE' − R) − log(y) + const, with y·ρE'/R = a·x in the scaled rows
// (E' = ρE − tss over ρ): the central path of that program weights a job's
// room above its bottleneck twice and discounts its throughput once.
func centreCone(a [][]float64, gang, capacity []float64, use []bool, t float64, xv [][]float64) [][]float64 {
	return centreOf(a, gang, capacity, use, t, xv, true)
}

// centreCone is maxMin's centre (see aggregate.go) under centreCone's
// barrier.
func (mm *maxMin) centreCone(t float64, x [][]float64) [][]float64 {
	if !mm.big {
		return centreCone(mm.a, mm.gang, mm.capacity, mm.used(), t, x)
	}
	return mm.centreGroups(t, x, func(c *barrier, vert [][]float64) [][]float64 {
		c.cone = true
		return c.centreRows(vert, t)
	})
}

func centreOf(a [][]float64, gang, capacity []float64, use []bool, t float64, xv [][]float64, cone bool) [][]float64 {
	c, rep, of := newBarrier(a, gang, capacity, use)
	if c != nil {
		c.cone = cone
	}
	if c == nil || !(t > 0) || math.IsInf(t, 0) {
		return copyRows(xv)
	}
	return c.expand(a, of, c.centreRows(c.rows(xv, rep), t))
}

// centreRows is centre on the groups' rows: vert is an optimal vertex.
func (c *barrier) centreRows(vert [][]float64, t float64) [][]float64 {
	cur := c.point(c.start(vert, t))
	best, reached := vert, 1.0
	for delta := 0.5; delta >= 1e-8; delta /= 4 {
		c.tau = (1 - delta) * t
		c.newton(cur)
		// A stage holds when x alone (slacks recomputed) is strictly
		// inside with rows ≥ τ. Near the face rounding can break it when
		// several constraints vanish together; the last stage that held
		// is kept (δ ≤ 1e-4 in practice: well within any solver's noise).
		if !c.point(cur.x).positive() {
			break
		}
		best, reached = zeros(c.G, c.nk), delta
		copy2(best, cur.x)
	}
	x := vert // the steps broke down far from the face: stay exact
	if reached <= CentreTolerance {
		x = snap(c, best, vert, t)
	}
	return x
}

// feasibleCentre returns the analytic centre of the polytope
//
//	{x : Σ_k a_ik·x_ik ≥ τ for every used job, and the base constraints}
//
// for τ < t, where t is the max-min LP's optimum and xv an optimal vertex
// (same a, gang, capacity, use as maxMinLP): the point an interior-point
// solver approaches for a feasibility problem with a constant objective
// when it starts feasible (the central path of a zero objective is that
// centre at every step). ECOS, which Gavel's min_total_duration asks at the
// T its bisection ends on, starts infeasible and stops elsewhere; makespan
// replays it (ecosFeasible) and falls back to this centre only when the
// replay fails. The barrier is followed from τ = t/2 (where the start is
// strictly inside) to τ along the same stages as centre; if the Newton
// steps break down, the vertex is returned.
func feasibleCentre(a [][]float64, gang, capacity []float64, use []bool, t, tau float64, xv [][]float64) [][]float64 {
	c, rep, of := newBarrier(a, gang, capacity, use)
	if c == nil || !(t > 0) || math.IsInf(t, 0) || !(tau > 0) || tau >= t {
		return copyRows(xv)
	}
	return c.expand(a, of, c.feasibleRows(c.rows(xv, rep), t, tau))
}

// feasibleRows is feasibleCentre on the groups' rows: vert is an optimal
// vertex.
func (c *barrier) feasibleRows(vert [][]float64, t, tau float64) [][]float64 {
	cur := c.point(c.start(vert, t))
	for delta := 0.5; ; delta /= 4 {
		c.tau = math.Min((1-delta)*t, tau)
		c.newton(cur)
		if !c.point(cur.x).positive() {
			return vert
		}
		if c.tau == tau {
			return cur.x
		}
	}
}

// newBarrier groups the used rows of the max-min LP (identical rows share
// one group, weighted by its size); nil when nothing is used.
func newBarrier(a [][]float64, gang, capacity []float64, use []bool) (c *barrier, rep, of []int) {
	nk := len(capacity)
	rep, of, count := groupRows(a, gang, use)
	G := len(rep)
	if G == 0 || nk == 0 {
		return nil, rep, of
	}
	c = &barrier{nk: nk, G: G, count: count, capacity: capacity}
	c.a = make([][]float64, G)
	c.s = make([]float64, G)
	for g, i := range rep {
		c.a[g] = a[i]
		c.s[g] = gang[i]
	}
	return c, rep, of
}

// rows returns the groups' rows of x (one row per group, from its
// representative job).
func (c *barrier) rows(x [][]float64, rep []int) [][]float64 {
	out := zeros(c.G, c.nk)
	for g, i := range rep {
		copy(out[g], x[i])
	}
	return out
}

// start returns a point strictly inside the polytope for τ = t/2 and sets
// τ there: half-way between the vertex (rows ≥ t) and a strictly interior
// point of the base constraints (half of every row's and every model's
// room, spread evenly).
func (c *barrier) start(vert [][]float64, t float64) [][]float64 {
	alpha := 0.5 / float64(c.nk)
	for k := 0; k < c.nk; k++ {
		use := 0.0
		for g := 0; g < c.G; g++ {
			use += c.count[g] * c.s[g]
		}
		alpha = math.Min(alpha, 0.5*c.capacity[k]/use)
	}
	x := zeros(c.G, c.nk)
	for g := range x {
		for k := range x[g] {
			x[g][k] = 0.5*vert[g][k] + 0.5*alpha
		}
	}
	c.tau = t / 2
	return x
}

// expand maps the groups' rows back to jobs; shares on models where a job's
// coefficient is 0 are set to 0 (the round mechanism never places a job
// where its throughput is 0), and every share is clipped to 1.
func (c *barrier) expand(a [][]float64, of []int, x [][]float64) [][]float64 {
	out := zeros(len(a), c.nk)
	for i := range a {
		g := of[i]
		if g < 0 {
			continue
		}
		for k := range out[i] {
			if a[i][k] > 0 {
				out[i][k] = math.Min(1, x[g][k])
			}
		}
	}
	return out
}

func copyRows(x [][]float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = append([]float64(nil), row...)
	}
	return out
}

// CentreTolerance bounds how far inside the optimum centre's solution may
// stay: every row attains at least (1 − CentreTolerance)·t.
const CentreTolerance = 1e-3

type barrier struct {
	nk, G    int
	a        [][]float64
	s, count []float64
	capacity []float64
	tau      float64
	cone     bool // row terms 2·log v − log(v+τ) (centreCone)
}

// rowValue is a group's row barrier at slack v (per job).
func (c *barrier) rowValue(v float64) float64 {
	if !c.cone {
		return math.Log(v)
	}
	return 2*math.Log(v) - math.Log(v+c.tau)
}

// rowNewton gives the row barrier's Newton quantities at slack v: D = 1/f”
// (per job), z = −f'/f” and shift = v − z. For the log barrier z = v and
// shift is exactly 0, so its steps are the same bits as before the cone
// term existed (v − z in floating point would not round to 0 after an
// addition).
func (c *barrier) rowNewton(v float64) (D, z, shift float64) {
	if !c.cone {
		return v * v, v, 0
	}
	w := v + c.tau
	h := 2/(v*v) - 1/(w*w)
	g := 2/v - 1/w
	return 1 / h, g / h, v - g/h
}

func dot(a, b []float64) float64 {
	s := 0.0
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

// point is x with its slacks: u_g = 1 − Σ_k x_gk, v_g = a_g·x_g − τ,
// w_k = capacity_k − Σ_g count_g·s_g·x_gk.
type point struct {
	x    [][]float64
	u, v []float64
	w    []float64
}

func (c *barrier) point(x [][]float64) *point {
	p := &point{x: x, u: make([]float64, c.G), v: make([]float64, c.G), w: append([]float64(nil), c.capacity...)}
	for g, row := range x {
		p.u[g] = 1
		for k, xv := range row {
			p.u[g] -= xv
			p.w[k] -= c.count[g] * c.s[g] * xv
		}
		p.v[g] = dot(c.a[g], row) - c.tau
	}
	return p
}

func (p *point) positive() bool {
	for g, row := range p.x {
		for _, xv := range row {
			if !(xv > 0) {
				return false
			}
		}
		if !(p.u[g] > 0) || !(p.v[g] > 0) {
			return false
		}
	}
	for _, w := range p.w {
		if !(w > 0) {
			return false
		}
	}
	return true
}

// value is the negated barrier (to minimise); +Inf outside.
func (c *barrier) value(p *point) float64 {
	if !p.positive() {
		return math.Inf(1)
	}
	f := 0.0
	for g, row := range p.x {
		s := math.Log(p.u[g]) + c.rowValue(p.v[g])
		for _, xv := range row {
			s += math.Log(xv)
		}
		f -= c.count[g] * s
	}
	for _, w := range p.w {
		f -= math.Log(w)
	}
	return f
}

// newton runs Newton steps on the negated barrier from a point with
// positive x, u, v, w, in place (Boyd & Vandenberghe §10.3, infeasible
// start). The variables are x, u, v, w with the equalities Σx + u = 1,
// a·x − v = τ (per group) and Σ count·s·x + w = capacity (per model); the
// Hessian H is diagonal, D = H⁻¹ = z²/count, and the step is
// d = −D(∇f + Eᵀλ) = z − D Eᵀλ with (E D Eᵀ) λ = e + 2·(E z − e), so a full
// step lands on the equalities. While they do not hold (τ just moved), the
// step is as long as positivity allows; once they hold (relative 1e-9) or a
// full step was taken, it is damped on the barrier.
func (c *barrier) newton(p *point) {
	n := c.newNewtonStep()
	landed := false
	for it := 0; it < 100; it++ {
		// A full step lands on the equalities up to rounding. Near the
		// optimal face the system is ill-conditioned and rounding alone
		// leaves residuals above 1e-9 (1e-8 to 1e-7 at δ ≈ 1e-5): waiting
		// for 1e-9 took the positivity-limited steps to the iteration cap
		// in the last stages, three quarters of all Newton steps, for no
		// better point (issue 17). Not under the cone barrier (ftf): there
		// the shares this leaves on jobs near the face differ enough that
		// Gavel's mid_200jobs_lam600_seed0_multigpu trace on 8:8:8 under
		// ftf-hetero drops a job Gavel finishes (TestSideBySideGavel).
		feasible := c.residuals(p, n) || (landed && !c.cone)
		if !c.reduce(p, n) || !invertInto(n.S, n.Sinv, n.inv) {
			return
		}
		dec := c.direction(p, n)
		if feasible && !(dec > 1e-10) {
			return
		}
		step := n.longestStep(p)
		if !feasible {
			n.move(p, step)
			n.accept(p)
			n.valid = false
			landed = step == 1
			continue
		}
		if !c.lineSearch(p, n, step, dec) {
			return
		}
	}
}

// newtonStep is newton's workspace: the residuals of the equalities, the
// reduced KKT system and the step it gives.
type newtonStep struct {
	dx         [][]float64
	du, dv, dw []float64
	pinv       [][4]float64 // inverse of each group's 2×2 block
	d          [][]float64  // x²/count, the Hessian's inverse on x
	row        []rowSlack   // each group's u and v terms
	q          [][]float64  // Q_g: rows R1, R2 × models
	S, Sinv    [][]float64  // models × models, after eliminating the groups
	inv        [][]float64  // invertInto's workspace
	trial      *point       // p + step·direction (move)
	value      float64      // the barrier at p when valid (lineSearch)
	valid      bool
	lamC, rhsC []float64 // per-model multipliers and their right-hand side
	r1, r2, rC []float64 // residuals: rows' Σx + u − 1, a·x − v − τ; models'
}

func (c *barrier) newNewtonStep() *newtonStep {
	nk, G := c.nk, c.G
	return &newtonStep{
		dx: zeros(G, nk), du: make([]float64, G), dv: make([]float64, G), dw: make([]float64, nk),
		pinv: make([][4]float64, G), q: zeros(G, 2*nk), d: zeros(G, nk), row: make([]rowSlack, G),
		S: zeros(nk, nk), Sinv: zeros(nk, nk), inv: zeros(nk, 2*nk),
		trial: &point{x: zeros(G, nk), u: make([]float64, G), v: make([]float64, G), w: make([]float64, nk)},
		lamC:  make([]float64, nk), rhsC: make([]float64, nk),
		r1: make([]float64, G), r2: make([]float64, G), rC: make([]float64, nk),
	}
}

// rowSlack is what reduce computes for a group's slacks and direction
// reuses: U = u²/count, V = D/count, and rowNewton's D, z and shift at v.
type rowSlack struct{ U, V, D, z, shift float64 }

// residuals sets the residuals of the equalities at p and reports whether
// they hold (relative 1e-9).
func (c *barrier) residuals(p *point, n *newtonStep) bool {
	resid := 0.0
	for k := range n.rC {
		n.rC[k] = p.w[k] - c.capacity[k]
	}
	for g, row := range p.x {
		n.r1[g] = p.u[g] - 1
		n.r2[g] = dot(c.a[g], row) - p.v[g] - c.tau
		for k, xv := range row {
			n.r1[g] += xv
			n.rC[k] += c.count[g] * c.s[g] * xv
		}
		resid = math.Max(resid, math.Max(math.Abs(n.r1[g]), math.Abs(n.r2[g])/math.Max(c.tau, 1e-300)))
	}
	for k := range n.rC {
		resid = math.Max(resid, math.Abs(n.rC[k])/c.capacity[k])
	}
	return resid < 1e-9
}

// reduce builds the models × models system S·λ_C = rhsC left after
// eliminating each group's two row multipliers (its 2×2 block, inverted
// into pinv); false if a block is singular.
func (c *barrier) reduce(p *point, n *newtonStep) bool {
	nk, S, q := c.nk, n.S, n.q
	for k := range S {
		for l := range S[k] {
			S[k][l] = 0
		}
		S[k][k] = p.w[k] * p.w[k]
	}
	for k := range n.rhsC {
		n.rhsC[k] = c.capacity[k] + 2*n.rC[k]
	}
	for g, row := range p.x {
		cg, q0 := c.count[g], c.count[g]*c.s[g]
		var m11, m12, m22 float64
		d := n.d[g]
		for k, xv := range row {
			dk := xv * xv / cg
			d[k] = dk
			m11 += dk
			m12 += c.a[g][k] * dk
			m22 += c.a[g][k] * c.a[g][k] * dk
			q[g][k] = q0 * dk
			q[g][nk+k] = c.a[g][k] * q0 * dk
			S[k][k] += q0 * q0 * dk
		}
		dvg, zvg, shift := c.rowNewton(p.v[g])
		U, V := p.u[g]*p.u[g]/cg, dvg/cg
		n.row[g] = rowSlack{U: U, V: V, D: dvg, z: zvg, shift: shift}
		// det = m11·m22 − m12², written without cancellation
		// (Lagrange: Σd·Σa²d − (Σad)² = ½ Σ_kl d_k d_l (a_k − a_l)²).
		det := U*m22 + V*m11 + U*V
		for k := range row {
			for l := k + 1; l < len(row); l++ {
				da := c.a[g][k] - c.a[g][l]
				det += d[k] * row[l] * row[l] / cg * da * da
			}
		}
		m11 += U
		m22 += V
		if !(det > 0) {
			return false
		}
		pi := [4]float64{m22 / det, -m12 / det, -m12 / det, m11 / det}
		n.pinv[g] = pi
		e1, e2 := 1+2*n.r1[g], c.tau+2*n.r2[g]+shift
		y1, y2 := pi[0]*e1+pi[1]*e2, pi[2]*e1+pi[3]*e2
		for k := 0; k < nk; k++ {
			n.rhsC[k] -= q[g][k]*y1 + q[g][nk+k]*y2
			z1 := pi[0]*q[g][k] + pi[1]*q[g][nk+k]
			z2 := pi[2]*q[g][k] + pi[3]*q[g][nk+k]
			for l := 0; l < nk; l++ {
				S[l][k] -= q[g][l]*z1 + q[g][nk+l]*z2
			}
		}
	}
	return true
}

// direction solves for the models' multipliers (S inverted) and back-
// substitutes the step dx, du, dv, dw; it returns the Newton decrement.
func (c *barrier) direction(p *point, n *newtonStep) float64 {
	nk, q := c.nk, n.q
	for k := range n.lamC {
		n.lamC[k] = dot(n.Sinv[k], n.rhsC)
	}
	dec := 0.0
	for g, row := range p.x {
		cg, q0 := c.count[g], c.count[g]*c.s[g]
		rn, d := n.row[g], n.d[g]
		e1, e2 := 1+2*n.r1[g], c.tau+2*n.r2[g]+rn.shift
		for k := 0; k < nk; k++ {
			e1 -= q[g][k] * n.lamC[k]
			e2 -= q[g][nk+k] * n.lamC[k]
		}
		pi := n.pinv[g]
		l1, l2 := pi[0]*e1+pi[1]*e2, pi[2]*e1+pi[3]*e2
		for k, xv := range row {
			n.dx[g][k] = xv - d[k]*(l1+c.a[g][k]*l2+q0*n.lamC[k])
			dec += cg * n.dx[g][k] * n.dx[g][k] / (xv * xv)
		}
		n.du[g] = p.u[g] - rn.U*l1
		n.dv[g] = rn.z + rn.V*l2
		dec += cg*n.du[g]*n.du[g]/(p.u[g]*p.u[g]) + cg*n.dv[g]*n.dv[g]/rn.D
	}
	for k := range n.dw {
		n.dw[k] = p.w[k] - p.w[k]*p.w[k]*n.lamC[k]
		dec += n.dw[k] * n.dw[k] / (p.w[k] * p.w[k])
	}
	return dec
}

// longestStep is the longest step (at most 1) along the direction that
// keeps every variable positive, backed off to 99 % of the boundary.
func (n *newtonStep) longestStep(p *point) float64 {
	step := 1.0
	shrink := func(val, d float64) {
		// val > 0 and d < 0: the ratio is positive, never NaN, so this
		// is math.Min without its NaN and −0 cases.
		if r := -0.99 * val / d; d < 0 && r < step {
			step = r
		}
	}
	for g, row := range p.x {
		for k, xv := range row {
			shrink(xv, n.dx[g][k])
		}
		shrink(p.u[g], n.du[g])
		shrink(p.v[g], n.dv[g])
	}
	for k := range n.dw {
		shrink(p.w[k], n.dw[k])
	}
	return step
}

// move sets n.trial to p + s·direction.
func (n *newtonStep) move(p *point, s float64) {
	np := n.trial
	for g, row := range p.x {
		nrow, drow := np.x[g], n.dx[g]
		for k := range row {
			nrow[k] = row[k] + s*drow[k]
		}
		np.u[g] = p.u[g] + s*n.du[g]
		np.v[g] = p.v[g] + s*n.dv[g]
	}
	for k := range np.w {
		np.w[k] = p.w[k] + s*n.dw[k]
	}
}

// accept moves p to n.trial (their storage is swapped).
func (n *newtonStep) accept(p *point) {
	*p, *n.trial = *n.trial, *p
}

// lineSearch backtracks from step (halving, at most 40 times) until the
// barrier decreases enough (Armijo, 1/4 of the decrement) and moves p
// there; false if no step did.
func (c *barrier) lineSearch(p *point, n *newtonStep, step, dec float64) bool {
	f := n.value
	if !n.valid {
		f = c.value(p)
	}
	for ls := 0; ls < 40; ls++ {
		n.move(p, step)
		if ft := c.value(n.trial); ft < f && ft <= f-0.25*step*dec {
			n.accept(p)
			n.value, n.valid = ft, true // the barrier at p, for the next search
			return true
		}
		step /= 2
	}
	return false
}

// invert writes the inverse of the small dense matrix m into out; false if
// m is singular.
func invert(m, out [][]float64) bool {
	return invertInto(m, out, zeros(len(m), 2*len(m)))
}

// invertInto is invert with its workspace w (n × 2n), Gauss–Jordan with
// partial pivoting.
func invertInto(m, out, w [][]float64) bool {
	n := len(m)
	for i := 0; i < n; i++ {
		copy(w[i], m[i])
		clear(w[i][n:])
		w[i][n+i] = 1
	}
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(w[r][col]) > math.Abs(w[p][col]) {
				p = r
			}
		}
		if w[p][col] == 0 || math.IsNaN(w[p][col]) {
			return false
		}
		w[p], w[col] = w[col], w[p]
		inv := 1 / w[col][col]
		for j := range w[col] {
			w[col][j] *= inv
		}
		for r := 0; r < n; r++ {
			if r == col || w[r][col] == 0 {
				continue
			}
			f := w[r][col]
			for j := range w[r] {
				w[r][j] -= f * w[col][j]
			}
		}
	}
	for i := 0; i < n; i++ {
		copy(out[i], w[i][n:])
	}
	return true
}

func copy2(dst, src [][]float64) {
	for i := range dst {
		copy(dst[i], src[i])
	}
}

// snap moves a near-optimal centre x (rows ≥ (1−δ)t) onto the optimal face
// when it can do so by scaling alone: every row below t is scaled up to t;
// the result is kept if it still satisfies Σ_k x ≤ 1 and the capacities
// (to rounding), which is the case unless rows at the bottleneck also fill
// their models. Otherwise, when x is within 1e-4 of the vertex everywhere
// (the optimal face is, or nearly is, that single point), the vertex is
// returned; else x as it is.
func snap(c *barrier, x, vert [][]float64, t float64) [][]float64 {
	y, ok := scaleUp(c, x, t)
	if ok {
		return y
	}
	for g, row := range x {
		for k, xv := range row {
			if math.Abs(xv-vert[g][k]) > 1e-4 {
				return x
			}
		}
	}
	return vert
}

func scaleUp(c *barrier, x [][]float64, t float64) ([][]float64, bool) {
	y := zeros(len(x), c.nk)
	use := make([]float64, c.nk)
	for g, row := range x {
		f := 1.0
		if v := dot(c.a[g], row); v < t {
			f = t / v
		}
		sum := 0.0
		for k, xv := range row {
			y[g][k] = xv * f
			sum += y[g][k]
			use[k] += c.count[g] * c.s[g] * y[g][k]
		}
		if sum > 1+1e-12 {
			return nil, false
		}
	}
	for k, u := range use {
		if u > c.capacity[k]*(1+1e-12) {
			return nil, false
		}
	}
	return y, true
}
