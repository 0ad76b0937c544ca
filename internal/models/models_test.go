package models

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"

	"github.com/granaryhq/granary/internal/sharedtest"
)

func TestKVBytesPerTokenMatchesEveryRowOfTheSharedCSV(t *testing.T) {
	rows := sharedtest.CSV(t, "data/model-configs.csv")
	col := sharedtest.Columns(rows[0])
	cat := Default()
	for _, r := range rows[1:] {
		name := strings.SplitN(r[col["model"]], " (", 2)[0]
		m, err := cat.Resolve(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, _ := strconv.ParseFloat(r[col["kv_cache_bytes_per_token_bf16"]], 64)
		if got := m.KVBytesPerToken(2); got != want {
			t.Errorf("%s: KV bytes/token = %v, csv says %v", name, got, want)
		}
		// Parameters computed from the shapes agree with the published totals.
		tot, _ := strconv.ParseFloat(r[col["params_total_b"]], 64)
		act, _ := strconv.ParseFloat(r[col["params_active_b"]], 64)
		mm := m
		mm.ParamsTotalB, mm.ParamsActiveB = 0, 0
		if got := mm.TotalParams() / 1e9; math.Abs(got-tot)/tot > 0.01 {
			t.Errorf("%s: computed %.3fB params, csv %.3fB", name, got, tot)
		}
		if got := mm.ActiveParams() / 1e9; math.Abs(got-act)/act > 0.02 {
			t.Errorf("%s: computed %.3fB active params, csv %.3fB", name, got, act)
		}
	}
}

// Hand-computed checks (formulas written out independently).
func TestWorkedChecks(t *testing.T) {
	cat := Default()
	l70, _ := cat.Resolve("llama-3-70b")
	// 2 (K,V) · 80 layers · 8 kv heads · 128 · 2 bytes = 327,680 B/token.
	if got := l70.KVBytesPerToken(2); got != 327680 {
		t.Errorf("Llama-3-70B KV = %v", got)
	}
	ds, _ := cat.Resolve("DeepSeek-V3")
	// 61 · (512 + 64) · 2 = 70,272 B/token.
	if got := ds.KVBytesPerToken(2); got != 70272 {
		t.Errorf("DeepSeek-V3 KV = %v", got)
	}
	// Llama-3-8B by hand: embed+head 2·128256·4096 = 1,050,673,152;
	// per layer attn 4096·4096·2 + 4096·1024·2 = 41,943,040, MLP 3·4096·14336 = 176,160,768,
	// norms 8192 → 218,112,000 · 32 = 6,979,584,000; final norm 4096.
	m, _ := cat.Resolve("Llama-3-8B")
	if got := m.Params().Total(); got != 1050673152+6979584000+4096 {
		t.Errorf("Llama-3-8B params = %.0f", got)
	}
}

func TestResolve(t *testing.T) {
	cat := Default()
	for in, want := range map[string]string{
		"llama-3.3-70b":                     "Llama-3.3-70B",
		"Llama 3.1 8B":                      "Llama-3.1-8B",
		"meta-llama/Llama-3.3-70B-Instruct": "Llama-3.3-70B",
		"deepseek-r1":                       "DeepSeek-V3",
		"Qwen/Qwen3-235B-A22B":              "Qwen3-235B-A22B",
		"qwen3-235b-a22b-instruct-2507":     "Qwen3-235B-A22B",
		"llama-2-70b":                       "Llama-2-70B",
		"mixtral-8x7b":                      "Mixtral-8x7B",
	} {
		m, err := cat.Resolve(in)
		if err != nil || m.Name != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, m.Name, err, want)
		}
	}
	l31, _ := cat.Resolve("Llama-3.1-70B")
	l3, _ := cat.Resolve("Llama-3-70B")
	if l31.MaxPosition != 131072 || l3.MaxPosition != 8192 || l31.Hidden != l3.Hidden || l31.KVBytesPerToken(2) != l3.KVBytesPerToken(2) {
		t.Errorf("Llama 3.1 variant: %+v", l31)
	}
	_, err := cat.Resolve("lama-3-70")
	if !errors.Is(err, fleet.ErrNotFound) || !strings.Contains(err.Error(), "Llama-3-70B") {
		t.Errorf("unknown name error = %v", err)
	}
	if _, err := cat.Resolve("  "); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("empty name error = %v", err)
	}
}

func TestParseHFConfigMatchesCatalog(t *testing.T) {
	cat := Default()
	for file, name := range map[string]string{
		"llama-3.1-8b.json":  "Llama-3.1-8B",
		"qwen3-30b-a3b.json": "Qwen3-30B-A3B",
		"deepseek-v3.json":   "DeepSeek-V3",
		"mixtral-8x7b.json":  "Mixtral-8x7B",
		"qwen2.5-7b.json":    "Qwen2.5-7B",
		"glm-4-9b.json":      "GLM-4-9B",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseHFConfig(file, data)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		want, _ := cat.Resolve(name)
		if got.KVBytesPerToken(2) != want.KVBytesPerToken(2) {
			t.Errorf("%s: KV %v vs catalog %v", file, got.KVBytesPerToken(2), want.KVBytesPerToken(2))
		}
		if math.Abs(got.TotalParams()-want.TotalParams())/want.TotalParams() > 0.01 {
			t.Errorf("%s: params %.4g vs catalog %.4g", file, got.TotalParams(), want.TotalParams())
		}
		if math.Abs(got.ActiveParams()-want.ActiveParams())/want.ActiveParams() > 0.02 {
			t.Errorf("%s: active %.4g vs catalog %.4g", file, got.ActiveParams(), want.ActiveParams())
		}
		if got.IsMoE() != want.IsMoE() || got.Attention != want.Attention {
			t.Errorf("%s: moe/attention differ: %+v", file, got)
		}
	}
	// Qwen3 uses its own head_dim: 64 heads · 128 = 8192 ≠ hidden 5120.
	data, _ := os.ReadFile("testdata/qwen3-32b.json")
	m, err := ParseHFConfig("qwen3-32b.json", data)
	if err != nil || m.HeadDim != 128 {
		t.Fatalf("qwen3-32b: %+v %v", m, err)
	}
	if got := m.Params().Total() / 1e9; math.Abs(got-32.762) > 0.01 {
		t.Errorf("Qwen3-32B params %.3fB, want 32.762B (HF model card: 32.8B)", got)
	}
}

// GPT-J: a plain (two-matrix, biased) MLP and MHA with head_dim 256;
// 6.05 B parameters (EleutherAI model card: 6,053,381,344).
func TestParseGPTJ(t *testing.T) {
	m, err := ParseHFConfig("gptj.json", []byte(`{"model_type":"gptj","n_layer":28,"n_embd":4096,"n_head":16,"n_inner":null,"vocab_size":50400,"n_positions":2048}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Params().Total() / 1e9; math.Abs(got-6.053) > 0.005 || m.HeadDim != 256 || m.MLPMatrices() != 2 {
		t.Errorf("GPT-J: %.4fB params, head_dim %d, %d MLP matrices", got, m.HeadDim, m.MLPMatrices())
	}
	// 2 · 28 · 16 · 256 · 2 bytes.
	if got := m.KVBytesPerToken(2); got != 458752 {
		t.Errorf("GPT-J KV %v", got)
	}
}

func TestParseHFConfigErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"not json", `{`, "not a JSON object"},
		{"unknown arch", `{"model_type":"gpt2","n_layer":12}`, `unsupported architecture "gpt2" (supported: chatglm, deepseek_v2, deepseek_v3, gptj, llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe)`},
		{"no type", `{"hidden_size":1}`, `missing required field "model_type"`},
		{"missing layers", `{"model_type":"llama","hidden_size":4096,"num_attention_heads":32,"vocab_size":32000,"intermediate_size":11008}`, `field "num_hidden_layers": missing required field "num_hidden_layers"`},
		{"missing intermediate", `{"model_type":"llama","num_hidden_layers":2,"hidden_size":4096,"num_attention_heads":32,"vocab_size":32000}`, `"intermediate_size"`},
		{"bad number", `{"model_type":"llama","num_hidden_layers":2.5,"hidden_size":4096,"num_attention_heads":32,"vocab_size":32000}`, `field "num_hidden_layers": must be an integer`},
		{"missing kv rank", `{"model_type":"deepseek_v3","num_hidden_layers":2,"hidden_size":64,"num_attention_heads":4,"vocab_size":100,"intermediate_size":128}`, `"kv_lora_rank"`},
		{"missing experts", `{"model_type":"mixtral","num_hidden_layers":2,"hidden_size":64,"num_attention_heads":4,"vocab_size":100,"intermediate_size":128}`, `"num_local_experts"`},
		{"bad grouping", `{"model_type":"llama","num_hidden_layers":2,"hidden_size":64,"num_attention_heads":6,"num_key_value_heads":4,"vocab_size":100,"intermediate_size":128}`, "not a multiple"},
	} {
		_, err := ParseHFConfig("config.json", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%s: err = %v; want it to contain %q and wrap ErrInvalid", c.name, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "config.json") {
			t.Errorf("%s: error does not name the file: %v", c.name, err)
		}
	}
}

func FuzzParseHFConfig(f *testing.F) {
	for _, name := range []string{"llama-3.1-8b.json", "deepseek-v3.json", "qwen3-30b-a3b.json", "mixtral-8x7b.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"model_type":"qwen2_moe","num_hidden_layers":1e9}`))
	f.Add([]byte(`{"text_config":{"model_type":"llama"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseHFConfig("fuzz.json", data)
		if err != nil {
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if m.Validate() != nil || m.KVBytesPerToken(2) <= 0 || m.TotalParams() <= 0 || m.ActiveParams() > m.TotalParams()+1 {
			t.Fatalf("accepted an unusable model: %+v", m)
		}
	})
}
