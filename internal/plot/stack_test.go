package plot

import (
	"strings"
	"testing"
	"time"
)

func TestInlineStackedAndDays(t *testing.T) {
	p, err := StackedBars("Devices", "devices", []string{"H800", "910C"}, []Series{{"in-service", []float64{10, 20}}, {"reserve", []float64{5, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := InlineSVG(&b, Width, Height, `Devices by "model"`, p); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.HasPrefix(s, `<svg role="img" aria-label="Devices by &#34;model&#34;"`) || strings.Contains(s, "<?xml") || !strings.Contains(s, "910C") || !strings.Contains(s, "reserve") {
		t.Errorf("inline svg: %.300s", s)
	}
	if _, err := StackedBars("x", "y", []string{"a"}, []Series{{"s", []float64{1, 2}}}); err == nil {
		t.Error("a series longer than the categories was drawn")
	}
	d, err := DaySeries("Fleet", "devices", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), []Series{{"in-service", []float64{1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := InlineSVG(&b, Width, Height, "per day", d); err != nil || !strings.Contains(b.String(), "2026-01-0") {
		t.Errorf("day series: %v %.200s", err, b.String())
	}
}
