package jobs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
	"github.com/granaryhq/granary/internal/perf"
	"github.com/granaryhq/granary/internal/sched"
)

// The fit advisor's defaults for the throughput of a job given by model +
// precision, the same as `granary fit matrix`'s flag defaults: training
// steps of 4M tokens at sequence 4096 (ZeRO-1, family MFU); serving 2048
// input + 512 output tokens per request at maximum concurrency.
const (
	FitStepTokens = 4e6
	FitSeqLen     = 4096
	FitInput      = 2048
	FitOutput     = 512
)

// FitPrefix starts every class key the fit advisor derives.
const FitPrefix = "fit:"

type advisor struct {
	models *models.Catalog
	chips  *accel.Catalog
}

// SetCatalogs sets the model and chip catalogs fit classes are estimated
// with (nil: the default catalogs). Call it before the Workloads is shared.
func (w *Workloads) SetCatalogs(m *models.Catalog, c *accel.Catalog) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advisor = &advisor{models: m, chips: c}
}

func (w *Workloads) catalogs() (*models.Catalog, *accel.Catalog) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var m *models.Catalog
	var c *accel.Catalog
	if w.advisor != nil {
		m, c = w.advisor.models, w.advisor.chips
	}
	if m == nil {
		m = models.Default()
	}
	if c == nil {
		c = accel.Default()
	}
	return m, c
}

// FitClass is the class key of a model at a precision, trained or served:
// "fit:llama-3-8b:bf16:train".
func FitClass(m models.Model, p fleet.Precision, train bool) string {
	kind := "serve"
	if train {
		kind = "train"
	}
	return FitPrefix + strings.ToLower(m.Name) + ":" + string(p) + ":" + kind
}

// parseFitClass splits a fit class key into its model name, precision and
// kind; ok is false for any other class.
func parseFitClass(class string) (model string, p fleet.Precision, train, ok bool) {
	rest, found := strings.CutPrefix(class, FitPrefix)
	if !found {
		return "", "", false, false
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", false, false
	}
	kind := rest[i+1:]
	rest = rest[:i]
	j := strings.LastIndex(rest, ":")
	if j < 0 || (kind != "train" && kind != "serve") {
		return "", "", false, false
	}
	pr, err := fleet.ParsePrecision(rest[j+1:])
	if err != nil {
		return "", "", false, false
	}
	return rest[:j], pr, kind == "train", true
}

// ResolveFit turns a spec given by Model + Precision (+ Workload, train by
// default) into one with the fit class key in Class, and makes sure the
// throughput table has entries for that class and gang on every model of
// the fleet (fleetModels, catalog ids). Specs without Model are returned
// unchanged. Problems are *fleet.InputError naming the field.
func (w *Workloads) ResolveFit(sp Spec, fleetModels []string) (Spec, error) {
	if sp.Model == "" && sp.Precision == "" && sp.Workload == "" {
		return sp, nil
	}
	var errs fleet.InputErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, &fleet.InputError{Pos: fleet.Position{Field: field}, Msg: fmt.Sprintf(format, args...)})
	}
	if sp.Class != "" {
		bad("class", "give a class or a model (with precision and workload), not both")
	}
	if strings.TrimSpace(sp.Model) == "" {
		bad("model", "precision and workload need a model (or give a class instead)")
	}
	mc, _ := w.catalogs()
	var m models.Model
	if strings.TrimSpace(sp.Model) != "" {
		var err error
		if m, err = mc.Resolve(sp.Model); err != nil {
			msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), fleet.ErrNotFound.Error()+": "), fleet.ErrAmbiguous.Error()+": ")
			// The API takes catalog names only, not config.json paths.
			bad("model", "%s", strings.TrimSuffix(msg, " (or pass a Hugging Face config.json path)"))
		}
	}
	if sp.Precision == "" {
		sp.Precision = string(fleet.BF16)
	}
	p, err := fleet.ParsePrecision(sp.Precision)
	if err != nil {
		bad("precision", "%v", err)
	}
	train := true
	switch strings.ToLower(strings.TrimSpace(sp.Workload)) {
	case "", "train":
		sp.Workload = "train"
	case "serve":
		sp.Workload, train = "serve", false
	default:
		bad("workload", "workload %q (valid: train, serve)", sp.Workload)
	}
	if len(errs) > 0 {
		return sp, errs
	}
	sp.Model, sp.Precision = m.Name, string(p)
	sp.Class = FitClass(m, p, train)
	if sp.Gang >= 1 && sp.Gang <= 4096 {
		if err := w.ensureFit(sp.Class, sp.Gang, fleetModels); err != nil {
			bad("model", "%v", err)
			return sp, errs
		}
	}
	return sp, nil
}

// EnsureFit adds the entries of a fit class for gang on every model in
// fleetModels the table lacks (e.g. after a restart, for jobs submitted by
// model). Other classes are left alone.
func (w *Workloads) EnsureFit(class string, gang int, fleetModels []string) error {
	if _, _, _, ok := parseFitClass(class); !ok || gang < 1 || gang > 4096 {
		return nil
	}
	return w.ensureFit(class, gang, fleetModels)
}

func (w *Workloads) ensureFit(class string, gang int, fleetModels []string) error {
	name, p, train, ok := parseFitClass(class)
	if !ok {
		return fmt.Errorf("%q is not a fit class", class)
	}
	t := w.Table()
	var missing []string
	for _, id := range fleetModels {
		if _, has := t.Lookup(class, gang, id); !has && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	mc, cc := w.catalogs()
	m, err := mc.Resolve(name)
	if err != nil {
		return err
	}
	spec := perf.RateSpec{Train: train, Precision: p, Input: FitInput, Output: FitOutput, SeqLen: FitSeqLen, StepTokens: FitStepTokens}
	var add []sched.ThroughputEntry
	reasons := map[fitKey]string{}
	for _, id := range missing {
		chip, ok := cc.Get(id)
		if !ok {
			reasons[fitKey{class, gang, id}] = "not in the chip catalog"
			add = append(add, sched.ThroughputEntry{Class: class, Gang: gang, Model: id})
			continue
		}
		r, err := perf.GangRate(spec, m, gang, chip)
		if err != nil {
			return err
		}
		if !r.Fits {
			reasons[fitKey{class, gang, id}] = r.Reason
		}
		add = append(add, sched.ThroughputEntry{Class: class, Gang: gang, Model: id, StepsPerSecond: r.StepsPerS})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Another submission may have added some meanwhile: keep theirs.
	var fresh []sched.ThroughputEntry
	for _, e := range add {
		if _, has := w.table.Lookup(e.Class, e.Gang, e.Model); !has {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	all := append(slices.Clone(w.entries), fresh...)
	nt, err := sched.NewThroughputs(all)
	if err != nil {
		return err
	}
	if len(w.pairs) > 0 {
		if nt, err = nt.WithPairs(w.pairs); err != nil {
			return err
		}
	}
	w.entries, w.table = all, nt
	w.index(fresh)
	for k, v := range reasons {
		w.reasons[k] = v
	}
	return nil
}
