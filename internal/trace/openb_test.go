package trace

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/sharedtest"
)

const openBNodesOK = `sn,cpu_milli,memory_mib,gpu,model
n0,64000,262144,2,P100
n1,96000,393216,8,G2
n2,32000,65536,0,
`

const openBPodsOK = `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
p0,12000,16384,1,1000,,LS,Running,0,12537496,0
p1,6000,12288,1,460,G2|P100|G2,BE,Running,427061,12902960,427061
p2,4000,8192,0,0,,LS,Pending,10,,
p3,8000,8192,8,1000,,LS,Running,5,20,6
`

func TestReadOpenB(t *testing.T) {
	nodes, err := ReadOpenBNodes(strings.NewReader(openBNodesOK), "nodes.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || nodes[1].Devices != 8 || nodes[1].Model != "G2" || nodes[2].Devices != 0 || nodes[0].CPU != 64000 {
		t.Fatalf("nodes = %+v", nodes)
	}
	pods, err := ReadOpenBPods(strings.NewReader(openBPodsOK), "pods.csv")
	if err != nil {
		t.Fatal(err)
	}
	p1 := pods[1]
	if p1.Req.Milli != 460 || p1.Req.Devices != 1 || len(p1.Req.Models) != 2 || p1.QoS != "BE" || p1.Creation != 427061 {
		t.Fatalf("pod 1 = %+v", p1)
	}
	if pods[2].Deletion != -1 || pods[2].Scheduled != -1 || pods[2].Req.Devices != 0 {
		t.Fatalf("pod 2 = %+v", pods[2])
	}
	// The 5-column layout of the multigpu files.
	short := "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,1000,2,1000\n"
	if ps, err := ReadOpenBPods(strings.NewReader(short), "m.csv"); err != nil || ps[0].Creation != -1 || ps[0].Req.TotalMilli() != 2000 {
		t.Fatalf("5-column file: %+v, %v", ps, err)
	}
}

// Bad input: the error names file, line, column and field, and nothing is
// returned.
func TestReadOpenBBadInput(t *testing.T) {
	pods := []struct{ in, want string }{
		{"name,cpu_milli,memory_mib,num_gpu\np,1,1,1\n", `pods.csv:1: field "gpu_milli": missing column "gpu_milli"`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,-5,1,0,0\n", `pods.csv:2:3: field "cpu_milli": -5 is negative`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1200\n", `pods.csv:2:9: field "gpu_milli": 1200 milli: want 0..1000`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,-3\n", `field "gpu_milli": -3 is negative`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,2,500\n", `several devices are taken whole`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np,1,1,1,500,H100|T4\n", `field "gpu_spec": unknown GPU model "H100"`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,x,1,1,500\n", `field "cpu_milli": "x" is not an integer`},
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1\n", `pods.csv:2:1: field "num_gpu": missing value`},
		{"", `pods.csv:1: empty file`},
	}
	for _, tc := range pods {
		got, err := ReadOpenBPods(strings.NewReader(tc.in), "pods.csv")
		if err == nil || !strings.Contains(err.Error(), tc.want) || got != nil || !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("ReadOpenBPods(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.want)
		}
	}
	nodes := []struct{ in, want string }{
		{"sn,cpu_milli,memory_mib,gpu,model\nn,0,100,1,T4\n", `nodes.csv:2:3: field "cpu_milli": node n has zero CPU capacity`},
		{"sn,cpu_milli,memory_mib,gpu,model\nn,10,0,1,T4\n", `field "memory_mib": node n has zero memory`},
		{"sn,cpu_milli,memory_mib,gpu,model\nn,10,10,1,K80\n", `field "model": unknown GPU model "K80"`},
		{"sn,cpu_milli,memory_mib,gpu\nn,10,10,1\n", `missing column "model"`},
	}
	for _, tc := range nodes {
		got, err := ReadOpenBNodes(strings.NewReader(tc.in), "nodes.csv")
		if err == nil || !strings.Contains(err.Error(), tc.want) || got != nil {
			t.Errorf("ReadOpenBNodes(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.want)
		}
	}
}

// Every file of the shared openb trace reads, with the counts its README
// states.
func TestReadOpenBShared(t *testing.T) {
	dir := sharedtest.File(t, "traces/alibaba-gpu-v2023-openb")
	f, err := os.Open(dir + "/openb_node_list_gpu_node.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nodes, err := ReadOpenBNodes(f, "gpu_node")
	if err != nil {
		t.Fatal(err)
	}
	gpus := 0
	for _, n := range nodes {
		gpus += n.Devices
	}
	if len(nodes) != 1213 || gpus != 6212 {
		t.Fatalf("%d nodes, %d GPUs; the README says 1213 and 6212", len(nodes), gpus)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "openb_pod_list_") {
			continue
		}
		g, err := os.Open(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		pods, err := ReadOpenBPods(g, e.Name())
		g.Close()
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "openb_pod_list_default.csv" {
			shared := 0
			for _, p := range pods {
				if p.Req.Shared() {
					shared++
				}
			}
			if len(pods) != 8152 || shared != 3078 {
				t.Fatalf("default: %d pods, %d shared; README: 8152, 3078", len(pods), shared)
			}
		}
	}
}

func FuzzReadOpenBPods(f *testing.F) {
	f.Add(openBPodsOK)
	f.Add("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1200\n")
	f.Fuzz(func(t *testing.T, s string) {
		pods, err := ReadOpenBPods(strings.NewReader(s), "f")
		if err == nil {
			for _, p := range pods {
				if e := p.Req.Validate(); e != nil {
					t.Fatalf("accepted an invalid request %+v: %v", p.Req, e)
				}
			}
		}
	})
}

func FuzzReadOpenBNodes(f *testing.F) {
	f.Add(openBNodesOK)
	f.Fuzz(func(t *testing.T, s string) {
		nodes, err := ReadOpenBNodes(strings.NewReader(s), "f")
		if err == nil {
			for _, n := range nodes {
				if n.CPU <= 0 || n.Mem <= 0 || n.Devices < 0 {
					t.Fatalf("accepted node %+v", n)
				}
			}
		}
	})
}
