package plot

import (
	"fmt"
	"image/color"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Bar is one labelled value.
type Bar struct {
	Label string
	Value float64
}

// Bars draws one bar per value, labelled on the x axis, in the given order.
func Bars(title, ylabel string, bars []Bar) (*gplot.Plot, error) {
	if len(bars) == 0 {
		return nil, fmt.Errorf("plot: no bars")
	}
	p := gplot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	vals := make(plotter.Values, len(bars))
	names := make([]string, len(bars))
	for i, b := range bars {
		vals[i] = b.Value
		names[i] = b.Label
	}
	bc, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return nil, err
	}
	bc.Color = Palette[0]
	bc.LineStyle.Color = color.Black
	bc.LineStyle.Width = vg.Points(0.5)
	p.Add(plotter.NewGrid(), bc)
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(bars))-0.4
	// Keep zero in view so signs read right.
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	if p.Y.Max < 0 {
		p.Y.Max = 0
	}
	if p.Y.Max == p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	return p, nil
}
