package fitcmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/models"
)

// ModelJSON is one element of `fit models -o json`.
type ModelJSON struct {
	Name            string   `json:"name"`
	HFID            string   `json:"hf_id,omitempty"`
	Aliases         []string `json:"aliases,omitempty"`
	Arch            string   `json:"arch"`
	Attention       string   `json:"attention"`
	ParamsB         float64  `json:"params_b"`
	ActiveParamsB   float64  `json:"active_params_b"`
	Layers          int      `json:"layers"`
	Hidden          int      `json:"hidden"`
	Heads           int      `json:"heads"`
	KVHeads         int      `json:"kv_heads"`
	HeadDim         int      `json:"head_dim,omitempty"`
	KVBytesPerToken float64  `json:"kv_bytes_per_token_bf16"`
	MaxPosition     int      `json:"max_position"`
	Source          string   `json:"source,omitempty"`
}

func newModels(env *console.Env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "models",
		Short: "The embedded model catalog: shapes, parameters, KV cache per token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := console.ParseFormat(format, console.Table, console.JSON, console.YAML)
			if err != nil {
				return err
			}
			all := models.Default().All()
			if f.Structured() {
				out := make([]ModelJSON, len(all))
				for i, m := range all {
					out[i] = ModelJSON{Name: m.Name, HFID: m.HFID, Aliases: m.Aliases, Arch: m.Arch, Attention: m.Attention,
						ParamsB: round(m.TotalParams()/1e9, 3), ActiveParamsB: round(m.ActiveParams()/1e9, 3),
						Layers: m.Layers, Hidden: m.Hidden, Heads: m.Heads, KVHeads: m.KVHeads, HeadDim: m.HeadDim,
						KVBytesPerToken: m.KVBytesPerToken(2), MaxPosition: m.MaxPosition, Source: m.Source}
				}
				return console.Encode(env.Stdout, f, out)
			}
			rows := [][]string{{"MODEL", "ARCH", "ATTENTION", "PARAMS B", "ACTIVE B", "LAYERS", "HIDDEN", "KV KiB/TOKEN", "CONTEXT", "ALIASES"}}
			for _, m := range all {
				rows = append(rows, []string{m.Name, m.Arch, strings.ToUpper(m.Attention),
					console.Num(round(m.TotalParams()/1e9, 2)), console.Num(round(m.ActiveParams()/1e9, 2)),
					fmt.Sprint(m.Layers), fmt.Sprint(m.Hidden), console.Num(round(m.KVBytesPerToken(2)/1024, 1)),
					fmt.Sprint(m.MaxPosition), strings.Join(m.Aliases, ", ")})
			}
			if err := console.WriteTable(env.Stdout, rows); err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, "KV cache at 16 bits. Any Hugging Face config.json also works as --model PATH. Sources: -o json.")
			return nil
		},
	}
	c.Flags().StringVarP(&format, "output-format", "o", "table", "output format: table, json or yaml")
	return c
}
