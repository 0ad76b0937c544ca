package invcmd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/cli/remote"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store"
)

// tokenAdmin is what the token commands need: the API client of a running
// server, or (with --db) the ledger of the server's own store.
type tokenAdmin interface {
	IssueToken(ctx context.Context, in api.NewToken) (api.CreatedToken, error)
	Tokens(ctx context.Context) ([]inventory.Token, error)
	RevokeToken(ctx context.Context, id string) error
	DeleteToken(ctx context.Context, id string) error
}

// tokenConn reaches tokens through the API, or directly through the store
// --db names (lock-out recovery: no server and no token needed).
type tokenConn struct {
	*remote.Conn
	db string
}

// admin opens what the command works on; done releases it.
func (c *tokenConn) admin(ctx context.Context) (tokenAdmin, func(), error) {
	if c.db == "" {
		cl, err := c.Client()
		return cl, func() {}, err
	}
	cat, err := c.Env.Catalog()
	if err != nil {
		return nil, nil, err
	}
	kind, path, err := store.Parse(c.db)
	if err != nil {
		return nil, nil, console.UsageError{Err: err}
	}
	if _, err := os.Stat(path); kind == store.SQLite && err != nil {
		// Recovery works on an existing store; a typo must not make a new one.
		return nil, nil, console.Usagef("--db %s: %v", c.db, err)
	}
	st, err := store.Open(ctx, c.db)
	if err != nil {
		return nil, nil, err
	}
	svc, err := inventory.New(inventory.Config{Store: st, Catalog: cat})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return offlineTokens{svc}, func() { st.Close() }, nil
}

// offlineTokens is the ledger behind tokenAdmin.
type offlineTokens struct{ *inventory.Service }

func (o offlineTokens) IssueToken(ctx context.Context, in api.NewToken) (api.CreatedToken, error) {
	t, secret, err := o.Service.IssueToken(ctx, inventory.TokenRequest{Role: in.Role, Name: in.Name, Node: in.Node, ExpiresAt: in.ExpiresAt})
	return api.CreatedToken{Token: t, Secret: secret}, err
}

// NewToken builds `granary token`.
func NewToken(env *console.Env) *cobra.Command {
	c := &tokenConn{Conn: &remote.Conn{Env: env}}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens of a running server (needs an admin token), or of its store with --db",
		Long: `Manage API tokens. Through the API of a running server this needs an admin
token. With --db the commands work directly on the server's own store (a
SQLite file or a postgres:// URL) and need no token: that is how to recover
when no admin token is left (granary token create --db granary.db --role admin).`,
	}
	c.Flags(cmd)
	cmd.PersistentFlags().StringVar(&c.db, "db", "", "work on this store directly instead of a server: a SQLite file PATH, sqlite:PATH or a postgres:// URL")
	cmd.AddCommand(tokenCreateCmd(c), tokenListCmd(c), tokenRevokeCmd(c), tokenDeleteCmd(c))
	return cmd
}

func tokenCreateCmd(c *tokenConn) *cobra.Command {
	var out, role, name, node string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --role viewer|operator|admin|agent [--node HOST] [--expires DURATION]",
		Short: "Create a token; its secret is printed once",
		Long: `Create an API token. Viewers read; operators also write inventory; admins
also manage tokens. An agent token may only report the hardware of the one
node given with --node (see granary agent). The secret is printed once and
only its hash is stored. With --expires the token stops working that long
from now.`,
		Example: "  granary token create --role operator --name ci --expires 720h\n" +
			"  granary token create --role agent --node gpu-017\n" +
			"  granary token create --db /var/lib/granary/granary.db --role admin --name recovery",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			r, err := inventory.ParseRole(role)
			if err != nil {
				return console.UsageError{Err: err}
			}
			if node != "" && r != inventory.RoleAgent {
				return console.Usagef("--node is for agent tokens only")
			}
			in := api.NewToken{Role: r, Name: name, Node: node}
			switch {
			case expires < 0:
				return console.Usagef("--expires %v: want a positive duration such as 720h", expires)
			case expires > 0:
				in.ExpiresAt = time.Now().Add(expires).UTC()
			}
			adm, done, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			t, err := adm.IssueToken(cmd.Context(), in)
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
			until := ""
			if !t.ExpiresAt.IsZero() {
				until = ", expires " + t.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(c.Env.Stderr, "token %s (%s%s) created; the secret above is shown only once\n", t.ID, t.Role, until)
			return nil
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	cmd.Flags().StringVar(&role, "role", "", "viewer, operator, admin or agent (required)")
	cmd.Flags().StringVar(&name, "name", "", "a note saying who or what uses the token")
	cmd.Flags().StringVar(&node, "node", "", "agent tokens: the hostname of the node it reports for")
	cmd.Flags().DurationVar(&expires, "expires", 0, "the token stops working this long from now (e.g. 720h); default never")
	return cmd
}

func tokenListCmd(c *tokenConn) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (ids, names, roles, state, expiry, last use; never secrets)",
		Long: `List tokens. STATE is active, revoked or expired; LAST USED is recorded at
most once a minute per token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(out, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			adm, done, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			ts, err := adm.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			switch f {
			case console.JSON:
				return console.WriteJSON(c.Env.Stdout, ts)
			case console.YAML:
				return console.WriteYAML(c.Env.Stdout, ts)
			}
			now := time.Now()
			rows := [][]string{{"ID", "NAME", "ROLE", "NODE", "STATE", "CREATED", "EXPIRES", "LAST USED"}}
			for _, t := range ts {
				rows = append(rows, []string{t.ID, dash(t.Name), string(t.Role), dash(t.Node), t.State(now),
					stamp(t.CreatedAt), stamp(t.ExpiresAt), stamp(t.LastUsedAt)})
			}
			return console.WriteTable(c.Env.Stdout, rows)
		},
	}
	outputFlag(cmd, &out, console.Table, console.JSON, console.YAML)
	return cmd
}

// stamp is a time for a table: UTC to the second, "-" for never.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func tokenRevokeCmd(c *tokenConn) *cobra.Command {
	return tokenEndCmd(c, "revoke ID", "Revoke a token: refused from the next request on, still listed as revoked", "revoked", tokenAdmin.RevokeToken)
}

func tokenDeleteCmd(c *tokenConn) *cobra.Command {
	return tokenEndCmd(c, "delete ID", "Delete a token: refused from the next request on, and no longer listed", "deleted", tokenAdmin.DeleteToken)
}

// tokenEndCmd builds a command that ends a token's life with end (revoke or
// delete) and says so in done.
func tokenEndCmd(c *tokenConn, use, short, done string, end func(tokenAdmin, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, closeAdm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer closeAdm()
			if err := end(adm, cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.Env.Stderr, "token %s %s\n", args[0], done)
			return nil
		},
	}
}
