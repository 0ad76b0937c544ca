package accel

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/sharedtest"

	"github.com/granaryhq/granary/internal/fleet"
)

func TestEmbeddedCatalogHasEveryChipOfTheSharedData(t *testing.T) {
	cat := Default()
	rows := sharedtest.CSV(t, "data/chips.csv")
	names := map[string]bool{}
	for _, c := range cat.All() {
		names[c.Name] = true
	}
	for _, r := range rows[1:] {
		if !names[r[1]] {
			t.Errorf("chips.csv row %q is not in the catalog", r[1])
		}
	}
	for _, id := range []string{"k80", "p100-sxm2-16gb"} {
		if _, ok := cat.Get(id); !ok {
			t.Errorf("catalog lacks %s (needed for Gavel's tables)", id)
		}
	}
}

func TestUnknownStaysUnknown(t *testing.T) {
	cat := Default()
	mlu590, err := cat.Resolve("MLU590")
	if err != nil {
		t.Fatal(err)
	}
	if len(mlu590.TOPS) != 0 || mlu590.MemoryGB != nil || mlu590.DieAreaMM2 != nil {
		t.Errorf("MLU590 has no sourced specs, got %+v", mlu590)
	}
	l20, _ := cat.Resolve("L20")
	if l20.TDPW != nil {
		t.Errorf("L20 TDP is unverified in the source and must stay unknown, got %v", *l20.TDPW)
	}
}

func TestResolve(t *testing.T) {
	cat := Default()
	for name, want := range map[string]string{
		"H800":                  "h800-sxm5-80gb",
		"h800":                  "h800-sxm5-80gb",
		"NVIDIA-H800":           "h800-sxm5-80gb",
		"NVIDIA-A800-SXM4-80GB": "a800-sxm4-80gb",
		"910B3":                 "ascend-910b3",
		"Ascend910B3":           "ascend-910b3",
		"MXC500":                "metax-c500",
		"h20-96gb":              "h20-96gb",
		"V100 SXM2 32GB":        "v100-sxm2-32gb",
		"k80":                   "k80",
		"p100":                  "p100-sxm2-16gb",
	} {
		c, err := cat.Resolve(name)
		if err != nil {
			t.Errorf("Resolve(%q): %v", name, err)
			continue
		}
		if c.ID != want {
			t.Errorf("Resolve(%q) = %s, want %s", name, c.ID, want)
		}
	}
}

func TestResolveUnknownListsNearest(t *testing.T) {
	_, err := Default().Resolve("H810")
	if !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if !strings.Contains(err.Error(), "h800-sxm5-80gb") {
		t.Errorf("error should suggest h800: %v", err)
	}
}

func TestResolveAmbiguous(t *testing.T) {
	_, err := Default().Resolve("910")
	if !errors.Is(err, fleet.ErrAmbiguous) {
		t.Fatalf("want ErrAmbiguous, got %v", err)
	}
	if !strings.Contains(err.Error(), "ascend-910b3") {
		t.Errorf("candidates should be listed: %v", err)
	}
}

func TestParseErrorsNameFileEntryField(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"negative", "- name: X\n  memory_gb: -3\n", "f.yaml:2: entry 1 (X): field \"memory_gb\""},
		{"non-numeric", "- name: X\n  tops: {bf16: lots}\n", "f.yaml:2"},
		{"missing name", "- tops: {bf16: 1}\n", "field \"name\""},
		{"unknown field", "- name: X\n  colour: red\n", "colour"},
		{"bad precision", "- name: X\n  tops: {fp12: 3}\n", "fp12"},
		{"zero tops", "chips:\n  - name: X\n    tops: {bf16: 0}\n", "f.yaml:3: entry 1 (X): field \"tops.bf16\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("want an error")
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("error should wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should contain %q", err, tc.want)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	over, err := Parse("o.json", []byte(`[{"id":"h800-sxm5-80gb","tdp_w":650},{"name":"My Chip","tops":{"bf16":100},"aliases":["mine"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Default().WithOverrides(over)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := cat.Resolve("H800")
	if h.TDPW == nil || *h.TDPW != 650 || h.TOPS[fleet.BF16] != 989.4 {
		t.Errorf("override should change TDP only: %+v", h)
	}
	m, err := cat.Resolve("mine")
	if err != nil || m.ID != "my-chip" {
		t.Errorf("new chip: %+v %v", m, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("- name: X\n  tops: {bf16: 1}\n"))
	f.Add([]byte(`{"chips":[{"id":"a","memory_gb":1}]}`))
	f.Add(embedded)
	f.Fuzz(func(t *testing.T, data []byte) {
		chips, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		if _, err := Default().WithOverrides(chips); err != nil && !errors.Is(err, fleet.ErrInvalid) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// The embedded file is decoded with encoding/json for speed; a user's copy of
// it goes through Parse. Both must read it the same way.
func TestEmbeddedReadsTheSameThroughParse(t *testing.T) {
	viaParse, err := Parse("chips.json", embedded)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default().All(), viaParse); diff != "" {
		t.Errorf("Parse and Default disagree (-default +parse):\n%s", diff)
	}
}

func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		_ = Default().Len()
	}
}
