// Package models is Granary's catalog of transformer architectures: the
// shapes of common open models (embedded, each with its source), resolution
// of the names people use for them, and a reader for Hugging Face
// config.json files so users can bring their own. It is pure: the reader
// takes bytes, never a path.
//
// A Model carries only what the performance model needs: layer counts and
// widths, the attention variant (GQA/MHA with an explicit head_dim, or
// DeepSeek's multi-head latent attention), and the mixture-of-experts layout.
// Parameter counts and KV-cache sizes are computed from the shapes.
package models

import "fmt"

// Attention variants.
const (
	GQA = "gqa" // grouped-query attention (includes MQA)
	MHA = "mha" // multi-head attention: kv_heads == heads
	MLA = "mla" // multi-head latent attention (DeepSeek-V2/V3)
)

// MLAConfig is DeepSeek's multi-head latent attention (arXiv 2405.04434).
type MLAConfig struct {
	QLoraRank     int `json:"q_lora_rank"` // 0 = queries projected directly
	KVLoraRank    int `json:"kv_lora_rank"`
	QKNopeHeadDim int `json:"qk_nope_head_dim"`
	QKRopeHeadDim int `json:"qk_rope_head_dim"`
	VHeadDim      int `json:"v_head_dim"`
}

// MoEConfig is a mixture-of-experts layout. Layers before FirstDenseLayers
// use the dense MLP (Model.Intermediate); the rest route each token to
// ExpertsPerToken of Experts routed experts plus SharedExperts always-on
// experts, each a gated MLP of width Intermediate.
type MoEConfig struct {
	Experts          int `json:"experts"`
	ExpertsPerToken  int `json:"experts_per_token"`
	SharedExperts    int `json:"shared_experts"`
	Intermediate     int `json:"intermediate"`
	FirstDenseLayers int `json:"first_dense_layers"`
	// SharedIntermediate is the total width of the shared experts when it
	// differs from SharedExperts × Intermediate (Qwen2-MoE); 0 = that product.
	SharedIntermediate int `json:"shared_intermediate,omitempty"`
}

// SharedWidth is the combined MLP width of the shared experts.
func (c MoEConfig) SharedWidth() int {
	if c.SharedIntermediate > 0 {
		return c.SharedIntermediate
	}
	return c.SharedExperts * c.Intermediate
}

// Variant is a released model that shares a catalog entry's shapes.
type Variant struct {
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases,omitempty"`
	MaxPosition int      `json:"max_position"`
	Note        string   `json:"note"`
}

// Model is one architecture. Counts are exact integers from the config;
// ParamsTotalB/ParamsActiveB are the published or derived totals in
// billions (zero when unknown: use Params()).
type Model struct {
	Name          string   `json:"name"`
	HFID          string   `json:"hf_id,omitempty"`
	Aliases       []string `json:"aliases,omitempty"`
	Arch          string   `json:"arch"` // "dense" or "moe"
	ParamsTotalB  float64  `json:"params_total_b,omitempty"`
	ParamsActiveB float64  `json:"params_active_b,omitempty"`
	Layers        int      `json:"layers"`
	Hidden        int      `json:"hidden"`
	Heads         int      `json:"heads"`
	KVHeads       int      `json:"kv_heads"`
	HeadDim       int      `json:"head_dim,omitempty"` // GQA/MHA only; never derive as hidden/heads
	Intermediate  int      `json:"intermediate"`       // dense MLP width
	Vocab         int      `json:"vocab"`
	TieEmbeddings bool     `json:"tie_embeddings"`
	MaxPosition   int      `json:"max_position"`
	Attention     string   `json:"attention"`
	QKVBias       bool     `json:"qkv_bias,omitempty"`
	// PlainMLP marks a two-matrix MLP (up, down; GELU) instead of the gated
	// three-matrix MLP (gate, up, down; SwiGLU) of Llama-family models.
	PlainMLP bool       `json:"plain_mlp,omitempty"`
	QKNorm   bool       `json:"qk_norm,omitempty"`
	MLA      *MLAConfig `json:"mla,omitempty"`
	MoE      *MoEConfig `json:"moe,omitempty"`
	// KVBytesPerTokenBF16 is the published KV-cache size per token at 16
	// bits (model-configs.csv); zero when not given. KVBytesPerToken computes it.
	KVBytesPerTokenBF16 int       `json:"kv_cache_bytes_per_token_bf16,omitempty"`
	Variants            []Variant `json:"variants,omitempty"`
	Source              string    `json:"source,omitempty"`
	Confidence          string    `json:"confidence,omitempty"`
	Notes               string    `json:"notes,omitempty"`
}

// MLPMatrices is the weight matrices of one MLP: 3 gated, 2 plain.
func (m Model) MLPMatrices() int {
	if m.PlainMLP {
		return 2
	}
	return 3
}

// IsMoE reports whether the model routes tokens to experts.
func (m Model) IsMoE() bool { return m.MoE != nil && m.MoE.Experts > 0 }

// MoELayers is the number of layers with routed experts.
func (m Model) MoELayers() int {
	if !m.IsMoE() {
		return 0
	}
	return m.Layers - m.MoE.FirstDenseLayers
}

// DenseLayers is the number of layers with a dense MLP.
func (m Model) DenseLayers() int { return m.Layers - m.MoELayers() }

// KVBytesPerToken is the KV cache one token occupies across all layers, at
// bytesPerElem bytes per element (2 for bf16, 1 for fp8):
//
//	GQA/MHA: 2 (K and V) · layers · kv_heads · head_dim · bytes
//	MLA:     layers · (kv_lora_rank + qk_rope_head_dim) · bytes
//
// MLA caches the compressed latent and the shared rotary key, not per-head
// keys and values (DeepSeek-V2 paper, arXiv 2405.04434, §2.1).
func (m Model) KVBytesPerToken(bytesPerElem float64) float64 {
	if m.Attention == MLA && m.MLA != nil {
		return float64(m.Layers) * float64(m.MLA.KVLoraRank+m.MLA.QKRopeHeadDim) * bytesPerElem
	}
	return 2 * float64(m.Layers) * float64(m.KVHeads) * float64(m.HeadDim) * bytesPerElem
}

// ParamBreakdown counts parameters by where they live, because tensor
// parallelism splits some groups and replicates others.
type ParamBreakdown struct {
	Embedding float64 // input embedding (vocab × hidden)
	Head      float64 // output projection; 0 when tied to the embedding
	// Attention is the per-model total of attention weights that tensor
	// parallelism splits (q/k/v/o, MLA up-projections).
	Attention float64
	// Replicated are weights every tensor-parallel rank keeps whole: norms,
	// MLA's low-rank down-projections (q_a, kv_a) and MoE routers.
	Replicated float64
	DenseMLP   float64 // gated MLPs of dense layers
	Shared     float64 // shared experts of MoE layers
	Experts    float64 // all routed experts of all MoE layers
	// ExpertSize is one routed expert (3 · hidden · moe_intermediate).
	ExpertSize float64
}

// Total is every parameter.
func (p ParamBreakdown) Total() float64 {
	return p.Embedding + p.Head + p.Attention + p.Replicated + p.DenseMLP + p.Shared + p.Experts
}

// Params counts parameters from the shapes (gated MLPs: gate, up, down;
// plain MLPs: up, down, with biases).
func (m Model) Params() ParamBreakdown {
	h := float64(m.Hidden)
	L := float64(m.Layers)
	var p ParamBreakdown
	p.Embedding = float64(m.Vocab) * h
	if !m.TieEmbeddings {
		p.Head = float64(m.Vocab) * h
	}
	norms := 2*h*L + h // two per layer and the final norm
	var attn, repl float64
	if m.Attention == MLA && m.MLA != nil {
		a := m.MLA
		nh := float64(m.Heads)
		qk := float64(a.QKNopeHeadDim + a.QKRopeHeadDim)
		if a.QLoraRank > 0 {
			repl += h*float64(a.QLoraRank) + float64(a.QLoraRank) // q_a_proj + q_a_layernorm
			attn += float64(a.QLoraRank) * nh * qk                // q_b_proj
		} else {
			attn += h * nh * qk
		}
		repl += h*float64(a.KVLoraRank+a.QKRopeHeadDim) + float64(a.KVLoraRank)  // kv_a_proj_with_mqa + kv_a_layernorm
		attn += float64(a.KVLoraRank) * nh * float64(a.QKNopeHeadDim+a.VHeadDim) // kv_b_proj
		attn += nh * float64(a.VHeadDim) * h                                     // o_proj
	} else {
		q := float64(m.Heads * m.HeadDim)
		kv := float64(m.KVHeads * m.HeadDim)
		attn = h*q + 2*h*kv + q*h
		if m.QKVBias {
			attn += q + 2*kv
		}
		if m.QKNorm {
			repl += 2 * float64(m.HeadDim)
		}
	}
	p.Attention = attn * L
	p.Replicated = repl*L + norms
	mats := float64(m.MLPMatrices())
	p.DenseMLP = mats * h * float64(m.Intermediate) * float64(m.DenseLayers())
	if m.PlainMLP {
		p.DenseMLP += (float64(m.Intermediate) + h) * float64(m.DenseLayers()) // biases
	}
	if m.IsMoE() {
		ml := float64(m.MoELayers())
		p.ExpertSize = mats * h * float64(m.MoE.Intermediate)
		p.Experts = p.ExpertSize * float64(m.MoE.Experts) * ml
		p.Shared = mats * h * float64(m.MoE.SharedWidth()) * ml
		p.Replicated += h * float64(m.MoE.Experts) * ml // router
	}
	return p
}

// TotalParams is the parameter count: the published figure when the catalog
// has one, else computed from the shapes.
func (m Model) TotalParams() float64 {
	if m.ParamsTotalB > 0 {
		return m.ParamsTotalB * 1e9
	}
	return m.Params().Total()
}

// ActiveParams is the parameters one token passes through (embedding and
// head included, as DeepSeek, Mixtral and Qwen count them): the total minus
// the routed experts a token does not visit.
func (m Model) ActiveParams() float64 {
	if m.ParamsActiveB > 0 {
		return m.ParamsActiveB * 1e9
	}
	p := m.Params()
	if !m.IsMoE() {
		return p.Total()
	}
	idle := float64(m.MoE.Experts-m.MoE.ExpertsPerToken) * p.ExpertSize * float64(m.MoELayers())
	return p.Total() - idle
}

// AttnWidth is heads × the query/key head dimension used for attention
// FLOPs: head_dim for GQA/MHA; for MLA with the absorbed kernels the score
// width is kv_lora_rank + qk_rope_head_dim and the value width kv_lora_rank.
func (m Model) AttnWidth() (qk, v int) {
	if m.Attention == MLA && m.MLA != nil {
		return m.Heads * (m.MLA.KVLoraRank + m.MLA.QKRopeHeadDim), m.Heads * m.MLA.KVLoraRank
	}
	return m.Heads * m.HeadDim, m.Heads * m.HeadDim
}

// Validate checks the shapes are usable; the error names the field.
func (m Model) Validate() error {
	type f struct {
		name string
		v    int
	}
	need := []f{{"num_hidden_layers", m.Layers}, {"hidden_size", m.Hidden}, {"num_attention_heads", m.Heads}, {"vocab_size", m.Vocab}}
	if m.Attention == MLA {
		if m.MLA == nil {
			return fmt.Errorf("model %s: MLA attention without its ranks", m.Name)
		}
		need = append(need, f{"kv_lora_rank", m.MLA.KVLoraRank}, f{"qk_rope_head_dim", m.MLA.QKRopeHeadDim},
			f{"qk_nope_head_dim", m.MLA.QKNopeHeadDim}, f{"v_head_dim", m.MLA.VHeadDim})
	} else {
		need = append(need, f{"num_key_value_heads", m.KVHeads}, f{"head_dim", m.HeadDim})
	}
	if m.DenseLayers() > 0 {
		need = append(need, f{"intermediate_size", m.Intermediate})
	}
	if m.IsMoE() {
		need = append(need, f{"num_experts_per_tok", m.MoE.ExpertsPerToken}, f{"moe_intermediate_size", m.MoE.Intermediate})
	}
	for _, x := range need {
		if x.v <= 0 {
			return fmt.Errorf("model %s: %s must be a positive integer (got %d)", m.Name, x.name, x.v)
		}
	}
	if m.Attention != MLA && m.Heads%m.KVHeads != 0 {
		return fmt.Errorf("model %s: num_attention_heads %d is not a multiple of num_key_value_heads %d", m.Name, m.Heads, m.KVHeads)
	}
	if m.IsMoE() {
		if m.MoE.ExpertsPerToken > m.MoE.Experts {
			return fmt.Errorf("model %s: num_experts_per_tok %d exceeds the %d experts", m.Name, m.MoE.ExpertsPerToken, m.MoE.Experts)
		}
		if m.MoE.FirstDenseLayers < 0 || m.MoE.FirstDenseLayers > m.Layers {
			return fmt.Errorf("model %s: first_k_dense_replace %d outside 0..%d", m.Name, m.MoE.FirstDenseLayers, m.Layers)
		}
	}
	return nil
}
