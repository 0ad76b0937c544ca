package sched

import "math"

// ecosFeasible returns the X that ECOS (Domahidi, Chu & Boyd, 2013; the
// solver Gavel's policies hand to cvxpy) returns for Gavel's
// min_total_duration feasibility question at horizon T: "is there an X with
//
//	x_ik ≥ 0,  Σ_i s_i·x_ik ≤ N_k,  Σ_k x_ik ≤ 1,  Σ_k tput_ik·x_ik ≥ R_i/T
//
// for the used jobs?", asked with the constant objective Maximize(1). It
// replays ECOS's own algorithm on that LP rather than computing a centre:
//
//   - the data as cvxpy hands them over (G·x ≤ h, c = 0), equilibrated as
//     ECOS does (Ruiz, 3 passes of √(max |entry|) on rows and columns);
//   - ECOS's start: x̂ = argmin ‖G·x − h‖, s = h − G·x̂ pushed into the
//     cone by 1 + max(−s), z from argmin ‖z‖ s.t. Gᵀz = −c, i.e. z = 1,
//     τ = κ = 1;
//   - its homogeneous self-dual embedding with Nesterov–Todd scaling and
//     Mehrotra predictor–corrector steps (σ = (1 − α_aff)³, steps at 0.99
//     of the boundary, at most 0.999);
//   - its stopping rule (feastol = abstol = reltol = 1e-8): with c = 0 the
//     gap sᵀz falls below 1e-8 with both residuals below 1e-8.
//
// With a zero objective the interior-point iterates do not converge to the
// analytic centre: the embedding keeps the residuals of its infeasible
// start in proportion to μ, so the point it stops at also depends on that
// start and on the equilibration; this is the X Gavel's simulator runs
// with. ok is false when the iterations do not reach ECOS's "optimal"
// (callers then fall back to the centre); x is clipped to [0, 1] as
// Gavel does.
func ecosFeasible(tput [][]float64, remaining, gang, capacity []float64, use []bool, horizon float64) (x [][]float64, ok bool) {
	lp := newEcosLP(tput, remaining, gang, capacity, use, horizon)
	if lp == nil {
		return nil, false
	}
	xs, ok := lp.solve()
	if !ok {
		return nil, false
	}
	x = zeros(len(tput), len(capacity))
	for j, i := range lp.rows {
		for k := 0; k < lp.K; k++ {
			x[i][k] = math.Min(1, math.Max(0, xs[j*lp.K+k]))
		}
	}
	return x, true
}

// ecosLP is the LP in ECOS's form G·x + s = h, s ≥ 0, after
// equilibration, with its four blocks of rows kept apart: x ≥ 0 (g1, one
// row per share), the capacities (g2, one row per model), Σ_k x ≤ 1 (g3,
// one per job) and the horizon (g4, one per job). Entry [j][k] of each
// block is the coefficient of share (j, k) in that block's row.
type ecosLP struct {
	J, K           int
	rows           []int // the used jobs, in order
	g1, g2, g3, g4 [][]float64
	h              []float64 // right-hand side, by row (see index)
	xeq            []float64 // column equilibration, by share
	m              int       // rows: J·K + K + 2J
}

// Row indices: shares first, then models, job sums, horizons.
func (lp *ecosLP) r1(j, k int) int { return j*lp.K + k }
func (lp *ecosLP) r2(k int) int    { return lp.J*lp.K + k }
func (lp *ecosLP) r3(j int) int    { return lp.J*lp.K + lp.K + j }
func (lp *ecosLP) r4(j int) int    { return lp.J*lp.K + lp.K + lp.J + j }

func newEcosLP(tput [][]float64, remaining, gang, capacity []float64, use []bool, horizon float64) *ecosLP {
	lp := &ecosLP{K: len(capacity)}
	for i := range tput {
		if use[i] {
			lp.rows = append(lp.rows, i)
		}
	}
	lp.J = len(lp.rows)
	if lp.J == 0 || lp.K == 0 || !(horizon > 0) {
		return nil
	}
	J, K := lp.J, lp.K
	lp.m = J*K + K + 2*J
	lp.g1, lp.g2, lp.g3, lp.g4 = zeros(J, K), zeros(J, K), zeros(J, K), zeros(J, K)
	lp.h = make([]float64, lp.m)
	for j, i := range lp.rows {
		for k := 0; k < K; k++ {
			lp.g1[j][k] = -1
			lp.g2[j][k] = gang[i]
			lp.g3[j][k] = 1
			lp.g4[j][k] = -tput[i][k]
		}
		lp.h[lp.r3(j)] = 1
		lp.h[lp.r4(j)] = -remaining[i] / horizon
	}
	for k := 0; k < K; k++ {
		lp.h[lp.r2(k)] = capacity[k]
	}
	lp.equilibrate()
	return lp
}

// equilibrate is ECOS's Ruiz equilibration: three passes, each dividing
// every row and then every column by the square root of its largest
// |entry| (both measured before the pass; 1 where that is below 1e-6);
// h is divided by the rows' factors.
func (lp *ecosLP) equilibrate() {
	J, K := lp.J, lp.K
	rowEq := make([]float64, lp.m)
	for r := range rowEq {
		rowEq[r] = 1
	}
	lp.xeq = make([]float64, J*K)
	for c := range lp.xeq {
		lp.xeq[c] = 1
	}
	root := func(v float64) float64 {
		if math.Abs(v) < 1e-6 {
			return 1
		}
		return math.Sqrt(v)
	}
	blocks := [][][]float64{lp.g1, lp.g2, lp.g3, lp.g4}
	for pass := 0; pass < 3; pass++ {
		col := make([]float64, J*K)
		row := make([]float64, lp.m)
		for j := 0; j < J; j++ {
			for k := 0; k < K; k++ {
				for _, g := range blocks {
					col[j*K+k] = math.Max(col[j*K+k], math.Abs(g[j][k]))
				}
				row[lp.r1(j, k)] = math.Abs(lp.g1[j][k])
				row[lp.r2(k)] = math.Max(row[lp.r2(k)], math.Abs(lp.g2[j][k]))
				row[lp.r3(j)] = math.Max(row[lp.r3(j)], math.Abs(lp.g3[j][k]))
				row[lp.r4(j)] = math.Max(row[lp.r4(j)], math.Abs(lp.g4[j][k]))
			}
		}
		for r := range row {
			row[r] = root(row[r])
			rowEq[r] *= row[r]
		}
		for c := range col {
			col[c] = root(col[c])
			lp.xeq[c] *= col[c]
		}
		for j := 0; j < J; j++ {
			for k := 0; k < K; k++ {
				c := col[j*K+k]
				lp.g1[j][k] = lp.g1[j][k] / row[lp.r1(j, k)] / c
				lp.g2[j][k] = lp.g2[j][k] / row[lp.r2(k)] / c
				lp.g3[j][k] = lp.g3[j][k] / row[lp.r3(j)] / c
				lp.g4[j][k] = lp.g4[j][k] / row[lp.r4(j)] / c
			}
		}
	}
	for r := range lp.h {
		lp.h[r] /= rowEq[r]
	}
}

// gx returns G·x.
func (lp *ecosLP) gx(x []float64) []float64 {
	out := make([]float64, lp.m)
	for j := 0; j < lp.J; j++ {
		for k := 0; k < lp.K; k++ {
			v := x[j*lp.K+k]
			out[lp.r1(j, k)] = lp.g1[j][k] * v
			out[lp.r2(k)] += lp.g2[j][k] * v
			out[lp.r3(j)] += lp.g3[j][k] * v
			out[lp.r4(j)] += lp.g4[j][k] * v
		}
	}
	return out
}

// gtz returns Gᵀ·z.
func (lp *ecosLP) gtz(z []float64) []float64 {
	out := make([]float64, lp.J*lp.K)
	for j := 0; j < lp.J; j++ {
		for k := 0; k < lp.K; k++ {
			out[j*lp.K+k] = lp.g1[j][k]*z[lp.r1(j, k)] + lp.g2[j][k]*z[lp.r2(k)] +
				lp.g3[j][k]*z[lp.r3(j)] + lp.g4[j][k]*z[lp.r4(j)]
		}
	}
	return out
}

// kktFactor is ECOS's KKT system [0 Gᵀ; G −V][dx; dz] = [bx; bz] for a
// diagonal V > 0 (the LP cone's W²), factored: Gᵀ V⁻¹ G dx = bx +
// Gᵀ V⁻¹ bz, then dz = V⁻¹ (G dx − bz). Gᵀ V⁻¹ G is block-diagonal per job
// (the share, sum and horizon rows) plus one rank-one term per model (its
// capacity row), so it is solved by Woodbury with K × K blocks: binv holds
// each job's block inverted, sinv the K × K capacity system.
type kktFactor struct {
	lp   *ecosLP
	V    []float64
	binv [][][]float64
	sinv [][]float64
}

// factor returns the factored system for V; ok is false when a block is
// singular.
func (lp *ecosLP) factor(V []float64) (*kktFactor, bool) {
	J, K := lp.J, lp.K
	f := &kktFactor{lp: lp, V: V, binv: make([][][]float64, J), sinv: zeros(K, K)}
	B := zeros(K, K)
	S := zeros(K, K)
	for k := 0; k < K; k++ {
		S[k][k] = 1
	}
	for j := 0; j < J; j++ {
		v3, v4 := V[lp.r3(j)], V[lp.r4(j)]
		for k := 0; k < K; k++ {
			for l := 0; l < K; l++ {
				B[k][l] = lp.g3[j][k]*lp.g3[j][l]/v3 + lp.g4[j][k]*lp.g4[j][l]/v4
			}
			B[k][k] += lp.g1[j][k] * lp.g1[j][k] / V[lp.r1(j, k)]
		}
		f.binv[j] = zeros(K, K)
		if !invert(B, f.binv[j]) {
			return nil, false
		}
		for k := 0; k < K; k++ {
			for l := 0; l < K; l++ {
				S[k][l] += f.u(j, k) * f.binv[j][k][l] * f.u(j, l)
			}
		}
	}
	if !invert(S, f.sinv) {
		return nil, false
	}
	return f, true
}

// u is entry (j, k) of model k's capacity row over √V.
func (f *kktFactor) u(j, k int) float64 {
	return f.lp.g2[j][k] / math.Sqrt(f.V[f.lp.r2(k)])
}

func (f *kktFactor) solveOnce(bx, bz []float64) (dx, dz []float64) {
	lp, V := f.lp, f.V
	J, K := lp.J, lp.K
	t := make([]float64, lp.m)
	for r := range t {
		t[r] = bz[r] / V[r]
	}
	rhs := lp.gtz(t)
	for c := range rhs {
		rhs[c] += bx[c]
	}
	y := make([]float64, J*K)
	uy := make([]float64, K)
	for j := 0; j < J; j++ {
		for k := 0; k < K; k++ {
			y[j*K+k] = dot(f.binv[j][k], rhs[j*K:j*K+K])
			uy[k] += f.u(j, k) * y[j*K+k]
		}
	}
	w := make([]float64, K)
	for k := range w {
		w[k] = dot(f.sinv[k], uy)
	}
	dx = y
	uw := make([]float64, K)
	for j := 0; j < J; j++ {
		for l := 0; l < K; l++ {
			uw[l] = f.u(j, l) * w[l]
		}
		for k := 0; k < K; k++ {
			dx[j*K+k] -= dot(f.binv[j][k], uw)
		}
	}
	dz = lp.gx(dx)
	for r := range dz {
		dz[r] = (dz[r] - bz[r]) / V[r]
	}
	return dx, dz
}

// solve is solveOnce followed by iterative refinement on the unreduced
// system, as ECOS refines its solves: at most 9 steps, stopping once the
// residual is below 1e-14 relative to the right-hand side or no longer
// falls by a factor of 6 (ECOS's NITREF, LINSYSACC, IRERRFACT).
func (f *kktFactor) solve(bx, bz []float64) (dx, dz []float64) {
	lp, V := f.lp, f.V
	dx, dz = f.solveOnce(bx, bz)
	bnorm := 1 + math.Sqrt(dot(bx, bx)+dot(bz, bz))
	prev := math.Inf(1)
	for it := 0; it < 9; it++ {
		ex := lp.gtz(dz)
		ez := lp.gx(dx)
		for c := range ex {
			ex[c] = bx[c] - ex[c]
		}
		for r := range ez {
			ez[r] = bz[r] - (ez[r] - V[r]*dz[r])
		}
		e := math.Sqrt(dot(ex, ex) + dot(ez, ez))
		if e <= 1e-14*bnorm || e > prev/6 {
			break
		}
		prev = e
		cx, cz := f.solveOnce(ex, ez)
		for c := range dx {
			dx[c] += cx[c]
		}
		for r := range dz {
			dz[r] += cz[r]
		}
	}
	return dx, dz
}

func norm2(v []float64) float64 { return math.Sqrt(dot(v, v)) }

// ECOS's default settings.
const (
	ecosTol     = 1e-8 // feastol, abstol, reltol
	ecosGamma   = 0.99
	ecosStepMin = 1e-6
	ecosStepMax = 0.999
	ecosSigMin  = 1e-4
	ecosSigMax  = 1.0
	ecosMaxIt   = 100
)

// solve runs ECOS on the LP and returns x (unequilibrated, divided by τ).
func (lp *ecosLP) solve() ([]float64, bool) {
	n, m := lp.J*lp.K, lp.m
	ones := make([]float64, m)
	for r := range ones {
		ones[r] = 1
	}
	// Start: x̂ = argmin ‖Gx − h‖ (V = I), s = bring2cone(h − Gx̂); z = 1.
	f, ok := lp.factor(ones)
	if !ok {
		return nil, false
	}
	x, negr := f.solve(make([]float64, n), lp.h)
	s := bring2cone(negr, -1)
	z := ones
	tau, kap := 1.0, 1.0
	resz0 := math.Max(1, norm2(lp.h))
	for iter := 0; ; iter++ {
		// Residuals: rx = −Gᵀz (c = 0), rz = s + Gx − hτ, rt = κ + hᵀz.
		rx := lp.gtz(z)
		for c := range rx {
			rx[c] = -rx[c]
		}
		rz := lp.gx(x)
		for r := range rz {
			rz[r] += s[r] - lp.h[r]*tau
		}
		hz := dot(lp.h, z)
		rt := kap + hz
		gap := dot(s, z)
		mu := (gap + kap*tau) / float64(m+1)
		pres := norm2(rz) / math.Max(resz0+norm2(x)+norm2(s), 1) / tau
		dres := norm2(rx) / math.Max(1+norm2(z), 1) / tau
		relgap := math.NaN()
		if dcost := -hz / tau; dcost > 0 {
			relgap = gap / dcost
		}
		if -hz >= -ecosTol && pres < ecosTol && dres < ecosTol && (gap < ecosTol || relgap < ecosTol) {
			out := make([]float64, n)
			for c := range out {
				out[c] = x[c] / (lp.xeq[c] * tau)
			}
			return out, true
		}
		if iter == ecosMaxIt || gap < 0 {
			return nil, false
		}
		// Nesterov–Todd scaling of the LP cone: W = √(s/z), λ = √(s·z).
		W := make([]float64, m)
		V := make([]float64, m)
		lam := make([]float64, m)
		for r := range s {
			if !(s[r] > 0) || !(z[r] > 0) {
				return nil, false
			}
			W[r] = math.Sqrt(s[r] / z[r])
			V[r] = W[r] * W[r]
			lam[r] = math.Sqrt(s[r] * z[r])
		}
		f, ok := lp.factor(V)
		if !ok {
			return nil, false
		}
		dx1, dz1 := f.solve(make([]float64, n), lp.h)
		// Affine direction.
		bz := make([]float64, m)
		for r := range bz {
			bz[r] = s[r] - rz[r]
		}
		_, dz2 := f.solve(rx, bz)
		denom := kap/tau - dot(lp.h, dz1)
		dtauAff := (rt - kap + dot(lp.h, dz2)) / denom
		wdzAff := make([]float64, m)
		dsAffW := make([]float64, m)
		for r := range wdzAff {
			wdzAff[r] = W[r] * (dz2[r] + dtauAff*dz1[r])
			dsAffW[r] = -wdzAff[r] - lam[r]
		}
		dkapAff := -kap - kap/tau*dtauAff
		stepAff := ecosLineSearch(lam, dsAffW, wdzAff, tau, dtauAff, kap, dkapAff)
		sigma := math.Min(ecosSigMax, math.Max(ecosSigMin, math.Pow(1-stepAff, 3)))
		// Combined direction.
		ds1 := make([]float64, m) // λ \ (λ∘λ + (W⁻¹ds_aff)∘(W dz_aff) − σμe)
		for r := range ds1 {
			ds1[r] = (lam[r]*lam[r] + dsAffW[r]*wdzAff[r] - sigma*mu) / lam[r]
		}
		bxc := make([]float64, n)
		for c := range bxc {
			bxc[c] = (1 - sigma) * rx[c]
		}
		for r := range bz {
			bz[r] = -(1-sigma)*rz[r] + W[r]*ds1[r]
		}
		dx2, dz2 := f.solve(bxc, bz)
		bkap := kap*tau + dkapAff*dtauAff - sigma*mu
		dtau := ((1-sigma)*rt - bkap/tau + dot(lp.h, dz2)) / denom
		for c := range dx2 {
			dx2[c] += dtau * dx1[c]
		}
		wdz := make([]float64, m)
		dsW := make([]float64, m)
		for r := range dz2 {
			dz2[r] += dtau * dz1[r]
			wdz[r] = W[r] * dz2[r]
			dsW[r] = -(ds1[r] + wdz[r])
		}
		dkap := -(bkap + kap*dtau) / tau
		step := ecosLineSearch(lam, dsW, wdz, tau, dtau, kap, dkap) * ecosGamma
		for c := range x {
			x[c] += step * dx2[c]
		}
		for r := range z {
			z[r] += step * dz2[r]
			s[r] += step * W[r] * dsW[r]
		}
		kap += step * dkap
		tau += step * dtau
	}
}

// bring2cone is ECOS's: r moved into the LP cone's interior by
// 1 + max(−r), or by 0.01 when r is strictly inside. sign multiplies r
// first.
func bring2cone(r []float64, sign float64) []float64 {
	alpha := -ecosGamma
	for _, v := range r {
		if v*sign <= 0 && -v*sign > alpha {
			alpha = -v * sign
		}
	}
	alpha++
	out := make([]float64, len(r))
	for i, v := range r {
		out[i] = v*sign + alpha
	}
	return out
}

// ecosLineSearch is ECOS's step to the boundary of the LP cone (and of
// τ, κ ≥ 0) along the scaled directions, clipped to [1e-6, 0.999].
func ecosLineSearch(lam, ds, dz []float64, tau, dtau, kap, dkap float64) float64 {
	rhomin, sigmin := ds[0]/lam[0], dz[0]/lam[0]
	for r := 1; r < len(lam); r++ {
		rhomin = math.Min(rhomin, ds[r]/lam[r])
		sigmin = math.Min(sigmin, dz[r]/lam[r])
	}
	var alpha float64
	if -sigmin > -rhomin {
		alpha = 1 / 1e-13
		if sigmin < 0 {
			alpha = 1 / -sigmin
		}
	} else {
		alpha = 1 / 1e-13
		if rhomin < 0 {
			alpha = 1 / -rhomin
		}
	}
	if t := -tau / dtau; t > 0 && t < alpha {
		alpha = t
	}
	if k := -kap / dkap; k > 0 && k < alpha {
		alpha = k
	}
	return math.Min(ecosStepMax, math.Max(ecosStepMin, alpha))
}
