package control

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/jobs"
)

// MemLedger is an in-memory Ledger for tests and offline runs: devices and
// their states, and the state changes it was told about.
type MemLedger struct {
	mu      sync.Mutex
	devices map[string]jobs.Device
	state   map[string]fleet.DeviceState
	Changes []string // "serial: from → to (reason)", in order
}

var _ Ledger = (*MemLedger)(nil)

// NewMemLedger holds devs, all in service.
func NewMemLedger(devs []jobs.Device) *MemLedger {
	l := &MemLedger{devices: map[string]jobs.Device{}, state: map[string]fleet.DeviceState{}}
	for _, d := range devs {
		l.devices[d.Serial] = d
		l.state[d.Serial] = fleet.InService
	}
	return l
}

// InService implements Ledger, ordered by serial.
func (l *MemLedger) InService(context.Context) ([]jobs.Device, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []jobs.Device
	for s, d := range l.devices {
		if l.state[s] == fleet.InService {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Serial < out[b].Serial })
	return out, nil
}

// SetState implements Ledger.
func (l *MemLedger) SetState(_ context.Context, serial string, to fleet.DeviceState, reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	from, ok := l.state[serial]
	if !ok {
		return fmt.Errorf("%w: device %s", fleet.ErrNotFound, serial)
	}
	l.state[serial] = to
	l.Changes = append(l.Changes, fmt.Sprintf("%s: %s → %s (%s)", serial, from, to, reason))
	return nil
}
