// Package names ranks catalog entries by how close their names are to what a
// user typed, so an unknown chip or model name can list the nearest ones.
// It is pure and shared by the accelerator and model catalogs.
package names

import (
	"sort"
	"strings"
)

// Nearest returns up to n entry indexes (0 … entries-1) ordered by the
// closest of their normalized keys to key: edit distance, where a key that
// contains the other (or is contained) counts as close. byKey maps a
// normalized name to the entries it names. Ties keep index order.
func Nearest(key string, byKey map[string][]int, entries, n int) []int {
	best := make([]int, entries)
	for i := range best {
		best[i] = 1 << 30
	}
	for k, ids := range byKey {
		d := Distance(key, k)
		if key != "" && (strings.Contains(k, key) || strings.Contains(key, k)) {
			d = min(d, 1+abs(len(k)-len(key))/4)
		}
		for _, i := range ids {
			best[i] = min(best[i], d)
		}
	}
	order := make([]int, entries)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return best[order[a]] < best[order[b]] })
	return order[:min(n, len(order))]
}

// Distance is the Levenshtein edit distance between a and b, over runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
