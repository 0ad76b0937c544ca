package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// Problem is the error body of every failed request (RFC 9457 problem
// details, as huma writes them) with one addition: Allowed lists the states
// a device may move to when a state change was refused with 409.
type Problem struct {
	huma.ErrorModel
	Allowed []string `json:"allowed,omitzero" doc:"On 409 for a state change: the states the device may move to from its current state"`
}

// toProblem maps an error from the ledger to an HTTP problem. It is the only
// place where error kinds become statuses:
//
//	fleet.ErrInvalid      → 422 (each fleet.InputError one entry, "line:column: message")
//	fleet.ErrNotFound     → 404
//	fleet.ErrConflict     → 409 (with the allowed transitions when known)
//	fleet.ErrUnauthorized → 401
//	fleet.ErrForbidden    → 403
//	anything else         → 500, logged by the caller, its text not shown
func toProblem(err error) (p *Problem, internal bool) {
	var status int
	switch {
	case errors.Is(err, fleet.ErrInvalid), errors.Is(err, fleet.ErrAmbiguous):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, fleet.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, fleet.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, fleet.ErrUnauthorized):
		status = http.StatusUnauthorized
	case errors.Is(err, fleet.ErrForbidden):
		status = http.StatusForbidden
	default:
		return newProblem(http.StatusInternalServerError, "internal error"), true
	}
	p = newProblem(status, firstLine(err))
	var ies fleet.InputErrors
	var ie *fleet.InputError
	switch {
	case errors.As(err, &ies):
		p.Detail = fmt.Sprintf("%d problem(s) in the input", len(ies))
		for _, e := range ies {
			p.Errors = append(p.Errors, inputDetail(e))
		}
	case errors.As(err, &ie):
		p.Errors = append(p.Errors, inputDetail(ie))
	}
	var te *inventory.TransitionError
	if errors.As(err, &te) {
		p.Allowed = []string{}
		for _, s := range te.Allowed {
			p.Allowed = append(p.Allowed, string(s))
		}
	}
	return p, false
}

func newProblem(status int, detail string) *Problem {
	return &Problem{ErrorModel: huma.ErrorModel{Status: status, Title: http.StatusText(status), Detail: detail}}
}

// inputDetail renders one input error as "line:column: message" (or just the
// message when the position has no line), with the field as its location.
func inputDetail(e *fleet.InputError) *huma.ErrorDetail {
	msg := e.Msg
	switch {
	case e.Pos.Line > 0 && e.Pos.Column > 0:
		msg = fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Column, e.Msg)
	case e.Pos.Line > 0:
		msg = fmt.Sprintf("%d: %s", e.Pos.Line, e.Msg)
	case e.Pos.Entry != "":
		msg = e.Pos.Entry + ": " + e.Msg
	}
	d := &huma.ErrorDetail{Message: msg}
	switch {
	case e.Pos.Field == "":
	case e.Pos.Line > 0:
		d.Location = e.Pos.Field // a column or key of a posted file
	default:
		d.Location = "body." + e.Pos.Field
	}
	return d
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// GetStatus, Error and ContentType make Problem a huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }
func (p *Problem) Error() string  { return p.Detail }

// ContentType reports application/problem+json for JSON.
func (p *Problem) ContentType(ct string) string { return p.ErrorModel.ContentType(ct) }
