package plot

import (
	"fmt"
	"image/color"
	"math"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// slanted turns the x axis's labels by 30° so long category names do not
// overlap.
func slanted(p *gplot.Plot) {
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
}

// Series is one named row of values, one per category or per day.
type Series struct {
	Name   string
	Values []float64
}

// StackedBars draws one bar per category (labelled on the x axis) made of
// the series stacked bottom to top in order, with a legend. Every series
// has one value per category.
func StackedBars(title, ylabel string, categories []string, series []Series) (*gplot.Plot, error) {
	width := vg.Points(min(40, 520/float64(max(1, len(categories)))))
	var below *plotter.BarChart
	return seriesBars(title, ylabel, categories, series, width, func(_ int, bc *plotter.BarChart) {
		bc.LineStyle.Color = color.White
		bc.LineStyle.Width = vg.Points(0.3)
		if below != nil {
			bc.StackOn(below)
		}
		below = bc
	})
}

// seriesBars draws one bar chart per series over the categories, styled by
// style (called in series order), with a legend on top and slanted names.
func seriesBars(title, ylabel string, categories []string, series []Series, width vg.Length, style func(i int, bc *plotter.BarChart)) (*gplot.Plot, error) {
	if len(categories) == 0 || len(series) == 0 {
		return nil, fmt.Errorf("plot: no bars")
	}
	p := newPlot(title, ylabel)
	for i, s := range series {
		if len(s.Values) != len(categories) {
			return nil, fmt.Errorf("plot: series %s has %d values for %d bars", s.Name, len(s.Values), len(categories))
		}
		bc, err := plotter.NewBarChart(plotter.Values(s.Values), width)
		if err != nil {
			return nil, err
		}
		bc.Color = Palette[i%len(Palette)]
		style(i, bc)
		p.Add(bc)
		p.Legend.Add(s.Name, bc)
	}
	p.Legend.Top = true
	p.NominalX(categories...)
	slanted(p)
	p.X.Min, p.X.Max = -0.6, float64(len(categories))-0.4
	p.Y.Min = 0
	return p, nil
}

// newPlot is an empty plot with a title, a y label and a grid.
func newPlot(title, ylabel string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	return p
}

// DaySeries draws one line per series over consecutive days from first
// (one value per day), with a legend and dated ticks.
func DaySeries(title, ylabel string, first time.Time, series []Series) (*gplot.Plot, error) {
	if len(series) == 0 || len(series[0].Values) == 0 {
		return nil, fmt.Errorf("plot: no days")
	}
	p := newPlot(title, ylabel)
	for i, s := range series {
		xy := make(plotter.XYs, len(s.Values))
		for d, v := range s.Values {
			xy[d] = plotter.XY{X: float64(first.AddDate(0, 0, d).Unix()), Y: v}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = Palette[i%len(Palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Tick.Marker = gplot.TimeTicks{Format: "2006-01-02"}
	p.Y.Min = 0
	return p, nil
}

// GroupedBars draws, for each category, one bar per series side by side,
// with a legend. Every series has one value per category.
func GroupedBars(title, ylabel string, categories []string, series []Series) (*gplot.Plot, error) {
	width := vg.Points(min(18, 480/float64(max(1, len(categories)*len(series)))))
	return seriesBars(title, ylabel, categories, series, width, func(i int, bc *plotter.BarChart) {
		bc.LineStyle.Width = 0
		bc.Offset = width * vg.Length(2*float64(i)-float64(len(series)-1)) / 2
	})
}
