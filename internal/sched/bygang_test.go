package sched

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// byGang's counting sort orders the chosen jobs as a stable sort by gang,
// largest first, does (ties in snapshot order), also past its cut-over.
func TestByGangIsStableSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for it := 0; it < 200; it++ {
		n := r.IntN(300)
		c := &cycle{chosen: make([]int, n)}
		c.eff.Jobs = make([]Job, n)
		var want []int
		top := []int{8, 64, 2000}[it%3]
		for i := range c.chosen {
			c.eff.Jobs[i].Gang = 1 + r.IntN(top)
			if r.IntN(3) > 0 {
				c.chosen[i] = 1
				want = append(want, i)
			}
		}
		slices.SortStableFunc(want, func(a, b int) int { return cmp.Compare(c.eff.Jobs[b].Gang, c.eff.Jobs[a].Gang) })
		if got := c.byGang(); !slices.Equal(got, want) {
			t.Fatalf("instance %d: got %v, want %v", it, got, want)
		}
	}
}
