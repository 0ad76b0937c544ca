// Package jobscmd is the CLI client of live scheduling: `granary jobs
// submit|list|describe|cancel` and `granary teams list|set|delete`. They
// talk to a running `granary serve` over HTTP (--server, default
// http://127.0.0.1:8080) with a bearer token from GRANARY_TOKEN or the
// config file ~/.config/granary/config.yaml, like `granary inventory`.
package jobscmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

// conn is the shared server connection plus the -o flag of these commands.
type conn struct {
	remote.Conn
	output string
}

func (c *conn) flags(cmd *cobra.Command) {
	c.Flags(cmd)
	cmd.PersistentFlags().StringVarP(&c.output, "output", "o", "table", "output format: table, json, yaml (list: also csv)")
}

func (c *conn) format(allowed ...console.Format) (console.Format, error) {
	if len(allowed) == 0 {
		allowed = []console.Format{console.Table, console.JSON, console.YAML}
	}
	return console.ParseFormat(c.output, allowed...)
}

// New builds `granary jobs`.
func New(env *console.Env) *cobra.Command {
	c := &conn{Conn: remote.Conn{Env: env}}
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Submit, list, explain and cancel jobs on a running granary serve",
	}
	c.flags(cmd)
	cmd.AddCommand(submitCmd(c), listCmd(c), describeCmd(c), cancelCmd(c))
	return cmd
}

func submitCmd(c *conn) *cobra.Command {
	var (
		nj                 api.NewJob
		allowed, forbidden []string
	)
	cmd := &cobra.Command{
		Use:   "submit [FILE]",
		Short: "Submit a job from a YAML/JSON file (one job or a list) or from flags",
		Example: `  granary jobs submit --name pretrain-7b --team llm --class llm-7b-pretrain --gang 8 --steps 200000
  granary jobs submit --name ft-8b --team llm --model Llama-3-8B --precision bf16 --gang 8 --steps 500
  granary jobs submit --name pretrain-70b --team llm --model Llama-3-70B --gang 64 --steps 20000
  granary jobs submit --name notebook --team dev --class llm-7b --device-milli 250 --device-memory-mib 20480 --steps 100   # a quarter of one device
  granary jobs submit job.yaml -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := c.format()
			if err != nil {
				return err
			}
			var specs []api.NewJob
			if len(args) == 1 {
				if specs, err = readJobs(args[0]); err != nil {
					return err
				}
			} else {
				nj.Allowed, nj.Forbidden = allowed, forbidden
				if nj.Name == "" || nj.Team == "" || (nj.Class == "" && nj.Model == "") {
					return console.Usagef("give a FILE, or at least --name, --team and --class (or --model)")
				}
				specs = []api.NewJob{nj}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var out []api.Job
			if len(specs) == 1 {
				j, err := cl.SubmitJob(cmd.Context(), specs[0])
				if err != nil {
					return fmt.Errorf("job %q: %w", specs[0].Name, err)
				}
				out = append(out, j)
			} else if out, err = cl.SubmitJobs(cmd.Context(), specs); err != nil {
				// All or none: the server created no job.
				return fmt.Errorf("%s: no job submitted: %w", args[0], err)
			}
			return writeJobs(c.Env, f, out, len(args) == 1)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&nj.Name, "name", "", "job name")
	fl.StringVar(&nj.Team, "team", "", "team")
	fl.StringVar(&nj.Class, "class", "", "workload class (a class of the server's throughput table)")
	fl.StringVar(&nj.Model, "model", "", "instead of --class: a model the fit advisor knows (e.g. Llama-3-8B); the server derives its class and throughputs")
	fl.StringVar(&nj.Precision, "precision", "", "with --model: bf16 (default), fp8, int8, int4, …")
	fl.StringVar(&nj.Workload, "workload", "", "with --model: train (default) or serve")
	fl.IntVar(&nj.Gang, "gang", 1, "devices needed at once, of one model: on one node, or on whole nodes of one site when larger than any node")
	fl.BoolVar(&nj.SpanSites, "span-sites", false, "let a gang larger than a node span sites")
	fl.Int64Var(&nj.DeviceMilli, "device-milli", 0, "a share of one device in thousandths, 1–999 (250 = a quarter), with --gang 1; several such jobs share a device (0: whole devices)")
	fl.Int64Var(&nj.DeviceMemoryMiB, "device-memory-mib", 0, "with --device-milli: device memory the job needs, MiB")
	fl.Int64Var(&nj.CPUMilli, "cpu-milli", 0, "CPU the job needs on its node, milli-cores")
	fl.Int64Var(&nj.MemoryMiB, "memory-mib", 0, "memory the job needs on its node, MiB")
	weight := fl.Float64("weight", jobs.DefaultWeight, fmt.Sprintf("priority weight inside the team, greater than 0 and at most %g", jobs.MaxWeight))
	fl.StringSliceVar(&allowed, "allow", nil, "only these accelerator models")
	fl.StringSliceVar(&forbidden, "forbid", nil, "never these accelerator models")
	fl.Float64Var(&nj.TotalSteps, "steps", 0, "amount of work in training steps")
	fl.DurationVar(new(time.Duration), "duration", 0, "estimated run time on --reference (e.g. 6h)")
	fl.StringVar(&nj.ReferenceModel, "reference", "", "model the --duration was estimated on")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if d, err := cmd.Flags().GetDuration("duration"); err == nil && d > 0 {
			nj.DurationSeconds = d.Seconds()
		}
		if cmd.Flags().Changed("weight") {
			nj.Weight = weight // as typed: the server refuses 0 naming the field
		}
		return nil
	}
	return cmd
}

// readJobs reads one job or a list of jobs (YAML or JSON), rejecting
// unknown fields with their line.
func readJobs(path string) ([]api.NewJob, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: err.Error()}
	}
	return ParseJobs(data, path)
}

// ParseJobs parses a job file's contents (one job or a list, YAML or JSON);
// errors name the file and line. It never panics.
func ParseJobs(data []byte, path string) (out []api.NewJob, err error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '[' || trimmed[0] == '-') {
		err = decode.YAML(path, data, &out, decode.Default)
	} else {
		var one api.NewJob
		err = decode.YAML(path, data, &one, decode.Default)
		out = []api.NewJob{one}
	}
	var ie *fleet.InputError
	if errors.As(err, &ie) {
		return nil, err
	}
	if err != nil {
		return nil, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: yaml.FormatError(err, false, true)}
	}
	if len(out) == 0 {
		return nil, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: "no job in the file"}
	}
	return out, nil
}

func listCmd(c *conn) *cobra.Command {
	var (
		o        client.JobListOptions
		watch    bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first, with state, placement, progress and why",
		Long: "Lists one page of jobs, newest first (--limit, default 100, at most 1000). Without --state, jobs that finished " +
			"more than a day ago are left out (--state all lists them). When more jobs follow, the cursor of the next page " +
			"is printed on stderr: pass it as --cursor.",
		Example: `  granary jobs list --state active
  granary jobs list --limit 20 --cursor am9iczpqb2ItODE   # the next page, as printed on stderr
  granary jobs list --team vision --watch      # refresh every 2s until interrupted`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := c.format(console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			if watch && interval < 100*time.Millisecond {
				return console.Usagef("--interval %v: want at least 100ms", interval)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			for n := 0; ; n++ {
				js, err := cl.Jobs(ctx, o)
				if err != nil {
					if watch && ctx.Err() != nil {
						return nil // interrupted mid-request
					}
					return err
				}
				if watch {
					watchSeparator(c.Env, f, n)
				}
				if err := writeJobs(c.Env, f, js.Jobs, true); err != nil {
					return err
				}
				if !watch {
					if js.Next != "" {
						fmt.Fprintf(c.Env.Stderr, "more jobs: granary jobs list --cursor %s\n", js.Next)
					}
					return nil
				}
				select {
				case <-ctx.Done():
					return nil // --watch ends on SIGINT/SIGTERM, exit 0
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().StringVar(&o.Team, "team", "", "only this team's jobs")
	cmd.Flags().BoolVar(&o.Shared, "shared", false, "only jobs that ask for a share of a device (--device-milli)")
	cmd.Flags().StringVar(&o.State, "state", "", "only jobs in this state (pending, running, preempted, completed, failed, cancelled, active, all)")
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "jobs per page (default 100, at most 1000)")
	cmd.Flags().StringVar(&o.Cursor, "cursor", "", "the next page's cursor, as printed by the previous listing")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "list again every --interval until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between listings with --watch")
	return cmd
}

// watchSeparator goes before listing n of --watch: on a terminal the table
// replaces the previous one; otherwise listings follow each other, YAML as
// documents of one stream, tables and CSV after a blank line.
func watchSeparator(env *console.Env, f console.Format, n int) {
	switch {
	case f == console.Table && env.Terminal(env.Stdout):
		fmt.Fprint(env.Stdout, "\x1b[H\x1b[2J")
	case f == console.YAML:
		fmt.Fprintln(env.Stdout, "---")
	case n > 0 && f != console.JSON:
		fmt.Fprintln(env.Stdout)
	}
}

func writeJobs(env *console.Env, f console.Format, js []api.Job, list bool) error {
	switch f {
	case console.JSON:
		if !list && len(js) == 1 {
			return console.WriteJSON(env.Stdout, js[0])
		}
		if js == nil {
			js = []api.Job{}
		}
		return console.WriteJSON(env.Stdout, js)
	case console.YAML:
		if !list && len(js) == 1 {
			return console.WriteYAML(env.Stdout, js[0])
		}
		return console.WriteYAML(env.Stdout, js)
	}
	rows := [][]string{{"ID", "NAME", "TEAM", "STATE", "CLASS", "GANG", "MODEL", "PROGRESS", "WHY"}}
	for _, j := range js {
		model := "-"
		if j.Placement != nil {
			model = j.Placement.Model
		}
		prog := "-"
		if j.TotalSteps > 0 {
			prog = fmt.Sprintf("%.1f%%", 100*j.StepsDone/j.TotalSteps)
		}
		rows = append(rows, []string{j.ID, j.Name, j.Team, string(j.State), j.Class, gangText(&j.Spec), model, prog, string(j.Why.Code)})
	}
	if f == console.CSV {
		return console.WriteCSV(env.Stdout, rows)
	}
	return console.WriteTable(env.Stdout, rows)
}

// gangText is the GANG column: the gang, or a share of one device as a
// fraction ("0.25").
func gangText(sp *jobs.Spec) string {
	if sp.Shared() {
		return strconv.FormatFloat(float64(sp.DeviceMilli)/1000, 'f', -1, 64)
	}
	return strconv.Itoa(sp.Gang)
}

func describeCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use:   "describe ID",
		Short: "Show a job: where and why it runs, or why it waits, and its history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := c.format()
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			j, err := cl.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return describe(c.Env, f, j)
		},
	}
}

func describe(env *console.Env, f console.Format, j api.Job) error {
	switch f {
	case console.JSON, console.YAML:
		return console.Encode(env.Stdout, f, j)
	}
	w := env.Stdout
	fmt.Fprintf(w, "ID:          %s\nName:        %s\nTeam:        %s\nClass:       %s × %d\nState:       %s\n", j.ID, j.Name, j.Team, j.Class, j.Gang, j.State)
	if j.Model != "" {
		fmt.Fprintf(w, "Workload:    %s %s %s (throughputs from the fit advisor)\n", j.Model, j.Precision, j.Workload)
	}
	if j.Shared() {
		mem := ""
		if j.DeviceMemoryMiB > 0 {
			mem = fmt.Sprintf(", %d MiB of its memory", j.DeviceMemoryMiB)
		}
		fmt.Fprintf(w, "Share:       %s (%d milli%s)\n", j.ShareText(), j.DeviceMilli, mem)
	}
	if j.CPUMilli > 0 || j.MemoryMiB > 0 {
		fmt.Fprintf(w, "Node needs:  %d milli-cores, %d MiB memory\n", j.CPUMilli, j.MemoryMiB)
	}
	fmt.Fprintf(w, "Why:         %s — %s\n", j.Why.Code, j.Why.Message)
	if j.Placement != nil {
		what := fmt.Sprintf("%d ×", len(j.Placement.Devices))
		if j.Placement.Milli > 0 {
			what = fmt.Sprintf("%d milli of 1 ×", j.Placement.Milli)
		}
		fmt.Fprintf(w, "Placement:   %s %s on %s since %s (%s steps/s)\n", what, j.Placement.Model, strings.Join(j.Placement.Nodes, ", "),
			j.Placement.Since.UTC().Format(time.RFC3339), console.Num(round3(j.Placement.StepsPerSecond)))
		fmt.Fprintf(w, "Devices:     %s\n", strings.Join(j.Placement.Devices, ", "))
		if j.Placement.With != "" {
			fmt.Fprintf(w, "Shares:      %s with job %s (space sharing: both run on them, each at its pair throughput)\n", strings.Join(j.Placement.Devices, ", "), j.Placement.With)
		}
	}
	fmt.Fprintf(w, "Progress:    %s / %s steps (checkpoint at %s), %d restarts\n", console.Num(round3(j.StepsDone)), console.Num(round3(j.TotalSteps)), console.Num(round3(j.CheckpointSteps)), j.Restarts)
	fmt.Fprintf(w, "Attained:    %s running\n", (time.Duration(j.AttainedSeconds) * time.Second).String())
	if len(j.Allowed) > 0 {
		fmt.Fprintf(w, "Allowed:     %s\n", strings.Join(j.Allowed, ", "))
	}
	if len(j.Forbidden) > 0 {
		fmt.Fprintf(w, "Forbidden:   %s\n", strings.Join(j.Forbidden, ", "))
	}
	fmt.Fprintf(w, "Submitted:   %s\n", j.SubmittedAt.UTC().Format(time.RFC3339))
	if !j.FinishedAt.IsZero() {
		fmt.Fprintf(w, "Finished:    %s\n", j.FinishedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w, "History:")
	rows := [][]string{}
	for _, e := range j.History {
		rows = append(rows, []string{"  " + e.At.UTC().Format(time.RFC3339), e.Kind, e.Message})
	}
	return console.WriteTable(w, rows)
}

func round3(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 3, 64), 64)
	return v
}

func cancelCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a pending, running or preempted job (a finished one is a conflict)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := c.format()
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			j, err := cl.CancelJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeJobs(c.Env, f, []api.Job{j}, false)
		},
	}
}

// NewTeams builds `granary teams`.
func NewTeams(env *console.Env) *cobra.Command {
	c := &conn{Conn: remote.Conn{Env: env}}
	cmd := &cobra.Command{Use: "teams", Short: "Teams: weights, per-model guarantees, and share vs guarantee now"}
	c.flags(cmd)
	list := &cobra.Command{
		Use: "list", Short: "List teams with devices in use, borrowed and lent per model", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := c.format(console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ts, err := cl.Teams(cmd.Context())
			if err != nil {
				return err
			}
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(c.Env.Stdout, f, ts)
			}
			rows := [][]string{{"TEAM", "WEIGHT", "RUNNING", "WAITING", "USE", "GUARANTEED", "BORROWED", "LENT"}}
			for _, t := range ts {
				rows = append(rows, []string{t.Name, console.Num(t.Weight), strconv.Itoa(t.Running), strconv.Itoa(t.Waiting),
					perModel(t.Use), perModel(t.Guarantees), perModel(t.Borrowed), perModel(t.Lent)})
			}
			if f == console.CSV {
				return console.WriteCSV(c.Env.Stdout, rows)
			}
			return console.WriteTable(c.Env.Stdout, rows)
		},
	}
	var (
		weight float64
		guar   []string
	)
	set := &cobra.Command{
		Use: "set NAME", Short: "Create or replace a team", Args: cobra.ExactArgs(1),
		Example: "  granary teams set llm --weight 2 --guarantee H800=512 --guarantee 910B3=1024",
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := c.format()
			if err != nil {
				return err
			}
			tc := api.TeamConfig{Weight: &weight} // as typed: the server refuses 0 naming the field
			for _, g := range guar {
				m, n, ok := strings.Cut(g, "=")
				v, err := strconv.Atoi(n)
				if !ok || err != nil || m == "" {
					return console.Usagef("--guarantee %q: want MODEL=DEVICES, e.g. H800=512", g)
				}
				if tc.Guarantees == nil {
					tc.Guarantees = map[string]int{}
				}
				tc.Guarantees[m] += v
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			t, err := cl.PutTeam(cmd.Context(), args[0], tc)
			if err != nil {
				return err
			}
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(c.Env.Stdout, f, t)
			}
			fmt.Fprintf(c.Env.Stdout, "team %s: weight %s, guarantees %s\n", t.Name, console.Num(t.Weight), perModel(t.Guarantees))
			return nil
		},
	}
	set.Flags().Float64Var(&weight, "weight", jobs.DefaultWeight, fmt.Sprintf("share of the fleet relative to other teams, greater than 0 and at most %g", jobs.MaxWeight))
	set.Flags().StringArrayVar(&guar, "guarantee", nil, "MODEL=DEVICES guaranteed (repeatable)")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a team record (its jobs stay, with weight 1)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			if err := cl.DeleteTeam(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.Env.Stdout, "team %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, set, del)
	return cmd
}

func perModel(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}
