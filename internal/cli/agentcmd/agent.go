// Package agentcmd is `granary agent`: the per-host process that runs the
// vendors' own tools (nvidia-smi, npu-smi, cnmon, hy-smi, dmesg) found on
// PATH, reads their output with internal/hwprobe, and reports the host's
// accelerators to the control plane with an agent token scoped to this
// node. It is the only place Granary starts those tools.
package agentcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/hwprobe"
	"github.com/granaryhq/granary/internal/inventory"
)

// Config is what one agent runs with.
type Config struct {
	Node        string        // hostname reported; the token must be scoped to it
	Site        string        // site for nodes and devices first seen
	Interval    time.Duration // between reports when not Once
	Once        bool          // report one time and exit
	DryRun      bool          // discover and print the report, send nothing
	ToolTimeout time.Duration // per vendor tool run
}

// Validate checks the config.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Node) == "" {
		return console.Usagef("--node: no hostname (and os.Hostname gave none)")
	}
	if !c.Once && !c.DryRun && c.Interval < time.Second {
		return console.Usagef("--interval %v: want at least 1s", c.Interval)
	}
	if c.ToolTimeout <= 0 {
		return console.Usagef("--tool-timeout %v: want a positive duration", c.ToolTimeout)
	}
	return nil
}

// New builds `granary agent`.
func New(env *console.Env) *cobra.Command {
	conn := &remote.Conn{Env: env}
	host, _ := os.Hostname()
	cfg := Config{Node: host, Interval: 30 * time.Second, ToolTimeout: 30 * time.Second}
	var out string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Report this host's accelerators and their health to the control plane",
		Long: `Runs the vendors' own tools found on PATH — nvidia-smi -q -x (and dmesg for
XIDs), npu-smi info (with -t board and -t health per NPU), cnmon info, hy-smi —
and reports every device (serial, model, memory, driver and firmware, PCI bus,
ECC/retired pages/row remaps, error codes, temperature, power, throttling) to
the server. The server enters devices first seen into the ledger and turns
health signals into states (docs/agent.md).

The token must be an agent token for this node:
  granary token create --role agent --node $(hostname)`,
		Example: `  GRANARY_TOKEN=gry_… granary agent --server http://granary:8080 --once
  granary agent --dry-run -o json     # what would be reported, nothing sent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			cat, err := env.Catalog()
			if err != nil {
				return err
			}
			a := &agent{cfg: cfg, env: env, run: execRun(cfg.ToolTimeout), resolve: func(ds []hwprobe.Accelerator) []hwprobe.Warning { return hwprobe.ResolveModels(cat, ds) }}
			if cfg.DryRun {
				r := a.discover()
				if f.Structured() {
					return console.Encode(env.Stdout, f, r)
				}
				printReport(env.Stdout, r)
				return nil
			}
			cl, err := conn.Client()
			if err != nil {
				return err
			}
			a.send = cl.Report
			return a.loop(cmd.Context())
		},
	}
	conn.Flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&conn.Token, "token", "", "agent token (default $GRANARY_TOKEN or the config file; prefer those: flags show in ps)")
	fl.StringVar(&cfg.Node, "node", cfg.Node, "hostname to report as (in Kubernetes: the node name from the downward API)")
	fl.StringVar(&cfg.Site, "site", "", "site of this node, for devices first seen")
	fl.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between reports")
	fl.BoolVar(&cfg.Once, "once", false, "report one time and exit (non-zero if the server refuses the report)")
	fl.BoolVar(&cfg.DryRun, "dry-run", false, "discover and print the report; send nothing")
	fl.DurationVar(&cfg.ToolTimeout, "tool-timeout", cfg.ToolTimeout, "how long one vendor tool may run")
	fl.StringVarP(&out, "output", "o", "table", "dry-run output: table, json or yaml")
	return cmd
}

// agent is one configured agent process.
type agent struct {
	cfg     Config
	env     *console.Env
	run     hwprobe.Run
	resolve func([]hwprobe.Accelerator) []hwprobe.Warning
	send    func(context.Context, inventory.AgentReport) (inventory.ReportResult, error)
}

// discover runs the vendor tools and builds the report.
func (a *agent) discover() inventory.AgentReport {
	ds, ws, runs := hwprobe.Discover(a.run)
	ws = append(ws, a.resolve(ds)...)
	r := inventory.AgentReport{Node: a.cfg.Node, Site: a.cfg.Site, Devices: ds, Tools: runs}
	if r.Devices == nil {
		r.Devices = []hwprobe.Accelerator{}
	}
	for _, w := range ws {
		r.Warnings = append(r.Warnings, w.String())
	}
	return r
}

// once discovers and reports one time.
func (a *agent) once(ctx context.Context) error {
	r := a.discover()
	for _, w := range r.Warnings {
		fmt.Fprintln(a.env.Stderr, "warning:", w)
	}
	res, err := a.send(ctx, r)
	if err != nil {
		return fmt.Errorf("report of %d devices refused: %w", len(r.Devices), err)
	}
	fmt.Fprintf(a.env.Stderr, "reported %d devices of %s: %d new, %d adopted, %d state changes, %d conflicts, %d ignored\n",
		len(r.Devices), r.Node, len(res.Created), len(res.Adopted), len(res.Changed), len(res.Conflicts), len(res.Ignored))
	for _, e := range res.Changed {
		fmt.Fprintf(a.env.Stderr, "  %s: %s → %s: %s\n", e.Serial, e.From, e.To, e.Reason)
	}
	for _, c := range res.Conflicts {
		fmt.Fprintf(a.env.Stderr, "  conflict: %s is on %s in the ledger; not applied (an operator must resolve it)\n", c.Serial, c.LedgerNode)
	}
	for _, i := range res.Ignored {
		fmt.Fprintf(a.env.Stderr, "  ignored: %s device %d (%s): %s\n", i.Tool, i.Index, i.Serial, i.Reason)
	}
	return nil
}

// loop reports every Interval until ctx ends; a failed report is logged
// and retried at the next tick. With Once it reports one time.
func (a *agent) loop(ctx context.Context) error {
	if a.cfg.Once {
		return a.once(ctx)
	}
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		if err := a.once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintln(a.env.Stderr, "granary agent:", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// execRun runs a tool from PATH with a timeout and returns its standard
// output (at most hwprobe.MaxOutputBytes+1 bytes are kept). A tool that is
// not on PATH is hwprobe.ErrNoTool.
func execRun(timeout time.Duration) hwprobe.Run {
	return func(name string, args ...string) ([]byte, error) {
		path, err := exec.LookPath(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, hwprobe.ErrNoTool)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, args...)
		var stdout, stderr limited
		stdout.n, stderr.n = hwprobe.MaxOutputBytes+1, 4096
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		if ctx.Err() != nil {
			return stdout.b.Bytes(), fmt.Errorf("%s %s: no answer within %v", name, strings.Join(args, " "), timeout)
		}
		if err != nil {
			msg := strings.TrimSpace(stderr.b.String())
			if i := strings.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i]
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) && msg != "" {
				return stdout.b.Bytes(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, msg)
			}
			return stdout.b.Bytes(), fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		return stdout.b.Bytes(), nil
	}
}

// limited keeps the first n bytes written and discards the rest.
type limited struct {
	b bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// printReport writes a dry-run report as a table.
func printReport(w io.Writer, r inventory.AgentReport) {
	fmt.Fprintf(w, "node %s: %d devices\n", r.Node, len(r.Devices))
	fmt.Fprintf(w, "%-6s %-24s %-16s %-14s %8s %-14s %s\n", "TOOL", "SERIAL", "MODEL", "PCI BUS", "MEM GiB", "DRIVER", "HEALTH")
	for _, d := range r.Devices {
		model := d.Model
		if model == "" {
			model = d.Product + "?"
		}
		fmt.Fprintf(w, "%-6s %-24s %-16s %-14s %8.0f %-14s %s\n", strings.TrimSuffix(d.Tool, "-smi"), d.Key(), model, d.PCIBus,
			float64(d.MemoryMiB)/1024, d.Driver, healthLine(d.Health))
	}
	for _, t := range r.Tools {
		if !t.Clean {
			fmt.Fprintf(w, "tool %s ran with warnings: devices it no longer lists will not be marked disappeared\n", t.Tool)
		}
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}

func healthLine(h hwprobe.Health) string {
	var p []string
	if h.Status != "" {
		p = append(p, h.Status)
	}
	if h.TemperatureC != nil {
		p = append(p, fmt.Sprintf("%.0fC", *h.TemperatureC))
	}
	if h.PowerW != nil {
		p = append(p, fmt.Sprintf("%.0fW", *h.PowerW))
	}
	if h.ECCUncorrectable != nil && *h.ECCUncorrectable > 0 {
		p = append(p, fmt.Sprintf("ecc-unc=%d", *h.ECCUncorrectable))
	}
	if h.RetiredPages != nil && *h.RetiredPages > 0 {
		p = append(p, fmt.Sprintf("retired=%d", *h.RetiredPages))
	}
	if h.RemapFailure {
		p = append(p, "remap-failure")
	}
	if len(h.Errors) > 0 {
		p = append(p, "errors="+strings.Join(h.Errors, ","))
	}
	if len(h.Throttle) > 0 {
		p = append(p, "throttle="+strings.Join(h.Throttle, ","))
	}
	return strings.Join(p, " ")
}
