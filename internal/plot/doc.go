// Package plot is Granary's shared chart package, built on gonum.org/v1/plot:
// fan charts of P10/P50/P90 bands over time (runway supply against demand),
// bar charts (the months each lever buys), and CDFs of simulated outcomes
// (sim.go, used by the simulator). Every chart is a *plot.Plot from gonum;
// Save writes one or more of them, stacked top to bottom, as SVG or PNG
// chosen by the file's extension. Charts take plain slices, never a
// forecast or simulation type, so the pure packages do not depend on it.
package plot
