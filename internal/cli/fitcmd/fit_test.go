package fitcmd_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/clitest"
	"github.com/granaryhq/granary/internal/cli/fitcmd"
	"github.com/granaryhq/granary/internal/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The product contracts: exact output, kept under testdata/.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"serve-70b.txt", []string{"fit", "serve", "--model", "Llama-3-70B", "--precision", "bf16", "--chips", "H800,910B3,L20,H20,A800"}},
		{"serve-70b.json", []string{"fit", "serve", "--model", "Llama-3-70B", "--precision", "bf16", "--chips", "H800,910B3,L20", "-o", "json"}},
		{"serve-l20-2.txt", []string{"fit", "serve", "--model", "Llama-3-70B", "--precision", "bf16", "--chips", "L20", "--devices", "2"}},
		{"serve-deepseek-all.txt", []string{"fit", "serve", "--model", "DeepSeek-V3", "--precision", "fp8", "--all"}},
		{"serve-qwen3-32b-config.json", []string{"fit", "serve", "--model", "testdata/qwen3-32b.json", "--precision", "int4", "--chips", "H20", "--devices", "1", "--concurrency", "16", "--input", "1000", "--output", "1000", "-o", "json"}},
		{"serve-slo.txt", []string{"fit", "serve", "--model", "Qwen3-30B-A3B", "--precision", "bf16", "--chips", "910B3,H20", "--tpot-slo", "30ms", "--ttft-slo", "1s"}},
		{"train-70b.txt", []string{"fit", "train", "--model", "Llama-3-70B", "--tokens", "15T", "--chip", "H800", "--devices", "2048"}},
		{"train-405b.json", []string{"fit", "train", "--model", "Llama-3.1-405B", "--tokens", "15.6T", "--chip", "H100", "--devices", "16384", "--mfu", "0.41", "--tp", "8", "--pp", "16", "-o", "json"}},
		{"models.txt", []string{"fit", "models"}},
		{"matrix.txt", []string{"fit", "matrix", "--models", "Llama-3-8B,Llama-3-70B,Qwen3-30B-A3B", "--chips", "H800,910B3,L20,H20"}},
		{"matrix.csv", []string{"fit", "matrix", "--models", "Llama-3-8B,Qwen3-30B-A3B", "--chips", "H800,910B3,H20", "--gangs", "1,8", "-o", "csv"}},
		{"matrix-train.txt", []string{"fit", "matrix", "--models", "Llama-3-8B,Llama-3-70B", "--chips", "H800,910B3,H20", "--gangs", "8,64", "--workload", "train"}},
		{"matrix-train.csv", []string{"fit", "matrix", "--models", "Llama-3-8B,Llama-3-70B", "--chips", "H800,910B3,H20", "--gangs", "8,64", "--workload", "train", "-o", "csv"}},
		{"matrix.yaml", []string{"fit", "matrix", "--models", "Llama-3-8B,Qwen3-30B-A3B", "--chips", "H800,910B3,H20", "--gangs", "1,8", "-o", "yaml"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errs, code := clitest.Run(t, fitcmd.New, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			clitest.Golden(t, *update, tc.file, out)
		})
	}
}

// The JSON contract: the fields the issue names, with the right types.
func TestServeJSONContract(t *testing.T) {
	out, errs, code := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-70B", "--precision", "fp8", "--chips", "H800,L20", "-o", "json")
	if code != 0 {
		t.Fatal(errs)
	}
	var plans []map[string]any
	if err := json.Unmarshal([]byte(out), &plans); err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 {
		t.Fatalf("%d plans", len(plans))
	}
	for _, p := range plans {
		for _, k := range []string{"chip", "devices", "tp", "pp", "ep", "fits", "reason", "memory_gb", "concurrency", "output_tokens_per_s", "ttft_ms", "tpot_ms"} {
			if _, ok := p[k]; !ok {
				t.Errorf("plan lacks %q: %v", k, p)
			}
		}
		mem := p["memory_gb"].(map[string]any)
		for _, k := range []string{"weights", "kv_cache", "activations", "other"} {
			if _, ok := mem[k].(float64); !ok {
				t.Errorf("memory_gb lacks %q", k)
			}
		}
	}
	// Best first: fitting plans by output tokens/s per device, descending.
	for i := 1; i < len(plans); i++ {
		a, b := plans[i-1], plans[i]
		if a["fits"] == b["fits"] && a["output_tokens_per_s_per_device"].(float64) < b["output_tokens_per_s_per_device"].(float64) {
			t.Errorf("plans not best first: %v before %v", a["chip"], b["chip"])
		}
	}
	out, _, _ = clitest.Run(t, fitcmd.New, "fit", "train", "--model", "Llama-3-8B", "--tokens", "1T", "--chip", "H800", "--devices", "64", "-o", "json")
	var tr map[string]any
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"chip", "devices", "mfu", "memory_gb_per_device", "days", "device_hours"} {
		if _, ok := tr[k]; !ok {
			t.Errorf("train JSON lacks %q", k)
		}
	}
}

// The valid range of an impossible concurrency is the plan's own maximum.
func TestImpossibleConcurrencyRange(t *testing.T) {
	out, _, _ := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-70B", "--chips", "H800", "--devices", "2", "-o", "json")
	var plans []fitcmd.PlanJSON
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 || plans[0].MaxConcurrency < 1 {
		t.Fatalf("%v %s", err, out)
	}
	max := plans[0].MaxConcurrency
	_, errs, code := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-70B", "--chips", "H800", "--devices", "2", "--concurrency", fmt.Sprint(max+1))
	if code != 2 || !strings.Contains(errs, fmt.Sprintf("(valid: 1..%d)", max)) {
		t.Errorf("exit %d: %s", code, errs)
	}
	if _, errs, code := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-70B", "--chips", "H800", "--devices", "2", "--concurrency", fmt.Sprint(max)); code != 0 {
		t.Errorf("the maximum itself must fit: %s", errs)
	}
}

// `fit serve --devices N` uses exactly N devices.
func TestServeExactDevices(t *testing.T) {
	out, _, code := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-8B", "--precision", "bf16", "--chips", "H800", "--devices", "4", "-o", "json")
	if code != 0 {
		t.Fatal(out)
	}
	var plans []fitcmd.PlanJSON
	if err := json.Unmarshal([]byte(out), &plans); err != nil {
		t.Fatal(err)
	}
	if plans[0].Devices != 4 || plans[0].TP*plans[0].PP != 4 || !plans[0].Fits {
		t.Errorf("plan %+v", plans[0])
	}
}

// Training steps/s follow 6·N·tokens: one step of 4 Mi tokens on 64 H800 at
// the Hopper family MFU (0.40) for Llama-3-8B.
func TestMatrixTrainSteps(t *testing.T) {
	out, errs, code := clitest.Run(t, fitcmd.New, "fit", "matrix", "--models", "Llama-3-8B", "--chips", "H800", "--gangs", "64", "--workload", "train", "--step-tokens", "4194304", "-o", "json")
	if code != 0 {
		t.Fatal(errs)
	}
	var cells []fitcmd.MatrixCell
	if err := json.Unmarshal([]byte(out), &cells); err != nil || len(cells) != 1 {
		t.Fatalf("%v %s", err, out)
	}
	want := 64 * 989.4e12 * 0.40 / (6 * 8.03e9 * 4194304)
	if got := cells[0].StepsPerS; got < want*0.9999 || got > want*1.0001 {
		t.Errorf("steps/s %v, want %v", got, want)
	}
	tab, err := trace.ReadThroughputs([]byte(mustRun(t, "fit", "matrix", "--models", "Llama-3-8B", "--chips", "H800,910B3", "--gangs", "8", "--workload", "train", "-o", "csv")), "m.csv", accel.Default())
	if err != nil || len(tab.Entries) != 2 {
		t.Fatalf("train matrix does not read back: %v", err)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := clitest.Run(t, fitcmd.New, args...)
	if code != 0 {
		t.Fatal(errs)
	}
	return out
}

// The matrix output is a throughput table the scheduler reads.
func TestMatrixRoundTripsThroughTheSchedulerReader(t *testing.T) {
	for _, f := range []string{"csv", "yaml"} {
		out, errs, code := clitest.Run(t, fitcmd.New, "fit", "matrix", "--models", "Llama-3-8B,Llama-3-70B", "--chips", "H800,910B3", "--gangs", "1,2", "-o", f)
		if code != 0 {
			t.Fatal(errs)
		}
		tab, err := trace.ReadThroughputs([]byte(out), "matrix."+f, accel.Default())
		if err != nil {
			t.Fatalf("%s: %v\n%s", f, err, out)
		}
		if n := len(tab.Entries); n != 8 {
			t.Errorf("%s: %d entries, want 8", f, n)
		}
		for _, e := range tab.Entries {
			if e.Class == "Llama-3-70B serve bf16 2048/512" && e.Gang == 1 && e.StepsPerSecond != 0 {
				t.Errorf("%s: 70B at bf16 cannot fit on one 80 GB device, got %v", f, e)
			}
			if e.Class == "Llama-3-8B serve bf16 2048/512" && e.StepsPerSecond <= 0 {
				t.Errorf("%s: 8B fits everywhere, got %v", f, e)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown model", []string{"fit", "serve", "--model", "lama-3-70", "--chips", "H800"}, []string{"unknown model", "Llama-3-70B"}},
		{"unknown chip", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H8000"}, []string{"unknown chip", "h800"}},
		{"unknown precision", []string{"fit", "serve", "--model", "Llama-3-8B", "--precision", "fp4"}, []string{"valid: fp8, fp16, bf16"}},
		{"zero devices", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--devices", "0"}, []string{"valid: 1..65536"}},
		{"negative input", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--input", "-5"}, []string{"--input -5 out of range", "valid: 1..10000000"}},
		{"zero output", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--output", "0"}, []string{"valid: 1..10000000"}},
		{"longer than context", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--input", "8000", "--output", "1000"}, []string{"exceeds Llama-3-8B's context of 8192", "valid: input+output ≤ 8192"}},
		{"bad concurrency", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--concurrency", "lots"}, []string{"positive integer or max"}},
		{"impossible concurrency", []string{"fit", "serve", "--model", "Llama-3-70B", "--chips", "H800", "--devices", "2", "--concurrency", "100000"}, []string{"cannot fit on 2 devices", "(valid: 1.."}},
		{"bad slo", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--tpot-slo", "-3ms"}, []string{"positive duration"}},
		{"missing field", []string{"fit", "serve", "--model", "testdata/missing-field.json", "--chips", "H800"}, []string{"testdata/missing-field.json", `field "num_hidden_layers"`, "missing required field"}},
		{"unsupported arch", []string{"fit", "serve", "--model", "testdata/unsupported.json", "--chips", "H800"}, []string{`unsupported architecture "gpt_neox"`, "supported: chatglm, deepseek_v2, deepseek_v3, gptj, llama"}},
		{"no such config", []string{"fit", "serve", "--model", "nope/config.json"}, []string{"no such file"}},
		{"no model", []string{"fit", "serve"}, []string{"--model is required"}},
		{"chips and all", []string{"fit", "serve", "--model", "Llama-3-8B", "--chips", "H800", "--all"}, []string{"not both"}},
		{"bad format", []string{"fit", "serve", "--model", "Llama-3-8B", "-o", "xml"}, []string{"valid: table, json"}},
		{"train zero devices", []string{"fit", "train", "--model", "Llama-3-8B", "--tokens", "1T", "--chip", "H800", "--devices", "0"}, []string{"valid: 1..1048576"}},
		{"train bad tokens", []string{"fit", "train", "--model", "Llama-3-8B", "--tokens", "-3T", "--chip", "H800", "--devices", "8"}, []string{"--tokens", "positive count"}},
		{"train bad mfu", []string{"fit", "train", "--model", "Llama-3-8B", "--tokens", "1T", "--chip", "H800", "--devices", "8", "--mfu", "1.5"}, []string{"valid: 0 < mfu ≤ 1"}},
		{"train bad zero", []string{"fit", "train", "--model", "Llama-3-8B", "--tokens", "1T", "--chip", "H800", "--devices", "8", "--zero", "4"}, []string{"valid: 0..3"}},
		{"train unknown chip", []string{"fit", "train", "--model", "Llama-3-8B", "--tokens", "1T", "--chip", "H9000", "--devices", "8"}, []string{"unknown chip", "nearest"}},
		{"train tp not dividing", []string{"fit", "train", "--model", "Llama-3-8B", "--tokens", "1T", "--chip", "H800", "--devices", "12", "--tp", "8", "--pp", "1"}, []string{"not a multiple"}},
		{"matrix no models", []string{"fit", "matrix", "--chips", "H800"}, []string{"give --models and --chips"}},
		{"matrix bad workload", []string{"fit", "matrix", "--models", "Llama-3-8B", "--chips", "H800", "--workload", "infer"}, []string{"valid: serve, train"}},
		{"matrix bad step", []string{"fit", "matrix", "--models", "Llama-3-8B", "--chips", "H800", "--workload", "train", "--step-tokens", "0"}, []string{"--step-tokens"}},
		{"matrix bad gang", []string{"fit", "matrix", "--models", "Llama-3-8B", "--chips", "H800", "--gangs", "0"}, []string{"1..4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := clitest.Run(t, fitcmd.New, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, out, errs)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
		})
	}
}

// BenchmarkFitServeAll is `fit serve --all` over the whole chip catalog for
// the largest model, end to end (the bound: ≤ 50 ms). Most of it is
// loading the embedded chip catalog; the plan search itself is
// perf.BenchmarkServeAll, which perf.TestServeAllIsFast bounds.
func BenchmarkFitServeAll(b *testing.B) {
	for b.Loop() {
		if _, errs, code := clitest.Run(b, fitcmd.New, "fit", "serve", "--model", "DeepSeek-V3", "--precision", "fp8", "--all", "-o", "json"); code != 0 {
			b.Fatal(errs)
		}
	}
}

func TestServePlot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fit.svg")
	out, errs, code := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-8B", "--chips", "H800,910B3,L20", "--plot", file)
	if code != 0 {
		t.Fatal(errs)
	}
	if !strings.Contains(out, "3 of 3 chips fit") {
		t.Errorf("table missing: %s", out)
	}
	data, err := os.ReadFile(file)
	if err != nil || !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("ascend-910b3")) {
		t.Errorf("svg not written: %v %.200s", err, data)
	}
	if _, errs, code := clitest.Run(t, fitcmd.New, "fit", "serve", "--model", "Llama-3-8B", "--plot", "x.pdf"); code != 2 || !strings.Contains(errs, ".svg or .png") {
		t.Errorf("bad plot extension: exit %d %s", code, errs)
	}
}
