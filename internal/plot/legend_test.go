package plot

import (
	"image/color"
	"slices"
	"testing"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
)

// box is an axis-aligned rectangle in canvas points.
type box struct{ x0, y0, x1, y1 vg.Length }

func (a box) overlaps(b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }
func (a box) inside(b box) bool {
	return a.x0 >= b.x0 && a.x1 <= b.x1 && a.y0 >= b.y0 && a.y1 <= b.y1
}

// drawn records p drawn by draw on a Width × Height canvas and returns the
// box of the legend (its labels, widened by the swatch and a space on each
// side) and the boxes of every shape filled in a series colour that is
// not a legend swatch (the bars).
func drawn(t *testing.T, p *gplot.Plot, labels []string, paint func(*gplot.Plot, draw.Canvas)) (legend, text box, bars []box) {
	t.Helper()
	rec := &recorder.Canvas{}
	paint(p, draw.NewCanvas(rec, Width, Height))
	var cur color.Color
	var fills []box
	first := true
	for _, a := range rec.Actions {
		switch a := a.(type) {
		case *recorder.SetColor:
			cur = a.Color
		case *recorder.FillString:
			if !slices.Contains(labels, a.String) {
				continue
			}
			// The label's box: its width in the legend's font, one em high
			// from a quarter em below the baseline.
			b := box{a.Point.X, a.Point.Y - a.Size/4, a.Point.X + p.Legend.TextStyle.Rectangle(a.String).Max.X, a.Point.Y + a.Size}
			if first {
				legend, first = b, false
			}
			legend = box{min(legend.x0, b.x0), min(legend.y0, b.y0), max(legend.x1, b.x1), max(legend.y1, b.y1)}
		case *recorder.Fill:
			if !slices.ContainsFunc(Palette[:len(labels)], func(c color.Color) bool { return sameColor(c, cur) }) {
				continue
			}
			b := box{x0: 1e9, y0: 1e9, x1: -1e9, y1: -1e9}
			for _, c := range a.Path {
				if c.Type == vg.MoveComp || c.Type == vg.LineComp {
					b = box{min(b.x0, c.Pos.X), min(b.y0, c.Pos.Y), max(b.x1, c.Pos.X), max(b.y1, c.Pos.Y)}
				}
			}
			fills = append(fills, b)
		}
	}
	if first {
		t.Fatal("no legend label was drawn")
	}
	text = legend
	swatch := p.Legend.ThumbnailWidth + vg.Points(6)
	legend.x0 -= swatch
	legend.x1 += swatch
	for _, b := range fills {
		if !b.inside(legend) {
			bars = append(bars, b)
		}
	}
	return legend, text, bars
}

func sameColor(a, b color.Color) bool {
	if a == nil || b == nil {
		return false
	}
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// The legend never covers a bar, even when the tallest bars are on the
// right where gonum puts the legend; the same chart drawn gonum's way
// shows that the check sees an overlap.
func TestLegendBesideTheBars(t *testing.T) {
	labels := []string{"in-service", "reserve", "maintenance", "failed", "retired"}
	cats := []string{"A800", "H20", "910B3", "P800", "MLU590", "H800 SXM5 80GB"}
	var series []Series
	for i, l := range labels {
		v := make([]float64, len(cats))
		for j := range v {
			v[j] = float64((j + 1) * (5 - i) * 20) // rising to the right
		}
		series = append(series, Series{l, v})
	}
	grouped := func() (*gplot.Plot, error) { return GroupedBars("use", "devices", cats, series[:2]) }
	stacked := func() (*gplot.Plot, error) { return StackedBars("fleet", "devices", cats, series) }
	for name, mk := range map[string]func() (*gplot.Plot, error){"stacked": stacked, "grouped": grouped} {
		p, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		n := len(labels)
		if name == "grouped" {
			n = 2
		}
		old := 0
		legend, _, bars := drawn(t, p, labels[:n], (*gplot.Plot).Draw)
		for _, b := range bars {
			if b.overlaps(legend) {
				old++
			}
		}
		if old == 0 {
			t.Errorf("%s: drawn gonum's way no bar meets the legend; the check would not see an overlap", name)
		}
		p, _ = mk()
		legend, text, bars := drawn(t, p, labels[:n], drawLegendBeside)
		if len(bars) < len(cats) {
			t.Fatalf("%s: %d bars drawn, want at least %d", name, len(bars), len(cats))
		}
		for _, b := range bars {
			if b.overlaps(legend) {
				t.Errorf("%s: a bar %+v meets the legend %+v", name, b, legend)
			}
			if b.x1 > Width {
				t.Errorf("%s: a bar %+v leaves the canvas", name, b)
			}
		}
		if text.x1 > Width {
			t.Errorf("%s: the legend's labels %+v leave the %v-wide canvas", name, text, Width)
		}
	}
}
