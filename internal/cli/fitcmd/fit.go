// Package fitcmd implements `granary fit`: which chips can serve or train a
// model, on how many devices, with which parallelism, how fast (serve,
// train), and the relative throughput of models across chips in the
// throughput-table format the scheduler and simulator read (matrix).
package fitcmd

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
	"github.com/granaryhq/granary/internal/perf"
)

// New builds `granary fit`.
func New(env *console.Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "fit",
		Short: "Fit advisor: which chips can serve or train a model, on how many devices, how fast",
		Long: `Fit advisor. Memory per device (weights, KV cache, activations, runtime),
the smallest device count and parallelism that fit, output tokens/s, TTFT and
TPOT for serving; days and device-hours for training. Formulas, efficiency
factors and the validation against published measurements: docs/fit.md.`,
	}
	c.AddCommand(newServe(env), newTrain(env), newMatrix(env), newModels(env))
	return c
}

// loadModel resolves a catalog name, or reads a Hugging Face config.json
// when the argument is a path to a file.
func loadModel(name string) (models.Model, error) {
	if name == "" {
		return models.Model{}, console.Usagef("--model is required (a catalog name such as Llama-3-70B, or a path to a Hugging Face config.json)")
	}
	if st, err := os.Stat(name); err == nil && !st.IsDir() {
		data, err := os.ReadFile(name)
		if err != nil {
			return models.Model{}, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: err.Error()}
		}
		return models.ParseHFConfig(name, data)
	}
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		return models.Model{}, &fleet.InputError{Pos: fleet.Position{File: name}, Msg: "no such file"}
	}
	return models.Default().Resolve(name)
}

// parseChips resolves a comma-separated list, or every chip with --all.
func parseChips(cat *accel.Catalog, list []string, all bool) ([]accel.Chip, error) {
	if all && len(list) > 0 {
		return nil, console.Usagef("give --chips or --all, not both")
	}
	if all || len(list) == 0 {
		return cat.All(), nil
	}
	var out []accel.Chip
	seen := map[string]bool{}
	for _, n := range list {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		c, err := cat.Resolve(n)
		if err != nil {
			return nil, err
		}
		if !seen[c.ID] {
			seen[c.ID] = true
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, console.Usagef("--chips is empty")
	}
	return out, nil
}

func parsePrecision(s string) (fleet.Precision, error) {
	p, err := fleet.ParsePrecision(s)
	if err != nil {
		return "", err
	}
	return p, nil
}

// parseConcurrency reads a positive integer or "max" (0).
func parseConcurrency(s string) (int, error) {
	if strings.EqualFold(strings.TrimSpace(s), "max") {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, console.Usagef("--concurrency %q: want a positive integer or max (valid: 1.. or max)", s)
	}
	return n, nil
}

// parseSLO reads a duration ("200ms", "2s"); a bare number is milliseconds.
func parseSLO(flag, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if !(v > 0) || v > 1e9 {
			return 0, console.Usagef("--%s %q: want a positive duration such as 200ms or 2s", flag, s)
		}
		return time.Duration(v * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, console.Usagef("--%s %q: want a positive duration such as 200ms or 2s", flag, s)
	}
	return d, nil
}

// parseTokens reads a token count with an optional k/M/B/T suffix ("15T").
func parseTokens(s string) (float64, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'b', 'B', 'g', 'G':
			mult = 1e9
		case 't', 'T':
			mult = 1e12
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*mult > 1e18 {
		return 0, console.Usagef("--tokens %q: want a positive count such as 15T, 300B or 2e12 (valid: up to 1e18)", s)
	}
	return v * mult, nil
}

func gb(v float64) float64 { return math.Round(v/perf.GB*100) / 100 }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// fmtRate formats a rate that may be far below 1 (training steps/s) with
// three significant digits there.
func fmtRate(v float64) string {
	if v > 0 && v < 1 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return fmtNum(v)
}
