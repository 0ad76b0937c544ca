package plot

import (
	"fmt"
	"image/color"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Band is one quantity over time: its P10-P90 band shaded, its P50 a line.
// X, Lo, Mid and Hi have the same length. A band with Lo == Hi everywhere
// is drawn as a line only.
type Band struct {
	Name        string
	X           []float64
	Lo, Mid, Hi []float64
	Color       color.Color // nil: the next of Palette
	Dashed      bool
}

// Palette colours series in order (colour-blind safe, Okabe & Ito 2008).
var Palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{86, 180, 233, 255},  // sky blue
}

// Fan draws bands over a shared x axis. ticks labels the x axis (nil: gonum's
// default numbers).
func Fan(title, xlabel, ylabel string, ticks gplot.Ticker, bands ...Band) (*gplot.Plot, error) {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	if ticks != nil {
		p.X.Tick.Marker = ticks
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(8)
	for i, b := range bands {
		n := len(b.X)
		if len(b.Lo) != n || len(b.Mid) != n || len(b.Hi) != n {
			return nil, fmt.Errorf("plot: band %q: x, lo, mid and hi differ in length", b.Name)
		}
		if n == 0 {
			continue
		}
		c := b.Color
		if c == nil {
			c = Palette[i%len(Palette)]
		}
		flat := true
		for j := range b.Lo {
			if b.Lo[j] != b.Hi[j] {
				flat = false
				break
			}
		}
		if !flat {
			ring := make(plotter.XYs, 0, 2*n)
			for j := 0; j < n; j++ {
				ring = append(ring, plotter.XY{X: b.X[j], Y: b.Hi[j]})
			}
			for j := n - 1; j >= 0; j-- {
				ring = append(ring, plotter.XY{X: b.X[j], Y: b.Lo[j]})
			}
			poly, err := plotter.NewPolygon(ring)
			if err != nil {
				return nil, err
			}
			r, g, bl, _ := c.RGBA()
			poly.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 70}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		mid := make(plotter.XYs, n)
		for j := range mid {
			mid[j] = plotter.XY{X: b.X[j], Y: b.Mid[j]}
		}
		line, err := plotter.NewLine(mid)
		if err != nil {
			return nil, err
		}
		line.Color = c
		line.Width = vg.Points(1.5)
		if b.Dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		label := b.Name
		if !flat {
			label += " (P50, band P10-P90)"
		}
		p.Legend.Add(label, line)
	}
	return p, nil
}

// MonthTicks labels a month-index axis (0 = the start month) with years:
// a major tick each January, labelled with the year. startYear and
// startMonth (1-12) are the calendar month of index 0.
type MonthTicks struct {
	StartYear, StartMonth int
}

// Ticks implements plot.Ticker.
func (t MonthTicks) Ticks(min, max float64) []gplot.Tick {
	var ticks []gplot.Tick
	first := int(min) - 1
	span := max - min
	every := 1
	if span > 12*12 {
		every = 2
	}
	for m := first; float64(m) <= max; m++ {
		if float64(m) < min {
			continue
		}
		abs := t.StartYear*12 + t.StartMonth - 1 + m
		if abs%12 == 0 {
			y := abs / 12
			if (y-t.StartYear)%every == 0 {
				ticks = append(ticks, gplot.Tick{Value: float64(m), Label: fmt.Sprint(y)})
				continue
			}
		}
		if abs%3 == 0 && span <= 12*12 {
			ticks = append(ticks, gplot.Tick{Value: float64(m)})
		}
	}
	return ticks
}
