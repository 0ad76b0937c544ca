package perf

import (
	"math"
	"os"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
)

// FuzzServe feeds any config.json the reader accepts, with any lengths and
// concurrency, to the plan search: it must not panic, and a plan that fits
// must have finite, positive numbers inside its budget.
func FuzzServe(f *testing.F) {
	for _, name := range []string{"testdata/qwen3-32b.json", "testdata/llama-2-13b.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(2048), uint16(512), uint16(0), uint8(0))
	}
	f.Add([]byte(`{"model_type":"deepseek_v3","num_hidden_layers":3,"hidden_size":64,"num_attention_heads":4,"vocab_size":100,"intermediate_size":128,"kv_lora_rank":16,"qk_nope_head_dim":8,"qk_rope_head_dim":8,"v_head_dim":8,"n_routed_experts":4,"num_experts_per_tok":2,"moe_intermediate_size":32,"first_k_dense_replace":1}`), uint16(10), uint16(10), uint16(3), uint8(1))
	h800 := chip(f, "H800")
	l20 := chip(f, "L20")
	f.Fuzz(func(t *testing.T, data []byte, in, out, conc uint16, which uint8) {
		m, err := models.ParseHFConfig("fuzz.json", data)
		if err != nil {
			return
		}
		m.MaxPosition = 0
		r := ServeRequest{Model: m, Precision: []fleet.Precision{fleet.BF16, fleet.FP8, fleet.INT4}[which%3], Input: 1 + int(in), Output: 1 + int(out), Concurrency: int(conc), MaxDevices: 16}
		if r.Validate() != nil {
			return
		}
		c := h800
		if which&4 != 0 {
			c = l20
		}
		p := Search(r, c)
		if p.Fits {
			for _, v := range []float64{p.OutputTokensPerS, p.TTFT.Seconds(), p.TPOT.Seconds()} {
				if !(v > 0) || math.IsInf(v, 0) {
					t.Fatalf("bad number in %+v", p)
				}
			}
			if p.Memory.Used() > p.Memory.Budget*(1+1e-9) {
				t.Fatalf("over budget: %+v", p.Memory)
			}
		} else if p.Reason == "" {
			t.Fatalf("a plan that does not fit says nothing: %+v", p)
		}
	})
}
