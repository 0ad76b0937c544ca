package sched

// SetExactRows sets how many distinct rows the max-min LP solves exactly
// (tests: a large value gives the exact optimum) and returns the undo.
func SetExactRows(n int) (undo func()) {
	old := exactRows
	exactRows = n
	return func() { exactRows = old }
}

// AggregatedMaxMin solves the max-min LP of maxMinLP by aggregation and
// returns its objective, its bound and the feasible x.
func AggregatedMaxMin(a [][]float64, gang, capacity []float64, use []bool) (t, bound float64, x [][]float64, err error) {
	r, err := solveAggregated(a, gang, capacity, use)
	return r.t, r.bound, r.x, err
}

// ExactMaxMin solves the max-min LP of maxMinLP by the dense simplex
// whatever its size.
func ExactMaxMin(a [][]float64, gang, capacity []float64, use []bool) (float64, error) {
	rep, of, count := groupRows(a, gang, use)
	t, _, err := newMaxMinGroups(a, gang, capacity, rep, of, count).solve(false)
	return t, err
}
