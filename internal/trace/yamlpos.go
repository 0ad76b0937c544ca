package trace

import (
	"errors"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/granaryhq/granary/internal/fleet"
)

// yamlLine is the line of the node at path, or of fallback when path is
// absent.
func yamlLine(f *ast.File, path, fallback string) int {
	for _, p := range []string{path, fallback} {
		yp, err := yaml.PathString(p)
		if err != nil {
			continue
		}
		n, err := yp.FilterFile(f)
		if err == nil && n != nil && n.GetToken() != nil {
			return n.GetToken().Position.Line
		}
	}
	return 0
}

// yamlError turns a YAML decoder error into an InputError at its position.
func yamlError(file string, err error) error {
	var ie *fleet.InputError
	if errors.As(err, &ie) {
		return err
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		pos := fleet.Position{File: file}
		if tk := ye.GetToken(); tk != nil {
			pos.Line, pos.Column = tk.Position.Line, tk.Position.Column
		}
		return &fleet.InputError{Pos: pos, Msg: ye.GetMessage()}
	}
	return &fleet.InputError{Pos: fleet.Position{File: file}, Msg: err.Error()}
}
