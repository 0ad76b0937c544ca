package plot

import (
	"fmt"

	gplot "gonum.org/v1/plot"
)

// LeverGain is one lever's P50 runway gain for the lever chart: Months nil
// when it does not apply, AtLeast when the gain is a lower bound.
type LeverGain struct {
	Name    string
	Months  *int
	AtLeast bool
}

// Runway draws the runway forecast: the fan of supply (P10–P90 around the
// P50) against demand per month from the calendar month startYear-startMonth
// (1-12), and, when levers are given, the months each lever gains. The
// slices of supply and demand have one value per month.
func Runway(title string, startYear, startMonth int, lo, mid, hi, demand []float64, levers []LeverGain) ([]*gplot.Plot, error) {
	x := make([]float64, len(mid))
	for i := range x {
		x[i] = float64(i)
	}
	fan, err := Fan(title, "", "effective PFLOP/s", MonthTicks{StartYear: startYear, StartMonth: startMonth},
		Band{Name: "supply", X: x, Lo: lo, Mid: mid, Hi: hi},
		Band{Name: "demand", X: x, Lo: demand, Mid: demand, Hi: demand, Dashed: true})
	if err != nil {
		return nil, err
	}
	charts := []*gplot.Plot{fan}
	if len(levers) == 0 {
		return charts, nil
	}
	bars := make([]Bar, 0, len(levers))
	for _, l := range levers {
		v, label := 0.0, l.Name
		switch {
		case l.Months == nil:
			label += " (n/a)"
		case l.AtLeast:
			v, label = float64(*l.Months), label+" (≥)"
		default:
			v = float64(*l.Months)
		}
		bars = append(bars, Bar{Label: label, Value: v})
	}
	b, err := Bars("P50 runway gained by each lever (same seed)", "months", bars)
	if err != nil {
		return nil, fmt.Errorf("plot: levers: %w", err)
	}
	return append(charts, b), nil
}
