package trace

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/granaryhq/granary/internal/fleet"
)

// A job's share of one device and node resources, with the live job
// spec's names, are read, written and read back as they were.
func TestReadJSONLShares(t *testing.T) {
	in := `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100, "device_milli": 250, "device_memory_mib": 20480, "cpu_milli": 4000, "memory_mib": 32768}
{"arrival_s": 0, "class": "A3C", "gang": 2, "steps": 100, "cpu_milli": 8000}
`
	jobs, err := ReadJSONL(strings.NewReader(in), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{ID: 0, Line: 1, Class: "A3C", Gang: 1, Steps: 100, Weight: 1, DeviceMilli: 250, DeviceMemoryMiB: 20480, CPUMilli: 4000, MemoryMiB: 32768},
		{ID: 1, Line: 2, Class: "A3C", Gang: 2, Steps: 100, Weight: 1, CPUMilli: 8000},
	}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var b bytes.Buffer
	if err := WriteJSONL(&b, jobs); err != nil {
		t.Fatal(err)
	}
	again, err := ReadJSONL(&b, "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// A bad share names the file, the line and the field, and nothing is
// returned.
func TestReadJSONLShareErrors(t *testing.T) {
	ok := `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100, "device_milli": 500}` + "\n"
	for _, tc := range []struct{ name, in, want string }{
		{"zero", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "device_milli": 0}`,
			`t.jsonl:2: field "device_milli": must be between 1 and 999 thousandths of a device, got 0 (omit it for whole devices)`},
		{"negative", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "device_milli": -250}`,
			`t.jsonl:2: field "device_milli": must be between 1 and 999 thousandths of a device, got -250`},
		{"whole", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "device_milli": 1000}`,
			`t.jsonl:2: field "device_milli": must be between 1 and 999 thousandths of a device, got 1000`},
		{"gang", ok + `{"arrival_s": 1, "class": "A3C", "gang": 2, "steps": 1, "device_milli": 500}`,
			`t.jsonl:2: field "device_milli": a share of a device is one device's: gang must be 1, got 2`},
		{"fraction", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "device_milli": 0.5}`,
			`t.jsonl:2:`},
		{"memory without share", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "device_memory_mib": 1024}`,
			`t.jsonl:2: field "device_memory_mib": limits a share of a device: give device_milli (1–999) with it`},
		{"cpu", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "cpu_milli": -1}`,
			`t.jsonl:2: field "cpu_milli": must be between 0 and 1073741824 milli-cores, got -1`},
		{"memory", ok + `{"arrival_s": 1, "class": "A3C", "gang": 1, "steps": 1, "memory_mib": 17179869185}`,
			`t.jsonl:2: field "memory_mib": must be between 0 and 17179869184 MiB, got 17179869185`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := ReadJSONL(strings.NewReader(tc.in), "t.jsonl")
			if err == nil || !strings.Contains(err.Error(), tc.want) || jobs != nil {
				t.Fatalf("error %v (%d jobs), want it to contain %q and no jobs", err, len(jobs), tc.want)
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("error %v does not wrap fleet.ErrInvalid", err)
			}
		})
	}
}
