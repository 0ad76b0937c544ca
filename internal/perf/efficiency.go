package perf

import (
	"strings"

	"github.com/granaryhq/granary/internal/accel"
)

// Family holds the attainable-efficiency factors of a chip family: the share
// of the datasheet dense peak and of the HBM bandwidth that real serving and
// training kernels reach. They are per family, never per measurement, and
// each says where it comes from (docs/fit.md repeats the table).
type Family struct {
	Name string
	// Compute is the fraction of dense peak reached by prefill GEMMs and
	// attention (compute-bound phase).
	Compute float64
	// Memory is the fraction of HBM bandwidth reached by decode kernels
	// (memory-bound phase).
	Memory float64
	// TrainMFU is the model-FLOPs utilisation assumed for training when the
	// user gives none.
	TrainMFU float64
	Source   string
}

// Hopper's compute and memory factors are calibrated: the least-squares fit
// in log error over the fit rows of the public validation set (the H100
// rows; the H200 and B200 rows are held out to judge it), a grid of 0.01
// from 0.40 to 0.90 (TestCalibratedOnTheFitRows re-runs the fit;
// docs/fit.md, "Calibration", lists which rows fit and which judge). They are
// effective factors of the whole serving loop, not kernel benchmarks: the
// memory factor absorbs scheduling, sampling and launch overheads that the
// roofline does not model, which is why it sits below the ~80–90 % of HBM
// peak that decode kernels reach on their own.
const (
	hopperCompute = 0.71
	hopperMemory  = 0.58
)

// The families. Sources: MFU figures are published training runs (Llama 3
// paper arXiv 2407.21783 Table 4: 38–43% on H100; Megatron-LM arXiv
// 2104.04473: 52% on A100; Korthikanti et al. arXiv 2205.05198: 41.5–56%;
// MegaScale arXiv 2402.15627: 55–65% on Ampere). The knobs are the ones
// llm-analysis and llm_profiler call "flops_efficiency" and
// "hbm_memory_efficiency". Only Hopper's serving factors are fitted; the
// other families have no modellable public throughput row with a given
// request shape (Blackwell's two judge the fit), so their factors are stated
// relative to Hopper's and are assumptions.
var (
	famHopper = Family{"NVIDIA Hopper", hopperCompute, hopperMemory, 0.40,
		"compute 0.71, memory 0.58: fitted on the H100 rows of the public validation set (docs/fit.md, Calibration); MFU 0.40 from Llama 3 405B (38–43%, arXiv 2407.21783 Table 4)"}
	famBlackwell = Family{"NVIDIA Blackwell", hopperCompute - 0.05, hopperMemory, 0.40,
		"as Hopper, compute 0.05 lower for a younger software stack (assumption, judged by the two B200 rows); MFU as Hopper"}
	famAmpere = Family{"NVIDIA Ampere", 0.65, hopperMemory, 0.45,
		"compute 0.65: BF16 GEMMs reach ~80% of 312 TFLOPS (assumption); memory as Hopper; MFU 0.45 from Megatron-LM (52%, arXiv 2104.04473) and Korthikanti et al. (41.5–56%, arXiv 2205.05198) less a margin for smaller jobs"}
	famNVIDIAOther = Family{"NVIDIA (Ada, Volta, Pascal, consumer)", 0.55, hopperMemory - 0.05, 0.35,
		"PCIe/GDDR parts: assumption, memory 0.05 below the datacenter HBM parts"}
	famAMD = Family{"AMD CDNA", 0.45, hopperMemory - 0.10, 0.35,
		"assumption: ROCm GEMM and decode kernels reach less of the datasheet peak than CUDA on NVIDIA (e.g. MLPerf v4.1 8×MI300X 23.5k vs 8×H100 24.5k tok/s on Llama-2-70B despite 1.3× the peak); memory 0.10 below Hopper"}
	famAscend = Family{"Huawei Ascend", 0.50, hopperMemory - 0.10, 0.35,
		"assumption: no public microbenchmarks of 910B GEMM or HBM efficiency were found; memory 0.10 below Hopper"}
	famOther = Family{"other", 0.45, hopperMemory - 0.15, 0.30,
		"assumption for accelerators without public efficiency data (Kunlunxin, Cambricon, Hygon, Moore Threads, Biren, MetaX, Enflame, Iluvatar); memory 0.15 below Hopper"}
)

// Families lists every family, for documentation.
func Families() []Family {
	return []Family{famHopper, famBlackwell, famAmpere, famNVIDIAOther, famAMD, famAscend, famOther}
}

// FamilyOf classifies a chip by vendor and id.
func FamilyOf(c accel.Chip) Family {
	id := strings.ToLower(c.ID)
	v := strings.ToLower(c.Vendor)
	switch {
	case strings.Contains(v, "nvidia"):
		switch {
		case hasAnyPrefix(id, "h100", "h800", "h200", "h20", "gh200"):
			return famHopper
		case hasAnyPrefix(id, "b100", "b200", "gb200", "b300"):
			return famBlackwell
		case hasAnyPrefix(id, "a100", "a800", "a30", "a40"):
			return famAmpere
		}
		return famNVIDIAOther
	case strings.Contains(v, "amd"):
		return famAMD
	case strings.Contains(v, "huawei"):
		return famAscend
	}
	return famOther
}

func hasAnyPrefix(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
