package plot

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestSimFigure(t *testing.T) {
	series := []SimSeries{
		{Policy: "las", JCTs: []float64{3600, 7200, 36000}, Util: []UtilPoint{{0, 360, 0.5}, {360, 720, 1}}},
		{Policy: "las-hetero", JCTs: []float64{1800, 3600}, Util: []UtilPoint{{0, 360, 0.25}}},
	}
	for _, f := range []string{"svg", "png"} {
		var b bytes.Buffer
		if err := SimFigure(&b, f, series); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch f {
		case "svg":
			if !strings.Contains(b.String(), "<svg") || !strings.Contains(b.String(), "las-hetero") {
				t.Errorf("svg output lacks the svg element or the legend")
			}
		case "png":
			if !bytes.HasPrefix(b.Bytes(), []byte("\x89PNG")) {
				t.Errorf("png output is not a PNG")
			}
		}
	}
	if err := SimFigure(&bytes.Buffer{}, "gif", series); err == nil {
		t.Error("gif accepted")
	}
	if err := SimFigure(&bytes.Buffer{}, "svg", nil); err == nil {
		t.Error("empty series accepted")
	}
}

func TestUtilPointsAverage(t *testing.T) {
	// Two rounds: 50% for 360 s then 100% for 360 s: the time-weighted mean
	// of the buckets is 75%.
	pts := utilPoints([]UtilPoint{{0, 360, 0.5}, {360, 720, 1}})
	sum := 0.0
	for _, p := range pts {
		sum += p.Y
	}
	if mean := sum / float64(len(pts)); math.Abs(mean-0.75) > 1e-9 {
		t.Errorf("mean utilization %v, want 0.75", mean)
	}
	c := cdfPoints([]float64{7200, 3600})
	if c[0].X != 1 || c[len(c)-1].X != 2 || c[len(c)-1].Y != 1 {
		t.Errorf("cdf %v", c)
	}
}

func TestTicks125(t *testing.T) {
	var got []float64
	for _, tk := range (ticks125{}).Ticks(0.3, 25) {
		got = append(got, tk.Value)
	}
	want := []float64{0.5, 1, 2, 5, 10, 20}
	if len(got) != len(want) {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("ticks %v, want %v", got, want)
		}
	}
}
