package trace

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
)

// gavelFields are the ten tab-separated columns of a Gavel .trace line
// (gavel scheduler/utils.py parse_trace, commit c4fa400).
var gavelFields = [...]string{
	"job_type", "command", "working_directory", "num_steps_arg", "needs_data_dir",
	"total_steps", "scale_factor", "priority_weight", "SLO", "arrival_time",
}

// msrFields are the seven columns of the older traces Gavel generated from
// Microsoft's Philly trace (gavel scheduler/traces/msr/seed=*/*.trace).
var msrFields = [...]string{
	"job_type", "command", "num_steps_arg", "needs_data_dir", "total_steps", "arrival_time", "scale_factor",
}

// maxLine bounds one trace line (Gavel's lines are a few hundred bytes).
const maxLine = 1 << 20

// ReadGavel reads a Gavel .trace: one job per line, ten tab-separated
// fields (job_type, command, working_directory, num_steps_arg,
// needs_data_dir, total_steps, scale_factor, priority_weight, SLO,
// arrival_time), or, when the first line has seven fields, the older layout
// of Gavel's Philly-derived MSR traces (job_type, command, num_steps_arg,
// needs_data_dir, total_steps, arrival_time, scale_factor; priority 1, no
// SLO). Only job_type, total_steps, scale_factor, priority_weight,
// SLO and arrival_time matter to the simulator; the others are checked for
// presence only. Job ids are 0, 1, 2, … in file order; blank lines are
// skipped. Arrivals must be non-decreasing, as Gavel asserts. name is used
// in errors (file:line: field "x": …).
func ReadGavel(r io.Reader, name string) ([]Job, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var jobs []Job
	line := 0
	prev := 0.0
	msr := false
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		bad := func(field, msg string) error {
			return &fleet.InputError{Pos: fleet.Position{File: name, Line: line, Field: field}, Msg: msg}
		}
		f := strings.Split(text, "\t")
		if len(jobs) == 0 && len(f) == len(msrFields) {
			msr = true
		}
		if msr {
			if len(f) != len(msrFields) {
				return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: line}, Msg: fmt.Sprintf(
					"want %d tab-separated fields like the first line (MSR layout: %s), got %d", len(msrFields), strings.Join(msrFields[:], ", "), len(f))}
			}
			// Reorder into the current layout.
			f = []string{f[0], f[1], "", f[2], f[3], f[4], f[6], "1", "-1", f[5]}
		} else if len(f) != len(gavelFields) {
			msg := fmt.Sprintf("want %d tab-separated fields (%s), got %d", len(gavelFields), strings.Join(gavelFields[:], ", "), len(f))
			return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: line}, Msg: msg}
		}
		j := Job{ID: len(jobs), Line: line, Class: f[0]}
		if strings.TrimSpace(j.Class) == "" {
			return nil, bad("job_type", "empty job type")
		}
		if _, err := parseInt(f[4], 0, 1); err != nil {
			return nil, bad("needs_data_dir", err.Error())
		}
		steps, err := parseInt(f[5], 1, MaxSteps)
		if err != nil {
			return nil, bad("total_steps", err.Error())
		}
		j.Steps = float64(steps)
		gang, err := parseInt(f[6], 1, MaxGang)
		if err != nil {
			return nil, bad("scale_factor", err.Error())
		}
		j.Gang = int(gang)
		if j.Weight, err = parseFloat(f[7]); err != nil {
			return nil, bad("priority_weight", err.Error())
		}
		if !(j.Weight > 0 && j.Weight <= MaxWeight) {
			return nil, bad("priority_weight", fmt.Sprintf("must be > 0 and at most %g, got %s", MaxWeight, f[7]))
		}
		slo, err := parseFloat(f[8])
		if err != nil {
			return nil, bad("SLO", err.Error())
		}
		switch {
		case slo > MaxSLO:
			return nil, bad("SLO", fmt.Sprintf("must be at most %g, got %s", MaxSLO, f[8]))
		case slo > 0:
			j.SLO = slo
		case slo == -1 || slo == 0:
		default:
			return nil, bad("SLO", fmt.Sprintf("must be > 0, or -1 for none, got %s", f[8]))
		}
		if j.Arrival, err = parseFloat(f[9]); err != nil {
			return nil, bad("arrival_time", err.Error())
		}
		if j.Arrival < 0 || j.Arrival > MaxArrivalSeconds {
			return nil, bad("arrival_time", fmt.Sprintf("must be between 0 and %d s (10 years, the trace limit), got %s", MaxArrivalSeconds, f[9]))
		}
		if j.Arrival < prev {
			return nil, bad("arrival_time", fmt.Sprintf("%s s is before the previous job's %g s: arrivals must be non-decreasing", f[9], prev))
		}
		prev = j.Arrival
		if len(jobs) == MaxJobs {
			return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: line}, Msg: fmt.Sprintf("more than %d jobs (the trace limit)", MaxJobs)}
		}
		jobs = append(jobs, j)
	}
	if err := sc.Err(); err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: line + 1}, Msg: err.Error()}
	}
	if len(jobs) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no jobs in trace"}
	}
	return jobs, nil
}

// WriteGavel writes jobs in Gavel's .trace format, so a generated trace can
// be fed to Gavel's own simulator. The command, working directory and
// num_steps_arg columns (which only Gavel's physical cluster uses) are
// written as placeholders; steps are rounded to whole steps as Gavel's
// format requires.
func WriteGavel(w io.Writer, jobs []Job) error {
	bw := bufio.NewWriter(w)
	for _, j := range jobs {
		slo := -1.0
		if j.SLO > 0 {
			slo = j.SLO
		}
		steps := int64(math.Max(1, math.Round(j.Steps)))
		fmt.Fprintf(bw, "%s\t-\t-\t-\t0\t%d\t%d\t%s\t%f\t%s\n", j.Class, steps, j.Gang,
			strconv.FormatFloat(j.Weight, 'g', -1, 64), slo, strconv.FormatFloat(j.Arrival, 'f', -1, 64))
	}
	return bw.Flush()
}

// parseInt parses a base-10 integer in [lo, hi].
func parseInt(s string, lo, hi int64) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is out of range [%d, %d]", v, lo, hi)
	}
	return v, nil
}

// parseFloat parses a finite number.
func parseFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}
