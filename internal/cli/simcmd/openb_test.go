package simcmd_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSimOpenBJSONContract(t *testing.T) {
	plotFile := filepath.Join(t.TempDir(), "openb.svg")
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/openb_pods.csv", "--format", "openb",
		"--nodes", "testdata/openb_nodes.csv", "--packer", "fgd,best-fit,granary", "--inflate", "1.3",
		"--seeds", "1-3", "-o", "json", "--plot", plotFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res []struct {
		Packer   string     `json:"packer"`
		AllocPct []*float64 `json:"alloc_pct"`
		Seeds    []struct {
			Seed     uint64     `json:"seed"`
			AllocPct []*float64 `json:"alloc_pct"`
		} `json:"seeds"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res) != 3 || res[0].Packer != "fgd" || res[2].Packer != "granary" {
		t.Fatalf("want fgd, best-fit, granary in order; got %+v", res)
	}
	for _, r := range res {
		if len(r.AllocPct) != 131 || len(r.Seeds) != 3 || r.Seeds[2].Seed != 3 || len(r.Seeds[0].AllocPct) != 131 {
			t.Fatalf("%s: %d points, %d seeds; want 131 points (index = %% arrived) and seeds 1-3", r.Packer, len(r.AllocPct), len(r.Seeds))
		}
		for _, sd := range r.Seeds {
			last := 0.0
			for k, v := range sd.AllocPct {
				if v == nil {
					continue
				}
				if *v < 0 || *v > 100 || *v > float64(k)+1.5 || *v < last-1e-9 {
					t.Fatalf("%s seed %d: alloc_pct[%d] = %v after %v: must lie in [0, min(100, arrived)] and never fall", r.Packer, sd.Seed, k, *v, last)
				}
				last = *v
			}
		}
	}
	if b, err := os.ReadFile(plotFile); err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("--plot wrote no SVG: %v", err)
	}
}

func TestSimOpenBBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "pods.csv")
	if err := os.WriteFile(bad, []byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1000,1,500\np1,1000,1000,1,1500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cpuNodes := filepath.Join(dir, "cpu-nodes.csv")
	if err := os.WriteFile(cpuNodes, []byte("sn,cpu_milli,memory_mib,gpu,model\nc0,64000,262144,0,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	negative := write("neg.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1000,1,-20\n")
	spec := write("spec.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np0,1000,1000,1,500,T4|H100\n")
	noCol := write("nocol.csv", "name,cpu_milli,memory_mib,gpu_milli\np0,1000,1000,500\n")
	zeroNode := write("zero.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,T4\nn1,0,262144,2,T4\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--trace", bad, "--nodes", "testdata/openb_nodes.csv"}, bad + `:3:16: field "gpu_milli": 1500 milli`},
		{[]string{"--trace", negative, "--nodes", "testdata/openb_nodes.csv"}, negative + `:2:`},
		{[]string{"--trace", negative, "--nodes", "testdata/openb_nodes.csv"}, `field "gpu_milli": -20 is negative`},
		{[]string{"--trace", spec, "--nodes", "testdata/openb_nodes.csv"}, spec + `:2:`},
		{[]string{"--trace", spec, "--nodes", "testdata/openb_nodes.csv"}, `field "gpu_spec": unknown GPU model "H100"`},
		{[]string{"--trace", noCol, "--nodes", "testdata/openb_nodes.csv"}, noCol + `:1: field "num_gpu": missing column "num_gpu"`},
		{[]string{"--trace", "testdata/openb_pods.csv", "--nodes", zeroNode}, zeroNode + `:3:`},
		{[]string{"--trace", "testdata/openb_pods.csv", "--nodes", zeroNode}, `field "cpu_milli": node n1 has zero CPU capacity`},
		{[]string{"--trace", "testdata/openb_pods.csv"}, "--nodes is required"},
		{[]string{"--trace", "testdata/openb_pods.csv", "--nodes", "testdata/openb_nodes.csv", "--packer", "tetris"}, `--packer "tetris"`},
		{[]string{"--trace", "testdata/openb_pods.csv", "--nodes", "testdata/openb_nodes.csv", "--seeds", "9-3"}, "--seeds"},
		{[]string{"--trace", "testdata/openb_pods.csv", "--nodes", "testdata/openb_pods.csv"}, `missing column "sn"`},
		{[]string{"--trace", "testdata/openb_pods.csv", "--nodes", cpuNodes}, `no node has a GPU`},
	}
	for _, tc := range cases {
		out, errs, code := runCLI(t, append([]string{"sim", "--format", "openb"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 naming %q and no output", tc.args, code, errs, out, tc.want)
		}
	}
}

func TestSimOpenBReplayTime(t *testing.T) {
	out, errs, code := runCLI(t, "sim", "--trace", "testdata/openb_pods.csv", "--format", "openb",
		"--nodes", "testdata/openb_nodes.csv", "--packer", "fgd,granary", "--replay", "time", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res []struct {
		Packer    string   `json:"packer"`
		Placed    int      `json:"placed"`
		Never     int      `json:"never_placed"`
		MeanWaitS float64  `json:"mean_wait_s"`
		UtilPct   *float64 `json:"gpu_util_pct"`
		Pods      int      `json:"pods"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res) != 2 || res[0].Packer != "fgd" || res[1].Packer != "granary" {
		t.Fatalf("want fgd, granary; got %s", out)
	}
	for _, r := range res {
		if r.Placed+r.Never != r.Pods || r.Pods == 0 || r.MeanWaitS < 0 || r.UtilPct == nil || *r.UtilPct <= 0 || *r.UtilPct > 100 {
			t.Fatalf("%s: %+v: placed + never must be every pod, utilisation in (0, 100]", r.Packer, r)
		}
	}
	dir := t.TempDir()
	untimed := filepath.Join(dir, "pods.csv")
	if err := os.WriteFile(untimed, []byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1000,1,500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trace", untimed, "--replay", "time"}, untimed + `:2: field "creation_time"`},
		{[]string{"--trace", "testdata/openb_pods.csv", "--replay", "space"}, `--replay "space"`},
	} {
		out, errs, code := runCLI(t, append([]string{"sim", "--format", "openb", "--nodes", "testdata/openb_nodes.csv"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestSimOpenBPreemptBE: with --preempt-be, LS pods that fit nowhere evict
// BE pods of 0.81 GPU (each eviction raises the GPU allocated by 0.19):
// every seed reports its evictions and moves, fewer GPUs are unallocated
// at the end than without, and the table shows the counts.
func TestSimOpenBPreemptBE(t *testing.T) {
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes.csv")
	pods := filepath.Join(dir, "pods.csv")
	body := "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n"
	for i := range 4 {
		body += "be" + strconv.Itoa(i) + ",1000,1024,1,810,,BE\nls" + strconv.Itoa(i) + ",1000,1024,1,1000,,LS\n"
	}
	if err := os.WriteFile(pods, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nodes, []byte("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,4,T4\nn1,64000,262144,4,T4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Packer        string   `json:"packer"`
		Unallocated   float64  `json:"unallocated_gpus_mean"`
		PreemptBE     bool     `json:"preempt_be"`
		EvictionsMean *float64 `json:"evictions_mean"`
		MovesMean     *float64 `json:"moves_mean"`
		Seeds         []struct {
			Evictions *int `json:"evictions"`
			Moves     *int `json:"moves"`
			Failed    int  `json:"failed"`
		} `json:"seeds"`
	}
	sim := func(extra ...string) []result {
		t.Helper()
		out, errs, code := runCLI(t, append([]string{"sim", "--trace", pods, "--format", "openb", "--nodes", nodes,
			"--packer", "fgd,granary", "--seeds", "1-4", "-o", "json"}, extra...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, errs)
		}
		var res []result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		return res
	}
	plain, preempt := sim(), sim("--preempt-be")
	for k, r := range preempt {
		p := plain[k]
		if p.PreemptBE || p.EvictionsMean != nil || p.Seeds[0].Evictions != nil {
			t.Fatalf("%s without --preempt-be reports evictions: %+v", p.Packer, p)
		}
		if !r.PreemptBE || r.EvictionsMean == nil || *r.EvictionsMean <= 0 || r.MovesMean == nil || len(r.Seeds) != 4 {
			t.Fatalf("%s with --preempt-be: %+v; want preempt_be, evictions_mean > 0, moves_mean, 4 seeds", r.Packer, r)
		}
		for _, s := range r.Seeds {
			if s.Evictions == nil || s.Moves == nil || *s.Moves > *s.Evictions {
				t.Fatalf("%s: seed without evictions and moves (or more moves than evictions): %+v", r.Packer, s)
			}
		}
		if r.Unallocated >= p.Unallocated {
			t.Fatalf("%s: %.2f GPUs unallocated at the end with --preempt-be, %.2f without: evicting 0.81-GPU pods for whole-GPU pods must allocate more", r.Packer, r.Unallocated, p.Unallocated)
		}
	}
	out, errs, code := runCLI(t, "sim", "--trace", pods, "--format", "openb", "--nodes", nodes, "--seeds", "1-2", "--preempt-be")
	if code != 0 || !strings.Contains(out, "EVICTIONS/SEED") || !strings.Contains(out, "MOVES/SEED") {
		t.Fatalf("table: exit %d, %s%s; want EVICTIONS/SEED and MOVES/SEED columns", code, out, errs)
	}
}

func TestSimOpenBPreemptBEBadInput(t *testing.T) {
	noQoS := filepath.Join(t.TempDir(), "pods.csv")
	if err := os.WriteFile(noQoS, []byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1000,1,500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trace", noQoS}, noQoS + `:1: field "qos": --preempt-be needs each pod's qos`},
		{[]string{"--trace", "testdata/openb_pods.csv", "--replay", "time"}, "--preempt-be applies to the inflation experiment"},
	} {
		out, errs, code := runCLI(t, append([]string{"sim", "--format", "openb", "--nodes", "testdata/openb_nodes.csv", "--preempt-be"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 naming %q and no output", tc.args, code, errs, out, tc.want)
		}
	}
}
