package models

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/names"
)

// embedded is model-configs.csv (../shared/data) converted to JSON, with
// every row's source, plus aliases and same-shape variants.
//
//go:embed data/models.json
var embedded []byte

// Catalog is an immutable set of models with a name index. Safe for
// concurrent use.
type Catalog struct {
	models []Model
	byKey  map[string][]int
}

// Default returns the embedded catalog, with each variant (Llama 3.1/3.3)
// expanded into its own entry. It parses on each call; callers keep it.
func Default() *Catalog {
	var base []Model
	if err := json.Unmarshal(embedded, &base); err != nil {
		panic("models: embedded catalog is invalid: " + err.Error())
	}
	var all []Model
	for _, m := range base {
		all = append(all, m)
		for _, v := range m.Variants {
			c := m
			c.Name, c.Aliases, c.MaxPosition, c.Variants = v.Name, v.Aliases, v.MaxPosition, nil
			c.Notes = v.Note
			c.HFID = ""
			all = append(all, c)
		}
	}
	c, err := NewCatalog(all)
	if err != nil {
		panic("models: embedded catalog is invalid: " + err.Error())
	}
	return c
}

// NewCatalog builds a catalog; names must be unique and every model valid.
func NewCatalog(ms []Model) (*Catalog, error) {
	c := &Catalog{models: append([]Model(nil), ms...), byKey: map[string][]int{}}
	seen := map[string]bool{}
	for i, m := range c.models {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", fleet.ErrInvalid, err)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("%w: duplicate model %q", fleet.ErrInvalid, m.Name)
		}
		seen[m.Name] = true
		keys := map[string]bool{}
		for _, n := range append([]string{m.Name, m.HFID}, m.Aliases...) {
			if k := normalize(n); k != "" {
				keys[k] = true
			}
			// "meta-llama/Llama-3.1-8B" also answers to "Llama-3.1-8B".
			if j := strings.LastIndex(n, "/"); j >= 0 {
				if k := normalize(n[j+1:]); k != "" {
					keys[k] = true
				}
			}
		}
		for k := range keys {
			c.byKey[k] = append(c.byKey[k], i)
		}
	}
	return c, nil
}

// All returns the models in catalog order (a copy).
func (c *Catalog) All() []Model { return append([]Model(nil), c.models...) }

// Len is the number of models.
func (c *Catalog) Len() int { return len(c.models) }

func normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Resolve finds a model by name, Hugging Face id or alias, case- and
// punctuation-insensitively ("llama-3.3-70b", "Llama 3.3 70B",
// "meta-llama/Llama-3.3-70B-Instruct"). Unknown names wrap
// fleet.ErrNotFound and list the nearest names; ambiguous ones wrap
// fleet.ErrAmbiguous.
func (c *Catalog) Resolve(name string) (Model, error) {
	k := normalize(name)
	if k == "" {
		return Model{}, fmt.Errorf("%w: empty model name", fleet.ErrInvalid)
	}
	if ids := c.byKey[k]; len(ids) == 1 {
		return c.models[ids[0]], nil
	} else if len(ids) > 1 {
		return Model{}, c.ambiguous(name, ids)
	}
	return Model{}, fmt.Errorf("%w: unknown model %q; nearest: %s (or pass a Hugging Face config.json path)",
		fleet.ErrNotFound, name, strings.Join(c.Nearest(name, 5), ", "))
}

func (c *Catalog) ambiguous(name string, ids []int) error {
	sort.Ints(ids)
	var cands []string
	for _, i := range ids {
		cands = append(cands, c.models[i].Name)
	}
	return fmt.Errorf("%w: %q matches %d models: %s", fleet.ErrAmbiguous, name, len(ids), strings.Join(cands, ", "))
}

// Nearest returns up to n model names closest to name by edit distance over
// the normalized keys (a containing key counts as close).
func (c *Catalog) Nearest(name string, n int) []string {
	var out []string
	for _, i := range names.Nearest(normalize(name), c.byKey, len(c.models), n) {
		out = append(out, c.models[i].Name)
	}
	return out
}
