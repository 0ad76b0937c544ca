package simcmd_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `granary sim` replays jobs asking for a share of a device through the
// live loop's pack stage for shares: four quarters of 2,700 steps (A3C: 3
// steps/s on a V100) share the one V100 and all finish at 3,600 s; on a
// node of 8 cores, three quarters asking 3 cores each cannot all run (the
// third finishes at 7,200 s); a bad share is exit 2 naming file, line and
// field, with nothing simulated; an unknown --share-packer is exit 2.
func TestSimShares(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fleetFile := write("one.yaml", "nodes:\n  - {id: n1, model: v100, devices: 1, cpu_milli: 8000}\n")
	lines := func(n int, job string) string { return strings.Repeat(job+"\n", n) }
	completions := func(traceFile string, extra ...string) []float64 {
		t.Helper()
		out, errs, code := runCLI(t, append([]string{"sim", "--trace", traceFile, "--throughputs", "testdata/tput.csv", "--fleet", fleetFile, "-o", "json"}, extra...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var rows []struct {
			PerJob []struct {
				Completion float64 `json:"completion_s"`
			} `json:"per_job"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("%v: %s", err, out)
		}
		var c []float64
		for _, j := range rows[0].PerJob {
			c = append(c, j.Completion)
		}
		return c
	}
	quarters := write("q.jsonl", lines(4, `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 2700, "device_milli": 250}`))
	for _, packer := range []string{"granary", "fgd", "best-fit"} {
		if got := completions(quarters, "--share-packer", packer); len(got) != 4 || got[0] != 3600 || got[1] != 3600 || got[2] != 3600 || got[3] != 3600 {
			t.Errorf("--share-packer %s: quarters finished at %v s, want 4 × 3600", packer, got)
		}
	}
	// The same jobs asking for the whole device take turns (las-hetero:
	// a round each) and finish one after the other, the last at 3,600 s.
	wholes := write("w.jsonl", lines(4, `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 2700}`))
	if got := completions(wholes); len(got) != 4 || got[0] != 3060 || got[3] != 3600 {
		t.Errorf("whole-device jobs finished at %v s, want 3060 … 3600", got)
	}
	cpu := write("cpu.jsonl", lines(3, `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 2700, "device_milli": 250, "cpu_milli": 3000}`))
	if got := completions(cpu); len(got) != 3 || got[0] != 3600 || got[1] != 3600 || got[2] != 7200 {
		t.Errorf("three quarters of 3 cores on an 8-core node finished at %v s, want 3600, 3600, 7200", got)
	}

	bad := write("bad.jsonl", `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100, "device_milli": 250}`+"\n"+
		`{"arrival_s": 0, "class": "A3C", "gang": 2, "steps": 100, "device_milli": 500}`+"\n")
	out, errs, code := runCLI(t, "sim", "--trace", bad, "--throughputs", "testdata/tput.csv", "--fleet", fleetFile)
	if code != 2 || out != "" || !strings.Contains(errs, "bad.jsonl:2: field \"device_milli\": a share of a device is one device's: gang must be 1, got 2") {
		t.Errorf("gang 2 with a share: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A share asking more CPU than the fleet's only node has would wait
	// for ever: exit 2 naming the line, the field and both figures.
	big := write("big.jsonl", lines(1, `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100, "device_milli": 250, "cpu_milli": 3000}`)+
		`{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100, "device_milli": 250, "cpu_milli": 9000}`+"\n")
	out, errs, code = runCLI(t, "sim", "--trace", big, "--throughputs", "testdata/tput.csv", "--fleet", fleetFile)
	if code != 2 || out != "" || !strings.Contains(errs, `big.jsonl:2: field "cpu_milli": job 1 (A3C): 9000 is more than any node of v100-sxm2-32gb offers (8000)`) {
		t.Errorf("a share of 9 cores on an 8-core node: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// So would a share asking more device memory than a V100 has (32 GB,
	// counted as the live loop does: 32 × 1024 MiB).
	hbm := write("hbm.jsonl", `{"arrival_s": 0, "class": "A3C", "gang": 1, "steps": 100, "device_milli": 250, "device_memory_mib": 40000}`+"\n")
	out, errs, code = runCLI(t, "sim", "--trace", hbm, "--throughputs", "testdata/tput.csv", "--fleet", fleetFile)
	if code != 2 || out != "" || !strings.Contains(errs, `hbm.jsonl:1: field "device_memory_mib": job 0 (A3C): 40000 MiB is more than a device of any model it may use has (largest: 32768 MiB on v100-sxm2-32gb)`) {
		t.Errorf("a share of 40000 MiB of a V100: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	_, errs, code = runCLI(t, "sim", "--trace", quarters, "--throughputs", "testdata/tput.csv", "--fleet", fleetFile, "--share-packer", "tetris")
	if code != 2 || !strings.Contains(errs, `--share-packer: unknown packer "tetris"`) {
		t.Errorf("--share-packer tetris: exit %d, %s", code, errs)
	}
	badFleet := write("bad.yaml", "nodes:\n  - {id: n1, model: v100, devices: 1, cpu_milli: -8}\n")
	_, errs, code = runCLI(t, "sim", "--trace", quarters, "--throughputs", "testdata/tput.csv", "--fleet", badFleet)
	if code != 2 || !strings.Contains(errs, `bad.yaml:2: nodes[0]: field "cpu_milli": want 0 (no limit) to 1073741824 milli-cores, got -8`) {
		t.Errorf("a negative node CPU: exit %d, %s", code, errs)
	}
}
