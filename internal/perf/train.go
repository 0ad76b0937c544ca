package perf

import (
	"fmt"
	"math"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
)

// Recompute is the activation-recomputation strategy (Korthikanti et al.
// 2022, "Reducing Activation Recomputation in Large Transformer Models",
// arXiv 2205.05198).
type Recompute string

// Recomputation strategies.
const (
	RecomputeNone      Recompute = "none"
	RecomputeSelective Recompute = "selective"
	RecomputeFull      Recompute = "full"
)

// TrainRequest asks how long a training run takes and what it needs per device.
type TrainRequest struct {
	Model     models.Model
	Chip      accel.Chip
	Devices   int
	Tokens    float64         // training tokens
	Precision fleet.Precision // matmul precision: bf16 (default) or fp8
	// MFU is the model-FLOPs utilisation; 0 = the chip family's estimate.
	MFU float64
	// TP and PP split each replica; the rest is data parallel. 0 = choose:
	// TP up to the node size, PP until the model states fit.
	TP, PP int
	ZeRO   int // 0–3 (Rajbhandari et al. 2020): what data parallelism shards
	// Recompute: none, selective (default) or full.
	Recompute Recompute
	// SeqLen sizes the activations (default 4096). With AttentionFLOPs the
	// model FLOPs also count attention as PaLM's MFU does (Chowdhery et al.
	// 2022, App. B: 6N + 12·L·H·Q·T per token).
	SeqLen         int
	AttentionFLOPs bool
	MicroBatch     int // sequences per micro-batch (default 1)
	// GlobalBatchTokens is the tokens per optimizer step (default 4 Mi),
	// which sets the micro-batches per pipeline and so the bubble.
	GlobalBatchTokens float64
}

// TrainMemory is per device, in bytes.
type TrainMemory struct {
	Weights, Gradients, Optimizer, Activations, Other float64
	Capacity                                          float64
}

// Total is the sum of the parts.
func (m TrainMemory) Total() float64 {
	return m.Weights + m.Gradients + m.Optimizer + m.Activations + m.Other
}

// TrainEstimate is the answer.
type TrainEstimate struct {
	Chip       accel.Chip
	Devices    int
	TP, PP, DP int
	// PipelineBubble is the idle fraction of a 1F1B pipeline,
	// (PP−1)/(m+PP−1) with m micro-batches per replica and step (Narayanan
	// et al. 2021, arXiv 2104.04473 §2.2). Reported, not applied: measured
	// MFUs already include their runs' bubbles; a given MFU is the user's.
	PipelineBubble float64
	ZeRO           int
	Recompute      Recompute
	MFU            float64
	MFUSource      string // "given" or the family it was estimated from
	Memory         TrainMemory
	Fits           bool
	Reason         string
	FLOPs          float64 // model FLOPs of the run
	Seconds        float64
	Days           float64
	DeviceHours    float64
}

// Validate checks ranges (errors wrap fleet.ErrInvalid and name the range).
func (r TrainRequest) Validate() error {
	switch {
	case r.Devices < 1 || r.Devices > 1<<20:
		return fmt.Errorf("%w: --devices %d out of range (valid: 1..1048576)", fleet.ErrInvalid, r.Devices)
	case !(r.Tokens > 0) || r.Tokens > 1e18:
		return fmt.Errorf("%w: --tokens %g out of range (valid: > 0, e.g. 15T)", fleet.ErrInvalid, r.Tokens)
	case r.MFU < 0 || r.MFU > 1 || math.IsNaN(r.MFU):
		return fmt.Errorf("%w: --mfu %g out of range (valid: 0 < mfu ≤ 1, e.g. 0.4)", fleet.ErrInvalid, r.MFU)
	case r.ZeRO < 0 || r.ZeRO > 3:
		return fmt.Errorf("%w: --zero %d out of range (valid: 0..3)", fleet.ErrInvalid, r.ZeRO)
	case r.TP < 0 || r.PP < 0 || r.SeqLen < 0 || r.MicroBatch < 0:
		return fmt.Errorf("%w: --tp, --pp, --seq-len and --micro-batch must be ≥ 1", fleet.ErrInvalid)
	case r.TP > 0 && r.PP > 0 && r.Devices%(r.TP*r.PP) != 0:
		return fmt.Errorf("%w: --devices %d is not a multiple of tp×pp = %d", fleet.ErrInvalid, r.Devices, r.TP*r.PP)
	}
	switch r.Recompute {
	case "", RecomputeNone, RecomputeSelective, RecomputeFull:
	default:
		return fmt.Errorf("%w: --recompute %q (valid: none, selective, full)", fleet.ErrInvalid, r.Recompute)
	}
	return nil
}

// TrainFLOPsPerToken is 6·N_active (forward 2, backward 4 per weight), plus
// 12·L·H·Q·T when attention counts (PaLM's definition, with H·Q the query
// width and T the sequence length).
func TrainFLOPsPerToken(m models.Model, seq int, attention bool) float64 {
	f := 6 * m.ActiveParams()
	if attention && seq > 0 {
		qk, _ := m.AttnWidth()
		f += 12 * float64(m.Layers) * float64(qk) * float64(seq)
	}
	return f
}

// ActivationsPerLayer is the activation memory of one transformer layer
// for a micro-batch (Korthikanti et al. 2022, §4, with tensor and sequence
// parallelism over t): s·b·h·(34 + 5·a·s/h)/t bytes without recomputation,
// s·b·h·34/t with selective recomputation (the attention score tensors are
// recomputed), and 2·s·b·h/t with full recomputation (only the layer input
// is kept).
func ActivationsPerLayer(m models.Model, seq, micro, tp int, rc Recompute) float64 {
	s, b, h, a, t := float64(seq), float64(micro), float64(m.Hidden), float64(m.Heads), float64(tp)
	switch rc {
	case RecomputeFull:
		return 2 * s * b * h / t
	case RecomputeNone:
		return s * b * h * (34 + 5*a*s/h) / t
	}
	return s * b * h * 34 / t
}

// Train estimates memory per device and time. Days = model FLOPs ÷
// (devices × dense peak × MFU).
func Train(r TrainRequest) (TrainEstimate, error) {
	if err := r.Validate(); err != nil {
		return TrainEstimate{}, err
	}
	if r.Precision == "" {
		r.Precision = fleet.BF16
	}
	if r.Recompute == "" {
		r.Recompute = RecomputeSelective
	}
	if r.SeqLen == 0 {
		r.SeqLen = 4096
	}
	if r.MicroBatch == 0 {
		r.MicroBatch = 1
	}
	fam := FamilyOf(r.Chip)
	e := TrainEstimate{Chip: r.Chip, Devices: r.Devices, ZeRO: r.ZeRO, Recompute: r.Recompute, MFU: r.MFU, MFUSource: "given"}
	if r.MFU == 0 {
		e.MFU, e.MFUSource = fam.TrainMFU, "estimated for the "+fam.Name+" family"
	}
	peak, _, ok := ComputeRate(r.Chip, r.Precision)
	if !ok {
		return TrainEstimate{}, fmt.Errorf("%w: %s has no known dense %s rate in the catalog", fleet.ErrInvalid, r.Chip.ID, r.Precision)
	}
	if r.MFU == 0 && r.Precision != fleet.BF16 && r.Precision != fleet.FP16 {
		// The family MFUs are measured against the 16-bit peak (BF16 runs);
		// 8-bit training keeps many operations at 16 bits, so the estimate
		// does not credit the 8-bit peak. (DeepSeek-V3, FP8 on H800: 2.664 M
		// GPU-hours for 14.8 T tokens, arXiv 2412.19437 — 35% of the BF16
		// peak, 17.5% of the FP8 peak.)
		if p16, _, ok16 := ComputeRate(r.Chip, fleet.BF16); ok16 {
			peak = p16
			e.MFUSource += ", against the 16-bit peak"
		}
	}
	e.FLOPs = TrainFLOPsPerToken(r.Model, r.SeqLen, r.AttentionFLOPs) * r.Tokens
	e.Seconds = e.FLOPs / (float64(r.Devices) * peak * e.MFU)
	e.Days = e.Seconds / 86400
	e.DeviceHours = e.Seconds / 3600 * float64(r.Devices)

	capacity := Capacity(r.Chip)
	e.Memory.Capacity = capacity
	// Choose TP and PP when not given: TP up to the node size (a divisor of
	// the heads and of the devices), then the smallest PP that fits.
	tps := []int{r.TP}
	if r.TP == 0 {
		tps = nil
		for tp := min(NodeSize, r.Devices); tp >= 1; tp /= 2 {
			if r.Devices%tp == 0 && r.Model.Heads%tp == 0 {
				tps = append(tps, tp)
				break
			}
		}
		if len(tps) == 0 {
			tps = []int{1}
		}
	}
	tp := tps[0]
	var pps []int
	if r.PP > 0 {
		pps = []int{r.PP}
	} else {
		for pp := 1; pp <= r.Devices/tp && pp <= r.Model.Layers; pp *= 2 {
			if (r.Devices/tp)%pp == 0 {
				pps = append(pps, pp)
			}
		}
	}
	for i, pp := range pps {
		e.TP, e.PP, e.DP = tp, pp, r.Devices/(tp*pp)
		e.PipelineBubble = bubble(r, pp, e.DP)
		e.Memory = trainMemory(r, tp, pp, e.DP)
		e.Memory.Capacity = capacity
		if capacity > 0 && e.Memory.Total() <= capacity {
			e.Fits = true
			break
		}
		if i == len(pps)-1 {
			if capacity == 0 {
				e.Reason = fmt.Sprintf("%s has no known memory capacity in the catalog", r.Chip.ID)
			} else {
				e.Reason = fmt.Sprintf("needs %.1f GB per device with TP %d × PP %d × DP %d, ZeRO-%d, %s recomputation; %s offers %.1f GB",
					e.Memory.Total()/GB, tp, pp, e.DP, r.ZeRO, r.Recompute, r.Chip.Name, capacity/GB)
			}
		}
	}
	return e, nil
}

// trainMemory is per device: 16-bit weights and gradients, fp32 master
// weights and Adam moments (12 bytes per parameter, Rajbhandari et al.
// 2020), sharded over data parallelism by ZeRO stage (1: optimizer,
// 2: + gradients, 3: + weights); activations for the first pipeline stage,
// which holds PP micro-batches in flight under 1F1B — L/PP layers × PP =
// L layers' worth — plus the fp32 logits of the last stage.
func trainMemory(r TrainRequest, tp, pp, dp int) TrainMemory {
	m := r.Model
	n := m.TotalParams() / float64(tp*pp)
	wb := 2.0
	if r.Precision == fleet.FP32 || r.Precision == fleet.TF32 {
		wb = 4
	}
	mem := TrainMemory{Weights: n * wb, Gradients: n * wb, Optimizer: n * 12, Other: 2 * GiB}
	d := float64(dp)
	if r.ZeRO >= 1 {
		mem.Optimizer /= d
	}
	if r.ZeRO >= 2 {
		mem.Gradients /= d
	}
	if r.ZeRO >= 3 {
		mem.Weights /= d
	}
	mem.Activations = float64(m.Layers)*ActivationsPerLayer(m, r.SeqLen, r.MicroBatch, tp, r.Recompute) +
		float64(r.SeqLen*r.MicroBatch*m.Vocab)*4/float64(tp)
	return mem
}

// bubble is the 1F1B idle fraction (PP−1)/(m+PP−1).
func bubble(r TrainRequest, pp, dp int) float64 {
	if pp <= 1 {
		return 0
	}
	gb := r.GlobalBatchTokens
	if gb <= 0 {
		gb = 4 << 20
	}
	m := math.Max(math.Floor(gb/float64(r.SeqLen*r.MicroBatch*dp)), 1)
	return float64(pp-1) / (m + float64(pp-1))
}
