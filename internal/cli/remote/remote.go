// Package remote is how the client commands (inventory, token, jobs, teams)
// reach a running `granary serve`: the --server and --config flags, the
// config file ~/.config/granary/config.yaml, and the bearer token from
// GRANARY_TOKEN or that file.
package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// FileConfig is the config file: where the server is and which token to use.
//
//	server: http://127.0.0.1:8080
//	token: gry_…
type FileConfig struct {
	Server string `yaml:"server"`
	Token  string `yaml:"token"`
}

// Conn holds the connection flags every client command shares.
type Conn struct {
	Env    *console.Env
	server string
	config string
	// Token, when set (e.g. by a command's --token flag), is used instead
	// of $GRANARY_TOKEN and the config file.
	Token string
}

// Flags adds --server and --config to cmd and its subcommands.
func (c *Conn) Flags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&c.server, "server", "", "server URL (default: $GRANARY_SERVER, the config file, or "+client.DefaultServer+")")
	cmd.PersistentFlags().StringVar(&c.config, "config", "", "config file with server and token (default ~/.config/granary/config.yaml)")
}

// FromFlags is the connection the --server and --config flags of cmd (or
// of its parents) name, for code that runs outside the command's own RunE
// (shell completion).
func FromFlags(env *console.Env, cmd *cobra.Command) *Conn {
	c := &Conn{Env: env}
	if f := cmd.Flags().Lookup("server"); f != nil {
		c.server = f.Value.String()
	}
	if f := cmd.Flags().Lookup("config"); f != nil {
		c.config = f.Value.String()
	}
	return c
}

// configPath is the config file to read: --config, or
// $XDG_CONFIG_HOME/granary/config.yaml, or ~/.config/granary/config.yaml.
func (c *Conn) configPath() (string, bool) {
	if c.config != "" {
		return c.config, true
	}
	if x := c.Env.Env("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "granary", "config.yaml"), false
	}
	if h := c.Env.Env("HOME"); h != "" {
		return filepath.Join(h, ".config", "granary", "config.yaml"), false
	}
	return "", false
}

func (c *Conn) readConfig() (FileConfig, error) {
	var fc FileConfig
	path, explicit := c.configPath()
	if path == "" {
		return fc, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return fc, nil
	}
	if err != nil {
		return fc, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: err.Error()}
	}
	if err := decode.YAML(path, data, &fc, decode.Default); err != nil {
		var ie *fleet.InputError
		if errors.As(err, &ie) {
			return fc, err
		}
		return fc, &fleet.InputError{Pos: fleet.Position{File: path}, Msg: yaml.FormatError(err, false, true)}
	}
	return fc, nil
}

// Client builds the API client: the server from --server, $GRANARY_SERVER,
// the config file or the default; the token from $GRANARY_TOKEN or the
// config file.
func (c *Conn) Client() (*client.Client, error) {
	fc, err := c.readConfig()
	if err != nil {
		return nil, err
	}
	server := first(c.server, c.Env.Env("GRANARY_SERVER"), fc.Server, client.DefaultServer)
	token := first(c.Token, c.Env.Env("GRANARY_TOKEN"), fc.Token)
	if token == "" {
		return nil, fmt.Errorf("%w: no token: set GRANARY_TOKEN or token: in %s", fleet.ErrUnauthorized, c.describeConfig())
	}
	cl, err := client.New(server, token, nil)
	if err != nil {
		return nil, console.UsageError{Err: err}
	}
	return cl, nil
}

func (c *Conn) describeConfig() string {
	if p, _ := c.configPath(); p != "" {
		return p
	}
	return "~/.config/granary/config.yaml"
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
