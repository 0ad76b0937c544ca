package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/models"
	"github.com/granaryhq/granary/internal/sched"
)

// completions gives the values that need no server to the shell completion
// cobra generates (`granary completion bash|zsh|fish|powershell`): chip
// names (from the catalog, with --catalog) for chip arguments and the
// --model of inventory, the --allow, --forbid, --reference and --guarantee
// of jobs and teams; the fit advisor's models for the --model of jobs and
// fit; scheduling policies for --policy (after a comma too); store kinds
// and *.db files for --db; and the values a flag's own help lists for
// --output and --format. From the server the command would talk to (its
// --server, --config, GRANARY_SERVER and GRANARY_TOKEN; 2 s at most, and
// nothing when it cannot answer): active job ids for jobs describe|cancel,
// team names for teams set|delete and --team, serials for inventory
// history|set-state. Completion is registered here, over the built
// tree, so the command packages stay as they are; a flag or an argument
// is matched by its name and its command's path.
func completions(root *cobra.Command, env *console.Env) {
	cp := completer{env: env}
	walk(root, func(c *cobra.Command) {
		path := c.CommandPath()
		if args := cp.forArgs(path); args != nil && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = args
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "string" && f.Value.Type() != "stringSlice" && f.Value.Type() != "stringArray" {
				return
			}
			if fn := cp.forFlag(path, f); fn != nil {
				// An error means the flag has one already: keep it.
				_ = c.RegisterFlagCompletionFunc(f.Name, fn)
			}
		})
	})
}

// completer makes the completion functions of completions.
type completer struct{ env *console.Env }

// forArgs is the completion of the arguments of the command at path, or nil.
func (cp completer) forArgs(path string) cobra.CompletionFunc {
	switch path {
	case "granary chips show", "granary chips compare", "granary chips classify":
		return values(cp.chips)
	case "granary jobs describe", "granary jobs cancel":
		return cp.remote(false, jobIDs)
	case "granary teams set", "granary teams delete":
		return cp.remote(false, teamNames)
	case "granary inventory history":
		return cp.remote(false, serials)
	case "granary inventory set-state":
		return cp.remote(true, serials)
	}
	return nil
}

// forFlag is the completion of flag f of the command at path, or nil.
func (cp completer) forFlag(path string, f *pflag.Flag) cobra.CompletionFunc {
	under := func(group string) bool { return strings.HasPrefix(path, "granary "+group) }
	switch {
	case f.Name == "policy":
		return list(func(s string) []string { return prefixed(sched.PolicyNames(), s) })
	case f.Name == "db":
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			out := prefixed([]string{"sqlite:", "postgres://"}, toComplete)
			dbs, _ := filepath.Glob(toComplete + "*.db")
			return append(out, dbs...), cobra.ShellCompDirectiveNoSpace
		}
	case f.Name == "model" && under("inventory"):
		return values(cp.chips)
	case f.Name == "model" && under("jobs"):
		return values(llms)
	case f.Name == "model" && under("fit"):
		// Or a path to a config.json: files when no model matches.
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return llms(toComplete), cobra.ShellCompDirectiveDefault
		}
	case (f.Name == "allow" || f.Name == "forbid") && under("jobs"):
		return list(cp.chips)
	case f.Name == "team" && under("jobs"):
		return cp.remote(true, teamNames)
	case f.Name == "reference" && under("jobs"):
		return values(cp.chips)
	case f.Name == "guarantee" && under("teams"):
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			var out []string
			for _, n := range cp.chips(toComplete) {
				out = append(out, n+"=")
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
	case f.Name == "output" || f.Name == "format":
		if vs := listedValues(f.Usage); len(vs) >= 2 {
			return values(func(s string) []string { return prefixed(vs, s) })
		}
	}
	return nil
}

// chips is the catalog's chip ids and one-word aliases that start with
// toComplete.
func (cp completer) chips(toComplete string) []string {
	cat, err := cp.env.Catalog()
	if err != nil {
		return nil
	}
	var names []string
	for _, c := range cat.All() {
		names = append(names, c.ID)
		names = append(names, oneWord(c.Aliases)...)
	}
	return prefixed(names, toComplete)
}

// llms is the fit advisor's model names and one-word aliases that start
// with toComplete.
func llms(toComplete string) []string {
	var names []string
	for _, m := range models.Default().All() {
		names = append(names, m.Name)
		names = append(names, oneWord(m.Aliases)...)
	}
	return prefixed(names, toComplete)
}

func oneWord(aliases []string) []string {
	var out []string
	for _, a := range aliases {
		if !strings.ContainsAny(a, " \t") {
			out = append(out, a)
		}
	}
	return out
}

// remote asks the command's server (2 s at most; nothing when it cannot
// answer); one argument unless many.
func (cp completer) remote(many bool, f func(context.Context, *client.Client, string) []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cl, err := remote.FromFlags(cp.env, cmd).Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return f(ctx, cl, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// jobIDs is the active jobs whose id starts with p, each with a description.
func jobIDs(ctx context.Context, cl *client.Client, p string) []string {
	l, err := cl.Jobs(ctx, client.JobListOptions{State: "active", Limit: 1000})
	if err != nil {
		return nil
	}
	var out []string
	for _, j := range l.Jobs {
		if strings.HasPrefix(j.ID, p) {
			out = append(out, fmt.Sprintf("%s\t%s (%s, %s)", j.ID, j.Name, j.Team, j.State))
		}
	}
	return out
}

func teamNames(ctx context.Context, cl *client.Client, p string) []string {
	ts, err := cl.Teams(ctx)
	if err != nil {
		return nil
	}
	var names []string
	for _, t := range ts {
		names = append(names, t.Name)
	}
	return prefixed(names, p)
}

func serials(ctx context.Context, cl *client.Client, p string) []string {
	l, err := cl.ListDevices(ctx, client.ListOptions{Q: p, Sort: "serial", Limit: 200})
	if err != nil {
		return nil
	}
	var names []string
	for _, d := range l.Devices {
		names = append(names, d.Serial)
	}
	return prefixed(names, p)
}

// values completes a whole value with f.
func values(f func(string) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return f(toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// list completes the last element of a comma-separated value with f.
func list(f func(string) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		head, last := "", toComplete
		if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
			head, last = toComplete[:i+1], toComplete[i+1:]
		}
		var out []string
		for _, v := range f(last) {
			out = append(out, head+v)
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walk(s, f)
	}
}

// prefixed is the names that start with prefix, ignoring case, sorted and
// without repeats.
func prefixed(names []string, prefix string) []string {
	var out []string
	p := strings.ToLower(prefix)
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), p) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var valueWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// listedValues reads the values a flag's help lists: "output format:
// table, json or yaml" → table, json, yaml (the text after the last ':'
// before any parenthesis or ';'), or "csv or json (default: …)" → csv, json.
func listedValues(usage string) []string {
	if i := strings.IndexAny(usage, "(;"); i >= 0 {
		usage = usage[:i]
	}
	colon := strings.LastIndexByte(usage, ':')
	if colon >= 0 {
		usage = usage[colon+1:]
	}
	var out []string
	for _, w := range strings.FieldsFunc(usage, func(r rune) bool { return r == ',' || r == ' ' }) {
		switch {
		case w == "or":
		case valueWord.MatchString(w):
			out = append(out, w)
		case colon < 0:
			return nil // prose, not a list ("csv or json" is one)
		}
	}
	return out
}
