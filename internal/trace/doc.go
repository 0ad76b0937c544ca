// Package trace reads and writes job traces and throughput tables for the
// simulator, and generates synthetic traces.
//
// Traces: Gavel's tab-separated .trace format (ReadGavel) and Granary's own
// JSONL format (ReadJSONL, WriteJSONL; documented in docs/traces.md).
// Throughput tables (steps/s per job class, gang size and accelerator model,
// the input that makes scheduling heterogeneity-aware): Gavel's
// simulation_throughputs.json (ReadGavelThroughputs), and Granary's CSV and
// YAML formats (ReadThroughputsCSV, ReadThroughputsYAML). Generate ports
// Gavel's job generator (Narayanan et al., OSDI 2020;
// github.com/stanford-futuredata/gavel, commit c4fa400, scheduler/utils.py
// generate_job and scripts/utils/generate_trace.py).
//
// Readers take an io.Reader and the name to use in errors; every error names
// file:line and the field (a *fleet.InputError wrapping fleet.ErrInvalid).
// Bad input never panics: the readers are fuzzed.
package trace
