package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// jsonJob is one JSONL line as written; pointers tell missing from zero.
type jsonJob struct {
	ID      *int     `json:"id"`
	Name    string   `json:"name"`
	Team    string   `json:"team"`
	Arrival *float64 `json:"arrival_s"`
	Class   *string  `json:"class"`
	Gang    *int     `json:"gang"`
	Steps   *float64 `json:"steps"`
	Weight  *float64 `json:"weight"`
	SLO     *float64 `json:"slo"`

	DeviceMilli     *int64 `json:"device_milli"`
	DeviceMemoryMiB *int64 `json:"device_memory_mib"`
	CPUMilli        *int64 `json:"cpu_milli"`
	MemoryMiB       *int64 `json:"memory_mib"`
}

// ReadJSONL reads Granary's JSONL trace format (docs/traces.md): one JSON
// object per line with arrival_s, class, gang, steps and optionally id,
// name, team, weight (default 1), slo, and a share of one device
// (device_milli, device_memory_mib) and node resources (cpu_milli,
// memory_mib), checked as the live job spec checks them (readShare). Blank lines and lines starting with #
// are skipped. Unknown fields are rejected. If id is given it must equal
// the job's 0-based position. Arrivals must be non-decreasing.
func ReadJSONL(r io.Reader, name string) ([]Job, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var jobs []Job
	line := 0
	prev := 0.0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		pos := fleet.Position{File: name, Line: line}
		bad := func(field, msg string) error {
			p := pos
			p.Field = field
			return &fleet.InputError{Pos: p, Msg: msg}
		}
		var jj jsonJob
		if err := decode.JSON(name, text, &jj, decode.Default); err != nil {
			var ie *fleet.InputError
			if errors.As(err, &ie) {
				return nil, &fleet.InputError{Pos: pos, Msg: ie.Msg + " (one object per line)"}
			}
			return nil, jsonError(pos, err)
		}
		j := Job{ID: len(jobs), Line: line, Name: jj.Name, Team: jj.Team, Weight: 1}
		if jj.ID != nil && *jj.ID != j.ID {
			return nil, bad("id", fmt.Sprintf("id %d but this is job %d: ids are 0-based positions in the file (omit id to number automatically)", *jj.ID, j.ID))
		}
		switch {
		case jj.Class == nil:
			return nil, bad("class", "required field is missing")
		case strings.TrimSpace(*jj.Class) == "":
			return nil, bad("class", "must not be empty")
		}
		j.Class = *jj.Class
		switch {
		case jj.Gang == nil:
			return nil, bad("gang", "required field is missing")
		case *jj.Gang < 1 || *jj.Gang > MaxGang:
			return nil, bad("gang", fmt.Sprintf("must be between 1 and %d, got %d", MaxGang, *jj.Gang))
		}
		j.Gang = *jj.Gang
		switch {
		case jj.Steps == nil:
			return nil, bad("steps", "required field is missing")
		case !(*jj.Steps > 0 && *jj.Steps <= MaxSteps):
			return nil, bad("steps", fmt.Sprintf("must be a number > 0 and at most %g (the trace limit), got %v", MaxSteps, *jj.Steps))
		}
		j.Steps = *jj.Steps
		switch {
		case jj.Arrival == nil:
			return nil, bad("arrival_s", "required field is missing")
		case !(*jj.Arrival >= 0 && *jj.Arrival <= MaxArrivalSeconds):
			return nil, bad("arrival_s", fmt.Sprintf("must be between 0 and %d s (10 years, the trace limit), got %v", MaxArrivalSeconds, *jj.Arrival))
		case *jj.Arrival < prev:
			return nil, bad("arrival_s", fmt.Sprintf("%v s is before the previous job's %v s: arrivals must be non-decreasing", *jj.Arrival, prev))
		}
		j.Arrival = *jj.Arrival
		prev = j.Arrival
		if jj.Weight != nil {
			if !(*jj.Weight > 0 && *jj.Weight <= MaxWeight) {
				return nil, bad("weight", fmt.Sprintf("must be a number > 0 and at most %g, got %v", MaxWeight, *jj.Weight))
			}
			j.Weight = *jj.Weight
		}
		if jj.SLO != nil {
			if !(*jj.SLO >= 0 && *jj.SLO <= MaxSLO) {
				return nil, bad("slo", fmt.Sprintf("must be a number between 0 (none) and %g, got %v", MaxSLO, *jj.SLO))
			}
			j.SLO = *jj.SLO
		}
		if err := readShare(&jj, &j, bad); err != nil {
			return nil, err
		}
		if len(jobs) == MaxJobs {
			return nil, &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("more than %d jobs (the trace limit)", MaxJobs)}
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

// readShare checks a line's share of a device and node resources into j,
// as jobs.Check checks the live spec's: device_milli 1–999 with gang 1
// (given, it must be a share: omit it for whole devices),
// device_memory_mib only with device_milli, and every figure within its
// bound.
func readShare(jj *jsonJob, j *Job, bad func(field, msg string) error) error {
	if v := jj.DeviceMilli; v != nil {
		switch {
		case *v < 1 || *v > 999:
			return bad("device_milli", fmt.Sprintf("must be between 1 and 999 thousandths of a device, got %d (omit it for whole devices)", *v))
		case j.Gang != 1:
			return bad("device_milli", fmt.Sprintf("a share of a device is one device's: gang must be 1, got %d", j.Gang))
		}
		j.DeviceMilli = *v
	}
	if v := jj.DeviceMemoryMiB; v != nil {
		switch {
		case *v < 0 || *v > MaxDeviceMemoryMiB:
			return bad("device_memory_mib", fmt.Sprintf("must be between 0 and %d MiB, got %d", MaxDeviceMemoryMiB, *v))
		case *v > 0 && j.DeviceMilli == 0:
			return bad("device_memory_mib", "limits a share of a device: give device_milli (1–999) with it; a whole device has all its memory")
		}
		j.DeviceMemoryMiB = *v
	}
	if v := jj.CPUMilli; v != nil {
		if *v < 0 || *v > MaxCPUMilli {
			return bad("cpu_milli", fmt.Sprintf("must be between 0 and %d milli-cores, got %d", MaxCPUMilli, *v))
		}
		j.CPUMilli = *v
	}
	if v := jj.MemoryMiB; v != nil {
		if *v < 0 || *v > MaxMemoryMiB {
			return bad("memory_mib", fmt.Sprintf("must be between 0 and %d MiB, got %d", MaxMemoryMiB, *v))
		}
		j.MemoryMiB = *v
	}
	return nil
}

// jsonError names the field and column of a JSON decoding error.
func jsonError(pos fleet.Position, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		pos.Column = int(se.Offset)
		return &fleet.InputError{Pos: pos, Msg: "invalid JSON: " + se.Error()}
	case errors.As(err, &te):
		pos.Field = te.Field
		pos.Column = int(te.Offset)
		return &fleet.InputError{Pos: pos, Msg: fmt.Sprintf("want a %s, got a JSON %s", te.Type, te.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		pos.Field = f
		return &fleet.InputError{Pos: pos, Msg: "unknown field (known: id, name, team, arrival_s, class, gang, steps, weight, slo, device_milli, device_memory_mib, cpu_milli, memory_mib)"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &fleet.InputError{Pos: pos, Msg: "incomplete JSON object"}
	}
	return &fleet.InputError{Pos: pos, Msg: err.Error()}
}

// WriteJSONL writes jobs in Granary's JSONL trace format, one object per
// line, with ids renumbered to their positions.
func WriteJSONL(w io.Writer, jobs []Job) error {
	bw := bufio.NewWriter(w)
	for i, j := range jobs {
		j.ID = i
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
