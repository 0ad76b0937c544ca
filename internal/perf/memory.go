// Package perf is Granary's performance model: how much memory a model
// needs per device at a precision and parallelism, how fast it serves
// (prefill compute-bound, decode memory-bound, on a roofline with
// per-chip-family efficiency factors and the interconnect's communication
// cost) and how long it trains (6·N·tokens over devices × peak × MFU).
// It is pure: models and chips in, plans out. docs/fit.md has the formulas
// and their sources.
package perf

import (
	"math"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
)

// Units and engine defaults.
const (
	GB  = 1e9
	GiB = 1 << 30
	// usableFraction of the nominal HBM the driver hands out: torch reports
	// 79.18 GiB of an H100's 80 GiB (llm-d empirical vLLM memory results,
	// validation-public.csv). HBM "GB" in datasheets are GiB.
	usableFraction = 79.18 / 80
	// DefaultMemoryUtilization is vLLM's gpu_memory_utilization default: the
	// share of device memory the engine may plan with; CUDA graphs and
	// fragmentation live in the rest.
	DefaultMemoryUtilization = 0.90
	// samplerBytesPerLogit is the sampler's memory per (sequence, vocabulary
	// entry): bf16 logits, their fp32 copy, the probabilities and the
	// exponential noise of vLLM's sampling race (probs / Exp(1)).
	samplerBytesPerLogit = 2 + 4 + 4 + 4
	// nonTorchBytes is CUDA/runtime memory outside the framework's
	// allocator (0.13 GiB in the llm-d H100 log, 0.10 GiB in vLLM issue 12330).
	nonTorchBytes = 0.15 * GiB
	// ncclBytes is communicator buffers when a plan spans several devices
	// (assumption; NCCL allocates per-peer, per-channel buffers of 4 MiB).
	ncclBytes = 0.5 * GiB
	// int4GroupSize: int4 weights carry a 16-bit scale and a 16-bit zero per
	// group of 128 (AWQ/GPTQ default group size) → 4.25 bits per weight.
	int4GroupSize = 128
)

// WeightBytes is the storage of one weight at precision p, including
// group-quantization metadata for int4.
func WeightBytes(p fleet.Precision) float64 {
	switch p {
	case fleet.FP32, fleet.TF32:
		return 4
	case fleet.FP8, fleet.INT8:
		return 1
	case fleet.INT4:
		return 0.5 + 2.0*2/int4GroupSize
	}
	return 2
}

// DefaultKVPrecision is the KV-cache precision served with weights at p:
// 8-bit with fp8/int8 weights (TensorRT-LLM and vLLM FP8 checkpoints quantize
// the KV cache too), 16-bit otherwise.
func DefaultKVPrecision(p fleet.Precision) fleet.Precision {
	switch p {
	case fleet.FP8:
		return fleet.FP8
	case fleet.INT8:
		return fleet.INT8
	case fleet.FP32, fleet.TF32:
		return fleet.FP32
	}
	return fleet.BF16
}

// ComputeRate is the dense rate (FLOP/s) a chip multiplies at when weights
// are stored at p: the native rate when the chip lists one, else its 16-bit
// rate (weight-only quantization dequantizes to 16-bit). ok is false when
// neither is known.
func ComputeRate(c accel.Chip, p fleet.Precision) (rate float64, used fleet.Precision, ok bool) {
	if p == fleet.BF16 || p == fleet.FP16 {
		if v, ok := c.Dense(p); ok {
			return v * 1e12, p, true
		}
	}
	if v, ok := c.Dense(p); ok && p != fleet.BF16 && p != fleet.FP16 {
		return v * 1e12, p, true
	}
	if v, ok := c.Dense16(); ok {
		if _, has := c.TOPS[fleet.BF16]; has {
			return v * 1e12, fleet.BF16, true
		}
		return v * 1e12, fleet.FP16, true
	}
	return 0, "", false
}

// Parallelism says how a model instance is split: TP-way tensor parallel
// inside each of PP pipeline stages; Devices = TP·PP. EP > 1 distributes
// whole routed experts over the EP ranks of the tensor-parallel group
// (EP = TP) instead of slicing every expert.
type Parallelism struct {
	TP, PP, EP int
}

// Devices is TP·PP.
func (p Parallelism) Devices() int { return p.TP * p.PP }

// Memory is a per-device breakdown in bytes.
type Memory struct {
	Weights     float64
	KVCache     float64
	Activations float64
	Other       float64 // runtime overhead: non-framework memory, communicator buffers
	// Budget is what the engine may plan with: usable HBM × utilization.
	Budget float64
}

// Used is everything but the budget.
func (m Memory) Used() float64 { return m.Weights + m.KVCache + m.Activations + m.Other }

// Capacity is a chip's usable memory in bytes (0 when unknown).
func Capacity(c accel.Chip) float64 {
	if c.MemoryGB == nil {
		return 0
	}
	return *c.MemoryGB * GiB * usableFraction
}

// stageLayers is the layers of the largest pipeline stage.
func stageLayers(m models.Model, pp int) int { return (m.Layers + pp - 1) / pp }

// WeightsPerDevice is the weight memory of the busiest device under par at
// precision p. Embedding, output head and norms stay 16-bit in quantized
// checkpoints (vLLM, TensorRT-LLM, AWQ keep them unquantized); tensor
// parallelism splits attention, MLPs, experts and the vocabulary and
// replicates norms, routers and MLA's low-rank down-projections; each
// pipeline stage holds its layers plus the embedding (first) or head (last).
func WeightsPerDevice(m models.Model, p fleet.Precision, par Parallelism) float64 {
	pb := m.Params()
	wb := WeightBytes(p)
	eb := 2.0
	if wb > 2 {
		eb = wb
	}
	tp, pp := float64(par.TP), float64(par.PP)
	frac := float64(stageLayers(m, par.PP)) / float64(m.Layers)
	layer := (pb.Attention+pb.DenseMLP+pb.Shared+pb.Experts)/tp*wb + pb.Replicated*wb
	ends := (pb.Embedding + pb.Head) / tp * eb
	if pp > 1 {
		ends = math.Max(pb.Embedding, pb.Head) / tp * eb
	}
	return layer*frac + ends
}

// KVBytesPerTokenPerDevice is one token's KV cache on one device: GQA KV
// heads split over TP (replicated when TP exceeds them), MLA's latent
// replicated on every TP rank, layers split over PP.
func KVBytesPerTokenPerDevice(m models.Model, kv fleet.Precision, par Parallelism) float64 {
	b := WeightBytes(kv)
	if kv == fleet.INT4 {
		b = 0.5
	}
	L := float64(stageLayers(m, par.PP))
	if m.Attention == models.MLA && m.MLA != nil {
		return L * float64(m.MLA.KVLoraRank+m.MLA.QKRopeHeadDim) * b
	}
	heads := (m.KVHeads + par.TP - 1) / par.TP
	return 2 * L * float64(heads*m.HeadDim) * b
}

// EngineBatch is the batch an engine profiles its activation peak with:
// the prefill chunk (max_num_batched_tokens) and the sequences whose
// logits the sampler materialises (max_num_seqs).
type EngineBatch struct{ Tokens, Seqs int }

// DefaultEngineBatch is vLLM's default for the OpenAI server
// (EngineArgs.get_batch_defaults): 8192 tokens and 1024 sequences on GPUs
// with at least 70 GiB that are not A100s, else 2048 and 256.
func DefaultEngineBatch(c accel.Chip) EngineBatch {
	if c.MemoryGB != nil && *c.MemoryGB >= 70 && !strings.Contains(strings.ToLower(c.Name+" "+c.ID), "a100") {
		return EngineBatch{Tokens: 8192, Seqs: 1024}
	}
	return EngineBatch{Tokens: 2048, Seqs: 256}
}

// ServingActivations is the activation peak of the engine's profiling
// step: a forward pass over b.Tokens tokens — per token the residual
// stream and its normalized copy (2·h), the q/k/v projections, the MLP's
// gate/up output and activation (3·I, I the dense width or the routed
// experts' k·I_moe plus shared experts), all 16-bit and split over TP — and
// the sampler over b.Seqs sequences (samplerBytesPerLogit per vocabulary
// entry; the logits are gathered whole on every TP rank).
func ServingActivations(m models.Model, par Parallelism, b EngineBatch) float64 {
	h := float64(m.Hidden)
	tp := float64(par.TP)
	qk, _ := m.AttnWidth()
	kvw := 0.0
	if m.Attention != models.MLA {
		kvw = float64(2 * m.KVHeads * m.HeadDim)
	}
	inter := 0.0
	if m.DenseLayers() > 0 {
		inter = float64(m.Intermediate)
	}
	if m.IsMoE() {
		inter = math.Max(inter, float64(m.MoE.ExpertsPerToken*m.MoE.Intermediate+m.MoE.SharedWidth()))
	}
	perToken := 2 * (2*h + (float64(qk)+kvw)/tp + float64(m.MLPMatrices())*inter/tp)
	sampler := float64(b.Seqs) * float64(m.Vocab) * samplerBytesPerLogit
	return float64(b.Tokens)*perToken + sampler
}

// OtherBytes is the runtime overhead inside the budget.
func OtherBytes(par Parallelism) float64 {
	if par.Devices() > 1 {
		return nonTorchBytes + ncclBytes
	}
	return nonTorchBytes
}
