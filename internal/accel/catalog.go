package accel

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/names"
)

//go:embed data/chips.json
var embedded []byte

// Catalog is an immutable set of chips with a name index. Safe for concurrent use.
type Catalog struct {
	chips []Chip
	byKey map[string][]int // normalized name → chip indexes
}

// Default returns the embedded catalog. The catalog is immutable, so every
// caller shares one instance, parsed on first use.
func Default() *Catalog { return defaultCatalog() }

var defaultCatalog = sync.OnceValue(func() *Catalog {
	// The embedded file is JSON written by us: decode it with encoding/json
	// (fast) rather than the YAML parser used for users' files.
	dec := json.NewDecoder(bytes.NewReader(embedded))
	dec.DisallowUnknownFields()
	var chips []Chip
	err := dec.Decode(&chips)
	if err != nil {
		// The embedded file is part of the build; tests keep it valid.
		panic("accel: embedded catalog is invalid: " + err.Error())
	}
	c, err := New(chips)
	if err != nil {
		panic("accel: embedded catalog is invalid: " + err.Error())
	}
	return c
})

// New builds a catalog. Ids must be unique and non-empty.
func New(chips []Chip) (*Catalog, error) {
	c := &Catalog{chips: append([]Chip(nil), chips...), byKey: map[string][]int{}}
	seen := map[string]bool{}
	for i, ch := range c.chips {
		if ch.ID == "" {
			return nil, fmt.Errorf("%w: chip %q has no id", fleet.ErrInvalid, ch.Name)
		}
		if seen[ch.ID] {
			return nil, fmt.Errorf("%w: duplicate chip id %q", fleet.ErrInvalid, ch.ID)
		}
		seen[ch.ID] = true
		keys := map[string]bool{}
		for _, n := range append([]string{ch.ID, ch.Name}, ch.Aliases...) {
			if k := Normalize(n); k != "" {
				keys[k] = true
			}
		}
		for k := range keys {
			c.byKey[k] = append(c.byKey[k], i)
		}
	}
	return c, nil
}

// WithOverrides returns a catalog where chips with an existing id replace the
// catalog's entry field by field (set fields win) and new ids are added.
func (c *Catalog) WithOverrides(over []Chip) (*Catalog, error) {
	chips := append([]Chip(nil), c.chips...)
	idx := map[string]int{}
	for i, ch := range chips {
		idx[ch.ID] = i
	}
	for _, o := range over {
		if i, ok := idx[o.ID]; ok {
			chips[i] = merge(chips[i], o)
			continue
		}
		idx[o.ID] = len(chips)
		chips = append(chips, o)
	}
	return New(chips)
}

func merge(base, o Chip) Chip {
	if o.Name != "" {
		base.Name = o.Name
	}
	if o.Vendor != "" {
		base.Vendor = o.Vendor
	}
	if o.Origin != "" {
		base.Origin = o.Origin
	}
	base.Aliases = append(append([]string(nil), base.Aliases...), o.Aliases...)
	if o.Year != nil {
		base.Year = o.Year
	}
	if o.FormFactor != "" {
		base.FormFactor = o.FormFactor
	}
	if o.Datacenter != nil {
		base.Datacenter = o.Datacenter
	}
	if len(o.TOPS) > 0 {
		t := map[fleet.Precision]float64{}
		for k, v := range base.TOPS {
			t[k] = v
		}
		for k, v := range o.TOPS {
			t[k] = v
		}
		base.TOPS = t
	}
	setF := func(dst **float64, v *float64) {
		if v != nil {
			*dst = v
		}
	}
	setF(&base.MemoryGB, o.MemoryGB)
	setF(&base.MemoryBWGBps, o.MemoryBWGBps)
	setF(&base.InterconnectGB, o.InterconnectGB)
	setF(&base.IOBandwidthGBps, o.IOBandwidthGBps)
	setF(&base.TDPW, o.TDPW)
	setF(&base.DieAreaMM2, o.DieAreaMM2)
	setF(&base.CostUSD, o.CostUSD)
	for _, s := range []struct {
		dst *string
		v   string
	}{
		{&base.MemoryType, o.MemoryType}, {&base.Interconnect, o.Interconnect},
		{&base.IOBandwidthNote, o.IOBandwidthNote}, {&base.Confidence, o.Confidence},
		{&base.Source, o.Source}, {&base.Notes, o.Notes},
	} {
		if s.v != "" {
			*s.dst = s.v
		}
	}
	return base
}

// All returns the chips in catalog order. The slice is a copy.
func (c *Catalog) All() []Chip { return append([]Chip(nil), c.chips...) }

// Len is the number of chips.
func (c *Catalog) Len() int { return len(c.chips) }

// Get returns the chip with exactly this id.
func (c *Catalog) Get(id string) (Chip, bool) {
	for _, ch := range c.chips {
		if ch.ID == id {
			return ch, true
		}
	}
	return Chip{}, false
}

// Normalize maps a name to its lookup key: lower case, letters and digits only.
// "NVIDIA-H800", "nvidia h800" and "NvidiaH800" share a key.
func Normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Resolve finds a chip by id, display name or alias, case- and
// punctuation-insensitively. An unknown name returns an error wrapping
// fleet.ErrNotFound that lists the nearest names; an ambiguous one wraps
// fleet.ErrAmbiguous and lists the candidates.
func (c *Catalog) Resolve(name string) (Chip, error) {
	k := Normalize(name)
	if k == "" {
		return Chip{}, fmt.Errorf("%w: empty chip name", fleet.ErrInvalid)
	}
	if ids := c.byKey[k]; len(ids) == 1 {
		return c.chips[ids[0]], nil
	} else if len(ids) > 1 {
		return Chip{}, c.ambiguous(name, ids)
	}
	// Vendor-prefixed label spellings: "NVIDIA-H800-PCIe" → try dropping a
	// known vendor prefix.
	for _, p := range []string{"nvidia", "huawei", "amd", "tesla", "geforce"} {
		if strings.HasPrefix(k, p) && len(k) > len(p) {
			if ids := c.byKey[k[len(p):]]; len(ids) == 1 {
				return c.chips[ids[0]], nil
			} else if len(ids) > 1 {
				return Chip{}, c.ambiguous(name, ids)
			}
		}
	}
	// A unique chip whose keys start with the name ("h800sxm" → h800-sxm5-80gb).
	var pref []int
	seen := map[int]bool{}
	for key, ids := range c.byKey {
		if strings.HasPrefix(key, k) && len(k) >= 3 {
			for _, i := range ids {
				if !seen[i] {
					seen[i] = true
					pref = append(pref, i)
				}
			}
		}
	}
	if len(pref) == 1 {
		return c.chips[pref[0]], nil
	}
	if len(pref) > 1 {
		return Chip{}, c.ambiguous(name, pref)
	}
	return Chip{}, fmt.Errorf("%w: unknown chip %q; nearest: %s", fleet.ErrNotFound, name, strings.Join(c.Nearest(name, 5), ", "))
}

func (c *Catalog) ambiguous(name string, ids []int) error {
	sort.Ints(ids)
	cands := make([]string, len(ids))
	for i, id := range ids {
		cands[i] = fmt.Sprintf("%s (%s)", c.chips[id].ID, c.chips[id].Name)
	}
	return fmt.Errorf("%w: %q matches %d chips: %s", fleet.ErrAmbiguous, name, len(ids), strings.Join(cands, ", "))
}

// Nearest returns up to n chip ids whose names are closest to name by edit
// distance over the normalized keys.
func (c *Catalog) Nearest(name string, n int) []string {
	out := []string{}
	for _, i := range names.Nearest(Normalize(name), c.byKey, len(c.chips), n) {
		out = append(out, c.chips[i].ID)
	}
	return out
}
