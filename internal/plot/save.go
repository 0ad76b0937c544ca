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
		p.Draw(canvases[i][0])
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
