package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// hfFamily reads one model_type's config.json fields into a Model.
type hfFamily func(c *hfConfig, m *Model) error

// hfFamilies are the Hugging Face model_type values the reader understands.
var hfFamilies = map[string]hfFamily{
	"llama":       readDense,
	"mistral":     readDense,
	"qwen2":       readQwen2,
	"qwen3":       readQwen3,
	"qwen2_moe":   readQwen2MoE,
	"qwen3_moe":   readQwen3MoE,
	"mixtral":     readMixtral,
	"deepseek_v2": readDeepSeek,
	"deepseek_v3": readDeepSeek,
	"chatglm":     readChatGLM,
	"gptj":        readGPTJ,
}

// architecture class names (config "architectures") that map to model types,
// for configs that omit model_type.
var hfArchitectures = map[string]string{
	"LlamaForCausalLM":                "llama",
	"MistralForCausalLM":              "mistral",
	"Qwen2ForCausalLM":                "qwen2",
	"Qwen3ForCausalLM":                "qwen3",
	"Qwen2MoeForCausalLM":             "qwen2_moe",
	"Qwen3MoeForCausalLM":             "qwen3_moe",
	"MixtralForCausalLM":              "mixtral",
	"DeepseekV2ForCausalLM":           "deepseek_v2",
	"DeepseekV3ForCausalLM":           "deepseek_v3",
	"DeepseekV32ForCausalLM":          "deepseek_v3",
	"ChatGLMModel":                    "chatglm",
	"ChatGLMForConditionalGeneration": "chatglm",
}

// SupportedHFTypes lists the model_type values ParseHFConfig reads.
func SupportedHFTypes() []string {
	var s []string
	for k := range hfFamilies {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// maxDim bounds every shape so arithmetic on them cannot overflow.
const maxDim = 1 << 24

type hfConfig struct {
	file   string
	fields map[string]json.RawMessage
}

func (c *hfConfig) err(field, format string, a ...any) error {
	return &fleet.InputError{Pos: fleet.Position{File: c.file, Field: field}, Msg: fmt.Sprintf(format, a...)}
}

func (c *hfConfig) has(field string) bool {
	v, ok := c.fields[field]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// intField reads a required positive integer.
func (c *hfConfig) intField(field string) (int, error) {
	if !c.has(field) {
		return 0, c.err(field, "missing required field %q", field)
	}
	return c.optInt(field, 0)
}

// optInt reads an optional non-negative integer, def when absent or null.
func (c *hfConfig) optInt(field string, def int) (int, error) {
	if !c.has(field) {
		return def, nil
	}
	var f float64
	if err := json.Unmarshal(c.fields[field], &f); err != nil {
		return 0, c.err(field, "must be an integer, got %s", clip(string(c.fields[field])))
	}
	if f != math.Trunc(f) || f < 0 || f > maxDim {
		return 0, c.err(field, "must be an integer in 0..%d, got %s", maxDim, clip(string(c.fields[field])))
	}
	return int(f), nil
}

func (c *hfConfig) optBool(field string, def bool) (bool, error) {
	if !c.has(field) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(c.fields[field], &b); err != nil {
		return false, c.err(field, "must be true or false, got %s", clip(string(c.fields[field])))
	}
	return b, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ParseHFConfig reads a Hugging Face config.json. file names the source in
// errors. A missing field the model needs is named; an unknown model_type
// lists the supported ones. The head_dim field is used when present (Qwen3,
// Gemma-style configs where heads × head_dim ≠ hidden); only when absent is
// it hidden / heads, as the transformers library does.
func ParseHFConfig(file string, data []byte) (Model, error) {
	c := &hfConfig{file: file}
	if err := decode.CheckJSON(file, data, decode.Default); err != nil {
		return Model{}, err
	}
	if err := json.Unmarshal(data, &c.fields); err != nil {
		return Model{}, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "not a JSON object: " + clip(err.Error())}
	}
	// Multimodal wrappers keep the language model under text_config.
	if c.has("text_config") && !c.has("num_hidden_layers") {
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(c.fields["text_config"], &inner); err == nil {
			c.fields = inner
		}
	}
	var mt string
	if c.has("model_type") {
		if err := json.Unmarshal(c.fields["model_type"], &mt); err != nil {
			return Model{}, c.err("model_type", "must be a string")
		}
	}
	if _, ok := hfFamilies[mt]; !ok && c.has("architectures") {
		var archs []string
		if json.Unmarshal(c.fields["architectures"], &archs) == nil {
			for _, a := range archs {
				if t, ok := hfArchitectures[a]; ok {
					mt = t
				}
			}
		}
	}
	read, ok := hfFamilies[mt]
	if !ok {
		if mt == "" {
			return Model{}, c.err("model_type", "missing required field \"model_type\" (supported: %s)", strings.Join(SupportedHFTypes(), ", "))
		}
		return Model{}, c.err("model_type", "unsupported architecture %q (supported: %s)", clip(mt), strings.Join(SupportedHFTypes(), ", "))
	}
	m := Model{Name: file, Arch: "dense", Attention: GQA}
	if c.has("_name_or_path") {
		var n string
		if json.Unmarshal(c.fields["_name_or_path"], &n) == nil && n != "" {
			m.Name = n
		}
	}
	if mt != "chatglm" && mt != "gptj" {
		if err := readCommon(c, &m); err != nil {
			return Model{}, err
		}
	}
	if err := read(c, &m); err != nil {
		return Model{}, err
	}
	if m.IsMoE() {
		m.Arch = "moe"
	}
	if err := m.Validate(); err != nil {
		return Model{}, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: err.Error()}
	}
	return m, nil
}

func readCommon(c *hfConfig, m *Model) error {
	var err error
	for _, f := range []struct {
		name string
		dst  *int
	}{{"num_hidden_layers", &m.Layers}, {"hidden_size", &m.Hidden}, {"num_attention_heads", &m.Heads}, {"vocab_size", &m.Vocab}} {
		if *f.dst, err = c.intField(f.name); err != nil {
			return err
		}
		if *f.dst == 0 {
			return c.err(f.name, "must be positive")
		}
	}
	if m.KVHeads, err = c.optInt("num_key_value_heads", m.Heads); err != nil {
		return err
	}
	if m.KVHeads == 0 {
		return c.err("num_key_value_heads", "must be positive")
	}
	if m.HeadDim, err = c.optInt("head_dim", m.Hidden/m.Heads); err != nil {
		return err
	}
	if m.MaxPosition, err = c.optInt("max_position_embeddings", 0); err != nil {
		return err
	}
	if m.TieEmbeddings, err = c.optBool("tie_word_embeddings", false); err != nil {
		return err
	}
	return nil
}

func readDense(c *hfConfig, m *Model) error {
	var err error
	m.Intermediate, err = c.intField("intermediate_size")
	if err != nil {
		return err
	}
	m.QKVBias, err = c.optBool("attention_bias", false)
	return err
}

func readQwen2(c *hfConfig, m *Model) error {
	m.QKVBias = true // Qwen2 always has q/k/v biases (modeling_qwen2.py)
	var err error
	m.Intermediate, err = c.intField("intermediate_size")
	return err
}

func readQwen3(c *hfConfig, m *Model) error {
	m.QKNorm = true
	if err := readDense(c, m); err != nil {
		return err
	}
	return nil
}

// readQwenMoE reads the experts of Qwen2-MoE/Qwen3-MoE: num_experts,
// num_experts_per_tok, moe_intermediate_size, decoder_sparse_step and
// mlp_only_layers (layers that stay dense; counted as leading dense layers).
func readQwenMoE(c *hfConfig, m *Model) error {
	var err error
	moe := &MoEConfig{}
	if moe.Experts, err = c.intField("num_experts"); err != nil {
		return err
	}
	if moe.ExpertsPerToken, err = c.intField("num_experts_per_tok"); err != nil {
		return err
	}
	if moe.Intermediate, err = c.intField("moe_intermediate_size"); err != nil {
		return err
	}
	step, err := c.optInt("decoder_sparse_step", 1)
	if err != nil {
		return err
	}
	dense := 0
	if c.has("mlp_only_layers") {
		var only []int
		if err := json.Unmarshal(c.fields["mlp_only_layers"], &only); err != nil {
			return c.err("mlp_only_layers", "must be a list of layer indexes")
		}
		dense = len(only)
	}
	if step > 1 {
		dense = max(dense, m.Layers-m.Layers/step)
	}
	if dense > m.Layers {
		return c.err("mlp_only_layers", "lists %d layers but the model has %d", dense, m.Layers)
	}
	moe.FirstDenseLayers = dense
	m.MoE = moe
	if dense > 0 {
		if m.Intermediate, err = c.intField("intermediate_size"); err != nil {
			return err
		}
	} else if m.Intermediate, err = c.optInt("intermediate_size", 0); err != nil {
		return err
	}
	return nil
}

func readQwen2MoE(c *hfConfig, m *Model) error {
	m.QKVBias = true
	if err := readQwenMoE(c, m); err != nil {
		return err
	}
	w, err := c.optInt("shared_expert_intermediate_size", 0)
	if err != nil {
		return err
	}
	if w > 0 {
		m.MoE.SharedExperts = 1
		m.MoE.SharedIntermediate = w
	}
	return nil
}

func readQwen3MoE(c *hfConfig, m *Model) error {
	m.QKNorm = true
	return readQwenMoE(c, m)
}

func readMixtral(c *hfConfig, m *Model) error {
	var err error
	moe := &MoEConfig{}
	if moe.Experts, err = c.intField("num_local_experts"); err != nil {
		return err
	}
	if moe.ExpertsPerToken, err = c.intField("num_experts_per_tok"); err != nil {
		return err
	}
	if moe.Intermediate, err = c.intField("intermediate_size"); err != nil {
		return err
	}
	m.Intermediate = moe.Intermediate
	m.MoE = moe
	return nil
}

// readDeepSeek reads DeepSeek-V2/V3: MLA ranks, routed and shared experts,
// and first_k_dense_replace leading dense layers. The multi-token-prediction
// module (num_nextn_predict_layers) is not part of the served model.
func readDeepSeek(c *hfConfig, m *Model) error {
	var err error
	a := &MLAConfig{}
	if a.QLoraRank, err = c.optInt("q_lora_rank", 0); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"kv_lora_rank", &a.KVLoraRank}, {"qk_nope_head_dim", &a.QKNopeHeadDim}, {"qk_rope_head_dim", &a.QKRopeHeadDim}, {"v_head_dim", &a.VHeadDim}} {
		if *f.dst, err = c.intField(f.name); err != nil {
			return err
		}
	}
	m.Attention, m.MLA, m.HeadDim, m.KVHeads = MLA, a, 0, m.Heads
	if m.Intermediate, err = c.intField("intermediate_size"); err != nil {
		return err
	}
	if !c.has("n_routed_experts") {
		return nil // a dense DeepSeek-style model
	}
	moe := &MoEConfig{}
	if moe.Experts, err = c.intField("n_routed_experts"); err != nil {
		return err
	}
	if moe.ExpertsPerToken, err = c.intField("num_experts_per_tok"); err != nil {
		return err
	}
	if moe.Intermediate, err = c.intField("moe_intermediate_size"); err != nil {
		return err
	}
	if moe.SharedExperts, err = c.optInt("n_shared_experts", 0); err != nil {
		return err
	}
	if moe.FirstDenseLayers, err = c.optInt("first_k_dense_replace", 0); err != nil {
		return err
	}
	if moe.FirstDenseLayers > m.Layers {
		return c.err("first_k_dense_replace", "is %d but the model has %d layers", moe.FirstDenseLayers, m.Layers)
	}
	m.MoE = moe
	return nil
}

// readChatGLM reads THUDM's GLM-4 (model_type "chatglm") names: num_layers,
// multi_query_group_num (KV heads), kv_channels (head_dim),
// ffn_hidden_size, padded_vocab_size, seq_length, add_qkv_bias (field names
// as listed in model-configs.csv's GLM-4-9B notes and TensorRT-LLM's GLM
// example).
func readChatGLM(c *hfConfig, m *Model) error {
	var err error
	for _, f := range []struct {
		name string
		dst  *int
	}{{"num_layers", &m.Layers}, {"hidden_size", &m.Hidden}, {"num_attention_heads", &m.Heads},
		{"padded_vocab_size", &m.Vocab}, {"ffn_hidden_size", &m.Intermediate}} {
		if *f.dst, err = c.intField(f.name); err != nil {
			return err
		}
		if *f.dst == 0 {
			return c.err(f.name, "must be positive")
		}
	}
	if m.KVHeads = m.Heads; c.has("multi_query_attention") {
		mqa, err := c.optBool("multi_query_attention", false)
		if err != nil {
			return err
		}
		if mqa {
			if m.KVHeads, err = c.intField("multi_query_group_num"); err != nil {
				return err
			}
		}
	}
	if m.KVHeads == 0 {
		return c.err("multi_query_group_num", "must be positive")
	}
	if m.HeadDim, err = c.optInt("kv_channels", m.Hidden/m.Heads); err != nil {
		return err
	}
	if m.MaxPosition, err = c.optInt("seq_length", 0); err != nil {
		return err
	}
	if m.QKVBias, err = c.optBool("add_qkv_bias", false); err != nil {
		return err
	}
	m.TieEmbeddings, err = c.optBool("tie_word_embeddings", false)
	return err
}

// readGPTJ reads GPT-J (model_type "gptj"): n_layer, n_embd, n_head,
// n_inner (default 4·n_embd), n_positions, a plain GELU MLP with biases and
// multi-head attention.
func readGPTJ(c *hfConfig, m *Model) error {
	var err error
	for _, f := range []struct {
		name string
		dst  *int
	}{{"n_layer", &m.Layers}, {"n_embd", &m.Hidden}, {"n_head", &m.Heads}, {"vocab_size", &m.Vocab}} {
		if *f.dst, err = c.intField(f.name); err != nil {
			return err
		}
		if *f.dst == 0 {
			return c.err(f.name, "must be positive")
		}
	}
	m.KVHeads, m.HeadDim, m.Attention, m.PlainMLP = m.Heads, m.Hidden/m.Heads, MHA, true
	if m.Intermediate, err = c.optInt("n_inner", 4*m.Hidden); err != nil {
		return err
	}
	if m.MaxPosition, err = c.optInt("n_positions", 0); err != nil {
		return err
	}
	m.TieEmbeddings, err = c.optBool("tie_word_embeddings", false)
	return err
}
