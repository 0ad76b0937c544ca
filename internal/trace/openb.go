package trace

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/share"
)

// OpenBModels are the device models of Alibaba's openb trace
// (cluster-trace-gpu-v2023): G1–G3 are undisclosed internal codes.
var OpenBModels = []string{"A10", "G1", "G2", "G3", "P100", "T4", "V100M16", "V100M32"}

// OpenBPod is one pod of an openb pod list.
type OpenBPod struct {
	Name string
	Req  share.Request
	// QoS and Phase are as recorded (empty in the 5-column files).
	QoS, Phase string
	// Creation, Deletion and Scheduled are seconds from the trace start;
	// -1 when absent.
	Creation, Deletion, Scheduled float64
}

var (
	openBNodeCols = []string{"sn", "cpu_milli", "memory_mib", "gpu", "model"}
	openBPodCols  = []string{"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"}
)

// openBTable reads a CSV with a header and maps the required columns.
type openBTable struct {
	name string
	r    *csv.Reader
	col  map[string]int
	rec  []string
}

func newOpenBTable(r io.Reader, name string, required []string) (*openBTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: 1}, Msg: "empty file: want a header " + strings.Join(required, ",")}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	t := &openBTable{name: name, r: cr, col: map[string]int{}}
	for i, h := range head {
		t.col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			return nil, &fleet.InputError{Pos: fleet.Position{File: name, Line: 1, Field: c},
				Msg: fmt.Sprintf("missing column %q (header must name %s)", c, strings.Join(required, ", "))}
		}
	}
	return t, nil
}

// next reads a record; ok is false at the end.
func (t *openBTable) next() (bool, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, csvError(t.name, err)
	}
	t.rec = rec
	return true, nil
}

// errAt is an error at column c of the current record.
func (t *openBTable) errAt(c, format string, args ...any) error {
	line, col := t.r.FieldPos(0)
	if i, ok := t.col[c]; ok && i < len(t.rec) {
		line, col = t.r.FieldPos(i)
	}
	return &fleet.InputError{Pos: fleet.Position{File: t.name, Line: line, Column: col, Field: c}, Msg: fmt.Sprintf(format, args...)}
}

// str is the value of column c ("" when the row is short or the column
// optional and absent).
func (t *openBTable) str(c string) string {
	if i, ok := t.col[c]; ok && i < len(t.rec) {
		return strings.TrimSpace(t.rec[i])
	}
	return ""
}

// int reads a non-negative integer column.
func (t *openBTable) int(c string) (int64, error) {
	i, ok := t.col[c]
	if !ok || i >= len(t.rec) {
		return 0, t.errAt(c, "missing value (row has %d fields)", len(t.rec))
	}
	v, err := strconv.ParseInt(t.str(c), 10, 64)
	if err != nil {
		return 0, t.errAt(c, "%q is not an integer", t.str(c))
	}
	if v < 0 {
		return 0, t.errAt(c, "%d is negative", v)
	}
	return v, nil
}

// time reads an optional time column: -1 when absent or empty.
func (t *openBTable) time(c string) (float64, error) {
	s := t.str(c)
	if s == "" {
		return -1, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, t.errAt(c, "%q is not a non-negative number of seconds", s)
	}
	return v, nil
}

// ReadOpenBNodes reads an openb node list (columns sn, cpu_milli,
// memory_mib, gpu, model). A node must have positive CPU and memory; one
// with devices must name a model of OpenBModels. name is used in errors.
func ReadOpenBNodes(r io.Reader, name string) ([]share.Node, error) {
	t, err := newOpenBTable(r, name, openBNodeCols)
	if err != nil {
		return nil, err
	}
	var nodes []share.Node
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		n := share.Node{Name: t.str("sn"), Model: t.str("model")}
		if n.Name == "" {
			return nil, t.errAt("sn", "empty node name")
		}
		var gpus int64
		if n.CPU, err = t.int("cpu_milli"); err != nil {
			return nil, err
		}
		if n.Mem, err = t.int("memory_mib"); err != nil {
			return nil, err
		}
		if gpus, err = t.int("gpu"); err != nil {
			return nil, err
		}
		switch {
		case n.CPU == 0:
			return nil, t.errAt("cpu_milli", "node %s has zero CPU capacity", n.Name)
		case n.Mem == 0:
			return nil, t.errAt("memory_mib", "node %s has zero memory", n.Name)
		case gpus > 64:
			return nil, t.errAt("gpu", "%d devices on one node: want at most 64", gpus)
		case gpus > 0 && !slices.Contains(OpenBModels, n.Model):
			return nil, t.errAt("model", "unknown GPU model %q (want one of %s)", n.Model, strings.Join(OpenBModels, ", "))
		}
		n.Devices = int(gpus)
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no nodes"}
	}
	return nodes, nil
}

// ReadOpenBPods reads an openb pod list (columns name, cpu_milli,
// memory_mib, num_gpu, gpu_milli, and optionally gpu_spec, qos, pod_phase,
// creation_time, deletion_time, scheduled_time). gpu_milli is the share of
// each device (1..1000) for a pod with devices and 0 for one without; a
// pod with several devices takes them whole. gpu_spec lists the accepted
// models separated by "|" (empty: any), each one of OpenBModels. name is
// used in errors.
func ReadOpenBPods(r io.Reader, name string) ([]OpenBPod, error) {
	t, err := newOpenBTable(r, name, openBPodCols)
	if err != nil {
		return nil, err
	}
	var pods []OpenBPod
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		p := OpenBPod{Name: t.str("name"), QoS: t.str("qos"), Phase: t.str("pod_phase")}
		var gpus, milli int64
		if p.Req.CPU, err = t.int("cpu_milli"); err != nil {
			return nil, err
		}
		if p.Req.Mem, err = t.int("memory_mib"); err != nil {
			return nil, err
		}
		if gpus, err = t.int("num_gpu"); err != nil {
			return nil, err
		}
		if milli, err = t.int("gpu_milli"); err != nil {
			return nil, err
		}
		switch {
		case milli > share.MilliPerDevice:
			return nil, t.errAt("gpu_milli", "%d milli: want 0..%d", milli, share.MilliPerDevice)
		case gpus > 64:
			return nil, t.errAt("num_gpu", "%d devices: want at most 64", gpus)
		case gpus == 0 && milli != 0:
			return nil, t.errAt("gpu_milli", "%d milli with num_gpu 0: want 0", milli)
		case gpus > 0 && milli == 0:
			return nil, t.errAt("gpu_milli", "0 milli with num_gpu %d: want 1..%d", gpus, share.MilliPerDevice)
		case gpus > 1 && milli != share.MilliPerDevice:
			return nil, t.errAt("gpu_milli", "%d milli on a %d-device pod: several devices are taken whole (1000)", milli, gpus)
		}
		p.Req.Devices, p.Req.Milli = int(gpus), milli
		if spec := t.str("gpu_spec"); spec != "" {
			for m := range strings.SplitSeq(spec, "|") {
				if !slices.Contains(OpenBModels, m) {
					return nil, t.errAt("gpu_spec", "unknown GPU model %q (want one of %s)", m, strings.Join(OpenBModels, ", "))
				}
				if !slices.Contains(p.Req.Models, m) {
					p.Req.Models = append(p.Req.Models, m)
				}
			}
		}
		if p.Creation, err = t.time("creation_time"); err != nil {
			return nil, err
		}
		if p.Deletion, err = t.time("deletion_time"); err != nil {
			return nil, err
		}
		if p.Scheduled, err = t.time("scheduled_time"); err != nil {
			return nil, err
		}
		pods = append(pods, p)
	}
	if len(pods) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no pods"}
	}
	return pods, nil
}
