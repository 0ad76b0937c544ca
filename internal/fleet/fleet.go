// Package fleet is Granary's shared vocabulary: numeric precisions, device
// states, and the error kinds every layer uses to say what went wrong and where.
// It depends on the standard library only and does no I/O.
package fleet

import (
	"fmt"
	"strings"
)

// Precision names a numeric format a chip computes in.
type Precision string

// The precisions Granary knows, from narrowest to widest where it matters.
const (
	FP8  Precision = "fp8"
	FP16 Precision = "fp16"
	BF16 Precision = "bf16"
	TF32 Precision = "tf32"
	FP32 Precision = "fp32"
	INT8 Precision = "int8"
	INT4 Precision = "int4"
)

// Precisions lists every known precision in display order.
var Precisions = []Precision{FP8, FP16, BF16, TF32, FP32, INT8, INT4}

// Bits is the operand bit length used by the export-control TPP formula.
// TF32 counts as 32 bits (for NVIDIA parts TF32×32 equals FP16×16 anyway).
func (p Precision) Bits() int {
	switch p {
	case FP8, INT8:
		return 8
	case FP16, BF16:
		return 16
	case TF32, FP32:
		return 32
	case INT4:
		return 4
	}
	return 0
}

// ParsePrecision resolves a precision name case-insensitively.
func ParsePrecision(s string) (Precision, error) {
	p := Precision(strings.ToLower(strings.TrimSpace(s)))
	if p.Bits() == 0 {
		return "", fmt.Errorf("%w: unknown precision %q (valid: %s)", ErrInvalid, s, joinPrecisions())
	}
	return p, nil
}

func joinPrecisions() string {
	s := make([]string, len(Precisions))
	for i, p := range Precisions {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// DeviceState is where a device is in its life.
type DeviceState string

// The states of the stockpile ledger.
const (
	InService   DeviceState = "in-service"
	Reserve     DeviceState = "reserve"
	Maintenance DeviceState = "maintenance"
	Failed      DeviceState = "failed"
	Retired     DeviceState = "retired"
)

// DeviceStates lists every state in display order.
var DeviceStates = []DeviceState{InService, Reserve, Maintenance, Failed, Retired}

// ParseDeviceState resolves a state name, accepting "in_service" and any case.
func ParseDeviceState(s string) (DeviceState, error) {
	n := DeviceState(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-"))
	for _, st := range DeviceStates {
		if st == n {
			return st, nil
		}
	}
	names := make([]string, len(DeviceStates))
	for i, st := range DeviceStates {
		names[i] = string(st)
	}
	return "", fmt.Errorf("%w: unknown state %q (valid: %s)", ErrInvalid, s, strings.Join(names, ", "))
}
