package console

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/spf13/pflag"

	"github.com/granaryhq/granary/internal/decode"
	"github.com/granaryhq/granary/internal/fleet"
)

// Sources records where each flag's value came from, so that a value
// refused later (by a command's own validation) names its source: the
// flag, the environment variable or the config file's line.
type Sources map[string]string

// Of names flag's source: "--addr", "$GRANARY_ADDR (--addr)" or
// "serve.yaml:3: addr". A flag left at its default is named as the flag.
func (s Sources) Of(flag string) string {
	if d, ok := s[flag]; ok {
		return d
	}
	return "--" + flag
}

// EnvName is the environment variable of a flag: GRANARY_ and the flag's
// name in upper case with '-' as '_' (--log-level: GRANARY_LOG_LEVEL).
func EnvName(flag string) string {
	return "GRANARY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Layer fills the flags of fs that the command line did not set, first from
// the environment (EnvName; an empty variable counts as unset), then from
// the YAML config file (keys are flag names; "" means none), so that a flag
// beats its variable, which beats the file. Flags named in skip take part
// in neither (e.g. --config itself). A value a flag refuses, an unknown key
// or a non-scalar value is a usage error naming its source and field.
func Layer(fs *pflag.FlagSet, env *Env, file string, skip ...string) (Sources, error) {
	src := Sources{}
	skipped := func(name string) bool {
		if name == "help" {
			return true
		}
		for _, s := range skip {
			if s == name {
				return true
			}
		}
		return false
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || skipped(f.Name) {
			return
		}
		if f.Changed {
			src[f.Name] = "--" + f.Name
			return
		}
		name := EnvName(f.Name)
		v := env.Env(name)
		if v == "" {
			return
		}
		desc := fmt.Sprintf("$%s (--%s)", name, f.Name)
		if e := f.Value.Set(v); e != nil {
			err = Usagef("%s %q: %v", desc, v, e)
			return
		}
		src[f.Name] = desc
	})
	if err != nil || file == "" {
		return src, err
	}
	vals, err := readLayerFile(file)
	if err != nil {
		return src, err
	}
	for _, kv := range vals {
		f := fs.Lookup(kv.key)
		if f == nil || skipped(kv.key) {
			return src, UsageError{&fleet.InputError{Pos: fleet.Position{File: file, Line: kv.line},
				Msg: fmt.Sprintf("unknown field %q (valid: %s)", kv.key, strings.Join(names(fs, skipped), ", "))}}
		}
		if _, set := src[kv.key]; set {
			continue
		}
		desc := fmt.Sprintf("%s:%d: %s", file, kv.line, kv.key)
		if kv.err != "" {
			return src, Usagef("%s: %s", desc, kv.err)
		}
		if e := f.Value.Set(kv.val); e != nil {
			return src, Usagef("%s %q: %v", desc, kv.val, e)
		}
		src[kv.key] = desc
	}
	return src, nil
}

func names(fs *pflag.FlagSet, skipped func(string) bool) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !skipped(f.Name) {
			out = append(out, f.Name)
		}
	})
	sort.Strings(out)
	return out
}

type layerValue struct {
	key, val string
	line     int
	err      string // why the value is not usable (not a scalar)
}

// readLayerFile reads a config file of flag: value lines through
// internal/decode (bounded; the parser refuses duplicate keys), keeping
// each key's line.
func readLayerFile(file string) ([]layerValue, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, UsageError{&fleet.InputError{Pos: fleet.Position{File: file}, Msg: err.Error()}}
	}
	f, err := decode.ParseYAML(file, data, decode.Default)
	if err != nil {
		var ie *fleet.InputError
		if errors.As(err, &ie) {
			return nil, UsageError{err}
		}
		return nil, UsageError{&fleet.InputError{Pos: fleet.Position{File: file}, Msg: goyaml.FormatError(err, false, true)}}
	}
	var out []layerValue
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		var pairs []*ast.MappingValueNode
		switch b := doc.Body.(type) {
		case *ast.MappingNode:
			pairs = b.Values
		case *ast.MappingValueNode:
			pairs = []*ast.MappingValueNode{b}
		case *ast.NullNode:
			continue
		default:
			return nil, UsageError{&fleet.InputError{Pos: fleet.Position{File: file, Line: b.GetToken().Position.Line},
				Msg: "want a mapping of flag names to values (addr: 127.0.0.1:8080)"}}
		}
		if len(f.Docs) > 1 {
			return nil, UsageError{&fleet.InputError{Pos: fleet.Position{File: file}, Msg: "want one YAML document"}}
		}
		for _, p := range pairs {
			lv := layerValue{key: p.Key.GetToken().Value, line: p.Key.GetToken().Position.Line}
			switch v := p.Value.(type) {
			case *ast.StringNode:
				lv.val = v.Value
			case *ast.NullNode:
				lv.err = "no value"
			case ast.ScalarNode:
				lv.val = v.GetToken().Value
			default:
				lv.err = "want a single value (a string, number or true/false)"
			}
			out = append(out, lv)
		}
	}
	return out, nil
}
