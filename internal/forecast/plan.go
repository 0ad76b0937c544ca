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
// collecting every problem.
func (p *Plan) fromRaw(r *rawPlan) fleet.InputErrors {
	var errs fleet.InputErrors
	bad := func(path, entry, format string, a ...any) {
		errs = append(errs, p.errAt(path, entry, fmt.Sprintf(format, a...)))
	}
	month := func(path, entry string, s *string, def Month) Month {
		if s == nil {
			return def
		}
		m, err := ParseMonth(*s)
		if err != nil {
			bad(path, entry, "%v", err)
			return def
		}
		return m
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	positive := func(path, entry string, v *float64, def float64) float64 {
		if v == nil {
			return def
		}
		if !(*v > 0) || !finite(*v) {
			bad(path, entry, "must be a positive number, got %v", *v)
			return def
		}
		return *v
	}

	if r.Start == nil {
		bad("$.start", "", "required field is missing (the plan's month 0, YYYY-MM)")
	} else {
		p.Start = month("$.start", "", r.Start, 0)
	}
	p.HorizonMonths = DefaultHorizonMonths
	if r.HorizonMonths != nil {
		if *r.HorizonMonths < 1 || *r.HorizonMonths > MaxHorizonMonths {
			bad("$.horizon_months", "", "must be between 1 and %d, got %d", MaxHorizonMonths, *r.HorizonMonths)
		} else {
			p.HorizonMonths = *r.HorizonMonths
		}
	}
	end := p.Start + Month(p.HorizonMonths) // first month after the horizon
	p.Precision = DefaultPrecision
	if r.Precision != nil {
		pr := fleet.Precision(strings.ToLower(*r.Precision))
		if pr.Bits() == 0 {
			bad("$.precision", "", "unknown precision %q (valid: fp8, fp16, bf16, tf32, fp32, int8, int4)", *r.Precision)
		} else {
			p.Precision = pr
		}
	}
	p.Utilization = DefaultUtilization
	if r.Utilization != nil {
		if !(*r.Utilization > 0 && *r.Utilization <= 1) {
			bad("$.utilization", "", "must be in (0, 1], got %v", *r.Utilization)
		} else {
			p.Utilization = *r.Utilization
		}
	}
	p.Paths = DefaultPaths
	if r.Paths != nil {
		if *r.Paths < 1 || *r.Paths > MaxPaths {
			bad("$.paths", "", "must be between 1 and %d, got %d", MaxPaths, *r.Paths)
		} else {
			p.Paths = *r.Paths
		}
	}
	p.Seed = DefaultSeed
	if r.Seed != nil {
		p.Seed = *r.Seed
	}
	p.UsefulLifeYears = positive("$.useful_life_years", "", r.UsefulLifeYears, DefaultUsefulLifeYears)
	if p.UsefulLifeYears > 100 {
		bad("$.useful_life_years", "", "must be at most 100 years, got %v", p.UsefulLifeYears)
		p.UsefulLifeYears = DefaultUsefulLifeYears
	}

	for i, h := range r.Fleet {
		path := fmt.Sprintf("$.fleet[%d]", i)
		entry := fmt.Sprintf("fleet[%d]", i)
		if h.Model != "" {
			entry += " (" + h.Model + ")"
		}
		out := Holding{Model: h.Model}
		if h.Model == "" {
			bad(path+".model", entry, "required field is missing (a catalog name, e.g. H800)")
		}
		if h.InService != nil {
			if *h.InService < 0 {
				bad(path+".in_service", entry, "must not be negative, got %d", *h.InService)
			} else if *h.InService > MaxUnits {
				bad(path+".in_service", entry, "must be at most %d, got %d", MaxUnits, *h.InService)
			} else {
				out.InService = *h.InService
			}
		}
		if h.Reserve != nil {
			if *h.Reserve < 0 {
				bad(path+".reserve", entry, "must not be negative, got %d", *h.Reserve)
			} else if *h.Reserve > MaxUnits {
				bad(path+".reserve", entry, "must be at most %d, got %d", MaxUnits, *h.Reserve)
			} else {
				out.Reserve = *h.Reserve
			}
		}
		if h.InService == nil && h.Reserve == nil {
			bad(path+".in_service", entry, "required field is missing (give in_service, reserve or both)")
		}
		if h.Acquired != nil {
			m := month(path+".acquired", entry, h.Acquired, p.Start)
			if r.Start != nil && m > p.Start {
				bad(path+".acquired", entry, "%s is after the plan's start %s (future units are deliveries)", m, p.Start)
			}
			out.Acquired = &m
		}
		if h.PFLOPSPerDevice != nil {
			v := positive(path+".pflops_per_device", entry, h.PFLOPSPerDevice, 0)
			out.PFLOPSPerDevice = &v
		}
		p.Fleet = append(p.Fleet, out)
	}

	p.AFR.Default = DefaultAFR
	for _, it := range r.AFR {
		k, ok := it.Key.(string)
		if !ok {
			k = fmt.Sprint(it.Key)
		}
		path := "$.afr." + k
		v, ok := toFloat(it.Value)
		if !ok || !(v >= 0 && v < 1) {
			bad(path, "", "an annual failure rate must be a number in [0, 1), got %v", it.Value)
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

	for i, d := range r.Deliveries {
		path := fmt.Sprintf("$.deliveries[%d]", i)
		entry := fmt.Sprintf("deliveries[%d]", i)
		if d.Model != "" {
			entry += " (" + d.Model + ")"
		}
		out := Delivery{Model: d.Model, From: p.Start}
		if d.Model == "" {
			bad(path+".model", entry, "required field is missing (a catalog name, e.g. 910C)")
		}
		if d.UnitsPerQuarter == nil {
			bad(path+".units_per_quarter", entry, "required field is missing")
		} else if !(*d.UnitsPerQuarter >= 0 && *d.UnitsPerQuarter <= MaxUnits) {
			bad(path+".units_per_quarter", entry, "must be a number in [0, %d], got %v", MaxUnits, *d.UnitsPerQuarter)
		} else {
			out.UnitsPerQuarter = *d.UnitsPerQuarter
		}
		out.From = month(path+".from", entry, d.From, p.Start)
		if d.Until != nil {
			u := month(path+".until", entry, d.Until, end-1)
			if u < out.From {
				bad(path+".until", entry, "%s is before from %s", u, out.From)
			}
			out.Until = &u
		}
		if d.CV != nil {
			if !(*d.CV >= 0 && *d.CV <= 10) {
				bad(path+".cv", entry, "must be in [0, 10], got %v", *d.CV)
			} else {
				out.CV = *d.CV
			}
		}
		if d.PFLOPSPerDevice != nil {
			v := positive(path+".pflops_per_device", entry, d.PFLOPSPerDevice, 0)
			out.PFLOPSPerDevice = &v
		}
		p.Deliveries = append(p.Deliveries, out)
	}

	p.Demand.Inference.GrowthPerYear = 1
	inHorizon := func(path, entry string, start Month, months int) {
		if r.Start == nil {
			return
		}
		if start < p.Start || start+Month(months) > end {
			bad(path, entry, "runs %s to %s, outside the horizon %s to %s", start, start+Month(months)-1, p.Start, end-1)
		}
	}
	if r.Demand == nil {
		bad("$.demand", "", "required field is missing (inference, training or generations)")
	} else {
		if inf := r.Demand.Inference; inf != nil {
			if inf.PFLOPS != nil {
				if !(*inf.PFLOPS >= 0) || !finite(*inf.PFLOPS) {
					bad("$.demand.inference.pflops", "", "must be a non-negative number, got %v", *inf.PFLOPS)
				} else {
					p.Demand.Inference.PFLOPS = *inf.PFLOPS
				}
			}
			p.Demand.Inference.GrowthPerYear = positive("$.demand.inference.growth_per_year", "", inf.GrowthPerYear, 1)
		}
		names := map[string]bool{}
		for i, t := range r.Demand.Training {
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
				bad(path+".name", entry, "duplicate training run name %q", out.Name)
			}
			names[out.Name] = true
			if t.Start == nil {
				bad(path+".start", entry, "required field is missing (YYYY-MM)")
			} else {
				out.Start = month(path+".start", entry, t.Start, p.Start)
			}
			out.Months = 1
			if t.Months != nil {
				if *t.Months < 1 {
					bad(path+".months", entry, "must be at least 1, got %d", *t.Months)
				} else {
					out.Months = *t.Months
				}
			}
			if t.FLOP == nil {
				bad(path+".flop", entry, "required field is missing (total training FLOP, e.g. 4e25)")
			} else {
				out.FLOP = positive(path+".flop", entry, t.FLOP, 0)
			}
			if t.Start != nil {
				inHorizon(path+".start", entry, out.Start, out.Months)
			}
			p.Demand.Training = append(p.Demand.Training, out)
		}
		if g := r.Demand.Generations; g != nil {
			const path = "$.demand.generations"
			out := &Generations{First: g.First, Growth: 1, Months: 1, Count: 1}
			if out.First == "" {
				out.First = "gen-1"
			}
			if g.Start == nil {
				bad(path+".start", "generations", "required field is missing (YYYY-MM)")
			} else {
				out.Start = month(path+".start", "generations", g.Start, p.Start)
			}
			if g.FLOP == nil {
				bad(path+".flop", "generations", "required field is missing (FLOP of the first generation)")
			} else {
				out.FLOP = positive(path+".flop", "generations", g.FLOP, 0)
			}
			out.Growth = positive(path+".growth", "generations", g.Growth, 1)
			ints := []struct {
				name string
				v    *int
				dst  *int
				min  int
			}{
				{"cadence_months", g.CadenceMonths, &out.CadenceMonths, 1},
				{"months", g.Months, &out.Months, 1},
				{"count", g.Count, &out.Count, 1},
			}
			for _, f := range ints {
				if f.v == nil {
					if f.name == "cadence_months" {
						out.CadenceMonths = 12
					}
					continue
				}
				if *f.v < f.min || *f.v > 10000 {
					bad(path+"."+f.name, "generations", "must be between %d and 10000, got %d", f.min, *f.v)
					continue
				}
				*f.dst = *f.v
			}
			if g.Start != nil {
				for i, run := range (Demand{Generations: out}).Runs() {
					if run.Start < p.Start || run.Start+Month(run.Months) > end {
						inHorizon(path+".start", fmt.Sprintf("generations (%s, generation %d of %d)", run.Name, i+1, out.Count), run.Start, run.Months)
						break
					}
					if names[run.Name] {
						bad(path+".first", "generations", "generation %q has the name of a training run", run.Name)
					}
				}
			}
			p.Demand.Generations = out
		}
	}
	p.EfficiencyGainPerYear = positive("$.efficiency_gain_per_year", "", r.EfficiencyGainPerYear, 1)

	p.Levers = LeverSizes{
		ReserveIncrease:          DefaultReserveIncrease,
		EfficiencyFactor:         DefaultEfficiencyFactor,
		DomesticDeliveryIncrease: DefaultDomesticDeliveryIncrease,
		DomesticUnitsPerQuarter:  DefaultDomesticUnitsPerQuarter,
	}
	if l := r.Levers; l != nil {
		p.Levers.ReserveIncrease = positive("$.levers.reserve_increase", "levers", l.ReserveIncrease, DefaultReserveIncrease)
		p.Levers.EfficiencyFactor = positive("$.levers.efficiency_factor", "levers", l.EfficiencyFactor, DefaultEfficiencyFactor)
		p.Levers.DomesticDeliveryIncrease = positive("$.levers.domestic_delivery_increase", "levers", l.DomesticDeliveryIncrease, DefaultDomesticDeliveryIncrease)
		p.Levers.DomesticUnitsPerQuarter = positive("$.levers.domestic_units_per_quarter", "levers", l.DomesticUnitsPerQuarter, DefaultDomesticUnitsPerQuarter)
		p.Levers.DomesticModel = l.DomesticModel
	}
	return errs
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
