package sched

// SetExactRows sets how many distinct rows the max-min LP solves exactly
// (tests: a large value gives the exact optimum) and returns the undo.
func SetExactRows(n int) (undo func()) {
	old := exactRows
	exactRows = n
	return func() { exactRows = old }
}
