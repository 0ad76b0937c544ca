package inventory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
)

// transitions lists, for every state, the states a device may move to.
// Nothing leaves retired. A failed device goes through maintenance (or is
// retired) before it serves again.
var transitions = map[fleet.DeviceState][]fleet.DeviceState{
	fleet.InService:   {fleet.Reserve, fleet.Maintenance, fleet.Failed, fleet.Retired},
	fleet.Reserve:     {fleet.InService, fleet.Maintenance, fleet.Failed, fleet.Retired},
	fleet.Maintenance: {fleet.InService, fleet.Reserve, fleet.Failed, fleet.Retired},
	fleet.Failed:      {fleet.Maintenance, fleet.Retired},
	fleet.Retired:     nil,
}

// AllowedTransitions returns the states a device in state from may move to,
// in display order. The result is a fresh slice.
func AllowedTransitions(from fleet.DeviceState) []fleet.DeviceState {
	return slices.Clone(transitions[from])
}

// CheckTransition returns nil if from → to is allowed, else a
// *TransitionError (which wraps fleet.ErrConflict).
func CheckTransition(serial string, from, to fleet.DeviceState) error {
	if slices.Contains(transitions[from], to) {
		return nil
	}
	return &TransitionError{Serial: serial, From: from, To: to, Allowed: AllowedTransitions(from)}
}

// TransitionError is a refused state change. Allowed lists what the device
// could move to instead (empty for retired). It wraps fleet.ErrConflict.
type TransitionError struct {
	Serial  string
	From    fleet.DeviceState
	To      fleet.DeviceState
	Allowed []fleet.DeviceState
}

func (e *TransitionError) Error() string {
	var why string
	switch {
	case e.From == e.To:
		why = fmt.Sprintf("already %s", e.From)
	default:
		why = fmt.Sprintf("cannot go from %s to %s", e.From, e.To)
	}
	if len(e.Allowed) == 0 {
		return fmt.Sprintf("device %s: %s: no transitions leave %s", e.Serial, why, e.From)
	}
	names := make([]string, len(e.Allowed))
	for i, s := range e.Allowed {
		names[i] = string(s)
	}
	return fmt.Sprintf("device %s: %s (allowed from %s: %s)", e.Serial, why, e.From, strings.Join(names, ", "))
}

// Unwrap returns fleet.ErrConflict.
func (e *TransitionError) Unwrap() error { return fleet.ErrConflict }
