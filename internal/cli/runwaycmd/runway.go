// Package runwaycmd implements `granary runway`: the Monte Carlo forecast of
// how long the stockpile lasts against demand, and which lever (reserve,
// software efficiency, domestic deliveries) buys the most months.
package runwaycmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	gplot "gonum.org/v1/plot"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/forecast"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/plot"
)

// runwayFlags are the flags of `granary runway`.
type runwayFlags struct {
	planFile, server, output, plotFile string
	afrFromLedger, lifeFromLedger      bool
	minYears                           float64
	paths                              int
	seed                               int64
}

// New builds `granary runway`.
func New(env *console.Env) *cobra.Command {
	var fl runwayFlags
	cmd := &cobra.Command{
		Use:   "runway --plan FILE",
		Short: "Forecast how long the stockpile lasts, with error bars, and rank the levers that extend it",
		Long: `Runs a seeded month-by-month Monte Carlo of supply (devices in service that
fail and retire, deliveries, boxed reserve entering service) against demand
(growing inference, training runs, model generations, divided by software
efficiency). Prints the runway — the first month demand exceeds supply — as
P10/P50/P90 over paths, training runs finished on time, supply and demand
bands, and the P50 months bought by each lever: reserve +10%, efficiency
gain ×1.1, domestic deliveries +50%. The plan format is in docs/runway.md.

With --server the fleet is read from a running control plane
(GET /api/v1/fleet/summary, token from $GRANARY_TOKEN); the plan must then
omit fleet.`,
		Example: `  granary runway --plan docs/examples/runway-plan.yaml
  granary runway --plan plan.yaml --paths 2000 --seed 7 -o json
  granary runway --plan plan.yaml --plot runway.svg
  GRANARY_TOKEN=gry_… granary runway --plan plan.yaml --server http://localhost:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fl.run(cmd, env)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.planFile, "plan", "", "plan file (YAML or JSON; see docs/runway.md)")
	f.IntVar(&fl.paths, "paths", 0, "Monte Carlo paths (overrides the plan's paths)")
	f.Int64Var(&fl.seed, "seed", 0, "random seed (overrides the plan's seed)")
	f.StringVar(&fl.server, "server", "", "read the fleet from this control plane (GET /api/v1/fleet/summary, token from $GRANARY_TOKEN)")
	f.StringVarP(&fl.output, "output", "o", "table", "output format: table, json or yaml")
	f.BoolVar(&fl.afrFromLedger, "afr-from-ledger", false, "with --server: per model, use the annual failure rate learned from the ledger (GET /api/v1/failures) unless the plan sets one")
	f.BoolVar(&fl.lifeFromLedger, "life-from-ledger", false, "with --server: count each device's useful life from its acquisition month, or the month the ledger first saw it (GET /api/v1/fleet/cohorts)")
	f.Float64Var(&fl.minYears, "afr-min-device-years", inventory.DefaultMinDeviceYears, "with --afr-from-ledger: device-years of history a model needs before its learned rate is used")
	f.StringVar(&fl.plotFile, "plot", "", "write the fan chart of supply vs demand and the levers as bars to FILE.svg or FILE.png")
	return cmd
}

// run checks the flags, reads the plan (and the live fleet with --server),
// runs the forecast and prints it.
func (fl *runwayFlags) run(cmd *cobra.Command, env *console.Env) error {
	format, opts, err := fl.check(cmd)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(fl.planFile)
	if err != nil {
		return console.UsageError{Err: err}
	}
	plan, err := forecast.ParsePlan(fl.planFile, data)
	if err != nil {
		return err
	}
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	if fl.server != "" {
		if err := fl.fromServer(cmd.Context(), env, &plan, cat); err != nil {
			return err
		}
	}
	if format == console.Table && env.Terminal(env.Stderr) {
		opts.Progress = progressBar(env.Stderr)
	}
	res, err := forecast.Run(cmd.Context(), plan, cat, opts)
	if err != nil {
		return err
	}
	if fl.plotFile != "" {
		if err := savePlot(fl.plotFile, res); err != nil {
			return err
		}
	}
	if format.Structured() {
		return console.Encode(env.Stdout, format, res)
	}
	return writeTable(env.Stdout, fl.planFile, res)
}

// check refuses flags that do not go together and turns the rest into the
// forecast's options.
func (fl *runwayFlags) check(cmd *cobra.Command) (console.Format, forecast.Options, error) {
	opts := forecast.Options{}
	format, err := console.ParseFormat(fl.output, console.Table, console.JSON, console.YAML)
	if err != nil {
		return format, opts, err
	}
	switch {
	case fl.planFile == "":
		return format, opts, console.Usagef("--plan FILE is required")
	case fl.lifeFromLedger && fl.server == "":
		return format, opts, console.Usagef("--life-from-ledger needs --server (the ledger is the server's)")
	case fl.afrFromLedger && fl.server == "":
		return format, opts, console.Usagef("--afr-from-ledger needs --server (the ledger is the server's)")
	}
	if fl.plotFile != "" {
		if _, err := plot.FormatOf(fl.plotFile); err != nil {
			return format, opts, console.UsageError{Err: err}
		}
	}
	if cmd.Flags().Changed("paths") {
		if fl.paths < 1 || fl.paths > forecast.MaxPaths {
			return format, opts, console.Usagef("--paths must be between 1 and %d", forecast.MaxPaths)
		}
		opts.Paths = fl.paths
	}
	if cmd.Flags().Changed("seed") {
		opts.Seed = &fl.seed
	}
	return format, opts, nil
}

// fromServer fills the plan's fleet (and, with --afr-from-ledger, its
// failure rates) from a running control plane.
func (fl *runwayFlags) fromServer(ctx context.Context, env *console.Env, plan *forecast.Plan, cat *accel.Catalog) error {
	if len(plan.Fleet) > 0 {
		return &fleet.InputError{Pos: fleet.Position{File: fl.planFile, Field: "fleet"}, Msg: "the plan lists a fleet and --server reads one: remove fleet from the plan or drop --server"}
	}
	token := env.Env("GRANARY_TOKEN")
	var err error
	if fl.lifeFromLedger {
		var note string
		plan.Fleet, note, err = LedgerCohorts(ctx, http.DefaultClient, fl.server, token)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stderr, "runway:", note)
	} else if plan.Fleet, err = LiveFleet(ctx, http.DefaultClient, fl.server, token); err != nil {
		return err
	}
	if fl.afrFromLedger {
		st, err := LedgerFailures(ctx, http.DefaultClient, fl.server, token)
		if err != nil {
			return err
		}
		for _, a := range inventory.ApplyLedgerAFR(plan, cat, st, fl.minYears) {
			fmt.Fprintf(env.Stderr, "runway: afr %s %.2f%% from the %s: %s\n", a.Model, 100*a.AFR, a.Source, a.Why)
		}
	}
	plan.Fleet = countable(env.Stderr, plan.Fleet, cat, plan.Precision)
	return nil
}

// countable leaves out, and names on w, the holdings of a live fleet the
// forecast cannot count (unknown chips, no dense rate at the precision).
func countable(w io.Writer, hs []forecast.Holding, cat *accel.Catalog, prec fleet.Precision) []forecast.Holding {
	kept := hs[:0]
	for _, h := range hs {
		c, err := cat.Resolve(h.Model)
		if err != nil {
			fmt.Fprintf(w, "runway: leaving out %d in service + %d reserve of %s: %v\n", h.InService, h.Reserve, h.Model, err)
			continue
		}
		if _, ok := c.Dense(prec); !ok {
			fmt.Fprintf(w, "runway: leaving out %d in service + %d reserve of %s: the catalog has no dense %s rate\n", h.InService, h.Reserve, c.Name, prec)
			continue
		}
		kept = append(kept, h)
	}
	return kept
}

// progressBar draws the forecast's progress on w.
func progressBar(w io.Writer) func(done, total int) {
	var bar *progressbar.ProgressBar
	return func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("simulating"),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
		}
		_ = bar.Set(done)
		if done == total {
			_ = bar.Finish()
		}
	}
}

// summary is the part of GET /api/v1/fleet/summary the runway reads.
type summary struct {
	Models []struct {
		Model   string         `json:"model"`
		ByState map[string]int `json:"by_state"`
	} `json:"models"`
}

// LiveFleet reads the fleet from a control plane: per model, devices
// in-service become in_service and devices in reserve become reserve
// (maintenance, failed and retired devices are not counted). Acquisition
// dates are not in the summary, so useful life counts from the plan's start.
func LiveFleet(ctx context.Context, client *http.Client, server, token string) ([]forecast.Holding, error) {
	var s summary
	u, err := getJSON(ctx, client, server, "/api/v1/fleet/summary", token, &s)
	if err != nil {
		return nil, err
	}
	var out []forecast.Holding
	for _, m := range s.Models {
		h := forecast.Holding{Model: m.Model, InService: m.ByState[string(fleet.InService)], Reserve: m.ByState[string(fleet.Reserve)]}
		if h.InService > 0 || h.Reserve > 0 {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: the live inventory has no devices in service or in reserve: %w", u, fleet.ErrInvalid)
	}
	return out, nil
}

// getJSON reads path from the control plane at server with the token
// into out and returns the URL it read.
func getJSON(ctx context.Context, client *http.Client, server, path, token string, out any) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, console.Usagef("--server %q: want a URL like http://localhost:8080", server)
	}
	u = u.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%s: %s (set GRANARY_TOKEN): %w", u, resp.Status, fleet.ErrUnauthorized)
	case resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s: %s: %w", u, resp.Status, fleet.ErrForbidden)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("%s: unreadable answer: %w", u, err)
	}
	return u, nil
}

func intOr(p *int, none string) string {
	if p == nil {
		return none
	}
	return fmt.Sprint(*p)
}

func strOr(p *string, none string) string {
	if p == nil {
		return none
	}
	return *p
}

func writeTable(w io.Writer, planFile string, r forecast.Result) error {
	end := fmt.Sprintf("beyond %d", r.HorizonMonths)
	fmt.Fprintf(w, "Runway for %s: %d paths, seed %d, %d months from %s\n\n", planFile, r.Paths, r.Seed, r.HorizonMonths, r.Start)
	rq, fq := r.RunwayMonths, r.FirstShortfall
	if err := console.WriteTable(w, [][]string{
		{"", "P10", "P50", "P90"},
		{"runway (months)", intOr(rq.P10, end), intOr(rq.P50, end), intOr(rq.P90, end)},
		{"first shortfall", strOr(fq.P10, "none"), strOr(fq.P50, "none"), strOr(fq.P90, "none")},
	}); err != nil {
		return err
	}
	se := "n/a (no P50 shortfall)"
	if r.RunwayP50StdError != nil {
		se = fmt.Sprintf("%.2f months", *r.RunwayP50StdError)
	}
	fmt.Fprintf(w, "Monte Carlo std error of the P50 runway: %s; no shortfall on %.1f%% of paths\n\n", se, 100*r.NoShortfallShare)

	if len(r.TrainingOnTime) > 0 {
		rows := [][]string{{"TRAINING RUN", "START", "MONTHS", "ON TIME"}}
		for _, t := range r.TrainingOnTime {
			rows = append(rows, []string{t.Name, t.Start, fmt.Sprint(t.Months), fmt.Sprintf("%.1f%%", 100*t.Share)})
		}
		if err := console.WriteTable(w, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(r.Levers) > 0 {
		rows := [][]string{{"RANK", "LEVER", "WHAT", "P50 RUNWAY", "GAIN (MONTHS)"}}
		byRank := make([]forecast.Lever, len(r.Levers))
		for _, l := range r.Levers {
			byRank[l.Rank-1] = l
		}
		for _, l := range byRank {
			gain := "n/a"
			if l.GainMonths != nil {
				gain = fmt.Sprintf("%+d", *l.GainMonths)
				if l.AtLeast {
					gain = "≥ " + gain
				}
			}
			rows = append(rows, []string{fmt.Sprint(l.Rank), l.Name, l.Description, intOr(l.RunwayMonthsP50, end), gain})
		}
		if err := console.WriteTable(w, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Effective PFLOP/s, every 6 months:")
	rows := [][]string{{"MONTH", "SUPPLY P10", "SUPPLY P50", "SUPPLY P90", "DEMAND"}}
	for i, s := range r.Series {
		if i%6 != 0 && i != len(r.Series)-1 {
			continue
		}
		rows = append(rows, []string{s.Month, num(s.Supply.P10), num(s.Supply.P50), num(s.Supply.P90), num(s.Demand.P50)})
	}
	return console.WriteTable(w, rows)
}

func num(v float64) string { return fmt.Sprintf("%.1f", v) }

func savePlot(file string, r forecast.Result) error {
	charts, err := runwayCharts(r)
	if err != nil {
		return err
	}
	if err := plot.Save(file, plot.Width, plot.Height, charts...); err != nil {
		return errors.Join(fmt.Errorf("writing %s", file), err)
	}
	return nil
}

// runwayCharts are a forecast's fan chart and lever ranking, drawn by
// plot.Runway (as the dashboard's /runway draws them).
func runwayCharts(r forecast.Result) ([]*gplot.Plot, error) {
	n := len(r.Series)
	lo, mid, hi, d := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, s := range r.Series {
		lo[i], mid[i], hi[i], d[i] = s.Supply.P10, s.Supply.P50, s.Supply.P90, s.Demand.P50
	}
	start, err := forecast.ParseMonth(r.Start)
	if err != nil {
		return nil, err
	}
	title := "Supply vs demand"
	if p := r.FirstShortfall.P50; p != nil {
		title += fmt.Sprintf(" — P50 first shortfall %s (P10 %s, P90 %s)", *p, strOr(r.FirstShortfall.P10, "none"), strOr(r.FirstShortfall.P90, "none"))
	}
	levers := make([]plot.LeverGain, len(r.Levers))
	for i, l := range r.Levers {
		levers[i] = plot.LeverGain{Name: l.Name, Months: l.GainMonths, AtLeast: l.AtLeast}
	}
	return plot.Runway(title, start.Year(), start.Mon(), lo, mid, hi, d, levers)
}
