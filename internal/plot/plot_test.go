package plot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFanAndBarsRender(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	fan, err := Fan("Supply and demand", "", "PFLOP/s", MonthTicks{2027, 11},
		Band{Name: "supply", X: x, Lo: []float64{1, 1, 1, 1}, Mid: []float64{2, 2, 2, 2}, Hi: []float64{3, 3, 3, 3}},
		Band{Name: "demand", X: x, Lo: []float64{1, 2, 3, 4}, Mid: []float64{1, 2, 3, 4}, Hi: []float64{1, 2, 3, 4}, Dashed: true})
	if err != nil {
		t.Fatal(err)
	}
	bars, err := Bars("Months bought", "months", []Bar{{"reserve", -1}, {"efficiency", 7}})
	if err != nil {
		t.Fatal(err)
	}
	var svg bytes.Buffer
	if err := Write(&svg, "svg", Width, Height, fan, bars); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "supply (P50, band P10-P90)", "demand", "efficiency", "2028"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.png")
	if err := Save(file, Width, Height, fan, bars); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 8*144 || b.Dy() != 8*144 {
		t.Errorf("png %v, want 1152×1152 (2 charts of 8×4 in at 144 dpi)", b)
	}
}

func TestErrors(t *testing.T) {
	if _, err := FormatOf("x.pdf"); err == nil || !strings.Contains(err.Error(), ".svg or .png") {
		t.Errorf("FormatOf(x.pdf): %v", err)
	}
	if f, err := FormatOf("A.SVG"); err != nil || f != "svg" {
		t.Errorf("FormatOf(A.SVG) = %q, %v", f, err)
	}
	if _, err := Fan("", "", "", nil, Band{X: []float64{1}, Lo: nil}); err == nil {
		t.Error("mismatched band accepted")
	}
	if _, err := Bars("", "", nil); err == nil {
		t.Error("no bars accepted")
	}
	if err := Write(&bytes.Buffer{}, "svg", Width, Height); err == nil {
		t.Error("no charts accepted")
	}
}

func TestMonthTicks(t *testing.T) {
	ticks := MonthTicks{2027, 1}.Ticks(0, 35)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
			if int(tk.Value)%12 != 0 {
				t.Errorf("label %s at month %v", tk.Label, tk.Value)
			}
		}
	}
	if strings.Join(labels, ",") != "2027,2028,2029" {
		t.Errorf("labels %v", labels)
	}
}
