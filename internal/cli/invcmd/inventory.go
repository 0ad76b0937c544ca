// Package invcmd is the CLI client of the stockpile ledger:
// `granary inventory import|list|set-state|summary|history` and
// `granary token create|list`. They talk to a running `granary serve`
// through internal/cli/remote (--server, --config, GRANARY_TOKEN).
package invcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// New builds `granary inventory`.
func New(env *console.Env) *cobra.Command {
	c := &remote.Conn{Env: env}
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Read and change the stockpile ledger of a running server",
		Long: `Talk to a running granary server (granary serve).

The server is --server, $GRANARY_SERVER, server: in the config file, or
http://127.0.0.1:8080. The token is $GRANARY_TOKEN or token: in the config
file (~/.config/granary/config.yaml).`,
	}
	c.Flags(cmd)
	cmd.AddCommand(importCmd(c), listCmd(c), nodesCmd(c), setStateCmd(c), summaryCmd(c), historyCmd(c), failuresCmd(c))
	return cmd
}

func outputFlag(cmd *cobra.Command, p *string, formats ...console.Format) {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	cmd.Flags().StringVarP(p, "output", "o", string(console.Table), "output format: "+strings.Join(names, ", "))
}

func importCmd(c *remote.Conn) *cobra.Command {
	var out, format string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import devices from a CSV or JSON file, all or nothing",
		Long: `Import devices from FILE (- for stdin). The whole file is applied in one
transaction: any bad row rejects all of it, with a list of file:line:column
problems, and the command exits 2.

CSV: a header row names the columns; serial,model,state are required and
node,site,pool,acquired,cost_usd,warranty_until,labels,node_cpu_milli,
node_memory_mib optional. Dates are YYYY-MM-DD; labels are
key=value;key=value; model is any name the catalog resolves (A800, 910B3,
P800…). node_cpu_milli (milli-cores) and node_memory_mib are the device's
node's CPU and memory for jobs, on one of its rows or on each (the same).

JSON: an array of objects with the same keys, or {"nodes": [...], "devices": [...]}
(a node object: hostname, site, interconnect_domain, cpu_milli, memory_mib).`,
		Example: "  granary inventory import devices.csv\n  granary inventory list --all -o json | granary inventory import --format json -",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			ct, err := importType(format, args[0])
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var r io.Reader = c.Env.Stdin
			name := "stdin"
			if args[0] != "-" {
				fh, err := os.Open(args[0])
				if err != nil {
					return &fleet.InputError{Pos: fleet.Position{File: args[0]}, Msg: err.Error()}
				}
				defer fh.Close()
				r, name = fh, args[0]
			}
			res, err := cl.Import(cmd.Context(), ct, name, r)
			if err != nil {
				return importError(name, err)
			}
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(c.Env.Stdout, f, res)
			}
			_, err = fmt.Fprintf(c.Env.Stdout, "imported %d devices (%d nodes named) from %s\n", res.Devices, res.Nodes, name)
			return err
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	cmd.Flags().StringVar(&format, "format", "", "csv or json (default: from the file's extension, csv for stdin)")
	return cmd
}

func importType(format, file string) (string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(file)) {
		case ".json":
			format = "json"
		default:
			format = "csv"
		}
	}
	switch strings.ToLower(format) {
	case "csv":
		return client.CSV, nil
	case "json":
		return client.JSON, nil
	}
	return "", console.Usagef("--format %q: want csv or json", format)
}

// RejectedImport is an import the server refused as a whole. Its lines are
// file:line:column: message; it wraps fleet.ErrInvalid (exit 2).
type RejectedImport struct {
	File     string
	Problems []string
}

func (e *RejectedImport) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s rejected, nothing imported (%d problem", e.File, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if e.File != "" && len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
			b.WriteString(e.File + ":")
		}
		b.WriteString(p)
	}
	return b.String()
}

// Unwrap returns fleet.ErrInvalid.
func (e *RejectedImport) Unwrap() error { return fleet.ErrInvalid }

func importError(file string, err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusUnprocessableEntity && len(ce.Problem.Errors) > 0 {
		return &RejectedImport{File: file, Problems: ce.Messages()}
	}
	return err
}

func listCmd(c *remote.Conn) *cobra.Command {
	var out string
	var o client.ListOptions
	var state string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List devices (filters: --model --state --site --pool --node --class --q; order: --sort)",
		Example: "  granary inventory list --model H800 --state failed\n" +
			"  granary inventory list --class 3A090.a --rules 2022-10 --sort -model\n" +
			"  granary inventory list --q bj1-node-03 --sort state\n" +
			"  granary inventory list --all -o csv > backup.csv",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			if state != "" {
				st, err := fleet.ParseDeviceState(state)
				if err != nil {
					return console.UsageError{Err: err}
				}
				o.State = st
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var devs []api.Device
			next := ""
			if all {
				err = cl.AllDevices(cmd.Context(), o, func(ds []api.Device) error { devs = append(devs, ds...); return nil })
			} else {
				var p api.DeviceList
				p, err = cl.ListDevices(cmd.Context(), o)
				devs, next = p.Devices, p.Next
			}
			if err != nil {
				return err
			}
			if devs == nil {
				devs = []api.Device{}
			}
			w := c.Env.Stdout
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(w, f, api.DeviceList{Devices: devs, Next: next})
			case console.CSV:
				// With their nodes' CPU and memory, so that the listing
				// imports again as the same ledger.
				nodes, err := nodesOf(cmd.Context(), cl, devs)
				if err != nil {
					return err
				}
				return console.WriteCSV(w, deviceRows(devs, nodes))
			}
			if err := console.WriteTable(w, deviceRows(devs, nil)); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(c.Env.Stderr, "more devices: --cursor %s, or --all\n", next)
			}
			return nil
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML, console.CSV)
	f := cmd.Flags()
	f.StringVar(&o.Model, "model", "", "catalog model (any name the catalog resolves)")
	f.StringVar(&state, "state", "", "state: in-service, reserve, maintenance, failed, retired")
	f.BoolVar(&o.Held, "held", false, "only the devices still in the stockpile: every state but retired (not with --state)")
	f.StringVar(&o.Site, "site", "", "site")
	f.StringVar(&o.Pool, "pool", "", "pool")
	f.StringVar(&o.Node, "node", "", "node hostname")
	f.StringVar(&o.Class, "class", "", "export class: 3A090.a, 3A090.b, not-3A090 or insufficient-data (devices whose model is in it)")
	f.StringVar(&o.Rules, "rules", "", "rule set for --class: 2022-10 or 2023-10 (default the latest)")
	f.StringVar(&o.Q, "q", "", "free text: a case-insensitive substring of the serial, node, site or model id")
	f.StringVar(&o.Sort, "sort", "", "order: serial, model, state, site or node (then serial); a leading - is descending")
	f.StringVar(&o.Cursor, "cursor", "", "continue after a previous page")
	f.IntVar(&o.Limit, "limit", 100, "page size (max 1000)")
	f.BoolVar(&all, "all", false, "follow the cursor through every page")
	return cmd
}

func nodesCmd(c *remote.Conn) *cobra.Command {
	var out, site string
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List nodes with their site, interconnect domain, and the CPU and memory they offer jobs",
		Long: `List every node by hostname (--site: one site's). CPU is in cores and
memory in GiB in the table; -o json and yaml give cpu_milli (milli-cores)
and memory_mib as the API does. A node without them recorded shows "-": the
scheduler does not limit jobs' cpu_milli and memory_mib on it.`,
		Example: "  granary inventory nodes --site bj1\n  granary inventory nodes -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			all, err := cl.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			ns := []inventory.Node{}
			for _, n := range all {
				if !cmd.Flags().Changed("site") || n.Site == site {
					ns = append(ns, n)
				}
			}
			if f != console.Table {
				return console.Encode(c.Env.Stdout, f, api.NodeList{Nodes: ns})
			}
			rows := [][]string{{"HOSTNAME", "SITE", "DOMAIN", "CPU (cores)", "MEMORY (GiB)"}}
			for _, n := range ns {
				cpu, mem := "-", "-"
				if n.CPUMilli > 0 {
					cpu = strconv.FormatFloat(float64(n.CPUMilli)/1000, 'f', -1, 64)
				}
				if n.MemoryMiB > 0 {
					mem = strconv.FormatFloat(float64(n.MemoryMiB)/1024, 'f', -1, 64)
				}
				rows = append(rows, []string{n.Hostname, dash(n.Site), dash(n.InterconnectDomain), cpu, mem})
			}
			return console.WriteTable(c.Env.Stdout, rows)
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	cmd.Flags().StringVar(&site, "site", "", "only the nodes of this site (\"\" for those without one)")
	return cmd
}

// nodesOf returns the ledger's nodes by hostname when a device of ds has
// a node, and an empty map otherwise.
func nodesOf(ctx context.Context, cl *client.Client, ds []api.Device) (map[string]inventory.Node, error) {
	out := map[string]inventory.Node{}
	for _, d := range ds {
		if d.Node == "" {
			continue
		}
		ns, err := cl.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			out[n.Hostname] = n
		}
		break
	}
	return out, nil
}

// deviceRows renders devices as rows. With forImport (not nil: the nodes
// by hostname) it gives the CSV import columns, each device with its
// node's CPU and memory, so the output can be imported again.
func deviceRows(ds []api.Device, forImport map[string]inventory.Node) [][]string {
	if forImport != nil {
		rows := [][]string{inventory.CSVColumns()}
		for _, d := range ds {
			cost := ""
			if d.CostUSD != nil {
				cost = strconv.FormatFloat(*d.CostUSD, 'f', -1, 64)
			}
			n := forImport[d.Node]
			rows = append(rows, []string{d.Serial, d.Model, string(d.State), d.Node, d.Site, d.Pool, d.Acquired, cost, d.WarrantyUntil, labels(d.Labels),
				figure(n.CPUMilli), figure(n.MemoryMiB)})
		}
		return rows
	}
	rows := [][]string{{"SERIAL", "MODEL", "STATE", "SITE", "POOL", "NODE", "ACQUIRED", "UPDATED"}}
	for _, d := range ds {
		upd := ""
		if d.UpdatedAt != nil {
			upd = d.UpdatedAt.UTC().Format(time.DateTime)
		}
		rows = append(rows, []string{d.Serial, d.Model, string(d.State), dash(d.Site), dash(d.Pool), dash(d.Node), dash(d.Acquired), dash(upd)})
	}
	return rows
}

func labels(m map[string]string) string { return inventory.FormatLabels(m) }

// figure is a node's CPU or memory figure for a CSV cell: "" when not
// recorded (0).
func figure(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func setStateCmd(c *remote.Conn) *cobra.Command {
	var out, state, reason string
	cmd := &cobra.Command{
		Use:     "set-state SERIAL...",
		Short:   "Move devices to a state, with a reason recorded in their history",
		Example: `  granary inventory set-state H800-000017 H800-000018 --state failed --reason "XID 79 after firmware update"`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			st, err := fleet.ParseDeviceState(state)
			if err != nil {
				return console.UsageError{Err: err}
			}
			if strings.TrimSpace(reason) == "" {
				return console.Usagef("--reason is required")
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			evs, failed := setStates(cmd.Context(), cl, args, st, reason, c.Env.Stderr)
			switch f {
			case console.JSON, console.YAML:
				err = console.Encode(c.Env.Stdout, f, evs)
			default:
				if len(evs) > 0 {
					err = console.WriteTable(c.Env.Stdout, eventRows(evs, true))
				}
			}
			if err != nil {
				return err
			}
			return failed
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	cmd.Flags().StringVar(&state, "state", "", "new state: in-service, reserve, maintenance, failed, retired (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the history)")
	return cmd
}

// setStates changes each device in turn; failures are reported on w and
// returned together (the first one's kind decides the exit code).
func setStates(ctx context.Context, cl *client.Client, serials []string, st fleet.DeviceState, reason string, w io.Writer) ([]inventory.Event, error) {
	evs := []inventory.Event{}
	var errs []error
	for _, s := range serials {
		ev, err := cl.SetState(ctx, s, st, reason)
		if err != nil {
			fmt.Fprintf(w, "%s: %v\n", s, err)
			errs = append(errs, err)
			continue
		}
		evs = append(evs, ev)
	}
	if len(errs) == 0 {
		return evs, nil
	}
	return evs, &partialError{failed: len(errs), total: len(serials), first: errs[0]}
}

type partialError struct {
	failed, total int
	first         error
}

func (e *partialError) Error() string {
	return fmt.Sprintf("%d of %d state changes refused (see above)", e.failed, e.total)
}
func (e *partialError) Unwrap() error { return e.first }

func eventRows(evs []inventory.Event, withSerial bool) [][]string {
	head := []string{"SEQ", "AT", "FROM", "TO", "REASON", "ACTOR"}
	if withSerial {
		head = append([]string{"SERIAL"}, head...)
	}
	rows := [][]string{head}
	for _, e := range evs {
		r := []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.DateTime), dash(string(e.From)), string(e.To), e.Reason, dash(e.Actor)}
		if withSerial {
			r = append([]string{e.Serial}, r...)
		}
		rows = append(rows, r)
	}
	return rows
}

func historyCmd(c *remote.Conn) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "history SERIAL",
		Short: "Show a device's event history, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			h, err := cl.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(c.Env.Stdout, f, h)
			case console.CSV:
				return console.WriteCSV(c.Env.Stdout, eventRows(h.Events, false))
			}
			return console.WriteTable(c.Env.Stdout, eventRows(h.Events, false))
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML, console.CSV)
	return cmd
}

func summaryCmd(c *remote.Conn) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "The fleet at a glance: devices by model and state, dense PFLOPS, HBM, export class",
		Long: `Per catalog model and in total: devices by state, dense PFLOPS per precision
and HBM TB over held devices (every state but retired), and the export-control
class under the latest rule set. -o json gives every precision.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML, console.CSV)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			sum, err := cl.Summary(cmd.Context())
			if err != nil {
				return err
			}
			switch f {
			case console.JSON, console.YAML:
				return console.Encode(c.Env.Stdout, f, sum)
			case console.CSV:
				return console.WriteCSV(c.Env.Stdout, summaryRows(sum, false))
			}
			return console.WriteTable(c.Env.Stdout, summaryRows(sum, true))
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML, console.CSV)
	return cmd
}

// summaryPrecisions are the PFLOPS columns of the table and CSV.
var summaryPrecisions = []fleet.Precision{fleet.FP8, fleet.BF16, fleet.INT8}

func summaryRows(s inventory.Summary, total bool) [][]string {
	head := []string{"MODEL", "DEVICES"}
	for _, st := range fleet.DeviceStates {
		head = append(head, strings.ToUpper(string(st)))
	}
	for _, p := range summaryPrecisions {
		head = append(head, strings.ToUpper(string(p))+" PFLOPS")
	}
	head = append(head, "HBM TB", "CLASS")
	rows := [][]string{head}
	row := func(name string, devices int, by map[fleet.DeviceState]int, pf map[fleet.Precision]float64, hbm *float64, class string) {
		r := []string{name, strconv.Itoa(devices)}
		for _, st := range fleet.DeviceStates {
			r = append(r, strconv.Itoa(by[st]))
		}
		for _, p := range summaryPrecisions {
			if v, ok := pf[p]; ok {
				r = append(r, console.Num(v))
			} else {
				r = append(r, "-")
			}
		}
		rows = append(rows, append(r, console.NumPtr(hbm), class))
	}
	for _, m := range s.Models {
		row(m.Model, m.Devices, m.ByState, m.PFLOPS, m.HBMTB, m.Classification)
	}
	if total {
		h := s.Totals.HBMTB
		row("TOTAL", s.Totals.Devices, s.Totals.ByState, s.Totals.PFLOPS, &h, "")
	}
	return rows
}
