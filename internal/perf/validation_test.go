package perf

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"

	"github.com/granaryhq/granary/internal/sharedtest"
)

// The memory and training bounds (throughput's are below).
const (
	memoryBound   = 0.05
	trainingBound = 0.15
)

type vrow map[string]string

func readValidation(t *testing.T) []vrow {
	f, err := os.Open(sharedtest.File(t, "data/validation-public.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []vrow
	for _, r := range recs[1:] {
		v := vrow{}
		for i, h := range recs[0] {
			v[h] = strings.TrimSpace(r[i])
		}
		out = append(out, v)
	}
	return out
}

// extraModels are architectures the validation set uses that the catalog
// does not carry; their config.json files are in testdata.
var extraModels = map[string]string{"Llama-2-13B": "llama-2-13b.json", "Qwen3-32B": "qwen3-32b.json", "GPT-J-6B": "gpt-j-6b.json"}

func resolveModel(cat *models.Catalog, name string) (models.Model, string) {
	if f, ok := extraModels[name]; ok {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			return models.Model{}, err.Error()
		}
		m, err := models.ParseHFConfig(f, data)
		if err != nil {
			return models.Model{}, err.Error()
		}
		return m, ""
	}
	m, err := cat.Resolve(name)
	if err != nil {
		return models.Model{}, "model not in the catalog"
	}
	return m, ""
}

func resolveChip(cat *accel.Catalog, name string) (accel.Chip, string) {
	name = strings.TrimSpace(strings.SplitN(name, " (", 2)[0])
	for _, n := range []string{name, strings.SplitN(name, "-", 2)[0]} {
		if c, err := cat.Resolve(n); err == nil {
			return c, ""
		}
	}
	return accel.Chip{}, fmt.Sprintf("chip %q not in the catalog", name)
}

// precisionOf maps the row's precision. FP4 (Blackwell NVFP4) is modelled
// as 4-bit weights with an 8-bit KV cache at the chip's 4-bit rate.
func precisionOf(s string) (p, kv fleet.Precision, why string) {
	u := strings.ToUpper(s)
	switch {
	case strings.HasPrefix(u, "FP4"), strings.HasPrefix(u, "WINT4"), strings.HasPrefix(u, "W4A8"):
		return fleet.INT4, fleet.FP8, ""
	case strings.Contains(u, "FP8"):
		return fleet.FP8, fleet.FP8, ""
	case strings.HasPrefix(u, "BF16"):
		return fleet.BF16, fleet.BF16, ""
	case strings.HasPrefix(u, "INT8"):
		return fleet.INT8, fleet.INT8, ""
	}
	return "", "", "precision " + s + " not modelled"
}

func relErr(est, meas float64) float64 { return (est - meas) / meas }

var firstInt = regexp.MustCompile(`^\d+`)

func atoi(s string) (int, bool) {
	m := firstInt.FindString(s)
	if m == "" {
		return 0, false
	}
	n, err := strconv.Atoi(m)
	return n, err == nil
}

// The throughput bounds: every modelled row within ±rowBound unless
// rowExceptions gives the reason and the check it gets instead; the median
// |error| and the signed mean (the bias: errors of one sign do not cancel in
// a median) over all rows and over the judge rows, which the calibration
// did not see.
const (
	rowBound         = 0.50
	medianBound      = 0.15
	biasBound        = 0.10
	judgeMedianBound = 0.15
	judgeBiasBound   = 0.15
)

// fitChip is the chip whose rows calibrate Hopper's serving factors (the
// fit rows); every other modelled throughput row judges the fit
// (docs/fit.md, "Calibration: fit rows and judge rows").
const fitChip = "h100-sxm5-80gb"

// rowException is a row allowed beyond ±rowBound: the reason, written next
// to it, and the weaker check it must still pass.
type rowException struct {
	why   string
	want  string
	check func(est, meas float64) bool
}

// rowExceptions are keyed model|chip|devices|input|output.
var rowExceptions = map[string]rowException{
	"Llama-2-70B|h200-sxm-141gb|2|128|2048": {
		why: "TensorRT-LLM v0.5 (Oct 2023) preliminary H200 launch figure at batch 512 with 2,048-token outputs, " +
			"which its source marks as a lower bound on old software; the same chip and model class reach 2–3× " +
			"more per GPU with the 2024 TensorRT-LLM (rows 12, 15, 17)",
		want:  "a lower bound: the estimate between 1× and 4× the measurement",
		check: func(est, meas float64) bool { return est >= meas && est <= 4*meas },
	},
}

// thrRow is one modelled throughput row: the request as the row gives it,
// our estimate and the measurement.
type thrRow struct {
	line      int // CSV line
	r         vrow
	req       ServeRequest
	chip      accel.Chip
	par       Parallelism
	perDevice bool // the row is per GPU
	est, meas float64
	plan      Plan
}

func (x thrRow) key() string {
	return fmt.Sprintf("%s|%s|%d|%d|%d", x.r["model"], x.chip.ID, x.par.Devices(), x.req.Input, x.req.Output)
}

// estimate re-evaluates the row with the current family factors.
func (x *thrRow) estimate() {
	x.plan = Evaluate(x.req, x.chip, x.par)
	x.est = x.plan.OutputTokensPerS
	if x.perDevice {
		x.est /= float64(x.par.Devices())
	}
}

// throughputRow builds the throughput row at index i, or says why it
// cannot be modelled.
func throughputRow(i int, r vrow, cat *models.Catalog, chips *accel.Catalog) (thrRow, string) {
	m, why := resolveModel(cat, r["model"])
	if why != "" {
		return thrRow{}, why
	}
	c, why := resolveChip(chips, r["chip"])
	if why != "" {
		return thrRow{}, why
	}
	p, kv, why := precisionOf(r["precision"])
	if why != "" {
		return thrRow{}, why
	}
	in, ok1 := atoi(r["input_len"])
	out, ok2 := atoi(r["output_len"])
	if !ok1 || !ok2 {
		return thrRow{}, "input/output lengths vary (dataset " + r["input_len"] + "), not given in the row"
	}
	n, _ := atoi(r["n_chips"])
	tp := n
	if v, ok := atoi(strings.TrimPrefix(r["parallelism"], "TP")); ok {
		tp = v
	}
	conc, _ := atoi(r["batch/concurrency"])
	meas, _ := strconv.ParseFloat(r["value"], 64)
	x := thrRow{line: i + 2, r: r, chip: c, meas: meas, perDevice: strings.HasSuffix(r["metric"], "per_gpu"),
		req: ServeRequest{Model: m, Precision: p, KVPrecision: kv, Input: in, Output: out, Concurrency: conc, Devices: n},
		par: Parallelism{TP: tp, PP: n / tp, EP: 1}}
	x.estimate()
	return x, ""
}

func isThroughputRow(r vrow) bool {
	return r["kind"] == "inference" && strings.Contains(r["metric"], "output_tokens_per_s") && !strings.Contains(r["metric"], "node")
}

// medianAbsAndMean are the median |error| and the signed mean of errs.
func medianAbsAndMean(errs []float64) (med, mean float64) {
	if len(errs) == 0 {
		return math.NaN(), math.NaN()
	}
	abs := make([]float64, len(errs))
	for i, e := range errs {
		abs[i] = math.Abs(e)
		mean += e
	}
	sort.Float64s(abs)
	n := len(abs)
	med = abs[n/2]
	if n%2 == 0 {
		med = (abs[n/2-1] + abs[n/2]) / 2
	}
	return med, mean / float64(n)
}

// TestValidationPublic prints estimate vs measurement for every row of
// validation-public.csv it can model, says why for the others, and fails
// past the bounds: every throughput row, the median and the bias, over all
// rows and over the judge rows.
func TestValidationPublic(t *testing.T) {
	rows := readValidation(t)
	chips := accel.Default()
	cat := models.Default()
	var all, judge []float64
	var report strings.Builder
	fmt.Fprintf(&report, "%-3s %-10s %-22s %-14s %-5s %-28s %12s %12s %8s\n", "row", "kind", "model", "chip", "n", "metric", "estimate", "measured", "error")
	skip := func(i int, r vrow, why string) {
		fmt.Fprintf(&report, "%-3d %-10s %-22s %-14s %-5s %-28s   cannot model: %s\n", i+2, r["kind"], clip(r["model"], 22), clip(r["chip"], 14), clip(r["n_chips"], 5), clip(r["metric"], 28), why)
	}
	line := func(i int, r vrow, chip string, est, meas float64, unit string) float64 {
		e := relErr(est, meas)
		fmt.Fprintf(&report, "%-3d %-10s %-22s %-14s %-5s %-28s %12.1f %12.1f %+7.1f%% %s\n", i+2, r["kind"], clip(r["model"], 22), clip(chip, 14), clip(r["n_chips"], 5), clip(r["metric"], 28), est, meas, 100*e, unit)
		return e
	}
	usedExceptions := map[string]bool{}
	for i, r := range rows {
		if r["kind"] != "inference" {
			continue
		}
		metric := r["metric"]
		switch {
		case isThroughputRow(r):
			x, why := throughputRow(i, r, cat, chips)
			if why != "" {
				skip(i, r, why)
				continue
			}
			if !x.plan.Fits {
				skip(i, r, "plan does not fit: "+x.plan.Reason)
				t.Errorf("row %d: the measured configuration does not fit our model: %s", x.line, x.plan.Reason)
				continue
			}
			role := "judge"
			if x.chip.ID == fitChip {
				role = "fit"
			}
			e := line(i, r, x.chip.ID, x.est, x.meas, fmt.Sprintf("tok/s (conc %d, %s-bound) [%s]", x.plan.Concurrency, x.plan.Bound, role))
			if ex, ok := rowExceptions[x.key()]; ok {
				usedExceptions[x.key()] = true
				fmt.Fprintf(&report, "      outside ±%.0f%% allowed: %s; checked as %s\n", 100*rowBound, ex.why, ex.want)
				if !ex.check(x.est, x.meas) {
					t.Errorf("row %d (%s): estimate %.1f, measured %.1f: want %s", x.line, x.key(), x.est, x.meas, ex.want)
				}
				continue
			}
			if math.Abs(e) > rowBound {
				t.Errorf("row %d (%s): error %+.1f%% beyond ±%.0f%% with no written reason (rowExceptions)", x.line, x.key(), 100*e, 100*rowBound)
			}
			all = append(all, e)
			if role == "judge" {
				judge = append(judge, e)
			}
		case strings.HasPrefix(metric, "kv_cache_memory"):
			checkKVMemoryRow(t, &report, i, r, cat, chips, line, skip)
		case metric == "documented_min_devices":
			checkMinDevicesRow(t, &report, i, r, cat, chips)
		default:
			skip(i, r, modelGap(r))
		}
	}
	checkTrainingRows(t, &report, rows, chips, cat, line, skip)
	for k := range rowExceptions {
		if !usedExceptions[k] {
			t.Errorf("rowExceptions has %s, which matches no modelled row: remove it", k)
		}
	}
	med, bias := medianAbsAndMean(all)
	jmed, jbias := medianAbsAndMean(judge)
	fmt.Fprintf(&report, "throughput: %d rows within ±%.0f%% (+%d with a written reason): median |error| %.1f%% (bound %.0f%%), mean error (bias) %+.1f%% (bound ±%.0f%%)\n",
		len(all), 100*rowBound, len(usedExceptions), 100*med, 100*medianBound, 100*bias, 100*biasBound)
	fmt.Fprintf(&report, "judge rows (not on %s, unseen by the calibration): %d, median |error| %.1f%% (bound %.0f%%), bias %+.1f%% (bound ±%.0f%%)\n",
		fitChip, len(judge), 100*jmed, 100*judgeMedianBound, 100*jbias, 100*judgeBiasBound)
	t.Log("\n" + report.String())
	if len(all) < 10 || len(judge) < 5 {
		t.Fatalf("%d throughput rows modelled, %d of them judge rows: the validation set lost rows", len(all), len(judge))
	}
	if med > medianBound || math.Abs(bias) > biasBound {
		t.Errorf("all rows: median |error| %.1f%% (bound %.0f%%), bias %+.1f%% (bound ±%.0f%%)", 100*med, 100*medianBound, 100*bias, 100*biasBound)
	}
	if jmed > judgeMedianBound || math.Abs(jbias) > judgeBiasBound {
		t.Errorf("judge rows: median |error| %.1f%% (bound %.0f%%), bias %+.1f%% (bound ±%.0f%%)", 100*jmed, 100*judgeMedianBound, 100*jbias, 100*judgeBiasBound)
	}
}

// TestCalibratedOnTheFitRows re-runs the calibration: Hopper's compute and
// memory factors minimise the sum of squared log errors over the fit rows
// (the H100 rows). The shipped pair must beat its eight neighbours at ±0.01
// and every point of a 0.05 grid over [0.40, 0.90]²; moving a factor by hand
// (to flatter the judge rows, or by mistake) fails here.
func TestCalibratedOnTheFitRows(t *testing.T) {
	rows := readValidation(t)
	chips := accel.Default()
	cat := models.Default()
	var fit []thrRow
	for i, r := range rows {
		if !isThroughputRow(r) {
			continue
		}
		if x, why := throughputRow(i, r, cat, chips); why == "" && x.chip.ID == fitChip {
			fit = append(fit, x)
		}
	}
	if len(fit) < 4 {
		t.Fatalf("%d fit rows; the calibration needs the H100 rows of the validation set", len(fit))
	}
	saved := famHopper
	defer func() { famHopper = saved }()
	sse := func(c, m float64) float64 {
		famHopper.Compute, famHopper.Memory = c, m
		s := 0.0
		for i := range fit {
			fit[i].estimate()
			l := math.Log(fit[i].est / fit[i].meas)
			s += l * l
		}
		return s
	}
	at := sse(hopperCompute, hopperMemory)
	t.Logf("%d fit rows; shipped compute %.2f memory %.2f: rms log error %.4f", len(fit), hopperCompute, hopperMemory, math.Sqrt(at/float64(len(fit))))
	for _, d := range [][2]float64{{-1, -1}, {-1, 0}, {-1, 1}, {0, -1}, {0, 1}, {1, -1}, {1, 0}, {1, 1}} {
		c, m := hopperCompute+0.01*d[0], hopperMemory+0.01*d[1]
		if s := sse(c, m); s < at {
			t.Errorf("compute %.2f memory %.2f fits the H100 rows better (Σ log² %.5f < %.5f): recalibrate", c, m, s, at)
		}
	}
	for i := 0; i <= 10; i++ {
		for j := 0; j <= 10; j++ {
			c, m := 0.40+0.05*float64(i), 0.40+0.05*float64(j)
			if s := sse(c, m); s < at {
				t.Errorf("compute %.2f memory %.2f fits the H100 rows better (Σ log² %.5f < %.5f): recalibrate", c, m, s, at)
			}
		}
	}
}

func clip(s string, n int) string {
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// modelGap says why an inference row is outside what the model covers.
func modelGap(r vrow) string {
	switch {
	case strings.Contains(r["metric"], "node") || strings.Contains(r["metric"], "per_npu"):
		return "production prefill/decode-disaggregated deployment with prefix-cache hits, DP attention and large EP; the row does not give the request mix"
	case strings.Contains(r["metric"], "total_tokens"):
		return "ShareGPT request mix (variable lengths, burst load); the row does not give the lengths"
	case strings.Contains(r["metric"], "ttft"):
		return "MLPerf Server scenario with variable lengths and arrival process; TTFT needs the queueing model we do not have"
	}
	return "metric not modelled"
}

var gibRe = regexp.MustCompile(`activation (\d+(?:\.\d+)?) GiB`)
var nonTorchRe = regexp.MustCompile(`non-torch (\d+(?:\.\d+)?) GiB`)
var weightsRe = regexp.MustCompile(`weights (\d+(?:\.\d+)?) GiB`)
var totalRe = regexp.MustCompile(`H100 (\d+(?:\.\d+)?) GiB, gpu_memory_utilization (\d+(?:\.\d+)?)`)

// checkKVMemoryRow compares vLLM's KV-cache memory. The engine computes it
// as total × gpu_memory_utilization − weights − profiled activation peak −
// non-torch memory. Our weights and capacity are our own; the profiled
// activation peak (torch.compile and sampler buffers of that vLLM build) is
// taken from the row. Our own activation estimate is printed beside it.
func checkKVMemoryRow(t *testing.T, report *strings.Builder, i int, r vrow, cat *models.Catalog, chips *accel.Catalog,
	line func(int, vrow, string, float64, float64, string) float64, skip func(int, vrow, string)) {
	m, why := resolveModel(cat, r["model"])
	if why != "" {
		skip(i, r, why)
		return
	}
	c, why := resolveChip(chips, r["chip"])
	if why != "" {
		skip(i, r, why)
		return
	}
	p, _, _ := precisionOf(r["precision"])
	n, _ := atoi(r["n_chips"])
	par := Parallelism{TP: n, PP: 1, EP: 1}
	meas, _ := strconv.ParseFloat(r["value"], 64)
	act := gibRe.FindStringSubmatch(r["notes"])
	if act == nil {
		skip(i, r, "the row does not give the engine's activation peak")
		return
	}
	actGiB, _ := strconv.ParseFloat(act[1], 64)
	other := OtherBytes(par)
	if nt := nonTorchRe.FindStringSubmatch(r["notes"]); nt != nil {
		v, _ := strconv.ParseFloat(nt[1], 64)
		other = v * GiB
	}
	total := Capacity(c)
	if tm := totalRe.FindStringSubmatch(r["notes"]); tm != nil {
		v, _ := strconv.ParseFloat(tm[1], 64)
		if math.Abs(v*GiB-total)/total > 0.01 {
			t.Errorf("row %d: our usable capacity %.2f GiB differs from the measured %.2f GiB", i+2, total/GiB, v)
		}
	}
	w := WeightsPerDevice(m, p, par)
	if wm := weightsRe.FindStringSubmatch(r["notes"]); wm != nil {
		v, _ := strconv.ParseFloat(wm[1], 64)
		e := line(i, r, c.ID, w/GiB, v, "GiB weights per device (from notes)")
		if math.Abs(e) > memoryBound {
			t.Errorf("row %d: weights per device off by %.1f%%", i+2, 100*e)
		}
	}
	kv := total*DefaultMemoryUtilization - w - actGiB*GiB - other
	e := line(i, r, c.ID, kv/GiB, meas, fmt.Sprintf("GiB KV cache (engine activation %.2f GiB from the row)", actGiB))
	if math.Abs(e) > memoryBound {
		t.Errorf("row %d: KV-cache memory off by %.1f%% (bound %.0f%%)", i+2, 100*e, 100*memoryBound)
	}
	own := ServingActivations(m, par, DefaultEngineBatch(c))
	kvOwn := total*DefaultMemoryUtilization - w - own - OtherBytes(par)
	fmt.Fprintf(report, "      end to end with our own activation estimate %.2f GiB (engine %.2f GiB): KV %.2f GiB, %+.1f%% (not bounded: see docs/fit.md)\n",
		own/GiB, actGiB, kvOwn/GiB, 100*relErr(kvOwn/GiB, meas))
}

// checkMinDevicesRow checks the fit verdict at a documented minimum device
// count: the model fits at n and does not at n/2.
func checkMinDevicesRow(t *testing.T, report *strings.Builder, i int, r vrow, cat *models.Catalog, chips *accel.Catalog) {
	m, why := resolveModel(cat, r["model"])
	if why != "" {
		fmt.Fprintf(report, "%-3d fit: cannot model: %s\n", i+2, why)
		return
	}
	p, kv, _ := precisionOf(r["precision"])
	n, _ := atoi(r["n_chips"])
	for _, name := range strings.Split(r["chip"], "/") {
		c, why := resolveChip(chips, name)
		if why != "" {
			fmt.Fprintf(report, "%-3d fit: cannot model: %s\n", i+2, why)
			continue
		}
		req := ServeRequest{Model: m, Precision: p, KVPrecision: kv, Input: 2048, Output: 512, Concurrency: 1}
		at := func(d int) Plan { req.Devices = d; return Search(req, c) }
		full, half := at(n), at(n/2)
		// The bound: the verdict at the documented count is "fits".
		verdict := "right"
		if !full.Fits {
			verdict = "WRONG"
			t.Errorf("row %d %s %s on %s: documented to run on %d, ours says it does not fit: %s", i+2, r["model"], p, c.ID, n, full.Reason)
		} else if half.Fits {
			// Stricter: half the documented minimum should not fit.
			if why := knownFitDisagreement[r["model"]+"/"+c.ID]; why != "" {
				verdict = "right at the documented count; fits at half (known disagreement: " + why + ")"
			} else {
				verdict = "WRONG at half"
				t.Errorf("row %d %s %s on %s: fits on %d, half the documented minimum", i+2, r["model"], p, c.ID, n/2)
			}
		}
		fmt.Fprintf(report, "%-3d fit: %s %s on %s: documented minimum %d; ours fits at %d: %v (weights %.1f GB/device), at %d: %v (weights %.1f GB/device, budget %.1f GB) → %s\n",
			i+2, r["model"], p, c.ID, n, n, full.Fits, full.Memory.Weights/GB, n/2, half.Fits, half.Memory.Weights/GB, half.Memory.Budget/GB, verdict)
	}
}

// knownFitDisagreement lists documented minimums our model disagrees with,
// and why. Kept empty unless a disagreement is understood.
var knownFitDisagreement = map[string]string{
	"DeepSeek-V3/R1/h20-96gb": "16 × 96 GiB hold the 1,342 GB of BF16 weights with ~4 GB per device left for KV; the SGLang page lists H20 with the 80 GB parts at 32 without a separate H20 measurement",
}

// checkTrainingRows compares device-hours where both an MFU and a duration
// or rate are published for the same run.
func checkTrainingRows(t *testing.T, report *strings.Builder, rows []vrow, chips *accel.Catalog, cat *models.Catalog,
	line func(int, vrow, string, float64, float64, string) float64, skip func(int, vrow, string)) {
	a100, _ := chips.Resolve("A100")
	h100, _ := chips.Resolve("H100")
	dense := func(params float64, layers, width int) models.Model {
		// A GPT-style stand-in with the row's parameter count; only N (and
		// L·width for the attention term) enter the time formula.
		return models.Model{Name: "gpt", ParamsTotalB: params, ParamsActiveB: params, Layers: layers, Hidden: width, Heads: width / 128, KVHeads: width / 128, HeadDim: 128}
	}
	for i, r := range rows {
		if r["kind"] != "training" {
			continue
		}
		switch {
		case r["model"] == "GPT-175B" && r["metric"] == "MFU":
			mfu, _ := strconv.ParseFloat(r["value"], 64)
			n, _ := atoi(r["n_chips"])
			// GPT-3 175B: 96 layers, width 12288 (Brown et al. 2020).
			m := dense(175, 96, 12288)
			var meas, tokens float64
			unit := ""
			if strings.Contains(r["notes"], "1.75 days per 300B tokens") {
				tokens, meas, unit = 300e9, 1.75*24*float64(n), "device-hours for 300B tokens (1.75 days, row notes)"
			} else if tok := regexp.MustCompile(`^(\d+(?:\.\d+)?)k tok/s`).FindStringSubmatch(r["notes"]); tok != nil {
				v, _ := strconv.ParseFloat(tok[1], 64)
				tokens, meas, unit = 1e9, float64(n)*1e9/(v*1e3)/3600, "device-hours per 1B tokens (row's tok/s)"
			} else {
				skip(i, r, "no duration or rate in the row")
				continue
			}
			est, err := Train(TrainRequest{Model: m, Chip: a100, Devices: n, Tokens: tokens, MFU: mfu / 100, SeqLen: 2048})
			if err != nil {
				t.Fatal(err)
			}
			if e := line(i, r, "a100 (Ampere)", est.DeviceHours, meas, unit); math.Abs(e) > trainingBound {
				t.Errorf("row %d: device-hours off by %.1f%%", i+2, 100*e)
			}
		case r["model"] == "Llama-3.1-405B" && r["metric"] == "gpu_hours":
			m, _ := cat.Resolve("Llama-3.1-405B")
			meas, _ := strconv.ParseFloat(r["value"], 64)
			for _, mfuRow := range rows {
				if mfuRow["model"] != "Llama-3.1-405B" || mfuRow["metric"] != "MFU" {
					continue
				}
				mfu, _ := strconv.ParseFloat(mfuRow["value"], 64)
				seq, _ := atoi(mfuRow["input_len"])
				for _, attn := range []bool{false, true} {
					est, err := Train(TrainRequest{Model: m, Chip: h100, Devices: 16384, Tokens: 15.6e12, MFU: mfu / 100, SeqLen: seq, AttentionFLOPs: attn})
					if err != nil {
						t.Fatal(err)
					}
					what := "6·N·D"
					if attn {
						what = "6·N·D + PaLM attention term at seq 8192"
					}
					e := line(i, r, "h100-sxm5-80gb", est.DeviceHours, meas, fmt.Sprintf("GPU-h, MFU %.0f%% (Table 4, %s GPUs), %s", mfu, mfuRow["n_chips"], what))
					if attn && math.Abs(e) > trainingBound {
						t.Errorf("row %d: device-hours off by %.1f%% with MFU %v%%", i+2, 100*e, mfu)
					}
				}
			}
		case r["metric"] == "gpu_hours":
			m, why := resolveModel(cat, r["model"])
			if why != "" {
				skip(i, r, why)
				continue
			}
			c, why := resolveChip(chips, r["chip"])
			if why != "" {
				skip(i, r, why)
				continue
			}
			tokens := 15e12
			if strings.HasPrefix(r["batch/concurrency"], "2.0T") {
				tokens = 2e12
			}
			est, err := Train(TrainRequest{Model: m, Chip: c, Devices: 1024, Tokens: tokens})
			if err != nil {
				t.Fatal(err)
			}
			meas, _ := strconv.ParseFloat(r["value"], 64)
			line(i, r, c.ID, est.DeviceHours, meas, fmt.Sprintf("GPU-h with estimated MFU %.2f (no MFU published: not bounded)", est.MFU))
		default:
			skip(i, r, "no device-hours measurement with a published MFU in the row (MFU or TFLOP/s only, or a paper estimate)")
		}
	}
}
