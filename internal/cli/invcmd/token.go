package invcmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/inventory"
)

// NewToken builds `granary token`.
func NewToken(env *console.Env) *cobra.Command {
	c := &remote.Conn{Env: env}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens of a running server (needs an admin token)",
	}
	c.Flags(cmd)
	cmd.AddCommand(tokenCreateCmd(c), tokenListCmd(c))
	return cmd
}

func tokenCreateCmd(c *remote.Conn) *cobra.Command {
	var out, role, name, node string
	cmd := &cobra.Command{
		Use:   "create --role viewer|operator|admin|agent [--node HOST]",
		Short: "Create a token; its secret is printed once",
		Long: `Create an API token. Viewers read; operators also write inventory; admins
also manage tokens. An agent token may only report the hardware of the one
node given with --node (see granary agent). The secret is printed once and
only its hash is stored.`,
		Example: "  granary token create --role operator --name ci\n  granary token create --role agent --node gpu-017",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			r, err := inventory.ParseRole(role)
			if err != nil {
				return console.UsageError{Err: err}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var t api.CreatedToken
			switch {
			case r == inventory.RoleAgent:
				t, err = cl.CreateAgentToken(cmd.Context(), node, name)
			case node != "":
				return console.Usagef("--node is for agent tokens only")
			default:
				t, err = cl.CreateToken(cmd.Context(), r, name)
			}
			if err != nil {
				return err
			}
			switch f {
			case console.JSON:
				return console.WriteJSON(c.Env.Stdout, t)
			case console.YAML:
				return console.WriteYAML(c.Env.Stdout, t)
			}
			fmt.Fprintf(c.Env.Stdout, "%s\n", t.Secret)
			fmt.Fprintf(c.Env.Stderr, "token %s (%s) created; the secret above is shown only once\n", t.ID, t.Role)
			return nil
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	cmd.Flags().StringVar(&role, "role", "", "viewer, operator or admin (required)")
	cmd.Flags().StringVar(&name, "name", "", "a note saying who or what uses the token")
	cmd.Flags().StringVar(&node, "node", "", "agent tokens: the hostname of the node it reports for")
	return cmd
}

func tokenListCmd(c *remote.Conn) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (ids, names and roles; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ts, err := cl.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			switch f {
			case console.JSON:
				return console.WriteJSON(c.Env.Stdout, ts)
			case console.YAML:
				return console.WriteYAML(c.Env.Stdout, ts)
			}
			rows := [][]string{{"ID", "NAME", "ROLE", "NODE", "CREATED"}}
			for _, t := range ts {
				rows = append(rows, []string{t.ID, dash(t.Name), string(t.Role), dash(t.Node), t.CreatedAt.UTC().Format(time.DateTime)})
			}
			return console.WriteTable(c.Env.Stdout, rows)
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	return cmd
}
