package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// SimSeries is one policy's simulation outcome to draw.
type SimSeries struct {
	Policy string
	// JCTs are job completion times in seconds.
	JCTs []float64
	// Util is the fleet's utilization over time: (time in seconds,
	// fraction of devices busy in [0, 1]) per round.
	Util []UtilPoint
}

// UtilPoint is the utilization over one interval [Start, End] seconds.
type UtilPoint struct {
	Start, End float64
	Busy       float64 // fraction of devices busy
}

// utilBuckets bounds the points of the utilization curves.
const utilBuckets = 400

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

// SimFigure draws, one above the other, the CDF of job completion times per
// policy (hours, log scale) and the fleet's utilization over time per
// policy, and writes the figure as format "svg" or "png".
func SimFigure(w io.Writer, format string, series []SimSeries) error {
	if len(series) == 0 {
		return fmt.Errorf("plot: nothing to draw")
	}
	cdf := plot.New()
	cdf.Title.Text = "Job completion time CDF"
	cdf.X.Label.Text = "JCT (hours, log scale)"
	cdf.Y.Label.Text = "fraction of jobs"
	cdf.X.Scale = plot.LogScale{}
	cdf.X.Tick.Marker = ticks125{}
	cdf.Y.Min, cdf.Y.Max = 0, 1
	cdf.Legend.Top = false
	cdf.Legend.Left = false
	cdf.Add(plotter.NewGrid())

	util := plot.New()
	util.Title.Text = "Fleet utilization over time"
	util.X.Label.Text = "time (hours)"
	util.Y.Label.Text = "devices busy"
	util.Y.Min, util.Y.Max = 0, 1.2
	util.Legend.Top = true
	util.Add(plotter.NewGrid())

	for i, s := range series {
		c := palette[i%len(palette)]
		if pts := cdfPoints(s.JCTs); len(pts) > 0 {
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = c
			l.Width = vg.Points(1.5)
			cdf.Add(l)
			cdf.Legend.Add(s.Policy, l)
		}
		if pts := utilPoints(s.Util); len(pts) > 0 {
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = c
			l.Width = vg.Points(1)
			util.Add(l)
			util.Legend.Add(s.Policy, l)
		}
	}

	width, height := 8*vg.Inch, 9*vg.Inch
	var (
		canvas draw.Canvas
		out    io.WriterTo
	)
	switch strings.ToLower(format) {
	case "svg":
		c := vgsvg.New(width, height)
		canvas, out = draw.New(c), c
	case "png":
		c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))
		canvas, out = draw.New(c), vgimg.PngCanvas{Canvas: c}
	default:
		return fmt.Errorf("plot: unknown format %q (want svg or png)", format)
	}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6), PadY: vg.Points(12)}
	plots := [][]*plot.Plot{{cdf}, {util}}
	canvases := plot.Align(plots, tiles, canvas)
	cdf.Draw(canvases[0][0])
	util.Draw(canvases[1][0])
	_, err := out.WriteTo(w)
	return err
}

// cdfPoints is the empirical CDF of JCTs, in hours, for positive values.
func cdfPoints(jcts []float64) plotter.XYs {
	var v []float64
	for _, x := range jcts {
		if x > 0 && !math.IsInf(x, 0) && !math.IsNaN(x) {
			v = append(v, x/3600)
		}
	}
	sort.Float64s(v)
	pts := make(plotter.XYs, 0, 2*len(v))
	for i, x := range v {
		pts = append(pts, plotter.XY{X: x, Y: float64(i) / float64(len(v))}, plotter.XY{X: x, Y: float64(i+1) / float64(len(v))})
	}
	return pts
}

// utilPoints averages the utilization into at most utilBuckets equal time
// buckets, so long runs stay readable.
func utilPoints(u []UtilPoint) plotter.XYs {
	if len(u) == 0 {
		return nil
	}
	t0, t1 := u[0].Start, u[len(u)-1].End
	if !(t1 > t0) {
		return nil
	}
	n := utilBuckets
	if len(u) < n {
		n = len(u)
	}
	width := (t1 - t0) / float64(n)
	busy := make([]float64, n)
	for _, p := range u {
		// Spread each interval over the buckets it overlaps.
		for b := int((p.Start - t0) / width); b < n && t0+float64(b)*width < p.End; b++ {
			if b < 0 {
				continue
			}
			lo := math.Max(p.Start, t0+float64(b)*width)
			hi := math.Min(p.End, t0+float64(b+1)*width)
			if hi > lo {
				busy[b] += p.Busy * (hi - lo)
			}
		}
	}
	pts := make(plotter.XYs, n)
	for b := range pts {
		pts[b] = plotter.XY{X: (t0 + (float64(b)+0.5)*width) / 3600, Y: busy[b] / width}
	}
	return pts
}

// ticks125 marks 1-2-5 steps (…, 0.5, 1, 2, 5, 10, …) on a log axis.
type ticks125 struct{}

func (ticks125) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return nil
	}
	var out []plot.Tick
	for e := math.Floor(math.Log10(min)); math.Pow(10, e) <= max; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= min && v <= max {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return out
}
