package forecast

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// Defaults for the optional fields of a plan. Sources are in docs/runway.md.
const (
	DefaultHorizonMonths = 72
	DefaultPrecision     = fleet.BF16
	// DefaultUtilization is the fraction of dense peak that becomes useful
	// work (model FLOPs utilization of large training jobs is typically
	// 0.35-0.45; the example uses 0.4).
	DefaultUtilization = 0.4
	DefaultPaths       = 10000
	DefaultSeed        = 1
	// DefaultUsefulLifeYears: Microsoft, Alphabet and CoreWeave depreciate
	// servers including GPUs over 6 years (shared/data/export-rules.md §12).
	DefaultUsefulLifeYears = 6.0
	// DefaultAFR is the hard-failure (RMA-class) rate of an H100-class GPU:
	// 148 "faulty GPU" interruptions over 16,384 GPUs in 54 days in Llama 3
	// training ≈ 6.1 % per GPU-year (arXiv 2407.21783 §3.3.4, export-rules.md §11).
	DefaultAFR = 0.06

	DefaultReserveIncrease          = 0.10
	DefaultEfficiencyFactor         = 1.1
	DefaultDomesticDeliveryIncrease = 0.5
	DefaultDomesticUnitsPerQuarter  = 250

	// MaxHorizonMonths and MaxPaths bound the work one plan can ask for.
	MaxHorizonMonths = 1200
	MaxPaths         = 1_000_000
	// MaxPathMonths bounds paths × horizon_months (the supply series of
	// every path is kept to compute the bands: 8 bytes each).
	MaxPathMonths = 25_000_000
	// MaxUnits bounds any device count or delivery size, so sums cannot
	// overflow.
	MaxUnits = 100_000_000
)

// Plan is a runway question: the fleet, its reliability and deliveries, and
// the demand it must serve. Build one with ParsePlan (which applies the
// defaults and remembers line numbers for errors) or in code.
type Plan struct {
	Start           Month
	HorizonMonths   int
	Precision       fleet.Precision
	Utilization     float64
	Paths           int
	Seed            int64
	Fleet           []Holding // empty: read the live inventory (granary runway --server)
	UsefulLifeYears float64
	AFR             AFR
	Deliveries      []Delivery
	Demand          Demand
	// EfficiencyGainPerYear divides demand by gain^(m/12); 1 = none.
	EfficiencyGainPerYear float64
	Levers                LeverSizes

	src *source // where the plan came from, for line numbers; nil for plans built in code
}

// Holding is one line of the fleet: devices of one model acquired together.
type Holding struct {
	Model     string
	InService int
	// Reserve units are boxed: they do not fail or age, and enter service
	// when demand would otherwise exceed supply.
	Reserve int
	// Acquired starts the useful life of the in-service units; nil = the
	// plan's start month.
	Acquired *Month
	// PFLOPSPerDevice overrides the catalog's dense rate at the plan's
	// precision (in PFLOP/s, e.g. 0.99 for an H800 at bf16).
	PFLOPSPerDevice *float64
}

// AFR holds annual failure rates of devices in service.
type AFR struct {
	Default float64
	ByModel map[string]float64 // keyed by the name as written; resolved by Run
}

// Delivery is a recurring quarterly delivery of one model.
type Delivery struct {
	Model           string
	UnitsPerQuarter float64
	From            Month  // first delivery month; every 3 months after
	Until           *Month // last month a delivery may arrive; nil = horizon end
	// CV is the coefficient of variation of each quarter's units (gamma
	// distributed, rounded to whole units); 0 = exactly UnitsPerQuarter.
	CV              float64
	PFLOPSPerDevice *float64
}

// Demand is what the fleet must serve, in sustained effective PFLOP/s.
type Demand struct {
	Inference   Inference
	Training    []TrainingRun
	Generations *Generations
}

// Inference is the steady load at month 0 and its yearly growth factor.
type Inference struct {
	PFLOPS        float64
	GrowthPerYear float64 // factor per year, > 0; 1 = flat
}

// TrainingRun spreads FLOP evenly over Months months from Start.
type TrainingRun struct {
	Name   string
	Start  Month
	Months int
	FLOP   float64
}

// Generations is a series of training runs: generation i starts at
// Start + i×CadenceMonths and needs FLOP × Growth^i.
type Generations struct {
	First         string // name of the first; later ones count up ("gen-6", "gen-7", …)
	Start         Month
	FLOP          float64
	Growth        float64
	CadenceMonths int
	Months        int
	Count         int
}

// LeverSizes sets how big each lever is.
type LeverSizes struct {
	ReserveIncrease          float64 // fraction added to every reserve (0.10)
	EfficiencyFactor         float64 // multiplies efficiency_gain_per_year (1.1)
	DomesticDeliveryIncrease float64 // fraction added to domestic deliveries (0.5)
	// DomesticUnitsPerQuarter and DomesticModel are the delivery added when
	// the plan has no domestic deliveries (250 units of the plan's first
	// domestic model, else the catalog's first domestic model with a rate
	// at the plan's precision).
	DomesticUnitsPerQuarter float64
	DomesticModel           string
}

// Runs expands the training runs and generations into one list.
func (d Demand) Runs() []TrainingRun {
	runs := append([]TrainingRun(nil), d.Training...)
	if g := d.Generations; g != nil {
		name := g.First
		for i := 0; i < g.Count; i++ {
			runs = append(runs, TrainingRun{
				Name:   name,
				Start:  g.Start + Month(i*g.CadenceMonths),
				Months: g.Months,
				FLOP:   g.FLOP * math.Pow(g.Growth, float64(i)),
			})
			name = nextName(name)
		}
	}
	return runs
}

// nextName counts a trailing number up: gen-6 → gen-7; gen → gen-2.
func nextName(s string) string {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 9 {
		return s + "-2"
	}
	n := 0
	for _, c := range s[i:] {
		n = n*10 + int(c-'0')
	}
	return fmt.Sprintf("%s%d", s[:i], n+1)
}

// source remembers the parsed document so later checks (model names, which
// need the catalog) can still name the line.
type source struct {
	file string
	ast  *ast.File
}

// line returns the line of a YAML path like "$.fleet[0].model", falling back
// to its parents; 0 when unknown.
func (s *source) line(path string) int {
	if s == nil || s.ast == nil {
		return 0
	}
	for path != "" && path != "$" {
		if p, err := yaml.PathString(path); err == nil {
			if n, err := p.FilterFile(s.ast); err == nil && n != nil && n.GetToken() != nil {
				return n.GetToken().Position.Line
			}
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// errAt builds an input error at a YAML path; field is the path without "$.".
func (p *Plan) errAt(path, entry, msg string) *fleet.InputError {
	pos := fleet.Position{Entry: entry, Field: strings.TrimPrefix(path, "$.")}
	if p.src != nil {
		pos.File = p.src.file
		pos.Line = p.src.line(path)
	}
	return &fleet.InputError{Pos: pos, Msg: msg}
}

// --- the YAML schema -------------------------------------------------------

type rawPlan struct {
	Start                 *string        `yaml:"start"`
	HorizonMonths         *int           `yaml:"horizon_months"`
	Precision             *string        `yaml:"precision"`
	Utilization           *float64       `yaml:"utilization"`
	Paths                 *int           `yaml:"paths"`
	Seed                  *int64         `yaml:"seed"`
	Fleet                 []rawHolding   `yaml:"fleet"`
	UsefulLifeYears       *float64       `yaml:"useful_life_years"`
	AFR                   yaml.MapSlice  `yaml:"afr"`
	Deliveries            []rawDelivery  `yaml:"deliveries"`
	Demand                *rawDemand     `yaml:"demand"`
	EfficiencyGainPerYear *float64       `yaml:"efficiency_gain_per_year"`
	Levers                *rawLeverSizes `yaml:"levers"`
}

type rawHolding struct {
	Model           string   `yaml:"model"`
	InService       *int     `yaml:"in_service"`
	Reserve         *int     `yaml:"reserve"`
	Acquired        *string  `yaml:"acquired"`
	PFLOPSPerDevice *float64 `yaml:"pflops_per_device"`
}

type rawDelivery struct {
	Model           string   `yaml:"model"`
	UnitsPerQuarter *float64 `yaml:"units_per_quarter"`
	From            *string  `yaml:"from"`
	Until           *string  `yaml:"until"`
	CV              *float64 `yaml:"cv"`
	PFLOPSPerDevice *float64 `yaml:"pflops_per_device"`
}

type rawDemand struct {
	Inference   *rawInference   `yaml:"inference"`
	Training    []rawTraining   `yaml:"training"`
	Generations *rawGenerations `yaml:"generations"`
}

type rawInference struct {
	PFLOPS        *float64 `yaml:"pflops"`
	GrowthPerYear *float64 `yaml:"growth_per_year"`
}

type rawTraining struct {
	Name   string   `yaml:"name"`
	Start  *string  `yaml:"start"`
	Months *int     `yaml:"months"`
	FLOP   *float64 `yaml:"flop"`
}

type rawGenerations struct {
	First         string   `yaml:"first"`
	Start         *string  `yaml:"start"`
	FLOP          *float64 `yaml:"flop"`
	Growth        *float64 `yaml:"growth"`
	CadenceMonths *int     `yaml:"cadence_months"`
	Months        *int     `yaml:"months"`
	Count         *int     `yaml:"count"`
}

type rawLeverSizes struct {
	ReserveIncrease          *float64 `yaml:"reserve_increase"`
	EfficiencyFactor         *float64 `yaml:"efficiency_factor"`
	DomesticDeliveryIncrease *float64 `yaml:"domestic_delivery_increase"`
	DomesticUnitsPerQuarter  *float64 `yaml:"domestic_units_per_quarter"`
	DomesticModel            string   `yaml:"domestic_model"`
}

var (
	unknownFieldRE = regexp.MustCompile(`unknown field "([^"]*)"`)
	goFieldRE      = regexp.MustCompile(`Go struct field \S+ of type (\S+)`)
)

// ParsePlan reads a plan from YAML or JSON bytes, applies the documented
// defaults and checks everything that does not need the chip catalog (model
// names are checked by Run). file names the source in errors; every error
// is a *fleet.InputError (or fleet.InputErrors) naming the line and field
// and wrapping fleet.ErrInvalid. Unknown fields are rejected.
func ParsePlan(file string, data []byte) (Plan, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Plan{}, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "empty plan: expected a mapping with start, fleet and demand"}
	}
	f, err := decode.ParseYAML(file, data, decode.Default)
	if err != nil {
		return Plan{}, yamlError(file, err)
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil || f.Docs[0].Body.Type() != ast.MappingType {
		return Plan{}, &fleet.InputError{Pos: fleet.Position{File: file, Line: 1}, Msg: "a plan is a mapping (start:, fleet:, demand:, …)"}
	}
	if len(f.Docs) > 1 {
		return Plan{}, &fleet.InputError{Pos: fleet.Position{File: file}, Msg: "a plan is one YAML document, found several"}
	}
	var raw rawPlan
	if err := decode.Strict(file, data, &raw); err != nil {
		return Plan{}, yamlError(file, err)
	}
	p := Plan{src: &source{file: file, ast: f}}
	errs := p.fromRaw(&raw)
	if err := errs.Err(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// yamlError turns a decoder error into an InputError with its line and, when
// the decoder says, the field.
func yamlError(file string, err error) error {
	var ie *fleet.InputError
	if errors.As(err, &ie) {
		return err
	}
	pos := fleet.Position{File: file}
	msg := err.Error()
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil {
			pos.Line, pos.Column = tk.Position.Line, tk.Position.Column
			pos.Field = keyOf(tk)
		}
	}
	msg = goFieldRE.ReplaceAllString(msg, "a field of type $1")
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		pos.Field = m[1]
	}
	return &fleet.InputError{Pos: pos, Msg: msg}
}

// keyOf finds the mapping key a value token belongs to: the token before
// the ':' before it, on the same line.
func keyOf(tk *token.Token) string {
	if tk.Type == token.MappingValueType {
		if tk.Prev != nil {
			return tk.Prev.Value
		}
		return ""
	}
	if tk.Prev != nil && tk.Prev.Type == token.MappingValueType && tk.Prev.Prev != nil {
		return tk.Prev.Prev.Value
	}
	if tk.Next != nil && tk.Next.Type == token.MappingValueType {
		return tk.Value
	}
	return ""
}

// fromRaw fills p from the decoded document, applying defaults and
// collecting every problem. Each section of the plan has its own reader
// step; all of them report into one list so a user sees every error at once.
func (p *Plan) fromRaw(r *rawPlan) fleet.InputErrors {
	pr := &planReader{p: p, r: r}
	pr.settings()
	pr.fleet()
	pr.afr()
	pr.deliveries()
	pr.demand()
	pr.p.EfficiencyGainPerYear = pr.positive("$.efficiency_gain_per_year", "", r.EfficiencyGainPerYear, 1)
	pr.levers()
	return pr.errs
}

// planReader carries the state of one fromRaw pass: the plan being filled,
// the raw document and the errors found so far.
type planReader struct {
	p    *Plan
	r    *rawPlan
	errs fleet.InputErrors
}

func (pr *planReader) bad(path, entry, format string, a ...any) {
	pr.errs = append(pr.errs, pr.p.errAt(path, entry, fmt.Sprintf(format, a...)))
}

// month parses s as YYYY-MM, or returns def when s is absent or wrong.
func (pr *planReader) month(path, entry string, s *string, def Month) Month {
	if s == nil {
		return def
	}
	m, err := ParseMonth(*s)
	if err != nil {
		pr.bad(path, entry, "%v", err)
		return def
	}
	return m
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// positive returns *v when it is a finite positive number, def when v is
// absent, and reports anything else.
func (pr *planReader) positive(path, entry string, v *float64, def float64) float64 {
	if v == nil {
		return def
	}
	if !(*v > 0) || !finite(*v) {
		pr.bad(path, entry, "must be a positive number, got %v", *v)
		return def
	}
	return *v
}

// count returns *v when it lies in [lo, hi], def when v is absent, and
// reports anything else.
func (pr *planReader) count(path, entry string, v *int, lo, hi, def int) int {
	if v == nil {
		return def
	}
	if *v < lo || *v > hi {
		pr.bad(path, entry, "must be between %d and %d, got %d", lo, hi, *v)
		return def
	}
	return *v
}

// end is the first month after the horizon.
func (pr *planReader) end() Month { return pr.p.Start + Month(pr.p.HorizonMonths) }

// settings reads the plan-wide scalars: start, horizon, precision,
// utilization, paths, seed and useful life.
func (pr *planReader) settings() {
	p, r := pr.p, pr.r
	if r.Start == nil {
		pr.bad("$.start", "", "required field is missing (the plan's month 0, YYYY-MM)")
	} else {
		p.Start = pr.month("$.start", "", r.Start, 0)
	}
	p.HorizonMonths = pr.count("$.horizon_months", "", r.HorizonMonths, 1, MaxHorizonMonths, DefaultHorizonMonths)
	p.Precision = DefaultPrecision
	if r.Precision != nil {
		prec := fleet.Precision(strings.ToLower(*r.Precision))
		if prec.Bits() == 0 {
			pr.bad("$.precision", "", "unknown precision %q (valid: fp8, fp16, bf16, tf32, fp32, int8, int4)", *r.Precision)
		} else {
			p.Precision = prec
		}
	}
	p.Utilization = DefaultUtilization
	if r.Utilization != nil {
		if !(*r.Utilization > 0 && *r.Utilization <= 1) {
			pr.bad("$.utilization", "", "must be in (0, 1], got %v", *r.Utilization)
		} else {
			p.Utilization = *r.Utilization
		}
	}
	p.Paths = pr.count("$.paths", "", r.Paths, 1, MaxPaths, DefaultPaths)
	p.Seed = DefaultSeed
	if r.Seed != nil {
		p.Seed = *r.Seed
	}
	p.UsefulLifeYears = pr.positive("$.useful_life_years", "", r.UsefulLifeYears, DefaultUsefulLifeYears)
	if p.UsefulLifeYears > 100 {
		pr.bad("$.useful_life_years", "", "must be at most 100 years, got %v", p.UsefulLifeYears)
		p.UsefulLifeYears = DefaultUsefulLifeYears
	}
}

// units checks a device count in [0, MaxUnits].
func (pr *planReader) units(path, entry string, v *int) int {
	if v == nil {
		return 0
	}
	if *v < 0 {
		pr.bad(path, entry, "must not be negative, got %d", *v)
		return 0
	}
	if *v > MaxUnits {
		pr.bad(path, entry, "must be at most %d, got %d", MaxUnits, *v)
		return 0
	}
	return *v
}

// entryName names list item i of kind for messages: "fleet[2] (H800)".
func entryName(kind string, i int, model string) string {
	entry := fmt.Sprintf("%s[%d]", kind, i)
	if model != "" {
		entry += " (" + model + ")"
	}
	return entry
}

// fleet reads the holdings in service and in reserve.
func (pr *planReader) fleet() {
	p := pr.p
	for i, h := range pr.r.Fleet {
		path := fmt.Sprintf("$.fleet[%d]", i)
		entry := entryName("fleet", i, h.Model)
		out := Holding{Model: h.Model}
		if h.Model == "" {
			pr.bad(path+".model", entry, "required field is missing (a catalog name, e.g. H800)")
		}
		out.InService = pr.units(path+".in_service", entry, h.InService)
		out.Reserve = pr.units(path+".reserve", entry, h.Reserve)
		if h.InService == nil && h.Reserve == nil {
			pr.bad(path+".in_service", entry, "required field is missing (give in_service, reserve or both)")
		}
		if h.Acquired != nil {
			m := pr.month(path+".acquired", entry, h.Acquired, p.Start)
			if pr.r.Start != nil && m > p.Start {
				pr.bad(path+".acquired", entry, "%s is after the plan's start %s (future units are deliveries)", m, p.Start)
			}
			out.Acquired = &m
		}
		if h.PFLOPSPerDevice != nil {
			v := pr.positive(path+".pflops_per_device", entry, h.PFLOPSPerDevice, 0)
			out.PFLOPSPerDevice = &v
		}
		p.Fleet = append(p.Fleet, out)
	}
}

// afr reads the annual failure rates: a default and per-model overrides.
func (pr *planReader) afr() {
	p := pr.p
	p.AFR.Default = DefaultAFR
	for _, it := range pr.r.AFR {
		k, ok := it.Key.(string)
		if !ok {
			k = fmt.Sprint(it.Key)
		}
		v, ok := toFloat(it.Value)
		if !ok || !(v >= 0 && v < 1) {
			pr.bad("$.afr."+k, "", "an annual failure rate must be a number in [0, 1), got %v", it.Value)
			continue
		}
		if k == "default" {
			p.AFR.Default = v
			continue
		}
		if p.AFR.ByModel == nil {
			p.AFR.ByModel = map[string]float64{}
		}
		p.AFR.ByModel[k] = v
	}
}

// deliveries reads the expected arrivals of new devices.
func (pr *planReader) deliveries() {
	p := pr.p
	for i, d := range pr.r.Deliveries {
		path := fmt.Sprintf("$.deliveries[%d]", i)
		entry := entryName("deliveries", i, d.Model)
		out := Delivery{Model: d.Model, From: p.Start}
		if d.Model == "" {
			pr.bad(path+".model", entry, "required field is missing (a catalog name, e.g. 910C)")
		}
		if d.UnitsPerQuarter == nil {
			pr.bad(path+".units_per_quarter", entry, "required field is missing")
		} else if !(*d.UnitsPerQuarter >= 0 && *d.UnitsPerQuarter <= MaxUnits) {
			pr.bad(path+".units_per_quarter", entry, "must be a number in [0, %d], got %v", MaxUnits, *d.UnitsPerQuarter)
		} else {
			out.UnitsPerQuarter = *d.UnitsPerQuarter
		}
		out.From = pr.month(path+".from", entry, d.From, p.Start)
		if d.Until != nil {
			u := pr.month(path+".until", entry, d.Until, pr.end()-1)
			if u < out.From {
				pr.bad(path+".until", entry, "%s is before from %s", u, out.From)
			}
			out.Until = &u
		}
		if d.CV != nil {
			if !(*d.CV >= 0 && *d.CV <= 10) {
				pr.bad(path+".cv", entry, "must be in [0, 10], got %v", *d.CV)
			} else {
				out.CV = *d.CV
			}
		}
		if d.PFLOPSPerDevice != nil {
			v := pr.positive(path+".pflops_per_device", entry, d.PFLOPSPerDevice, 0)
			out.PFLOPSPerDevice = &v
		}
		p.Deliveries = append(p.Deliveries, out)
	}
}

// inHorizon reports a run that starts before the plan or ends after it.
func (pr *planReader) inHorizon(path, entry string, start Month, months int) {
	if pr.r.Start == nil {
		return
	}
	end := pr.end()
	if start < pr.p.Start || start+Month(months) > end {
		pr.bad(path, entry, "runs %s to %s, outside the horizon %s to %s", start, start+Month(months)-1, pr.p.Start, end-1)
	}
}

// demand reads the inference load, the training runs and the generations.
func (pr *planReader) demand() {
	p, r := pr.p, pr.r
	p.Demand.Inference.GrowthPerYear = 1
	if r.Demand == nil {
		pr.bad("$.demand", "", "required field is missing (inference, training or generations)")
		return
	}
	if inf := r.Demand.Inference; inf != nil {
		if inf.PFLOPS != nil {
			if !(*inf.PFLOPS >= 0) || !finite(*inf.PFLOPS) {
				pr.bad("$.demand.inference.pflops", "", "must be a non-negative number, got %v", *inf.PFLOPS)
			} else {
				p.Demand.Inference.PFLOPS = *inf.PFLOPS
			}
		}
		p.Demand.Inference.GrowthPerYear = pr.positive("$.demand.inference.growth_per_year", "", inf.GrowthPerYear, 1)
	}
	names := map[string]bool{}
	for i, t := range r.Demand.Training {
		p.Demand.Training = append(p.Demand.Training, pr.trainingRun(i, t, names))
	}
	if g := r.Demand.Generations; g != nil {
		p.Demand.Generations = pr.generations(g, names)
	}
}

// trainingRun reads training run i; names holds the names seen so far.
func (pr *planReader) trainingRun(i int, t rawTraining, names map[string]bool) TrainingRun {
	path := fmt.Sprintf("$.demand.training[%d]", i)
	entry := fmt.Sprintf("training[%d]", i)
	if t.Name != "" {
		entry += " (" + t.Name + ")"
	}
	out := TrainingRun{Name: t.Name}
	if t.Name == "" {
		out.Name = fmt.Sprintf("run-%d", i+1)
	}
	if names[out.Name] {
		pr.bad(path+".name", entry, "duplicate training run name %q", out.Name)
	}
	names[out.Name] = true
	if t.Start == nil {
		pr.bad(path+".start", entry, "required field is missing (YYYY-MM)")
	} else {
		out.Start = pr.month(path+".start", entry, t.Start, pr.p.Start)
	}
	out.Months = 1
	if t.Months != nil {
		if *t.Months < 1 {
			pr.bad(path+".months", entry, "must be at least 1, got %d", *t.Months)
		} else {
			out.Months = *t.Months
		}
	}
	if t.FLOP == nil {
		pr.bad(path+".flop", entry, "required field is missing (total training FLOP, e.g. 4e25)")
	} else {
		out.FLOP = pr.positive(path+".flop", entry, t.FLOP, 0)
	}
	if t.Start != nil {
		pr.inHorizon(path+".start", entry, out.Start, out.Months)
	}
	return out
}

// generations reads the recurring model generations; their runs must lie in
// the horizon and must not reuse a training run's name.
func (pr *planReader) generations(g *rawGenerations, names map[string]bool) *Generations {
	const path, entry = "$.demand.generations", "generations"
	out := &Generations{First: g.First, Growth: 1, Months: 1, Count: 1}
	if out.First == "" {
		out.First = "gen-1"
	}
	if g.Start == nil {
		pr.bad(path+".start", entry, "required field is missing (YYYY-MM)")
	} else {
		out.Start = pr.month(path+".start", entry, g.Start, pr.p.Start)
	}
	if g.FLOP == nil {
		pr.bad(path+".flop", entry, "required field is missing (FLOP of the first generation)")
	} else {
		out.FLOP = pr.positive(path+".flop", entry, g.FLOP, 0)
	}
	out.Growth = pr.positive(path+".growth", entry, g.Growth, 1)
	out.CadenceMonths = pr.count(path+".cadence_months", entry, g.CadenceMonths, 1, 10000, 12)
	out.Months = pr.count(path+".months", entry, g.Months, 1, 10000, 1)
	out.Count = pr.count(path+".count", entry, g.Count, 1, 10000, 1)
	if g.Start == nil {
		return out
	}
	end := pr.end()
	for i, run := range (Demand{Generations: out}).Runs() {
		if run.Start < pr.p.Start || run.Start+Month(run.Months) > end {
			pr.inHorizon(path+".start", fmt.Sprintf("generations (%s, generation %d of %d)", run.Name, i+1, out.Count), run.Start, run.Months)
			break
		}
		if names[run.Name] {
			pr.bad(path+".first", entry, "generation %q has the name of a training run", run.Name)
		}
	}
	return out
}

// levers reads the sizes of the what-if levers.
func (pr *planReader) levers() {
	p := pr.p
	p.Levers = LeverSizes{
		ReserveIncrease:          DefaultReserveIncrease,
		EfficiencyFactor:         DefaultEfficiencyFactor,
		DomesticDeliveryIncrease: DefaultDomesticDeliveryIncrease,
		DomesticUnitsPerQuarter:  DefaultDomesticUnitsPerQuarter,
	}
	l := pr.r.Levers
	if l == nil {
		return
	}
	p.Levers.ReserveIncrease = pr.positive("$.levers.reserve_increase", "levers", l.ReserveIncrease, DefaultReserveIncrease)
	p.Levers.EfficiencyFactor = pr.positive("$.levers.efficiency_factor", "levers", l.EfficiencyFactor, DefaultEfficiencyFactor)
	p.Levers.DomesticDeliveryIncrease = pr.positive("$.levers.domestic_delivery_increase", "levers", l.DomesticDeliveryIncrease, DefaultDomesticDeliveryIncrease)
	p.Levers.DomesticUnitsPerQuarter = pr.positive("$.levers.domestic_units_per_quarter", "levers", l.DomesticUnitsPerQuarter, DefaultDomesticUnitsPerQuarter)
	p.Levers.DomesticModel = l.DomesticModel
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}
