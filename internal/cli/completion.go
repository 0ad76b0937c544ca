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
	chips := func(toComplete string) []string {
		cat, err := env.Catalog()
		if err != nil {
			return nil
		}
		var names []string
		for _, c := range cat.All() {
			names = append(names, c.ID)
			for _, a := range c.Aliases {
				if !strings.ContainsAny(a, " \t") {
					names = append(names, a)
				}
			}
		}
		return prefixed(names, toComplete)
	}
	llms := func(toComplete string) []string {
		var names []string
		for _, m := range models.Default().All() {
			names = append(names, m.Name)
			for _, a := range m.Aliases {
				if !strings.ContainsAny(a, " \t") {
					names = append(names, a)
				}
			}
		}
		return prefixed(names, toComplete)
	}
	values := func(f func(string) []string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return f(toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	// list completes the last element of a comma-separated value.
	list := func(f func(string) []string) cobra.CompletionFunc {
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
	chipArgs := func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return chips(toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	// remoteValues asks the command's server; one argument unless many.
	remoteValues := func(many bool, f func(context.Context, *client.Client, string) []string) cobra.CompletionFunc {
		return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 && !many {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			cl, err := remote.FromFlags(env, cmd).Client()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return f(ctx, cl, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	jobIDs := remoteValues(false, func(ctx context.Context, cl *client.Client, p string) []string {
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
	})
	teams := func(many bool) cobra.CompletionFunc {
		return remoteValues(many, func(ctx context.Context, cl *client.Client, p string) []string {
			ts, err := cl.Teams(ctx)
			if err != nil {
				return nil
			}
			var names []string
			for _, t := range ts {
				names = append(names, t.Name)
			}
			return prefixed(names, p)
		})
	}
	serials := func(ctx context.Context, cl *client.Client, p string) []string {
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
	walk(root, func(c *cobra.Command) {
		path := c.CommandPath()
		under := func(group string) bool { return strings.HasPrefix(path, "granary "+group) }
		var args cobra.CompletionFunc
		switch path {
		case "granary chips show", "granary chips compare", "granary chips classify":
			args = chipArgs
		case "granary jobs describe", "granary jobs cancel":
			args = jobIDs
		case "granary teams set", "granary teams delete":
			args = teams(false)
		case "granary inventory history":
			args = remoteValues(false, serials)
		case "granary inventory set-state":
			args = remoteValues(true, serials)
		}
		if args != nil && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = args
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "string" && f.Value.Type() != "stringSlice" && f.Value.Type() != "stringArray" {
				return
			}
			var fn cobra.CompletionFunc
			switch {
			case f.Name == "policy":
				fn = list(func(s string) []string { return prefixed(sched.PolicyNames(), s) })
			case f.Name == "db":
				fn = func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					out := prefixed([]string{"sqlite:", "postgres://"}, toComplete)
					dbs, _ := filepath.Glob(toComplete + "*.db")
					return append(out, dbs...), cobra.ShellCompDirectiveNoSpace
				}
			case f.Name == "model" && under("inventory"):
				fn = values(chips)
			case f.Name == "model" && under("jobs"):
				fn = values(llms)
			case f.Name == "model" && under("fit"):
				// Or a path to a config.json: files when no model matches.
				fn = func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					return llms(toComplete), cobra.ShellCompDirectiveDefault
				}
			case (f.Name == "allow" || f.Name == "forbid") && under("jobs"):
				fn = list(chips)
			case f.Name == "team" && under("jobs"):
				fn = teams(true)
			case f.Name == "reference" && under("jobs"):
				fn = values(chips)
			case f.Name == "guarantee" && under("teams"):
				fn = func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					var out []string
					for _, n := range chips(toComplete) {
						out = append(out, n+"=")
					}
					return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
				}
			case f.Name == "output" || f.Name == "format":
				if vs := listedValues(f.Usage); len(vs) >= 2 {
					fn = values(func(s string) []string { return prefixed(vs, s) })
				}
			}
			if fn != nil {
				// An error means the flag has one already: keep it.
				_ = c.RegisterFlagCompletionFunc(f.Name, fn)
			}
		})
	})
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
