package plot

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Default size of one chart.
const (
	Width  = 8 * vg.Inch
	Height = 4 * vg.Inch
)

// FormatOf returns "svg" or "png" from a file name's extension, or an error
// naming the extensions Save understands. Commands call it before doing
// any work, so a bad --plot fails fast.
func FormatOf(file string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".svg":
		return "svg", nil
	case ".png":
		return "png", nil
	default:
		return "", fmt.Errorf("plot file %q: unknown extension %q (use .svg or .png)", file, ext)
	}
}

// Save writes the charts stacked top to bottom, each width × height, to
// file as SVG or PNG by its extension.
func Save(file string, width, height vg.Length, charts ...*gplot.Plot) error {
	format, err := FormatOf(file)
	if err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := Write(f, format, width, height, charts...); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Write renders the charts stacked top to bottom in format "svg" or "png".
func Write(w io.Writer, format string, width, height vg.Length, charts ...*gplot.Plot) error {
	if len(charts) == 0 {
		return fmt.Errorf("plot: nothing to draw")
	}
	total := height * vg.Length(len(charts))
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "svg":
		c = vgsvg.New(width, total)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, total), vgimg.UseDPI(144))}
	default:
		return fmt.Errorf("plot: unknown format %q (svg, png)", format)
	}
	dc := draw.New(c)
	rows := make([][]*gplot.Plot, len(charts))
	for i, p := range charts {
		rows[i] = []*gplot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(charts), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(12)}
	canvases := gplot.Align(rows, tiles, dc)
	for i, p := range charts {
		drawLegendBeside(p, canvases[i][0])
	}
	_, err := c.WriteTo(w)
	return err
}

// InlineSVG renders one chart as an <svg> element to put inside an HTML
// page: the XML prolog is dropped and the element gets role="img" and the
// label given (what a screen reader says instead of the drawing).
func InlineSVG(w io.Writer, width, height vg.Length, label string, chart *gplot.Plot) error {
	var b strings.Builder
	if err := Write(&b, "svg", width, height, chart); err != nil {
		return err
	}
	s := b.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return fmt.Errorf("plot: the SVG canvas wrote no <svg> element")
	}
	s = s[i:]
	s = "<svg role=\"img\" aria-label=\"" + html.EscapeString(label) + "\"" + s[len("<svg"):]
	_, err := io.WriteString(w, s)
	return err
}

// legendGap is the space between a chart's data area and its legend.
const legendGap = vg.Length(10)

// drawLegendBeside draws p on c with its legend (if it has one) in a
// column to the right of the chart, its top level with the data area's,
// instead of over the data where gonum puts it: a legend there hides
// whatever bar or line reaches its corner.
func drawLegendBeside(p *gplot.Plot, c draw.Canvas) {
	leg := p.Legend
	r := leg.Rectangle(c)
	// A fifth more than gonum's own font measures: a browser showing the
	// SVG may set the labels in a wider font.
	w := (r.Max.X - r.Min.X) * 1.2
	if w <= 0 {
		p.Draw(c)
		return
	}
	if p.BackgroundColor != nil { // the legend's column too
		c.SetColor(p.BackgroundColor)
		c.Fill(c.Rectangle.Path())
	}
	p.Legend = gplot.NewLegend() // no entries: Draw draws no legend
	p.Draw(draw.Crop(c, 0, -(w + legendGap), 0, 0))
	p.Legend = leg
	top := vg.Length(0)
	if p.Title.Text != "" {
		top = p.Title.TextStyle.Height(p.Title.Text) + p.Title.Padding
	}
	leg.Top, leg.Left, leg.XOffs, leg.YOffs = true, true, 0, 0
	leg.Padding = max(leg.Padding, vg.Points(2)) // room for a taller browser font
	leg.Draw(draw.Crop(c, c.Max.X-c.Min.X-w, 0, 0, -top))
}
