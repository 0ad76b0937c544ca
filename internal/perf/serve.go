package perf

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
)

// Interconnect assumptions.
const (
	// pcieGBps is the bidirectional bandwidth of a PCIe 4.0 x16 link, used
	// for chips without a chip-to-chip interconnect.
	pcieGBps = 64
	// collectiveLatency is the fixed cost of one collective or point-to-point
	// transfer (NCCL small-message latency is ~10 µs inside a node; assumption).
	collectiveLatency = 10e-6
	// NodeSize is the devices per node: tensor parallelism stays inside it.
	NodeSize = 8
	// DefaultMaxDevices bounds the device search (8 nodes of 8).
	DefaultMaxDevices = 64
)

// ServeRequest asks how a model serves on a chip.
type ServeRequest struct {
	Model     models.Model
	Precision fleet.Precision
	// KVPrecision of the cache; "" = DefaultKVPrecision(Precision).
	KVPrecision   fleet.Precision
	Input, Output int // tokens per request
	// Concurrency is the number of requests in flight; 0 = the largest the
	// memory allows ("max").
	Concurrency int
	// Devices fixes the device count; 0 = the smallest that fits.
	Devices    int
	MaxDevices int // search bound; 0 = DefaultMaxDevices
	// TTFTSLO and TPOTSLO bound the latencies (0 = none); with Concurrency 0
	// the concurrency is lowered until they hold.
	TTFTSLO, TPOTSLO time.Duration
	// MemoryUtilization is the share of usable HBM the engine plans with
	// (0 = DefaultMemoryUtilization).
	MemoryUtilization float64
	// Batch is the engine's prefill chunk and sampler width; zero fields
	// take DefaultEngineBatch of the chip.
	Batch EngineBatch
}

// Validate checks the request's ranges; errors wrap fleet.ErrInvalid and
// name the valid range.
func (r ServeRequest) Validate() error {
	switch {
	case r.Input < 1 || r.Input > 10_000_000:
		return fmt.Errorf("%w: --input %d out of range (valid: 1..10000000 tokens)", fleet.ErrInvalid, r.Input)
	case r.Output < 1 || r.Output > 10_000_000:
		return fmt.Errorf("%w: --output %d out of range (valid: 1..10000000 tokens)", fleet.ErrInvalid, r.Output)
	case r.Concurrency < 0:
		return fmt.Errorf("%w: --concurrency %d out of range (valid: 1.. or max)", fleet.ErrInvalid, r.Concurrency)
	case r.Devices < 0 || r.Devices > 1<<16:
		return fmt.Errorf("%w: --devices %d out of range (valid: 1..65536)", fleet.ErrInvalid, r.Devices)
	case r.MaxDevices < 0 || r.MaxDevices > 1<<16:
		return fmt.Errorf("%w: --max-devices %d out of range (valid: 1..65536)", fleet.ErrInvalid, r.MaxDevices)
	case r.TTFTSLO < 0 || r.TPOTSLO < 0:
		return fmt.Errorf("%w: latency targets must be positive durations", fleet.ErrInvalid)
	case r.MemoryUtilization < 0 || r.MemoryUtilization > 1:
		return fmt.Errorf("%w: memory utilization %v out of range (valid: 0..1)", fleet.ErrInvalid, r.MemoryUtilization)
	}
	if mp := r.Model.MaxPosition; mp > 0 && r.Input+r.Output > mp {
		return fmt.Errorf("%w: --input + --output = %d exceeds %s's context of %d tokens (valid: input+output ≤ %d)",
			fleet.ErrInvalid, r.Input+r.Output, r.Model.Name, mp, mp)
	}
	return nil
}

func (r ServeRequest) kv() fleet.Precision {
	if r.KVPrecision != "" {
		return r.KVPrecision
	}
	return DefaultKVPrecision(r.Precision)
}

func (r ServeRequest) util() float64 {
	if r.MemoryUtilization > 0 {
		return r.MemoryUtilization
	}
	return DefaultMemoryUtilization
}

func (r ServeRequest) batch(c accel.Chip) EngineBatch {
	b := DefaultEngineBatch(c)
	if r.Batch.Tokens > 0 {
		b.Tokens = r.Batch.Tokens
	}
	if r.Batch.Seqs > 0 {
		b.Seqs = r.Batch.Seqs
	}
	return b
}

// Plan is how one chip serves the request.
type Plan struct {
	Chip        accel.Chip
	Parallelism Parallelism
	Fits        bool
	Reason      string // why it does not fit, or "" when it does
	Memory      Memory // per device
	// Concurrency is the requests in flight the plan assumes; MaxConcurrency
	// the most the KV budget holds.
	Concurrency, MaxConcurrency int
	// OutputTokensPerS is the output tokens per second of all devices.
	OutputTokensPerS float64
	TTFT, TPOT       time.Duration
	// Bound says what limits decode: "memory", "compute" or "communication".
	Bound string
	// ComputePrecision is the precision the matrix units run at.
	ComputePrecision fleet.Precision
}

// Devices is the plan's device count.
func (p Plan) Devices() int { return p.Parallelism.Devices() }

// chipRates are the attainable rates of one device.
type chipRates struct {
	flops, bw, link float64 // FLOP/s, B/s (HBM), B/s one direction chip-to-chip
	used            fleet.Precision
}

func ratesOf(c accel.Chip, p fleet.Precision) (chipRates, string) {
	fam := FamilyOf(c)
	f, used, ok := ComputeRate(c, p)
	if !ok {
		return chipRates{}, fmt.Sprintf("%s has no known dense %s or 16-bit rate in the catalog", c.ID, p)
	}
	if c.MemoryBWGBps == nil {
		return chipRates{}, fmt.Sprintf("%s has no known memory bandwidth in the catalog", c.ID)
	}
	link := pcieGBps
	if c.InterconnectGB != nil && *c.InterconnectGB > 0 {
		link = int(*c.InterconnectGB)
	}
	return chipRates{
		flops: f * fam.Compute,
		bw:    *c.MemoryBWGBps * 1e9 * fam.Memory,
		link:  float64(link) / 2 * 1e9,
		used:  used,
	}, ""
}

// options lists the parallelisms worth trying on n devices: TP a power of
// two up to the node size dividing both n and the attention heads, PP the
// rest (at most one stage per layer); for MoE models both sliced experts
// (EP 1) and whole experts spread over the TP group (EP = TP).
func options(m models.Model, n int) []Parallelism {
	var out []Parallelism
	for tp := 1; tp <= min(n, NodeSize); tp *= 2 {
		if n%tp != 0 || m.Heads%tp != 0 {
			continue
		}
		pp := n / tp
		if pp > m.Layers {
			continue
		}
		out = append(out, Parallelism{TP: tp, PP: pp, EP: 1})
		if m.IsMoE() && tp > 1 && m.MoE.Experts%tp == 0 {
			out = append(out, Parallelism{TP: tp, PP: pp, EP: tp})
		}
	}
	return out
}

// memoryFor computes the fixed part of the per-device memory.
func memoryFor(r ServeRequest, c accel.Chip, par Parallelism) Memory {
	return Memory{
		Weights:     WeightsPerDevice(r.Model, r.Precision, par),
		Activations: ServingActivations(r.Model, par, r.batch(c)),
		Other:       OtherBytes(par),
		Budget:      Capacity(c) * r.util(),
	}
}

// Evaluate computes one plan with a fixed parallelism. It never fails: a
// plan that does not fit says why in Reason.
func Evaluate(r ServeRequest, c accel.Chip, par Parallelism) Plan {
	r.Batch = r.batch(c)
	p := Plan{Chip: c, Parallelism: par}
	if c.MemoryGB == nil {
		p.Reason = fmt.Sprintf("%s has no known memory capacity in the catalog", c.ID)
		return p
	}
	rates, why := ratesOf(c, r.Precision)
	if why != "" {
		p.Reason = why
		return p
	}
	p.ComputePrecision = rates.used
	mem := memoryFor(r, c, par)
	n := par.Devices()
	seqTokens := float64(r.Input + r.Output)
	kvTok := KVBytesPerTokenPerDevice(r.Model, r.kv(), par)
	free := mem.Budget - mem.Weights - mem.Activations - mem.Other
	p.Memory = mem
	if mem.Weights > mem.Budget {
		p.Reason = fmt.Sprintf("weights need %.1f GB per device (%.1f GB at %s in all); %d × %s offer %.1f GB usable each (%.0f%% of %.0f GiB)",
			mem.Weights/GB, WeightsPerDevice(r.Model, r.Precision, Parallelism{TP: 1, PP: 1, EP: 1})/GB, r.Precision,
			n, c.Name, mem.Budget/GB, r.util()*100, *c.MemoryGB)
		return p
	}
	maxC := 0
	if free > 0 {
		maxC = int(math.Min(free/(kvTok*seqTokens), 1e9))
	}
	p.MaxConcurrency = maxC
	if maxC < 1 {
		p.Reason = fmt.Sprintf("weights (%.1f GB), activations (%.1f GB) and runtime (%.1f GB) leave %.1f GB per device; one %d-token request needs %.2f GB of KV cache",
			mem.Weights/GB, mem.Activations/GB, mem.Other/GB, math.Max(free, 0)/GB, r.Input+r.Output, kvTok*seqTokens/GB)
		return p
	}
	conc := r.Concurrency
	if conc == 0 {
		conc = maxC
	} else if conc > maxC {
		p.Reason = fmt.Sprintf("concurrency %d needs %.1f GB of KV cache per device; %.1f GB are free, enough for %d (valid: 1..%d)",
			conc, float64(conc)*kvTok*seqTokens/GB, free/GB, maxC, maxC)
		return p
	}
	t := timing(r, rates, par, conc)
	if r.Concurrency == 0 && (r.TPOTSLO > 0 || r.TTFTSLO > 0) {
		// Lower the concurrency until the latency targets hold.
		ok := func(c int) bool {
			tc := timing(r, rates, par, c)
			return (r.TPOTSLO == 0 || tc.tpot <= r.TPOTSLO.Seconds()) && (r.TTFTSLO == 0 || tc.ttft <= r.TTFTSLO.Seconds())
		}
		if !ok(conc) {
			lo, hi := 0, conc // ok(lo) unknown at 0; find the largest ok
			for lo < hi {
				mid := (lo + hi + 1) / 2
				if ok(mid) {
					lo = mid
				} else {
					hi = mid - 1
				}
			}
			if lo == 0 {
				t1 := timing(r, rates, par, 1)
				p.Reason = fmt.Sprintf("even one request misses the latency targets (TTFT %s, TPOT %s)",
					dur(t1.ttft), dur(t1.tpot))
				p.Concurrency = 1
				p.fill(t1, r)
				p.Memory.KVCache = kvTok * seqTokens
				return p
			}
			conc = lo
			t = timing(r, rates, par, conc)
		}
	}
	p.Concurrency = conc
	p.Memory.KVCache = float64(conc) * kvTok * seqTokens
	p.fill(t, r)
	if r.TPOTSLO > 0 && t.tpot > r.TPOTSLO.Seconds() {
		p.Reason = fmt.Sprintf("TPOT %s at concurrency %d misses the %s target", dur(t.tpot), conc, r.TPOTSLO)
		return p
	}
	if r.TTFTSLO > 0 && t.ttft > r.TTFTSLO.Seconds() {
		p.Reason = fmt.Sprintf("TTFT %s misses the %s target", dur(t.ttft), r.TTFTSLO)
		return p
	}
	p.Fits = true
	return p
}

func (p *Plan) fill(t timed, r ServeRequest) {
	p.OutputTokensPerS = t.tokensPerS
	p.TTFT = ceilDuration(t.ttft)
	p.TPOT = ceilDuration(t.tpot)
	p.Bound = t.bound
}

// ceilDuration converts seconds to a Duration rounded up to the nanosecond,
// so a positive latency (a degenerate model's step can take well under a
// nanosecond) never reads as 0.
func ceilDuration(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

func dur(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond * 100).String()
}

type timed struct {
	tokensPerS, ttft, tpot float64
	bound                  string
}

// op is one group of kernels of a forward pass on one device: its FLOPs
// and its HBM traffic.
type op struct{ flops, bytes float64 }

// roofline is the time of an op on the device: the slower of its compute
// and its memory traffic.
func (o op) roofline(r chipRates) (t float64, computeBound bool) {
	c, m := o.flops/r.flops, o.bytes/r.bw
	if c >= m {
		return c, true
	}
	return m, false
}

// work is one forward pass of one pipeline stage on one device, as the
// per-operator roofline of LLM-Viewer (Yuan et al. 2024, arXiv 2402.16363):
// each operator group is bounded by compute or memory on its own and the
// times add — decode attention stays memory-bound even when the weight
// GEMMs of a large batch are compute-bound.
type work struct {
	ops  []op
	comm float64
}

// stepWork is the per-device, per-stage cost of processing x tokens whose
// mean attended context is ctx. Routed experts are read as far as the x
// tokens pick them (all of them for a long prefill chunk); prefill writes
// the chunk's KV, decode reads each token's whole context.
func stepWork(m models.Model, r ServeRequest, rates chipRates, par Parallelism, x, ctx float64, prefill bool) work {
	pb := m.Params()
	tp := float64(par.TP)
	frac := float64(stageLayers(m, par.PP)) / float64(m.Layers)
	L := float64(stageLayers(m, par.PP))
	wb := WeightBytes(r.Precision)
	h := float64(m.Hidden)
	actB := 2.0 // activations are 16-bit between kernels
	qk, vw := m.AttnWidth()
	q := float64(m.Heads * m.HeadDim)
	kvw := float64(2 * m.KVHeads * m.HeadDim)
	if m.Attention == models.MLA && m.MLA != nil {
		q = float64(m.Heads * (m.MLA.QKNopeHeadDim + m.MLA.QKRopeHeadDim))
		kvw = float64(m.MLA.KVLoraRank + m.MLA.QKRopeHeadDim)
	}

	// 1. Weight GEMMs: 2 FLOPs per active non-embedding weight per token;
	// traffic is the weights read (routed experts: those the tokens touch)
	// plus each GEMM's input and output activations.
	experts := pb.Experts
	if m.IsMoE() {
		E, k := float64(m.MoE.Experts), float64(m.MoE.ExpertsPerToken)
		touched := E * (1 - math.Pow(1-k/E, x))
		experts = touched * pb.ExpertSize * float64(m.MoELayers())
	}
	head := pb.Head
	if head == 0 {
		head = pb.Embedding
	}
	weights := ((pb.Attention+pb.DenseMLP+pb.Shared+experts)/tp+pb.Replicated)*wb*frac + head/tp*2
	active := m.ActiveParams() - pb.Embedding
	inter := float64(m.Intermediate)
	if m.IsMoE() {
		inter = float64(m.MoE.ExpertsPerToken*m.MoE.Intermediate + m.MoE.SharedWidth())
	}
	// q/k/v (h → q+kv), o (q → h), gate/up (h → 2I), down (I → h).
	up := float64(m.MLPMatrices()-1) * inter // gate+up, or up
	gemmIO := L * x * actB * ((h + q + kvw) + (q + h) + (h + up) + (inter + h)) / tp
	gemm := op{flops: x * 2 * active * frac / tp, bytes: weights + gemmIO}

	// 2. Attention core: QKᵀ and AV over the attended context.
	kvTok := KVBytesPerTokenPerDevice(m, r.kv(), par)
	attn := op{flops: x * 2 * ctx * float64(qk+vw) * L / tp}
	if prefill {
		attn.bytes = 2*x*kvTok + L*x*actB*2*q/tp
	} else {
		attn.bytes = x*ctx*kvTok + L*x*actB*2*q/tp
	}

	// 3. Element-wise kernels, memory-bound: two norms (read and write h),
	// two residual adds (read 2h, write h), rotary on q and k, and the
	// gated activation (read 2I, write I).
	elem := op{bytes: L * x * actB * (2*2*h + 2*3*h + 2*(q+kvw)/tp + (up+inter)/tp)}

	// Communication: two all-reduces of the token activations per layer
	// under TP (ring: 2(t−1)/t of the message each way); with EP the MoE
	// all-reduce becomes an all-to-all dispatch and combine of k copies; one
	// point-to-point hand-off per stage boundary.
	var comm float64
	msg := x * h * actB
	if par.TP > 1 {
		ar := collectiveLatency + 2*(tp-1)/tp*msg/rates.link
		moeL := float64(m.MoELayers()) * frac
		denseL := L - moeL
		if par.EP > 1 && m.IsMoE() {
			a2a := 2 * (collectiveLatency + (tp-1)/tp*msg*float64(m.MoE.ExpertsPerToken)/tp/rates.link)
			comm = L*ar + denseL*ar + moeL*a2a
		} else {
			comm = 2 * L * ar
		}
	}
	if par.PP > 1 {
		comm += collectiveLatency + msg/rates.link
	}
	return work{ops: []op{gemm, attn, elem}, comm: comm}
}

// time sums the operators' roofline times and the communication, and says
// what dominated.
func (w work) time(r chipRates) (float64, string) {
	var compute, memory float64
	for _, o := range w.ops {
		t, cb := o.roofline(r)
		if cb {
			compute += t
		} else {
			memory += t
		}
	}
	t := compute + memory + w.comm
	switch {
	case w.comm > compute && w.comm > memory:
		return t, "communication"
	case compute >= memory:
		return t, "compute"
	}
	return t, "memory"
}

// timing is the steady state of continuous batching at concurrency conc:
// each cycle prefills conc prompts (compute-bound, chunked, pipelined over
// the stages) and runs Output decode steps of the whole batch at the mean
// context Input + Output/2. A decode step splits the batch into PP
// micro-batches; each token crosses every stage, so TPOT is PP stage times.
func timing(r ServeRequest, rates chipRates, par Parallelism, conc int) timed {
	m := r.Model
	pp := float64(par.PP)
	in, out := float64(r.Input), float64(r.Output)
	// Prefill of all prompts, in chunks of the batched-token budget.
	chunk := math.Min(float64(max(r.Batch.Tokens, 1)), in*float64(conc))
	nChunks := in * float64(conc) / chunk
	pw := stepWork(m, r, rates, par, chunk, in/2, true)
	tChunk, _ := pw.time(rates)
	prefill := nChunks * tChunk // stages work on different chunks at once
	// One prompt alone, through every stage.
	p1 := stepWork(m, r, rates, par, in, in/2, true)
	t1, _ := p1.time(rates)
	ttftPrefill := t1 * pp
	// Decode.
	micro := math.Max(float64(conc)/pp, 1)
	dw := stepWork(m, r, rates, par, micro, in+out/2, false)
	tStage, bound := dw.time(rates)
	step := tStage * pp
	cycle := prefill + out*step
	tokens := float64(conc) * out / cycle
	return timed{
		tokensPerS: tokens,
		ttft:       ttftPrefill + step,
		tpot:       cycle / out,
		bound:      bound,
	}
}

// Search finds, for one chip, the smallest device count with a parallelism
// that fits (or uses exactly r.Devices) and the fastest such parallelism.
// When nothing fits it returns the closest miss with its reason.
func Search(r ServeRequest, c accel.Chip) Plan {
	counts := []int{r.Devices}
	if r.Devices == 0 {
		counts = nil
		maxN := r.MaxDevices
		if maxN == 0 {
			maxN = DefaultMaxDevices
		}
		for n := 1; n <= maxN; n *= 2 {
			counts = append(counts, n)
		}
	}
	var last Plan
	haveLast := false
	for _, n := range counts {
		var best Plan
		found := false
		opts := options(r.Model, n)
		if len(opts) == 0 && !haveLast {
			last = Plan{Chip: c, Parallelism: Parallelism{TP: 1, PP: n, EP: 1},
				Reason: fmt.Sprintf("%d devices do not split %s (%d heads, %d layers) into TP ≤ %d × PP stages", n, r.Model.Name, r.Model.Heads, r.Model.Layers, NodeSize)}
			haveLast = true
		}
		for _, par := range opts {
			p := Evaluate(r, c, par)
			if p.Fits {
				if !found || p.OutputTokensPerS > best.OutputTokensPerS {
					best, found = p, true
				}
				continue
			}
			// Keep the miss to explain: on the most devices tried, holding
			// the most requests, with the most memory headroom.
			if !haveLast || last.Devices() < n || betterMiss(p, last) {
				last, haveLast = p, true
			}
		}
		if found {
			return best
		}
	}
	if !haveLast {
		last = Plan{Chip: c, Parallelism: Parallelism{TP: 1, PP: 1, EP: 1}, Reason: "no parallelism to try"}
	}
	return last
}

func betterMiss(a, b Plan) bool {
	if a.MaxConcurrency != b.MaxConcurrency {
		return a.MaxConcurrency > b.MaxConcurrency
	}
	return a.Memory.Budget-a.Memory.Weights > b.Memory.Budget-b.Memory.Weights
}

// ServeAll searches every chip and orders the plans best first: plans that
// fit before those that do not, then by output tokens/s per device, then by
// chip id.
func ServeAll(r ServeRequest, chips []accel.Chip) []Plan {
	plans := make([]Plan, len(chips))
	for i, c := range chips {
		plans[i] = Search(r, c)
	}
	SortPlans(plans)
	return plans
}

// SortPlans orders plans best first (see ServeAll).
func SortPlans(plans []Plan) {
	sort.SliceStable(plans, func(i, j int) bool {
		a, b := plans[i], plans[j]
		if a.Fits != b.Fits {
			return a.Fits
		}
		pa := a.OutputTokensPerS / float64(max(a.Devices(), 1))
		pb := b.OutputTokensPerS / float64(max(b.Devices(), 1))
		if pa != pb {
			return pa > pb
		}
		return a.Chip.ID < b.Chip.ID
	})
}
