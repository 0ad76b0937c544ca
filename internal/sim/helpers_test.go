package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/trace"

	"github.com/granaryhq/granary/internal/sharedtest"
)

const (
	v100 = "v100-sxm2-32gb"
	p100 = "p100-sxm2-16gb"
	k80  = "k80"
)

func gavelAnchor(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedtest.Dir(t), "anchors", "gavel", rel)
	if _, err := os.Stat(p); err != nil {
		sharedtest.Missing(t, "anchor %s absent", p)
	}
	return p
}

func gavelThroughputs(t testing.TB) *trace.ThroughputTable {
	t.Helper()
	path := gavelAnchor(t, "throughputs/simulation_throughputs.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := trace.ReadThroughputs(data, path, accel.Default())
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func gavelTrace(t testing.TB, rel string) []Job {
	t.Helper()
	path := gavelAnchor(t, rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tj, err := trace.ReadGavel(bytes.NewReader(data), path)
	if err != nil {
		t.Fatal(err)
	}
	return fromTrace(tj)
}

func fromTrace(tj []trace.Job) []Job {
	jobs := make([]Job, len(tj))
	for i, j := range tj {
		jobs[i] = Job{ID: j.ID, Name: j.Name, Arrival: j.Arrival, Class: j.Class, Gang: j.Gang, Steps: j.Steps, Weight: j.Weight}
	}
	return jobs
}
