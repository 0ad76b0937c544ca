package fleet

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds. Wrap them with %w; the edges map them to exit codes and HTTP
// statuses (ErrInvalid → exit 2 / 422, ErrNotFound → exit 2 / 404,
// ErrConflict → 409, ErrForbidden → 403, ErrUnauthorized → 401).
var (
	ErrInvalid      = errors.New("invalid input")
	ErrNotFound     = errors.New("not found")
	ErrAmbiguous    = errors.New("ambiguous name")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// Position says where in a file a problem is. Zero fields are unknown.
type Position struct {
	File   string // path as the user gave it
	Line   int    // 1-based
	Column int    // 1-based
	Entry  string // the entry's name or index, e.g. "chips[3] (H800)"
	Field  string // the field's name, e.g. "tops.bf16"
}

func (p Position) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	if p.Entry != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Entry)
	}
	if p.Field != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		fmt.Fprintf(&b, "field %q", p.Field)
	}
	return b.String()
}

// InputError is a problem with user input at a position. It wraps ErrInvalid
// unless Kind says otherwise.
type InputError struct {
	Pos  Position
	Msg  string
	Kind error // defaults to ErrInvalid
}

func (e *InputError) Error() string {
	if s := e.Pos.String(); s != "" {
		return s + ": " + e.Msg
	}
	return e.Msg
}

func (e *InputError) Unwrap() error {
	if e.Kind != nil {
		return e.Kind
	}
	return ErrInvalid
}

// InputErrors collects several problems so a user can fix them in one pass.
type InputErrors []*InputError

func (es InputErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(es, ErrInvalid) true.
func (es InputErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns nil when there are no errors.
func (es InputErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
